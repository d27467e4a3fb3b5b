import { dirname } from "node:path";
import { describeError, SpiffeSidecarError } from "../../errors.js";
import type { OutputFile } from "../output/output-options.js";

/** What one `writeFiles` call did, by absolute path. */
export interface WriteResult {
  /** New content is visible: the application should be told. */
  readonly changed: string[];
  /**
   * Content was already right but the mode or owner had drifted, so the file was replaced by a
   * fresh copy with the right metadata. Nothing the application reads changed: no notification.
   */
  readonly repaired: string[];
  /** Identical content, mode and owner: not touched at all. */
  readonly unchanged: string[];
}

/**
 * Puts rendered files on disk so that readers never see a partial file (DESIGN §3.2). The
 * orchestrator picks an implementation by `write_layout`: `AtomicFileWriter` (`files`) or
 * `DirectoryLayoutWriter` (`directory`). Calls on one writer run one at a time.
 */
export interface FileWriter {
  /** Writes every file whose content, mode or owner differs from what is on disk. */
  writeFiles(files: readonly OutputFile[]): Promise<WriteResult>;
  /** Deletes outputs that no longer exist in the state (a federated trust domain went away). */
  removeFiles(paths: readonly string[]): Promise<string[]>;
  /**
   * Settles what a crash mid-write left behind, before anything else writes: an interrupted
   * update is rolled forward or back so that the visible files belong together, stale temp
   * files are removed, and each cert/key pair is checked. Idempotent: a crash during the repair
   * leaves a state the next repair settles the same way.
   */
  recover(targets: RecoveryTargets): Promise<RecoveryReport>;
}

/** A certificate file and the key file that must match it. */
export interface KeyPairPaths {
  readonly certPath: string;
  readonly keyPath: string;
}

/** Where the start-up repair looks, and which pairs it checks afterwards. */
export interface RecoveryTargets {
  /** Every directory an output is written to, absolute. */
  readonly directories: readonly string[];
  readonly keyPairs: readonly KeyPairPaths[];
}

/** `match`; `mismatch`; `missing` (a file is absent: nothing was written yet); `unreadable` (not PEM, ...). */
export type KeyPairVerdict = "match" | "mismatch" | "missing" | "unreadable";

export interface KeyPairCheck extends KeyPairPaths {
  readonly verdict: KeyPairVerdict;
}

/** What a repair did, by absolute path. */
export interface RecoveryReport {
  /** Outputs replaced by a complete temp file of an update whose renames had begun. */
  readonly rolledForward: string[];
  /** Temp files, links and version directories removed: updates that never became visible, left-overs. */
  readonly removed: string[];
  /** Temp files whose contents did not match the digest in their name: removed, never made visible. */
  readonly discarded: string[];
  /** What the repair could not do, each naming the path and the cause; the repair goes on. */
  readonly problems: string[];
  readonly keyPairs: KeyPairCheck[];
}

/** The I/O step that failed, for the message. */
export type WriteAction = "read" | "create" | "set owner of" | "set mode of" | "write" | "sync" | "rename" | "remove" | "link";

/** A file could not be written; the visible file is untouched unless the message says otherwise. */
export class FileWriteError extends SpiffeSidecarError {
  readonly code = "ERR_FILE_WRITE";

  constructor(
    message: string,
    /** The path the user knows: the output file, not the temp file. */
    readonly path: string,
    /** The errno code (`EACCES`, ...) when the cause was a system call. */
    readonly errno: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

function errnoOf(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  return typeof error.code === "string" ? error.code : undefined;
}

function remedy(errno: string | undefined, action: WriteAction, path: string): string | undefined {
  const dir = dirname(path);
  switch (errno) {
    case "EACCES":
    case "EPERM":
      return action === "set owner of"
        ? "permission denied; only root (CAP_CHOWN) can give files away: run the sidecar as root or drop file_owner/file_group"
        : `permission denied; check the owner and mode of ${dir}`;
    case "ENOENT":
      return `${dir} does not exist; create it or fix cert_dir`;
    case "ENOTDIR":
      return `a component of ${dir} is not a directory`;
    case "EISDIR":
    case "ENOTEMPTY":
    case "EEXIST":
      return `${path} is a directory; remove it or choose another file name`;
    case "ENOSPC":
    case "EDQUOT":
      return `no space left on the file system of ${dir} (or the quota is used up)`;
    case "EROFS":
      return `${dir} is on a read-only file system; mount it read-write`;
    default:
      return undefined;
  }
}

/** Wraps a failed system call into a message naming the output path and the fix. */
export function fileWriteError(action: WriteAction, path: string, error: unknown): FileWriteError {
  if (error instanceof FileWriteError) return error;
  const errno = errnoOf(error);
  const fix = remedy(errno, action, path) ?? describeError(error);
  return new FileWriteError(`cannot ${action} ${path}: ${fix}`, path, errno, { cause: error });
}

/** Runs tasks one after another, so two updates never interleave their renames. */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(task);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
