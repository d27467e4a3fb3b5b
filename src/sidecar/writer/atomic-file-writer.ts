import { createHash } from "node:crypto";
import { unlink } from "node:fs/promises";
import { dirname } from "node:path";
import type { OutputFile } from "../output/output-options.js";
import {
  createDurableFile,
  fileStamp,
  readCurrentFile,
  removeMatching,
  renameOver,
  sameContents,
  sameMetadata,
  syncDirectory,
  TEMP_FILE_NAME,
  tempPathFor,
} from "./file-ops.js";
import { fileWriteError, SerialQueue, type FileWriter, type WriteResult } from "./file-writer.js";

/** Our last write to a path: its content's SHA-256, the metadata asked for, and the file's stamp after it. */
interface LastWrite extends Pick<OutputFile, "mode" | "uid" | "gid"> {
  readonly digest: string;
  readonly stamp: string;
}

interface StagedFile {
  readonly file: OutputFile;
  readonly tempPath: string;
}

/** Removes temp files a crash left in `directory` (call at startup); returns their names. */
export function cleanupStaleTemps(directory: string): Promise<string[]> {
  return removeMatching(directory, TEMP_FILE_NAME);
}

function assertDistinctPaths(files: readonly OutputFile[]): void {
  const seen = new Set<string>();
  for (const { path } of files) {
    if (seen.has(path)) throw new TypeError(`output ${path} is listed twice in one write`);
    seen.add(path);
  }
}

/**
 * The `files` layout: each output is replaced on its own by rename(2), so a reader sees the
 * old file or the new one, never a mix (DESIGN §3.2). A visible file is never truncated,
 * rewritten or chmod'ed in place: a mode or owner that drifted is put right by a fresh copy.
 *
 * A write happens in two phases. First every file that needs it is staged as a complete,
 * fsynced temp file beside its target; if any staging fails, all temps are removed and nothing
 * visible has changed. Then the temps are renamed in the given order, back to back, and each
 * directory is fsynced once. Renaming last keeps the window in which a reader can find the new
 * certificate with the old key down to adjacent renames (see `renderOutputFiles` for the order).
 * Should a rename fail, the files before it are already replaced; the error names the one
 * that was not.
 */
export class AtomicFileWriter implements FileWriter {
  readonly #queue = new SerialQueue();
  /** What this writer last left at each path, so that most writes need not read files back. */
  readonly #lastWritten = new Map<string, LastWrite>();

  writeFiles(files: readonly OutputFile[]): Promise<WriteResult> {
    return this.#queue.run(() => {
      assertDistinctPaths(files);
      return this.#write(files);
    });
  }

  removeFiles(paths: readonly string[]): Promise<string[]> {
    return this.#queue.run(() => this.#remove(paths));
  }

  cleanupStale(directory: string): Promise<string[]> {
    return this.#queue.run(() => cleanupStaleTemps(directory));
  }

  async #write(files: readonly OutputFile[]): Promise<WriteResult> {
    const result: WriteResult = { changed: [], repaired: [], unchanged: [] };
    /** The files to write, with their content digests, remembered once they are written. */
    const pending = new Map<OutputFile, string>();
    for (const file of files) {
      const digest = contentDigest(file.contents);
      const previous = this.#lastWritten.get(file.path);
      // New content replaces the file whatever it holds now. Content equal to our last write
      // needs the disk's view, to repair a drifted mode or an edited file; an unchanged stamp
      // says nobody touched the file since, without reading it (50 JWT-SVID files otherwise
      // cost 50 reads on every token refresh).
      if (previous !== undefined && previous.digest !== digest) {
        result.changed.push(file.path);
        pending.set(file, digest);
        continue;
      }
      if (previous !== undefined && sameRequest(previous, file) && previous.stamp === fileStamp(file.path)) {
        result.unchanged.push(file.path);
        continue;
      }
      const current = readCurrentFile(file.path);
      if (current !== undefined && sameContents(current, file)) {
        if (sameMetadata(current, file)) {
          result.unchanged.push(file.path);
          this.#remember(file, digest);
          continue;
        }
        result.repaired.push(file.path);
      } else {
        result.changed.push(file.path);
      }
      pending.set(file, digest);
    }
    // Forgotten first: should the write fail halfway, the next one reads the disk again.
    for (const file of pending.keys()) this.#lastWritten.delete(file.path);
    if (pending.size > 0) await this.#commit(await this.#stage([...pending.keys()]));
    for (const [file, digest] of pending) this.#remember(file, digest);
    return result;
  }

  #remember(file: OutputFile, digest: string): void {
    const stamp = fileStamp(file.path);
    if (stamp === undefined) return;
    this.#lastWritten.set(file.path, { digest, stamp, mode: file.mode, uid: file.uid, gid: file.gid });
  }

  /**
   * Creates every temp file at once: each waits on its own fsync, so the update's latency is
   * the slowest fsync rather than their sum. Nothing is visible until #commit renames.
   */
  async #stage(files: readonly OutputFile[]): Promise<StagedFile[]> {
    const attempts = await Promise.allSettled(
      files.map(async (file): Promise<StagedFile> => {
        const tempPath = tempPathFor(file.path);
        await createDurableFile(tempPath, file.contents, file, file.path);
        return { file, tempPath };
      }),
    );
    const staged = attempts.flatMap((attempt) => (attempt.status === "fulfilled" ? [attempt.value] : []));
    const failure = attempts.find((attempt): attempt is PromiseRejectedResult => attempt.status === "rejected");
    if (failure !== undefined) {
      await removeTemps(staged);
      throw failure.reason;
    }
    return staged;
  }

  async #commit(staged: readonly StagedFile[]): Promise<void> {
    for (const [index, { file, tempPath }] of staged.entries()) {
      try {
        renameOver(tempPath, file.path);
      } catch (error: unknown) {
        await removeTemps(staged.slice(index));
        await syncDirectories(staged.slice(0, index).map((item) => item.file.path));
        throw error;
      }
    }
    await syncDirectories(staged.map((item) => item.file.path));
  }

  async #remove(paths: readonly string[]): Promise<string[]> {
    const removed: string[] = [];
    for (const path of paths) {
      try {
        this.#lastWritten.delete(path);
        await unlink(path);
        removed.push(path);
      } catch (error: unknown) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw fileWriteError("remove", path, error);
      }
    }
    await syncDirectories(removed);
    return removed;
  }
}

/** The same mode and owner asked for as last time (a stamp says what the disk holds, not what we want). */
function sameRequest(previous: LastWrite, file: OutputFile): boolean {
  return previous.mode === file.mode && previous.uid === file.uid && previous.gid === file.gid;
}

function contentDigest(contents: Uint8Array): string {
  return createHash("sha256").update(contents).digest("base64");
}

async function removeTemps(staged: readonly StagedFile[]): Promise<void> {
  await Promise.all(staged.map((item) => unlink(item.tempPath).catch(() => undefined)));
}

async function syncDirectories(paths: readonly string[]): Promise<void> {
  for (const directory of new Set(paths.map((path) => dirname(path)))) await syncDirectory(directory);
}
