import { SpiffeSidecarError } from "../../../errors.js";

/**
 * Text that hashicorp/hcl v1 refuses to parse. `offset` is a UTF-16 index into the text as
 * parsed, so the caller can turn it into `file:line:col`; the message is hcl's own wording.
 */
export class HclSyntaxError extends SpiffeSidecarError {
  readonly code = "ERR_HCL_SYNTAX";

  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

/**
 * A value hcl v1's decoder cannot put in the field its key names: `true` for a mode, a list for
 * a string, `08` for an int. `key` is the dotted path (`jwt_svids[0].jwt_audience`).
 */
export class HclDecodeError extends SpiffeSidecarError {
  readonly code = "ERR_HCL_DECODE";

  constructor(
    readonly key: string,
    readonly offset: number,
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`${key}: ${problem}; ${fix}`);
  }
}
