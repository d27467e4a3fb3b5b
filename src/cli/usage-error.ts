import { SpiffeSidecarError } from "../errors.js";

/** A command line that cannot be acted on; the CLI prints the message and exits 2. */
export class UsageError extends SpiffeSidecarError {
  readonly code = "ERR_USAGE";
}

/** A file the user named could not be read; exits 2 like a usage error. */
export class InputFileError extends SpiffeSidecarError {
  readonly code = "ERR_INPUT_FILE";

  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    super(`cannot read ${path}: ${describeFsError(cause)}`, { cause });
  }
}

function describeFsError(error: unknown): string {
  if (error instanceof Error && "code" in error) {
    switch (error.code) {
      case "ENOENT":
        return "no such file";
      case "EACCES":
        return "permission denied";
      case "EISDIR":
        return "is a directory";
      default:
        return String(error.code);
    }
  }
  return error instanceof Error ? error.message : String(error);
}
