import { constants } from "node:os";
import { SpiffeSidecarError } from "../../errors.js";

/**
 * How a child process ended, as Node reports it on `exit`: exactly one of `code` and `signal`
 * is set.
 */
export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Used when Node reports neither a code nor a known signal, which POSIX does not allow. */
const UNKNOWN_EXIT_CODE = 1;

/**
 * The exit status a shell would report for this exit: the code itself, or 128 + the signal
 * number when a signal killed the child (so SIGTERM gives 143 and SIGKILL 137). The sidecar
 * exits with this number so scripts and init systems see the application's own outcome
 * (DESIGN §3.7).
 */
export function conventionalExitCode(exit: ChildExit): number {
  if (exit.code !== null) return exit.code;
  if (exit.signal !== null) {
    const number = constants.signals[exit.signal] as number | undefined;
    if (number !== undefined) return 128 + number;
  }
  return UNKNOWN_EXIT_CODE;
}

/** "exited with code 3" / "was killed by SIGKILL", for log lines. */
export function describeChildExit(exit: ChildExit): string {
  if (exit.signal !== null) return `was killed by ${exit.signal} (exit status ${conventionalExitCode(exit)})`;
  return `exited with code ${exit.code ?? UNKNOWN_EXIT_CODE}`;
}

/** The child could not be started at all: the command is missing, not executable, and so on. */
export class ChildStartError extends SpiffeSidecarError {
  readonly code = "ERR_CHILD_START";
  /** The command that failed, as configured. */
  readonly cmd: string;
  /** The system error code (`ENOENT`, `EACCES`, ...) when there is one. */
  readonly systemCode: string | undefined;

  constructor(cmd: string, configSource: string, cause: unknown) {
    const systemCode = systemErrorCode(cause);
    super(`cannot start cmd "${cmd}": ${explainSpawnFailure(systemCode, cause)}; check cmd in ${configSource}`, {
      cause,
    });
    this.cmd = cmd;
    this.systemCode = systemCode;
  }
}

/** Why a program could not be started, in words that point at the fix. */
export function explainSpawnFailure(systemCode: string | undefined, cause: unknown): string {
  switch (systemCode) {
    case "ENOENT":
      return "no such file (give an absolute path or a command on PATH)";
    case "EACCES":
      return "permission denied (is the file executable by this user?)";
    case "ENOTDIR":
      return "a component of the path is not a directory";
    case "ENOEXEC":
      return "not an executable format (a script needs a #! line)";
    default:
      return cause instanceof Error ? cause.message : String(cause);
  }
}

/** The `code` of a Node system error (`ENOENT`, `ESRCH`, ...), if the value is one. */
export function systemErrorCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  const { code } = error as { code: unknown };
  return typeof code === "string" ? code : undefined;
}
