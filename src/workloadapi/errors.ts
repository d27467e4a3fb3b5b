import { status as Status } from "@grpc/grpc-js";
import type { StatusObject } from "@grpc/grpc-js";
import { RuleViolationError, SpiffeSidecarError } from "../errors.js";
import { boundText, MAX_MESSAGE_CHARS } from "../text/bounded-text.js";

/** The gRPC status names, as grpc-js spells them (`UNAVAILABLE`, `INVALID_ARGUMENT`, ...). */
export type GrpcStatusName = keyof typeof Status;

/**
 * A Workload API call that failed with a gRPC status, or a stream the server ended (status
 * `OK`). `statusName` is what callers match on; `retryable` says whether a watch reconnects.
 */
export class WorkloadApiError extends SpiffeSidecarError {
  readonly code = "ERR_WORKLOAD_API";
  readonly statusCode: Status;
  readonly statusName: GrpcStatusName;
  /** The server's (or grpc-js's) own text, kept apart so callers can log it verbatim. */
  readonly details: string;

  constructor(message: string, status: { code: Status; details: string }, options?: { cause?: unknown }) {
    super(message, options);
    this.statusCode = status.code;
    this.statusName = statusName(status.code);
    this.details = status.details;
  }

  /**
   * InvalidArgument means our request is wrong (e.g. the security header) and Unimplemented that
   * the server lacks the RPC: retrying cannot help, so report them (Workload Endpoint Appendix A);
   * only a watch that has already delivered retries them, at its longest delay (issue 13 item 13).
   * Everything else is retried with backoff, including a CANCELLED we did not ask for (grpc-js
   * shows a server shutdown that way) and PermissionDenied (an agent may be eventually consistent).
   */
  get retryable(): boolean {
    return this.statusCode !== Status.INVALID_ARGUMENT && this.statusCode !== Status.UNIMPLEMENTED;
  }
}

/** A request this client refuses to send because the server would reject it anyway. */
export class WorkloadApiRequestError extends SpiffeSidecarError {
  readonly code = "ERR_WORKLOAD_API_REQUEST";
}

/**
 * A response that arrived but breaks the Workload API or SVID rules; it is discarded, never
 * used (Workload API §4.5: the client "SHOULD report an error and discard the message").
 */
/**
 * Its `rule` is this module's own (`no-svids`, `spiffe-id-mismatch`, `empty-bundle`, ...) or the
 * `rule`/`code` of the SVID or bundle error that caused the rejection (`expired`, `ERR_DER`, ...).
 */
export class WorkloadApiResponseError extends RuleViolationError {
  readonly code = "ERR_WORKLOAD_API_RESPONSE";
}

/** An X509Source or JwtSource that cannot answer: not ready, closed, or no SVID with that hint. */
export class WorkloadSourceError extends SpiffeSidecarError {
  readonly code = "ERR_WORKLOAD_SOURCE";
}

export function statusName(code: Status): GrpcStatusName {
  const name = Status[code] as GrpcStatusName | undefined;
  return name ?? "UNKNOWN";
}

const NO_LISTENER = /\b(ENOENT|ECONNREFUSED|ENOTSOCK)\b/;

/**
 * The server's text as our messages quote it: cut to a bound (an agent controls it), and
 * without the empty "Resolution note: " that grpc-js appends when its resolver had nothing to say.
 */
function quotedDetails(details: string): string {
  const trimmed = details.replace(/\.?\s*Resolution note:\s*$/, "");
  return trimmed === "" ? "no details" : boundText(trimmed, MAX_MESSAGE_CHARS);
}

function explain(status: { code: Status; details: string }, method: string, target: string): string {
  const details = quotedDetails(status.details);
  switch (status.code) {
    case Status.UNAVAILABLE:
      if (NO_LISTENER.test(details)) return `no Workload API at ${target} (is the agent running?): ${details}`;
      if (/\bEACCES\b/.test(details)) {
        return (
          `cannot connect to the Workload API at ${target}: permission denied on the socket ` +
          `(check its mode and this process's user): ${details}`
        );
      }
      return `the Workload API at ${target} is unavailable (${method}): ${details}`;
    case Status.INVALID_ARGUMENT:
      return (
        `the Workload API at ${target} rejected ${method} as invalid: ${details}; ` +
        "not retrying (Workload Endpoint §6)"
      );
    case Status.PERMISSION_DENIED:
      return (
        `the Workload API at ${target} issued no identity to this workload (${method}): ${details}; ` +
        "check that a registration entry matches this process"
      );
    case Status.UNIMPLEMENTED:
      return `the Workload API at ${target} does not implement ${method}: ${details}`;
    case Status.DEADLINE_EXCEEDED:
      return `${method} on the Workload API at ${target} timed out: ${details} (is the agent stuck?)`;
    case Status.CANCELLED:
      return `${method} on the Workload API at ${target} was cancelled (the agent may have shut down): ${details}`;
    default:
      return `${method} on the Workload API at ${target} failed with ${statusName(status.code)}: ${details}`;
  }
}

/**
 * Turns a gRPC status (a stream's `status` event, or the `ServiceError` of a unary callback,
 * passed as `cause`) into a WorkloadApiError whose message says what to do about it.
 */
export function workloadApiErrorFromStatus(
  status: Pick<StatusObject, "code" | "details">,
  method: string,
  target: string,
  options?: { cause?: unknown },
): WorkloadApiError {
  const { code, details } = status;
  return new WorkloadApiError(explain(status, method, target), { code, details }, options);
}
