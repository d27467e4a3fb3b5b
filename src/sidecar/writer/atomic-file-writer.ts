import { unlink } from "node:fs/promises";
import { dirname } from "node:path";
import type { OutputFile } from "../output/output-options.js";
import {
  closeQuietly,
  createFileSync,
  fileStamp,
  fsyncReturnsAtOnce,
  openForHold,
  readCurrentFile,
  removeQuietly,
  renameOver,
  sameContents,
  sameMetadata,
  syncAndClose,
  syncDirectory,
} from "./file-ops.js";
import {
  fileWriteError,
  SerialQueue,
  type FileWriter,
  type RecoveryReport,
  type RecoveryTargets,
  type WriteResult,
} from "./file-writer.js";
import { repairInterruptedUpdates } from "./interrupted-update-repair.js";
import { checkKeyPair } from "./key-pair-check.js";
import { contentDigest, newUpdateId, updateTempPath } from "./update-temp-name.js";

/** Our last write to a path: its content's SHA-256, the metadata asked for, and the file's stamp after it. */
interface LastWrite extends Pick<OutputFile, "mode" | "uid" | "gid"> {
  readonly digest: string;
  readonly stamp: string;
}

interface StagedFile {
  readonly file: OutputFile;
  readonly tempPath: string;
}

/** Per directory of an update: whether its fsyncs return at once (`fsyncReturnsAtOnce`). */
type AtOnceByDirectory = ReadonlyMap<string, boolean>;

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
 * fsynced temp file beside its target, named after the update and its place in it
 * (`update-temp-name.ts`); the temps are created one after another in rename order and their
 * fsyncs run side by side. If any staging fails, the temps are removed, last first, and nothing
 * visible has changed. Then the temps are renamed in the given order, back to back with no other
 * system call between them, and each directory is fsynced once. That keeps the window in which
 * a reader can find the new certificate with the old key down to adjacent renames (see
 * `renderOutputFiles` for the order), and a kill -9 inside it leaves temps whose names let
 * `recover` finish the update at the next start (`repairInterruptedUpdates`). Should a rename
 * fail, the files before it are already replaced; the error names the one that was not.
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

  recover(targets: RecoveryTargets): Promise<RecoveryReport> {
    return this.#queue.run(async () => {
      const repair = await repairInterruptedUpdates(targets.directories);
      for (const path of repair.rolledForward) this.#lastWritten.delete(path);
      return { ...repair, keyPairs: targets.keyPairs.map(checkKeyPair) };
    });
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
    if (pending.size > 0) {
      const atOnce = atOnceByDirectory([...pending.keys()]);
      await this.#commit(await this.#stage(pending, atOnce), atOnce);
    }
    for (const [file, digest] of pending) this.#remember(file, digest);
    return result;
  }

  #remember(file: OutputFile, digest: string): void {
    const stamp = fileStamp(file.path);
    if (stamp === undefined) return;
    this.#lastWritten.set(file.path, { digest, stamp, mode: file.mode, uid: file.uid, gid: file.gid });
  }

  /**
   * Creates the temps strictly in rename order (the repair reads "temp 1 is still there" as
   * "nothing is visible yet"), then waits for all their fsyncs at once: the update's latency is
   * the slowest fsync rather than their sum. Nothing is visible until #commit renames.
   */
  async #stage(digests: ReadonlyMap<OutputFile, string>, atOnce: AtOnceByDirectory): Promise<StagedFile[]> {
    const files = [...digests];
    const update = newUpdateId();
    const created: (StagedFile & { readonly fd: number })[] = [];
    try {
      for (const [position, [file, digest]] of files.entries()) {
        const tempPath = updateTempPath(file.path, update, position + 1, files.length, digest);
        created.push({ file, tempPath, fd: createFileSync(tempPath, file.contents, file, file.path) });
      }
    } catch (error: unknown) {
      for (const { fd } of created) closeQuietly(fd);
      removeTemps(created);
      throw error;
    }
    const syncs = await Promise.allSettled(created.map(({ fd, file }) => syncAndClose(fd, file.path, atOnce.get(dirname(file.path)) === true)));
    const failure = syncs.find((attempt): attempt is PromiseRejectedResult => attempt.status === "rejected");
    if (failure !== undefined) {
      removeTemps(created);
      throw failure.reason;
    }
    return created.map(({ file, tempPath }) => ({ file, tempPath }));
  }

  /**
   * The renames, back to back. The files they replace are held open across them: otherwise
   * each rename(2) frees its old file before it returns, and on ext4 that waits for the
   * journal, which under other processes' fsyncs stretched the gap between the cert and key
   * renames to milliseconds. Held open, they are freed at the close, after the last rename.
   * A memory file system has no journal to wait for, so nothing is held there.
   */
  async #commit(staged: readonly StagedFile[], atOnce: AtOnceByDirectory): Promise<void> {
    const replaced = staged.flatMap(({ file }) => (atOnce.get(dirname(file.path)) === true ? [] : (openForHold(file.path) ?? [])));
    try {
      for (const [index, { file, tempPath }] of staged.entries()) {
        try {
          renameOver(tempPath, file.path);
        } catch (error: unknown) {
          removeTemps(staged.slice(index));
          await syncDirectories(staged.slice(0, index).map((item) => item.file.path), atOnce);
          throw error;
        }
      }
    } finally {
      for (const fd of replaced) closeQuietly(fd);
    }
    await syncDirectories(staged.map((item) => item.file.path), atOnce);
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

/** One statfs(2) per directory of the update. */
function atOnceByDirectory(files: readonly OutputFile[]): AtOnceByDirectory {
  return new Map([...new Set(files.map((file) => dirname(file.path)))].map((directory) => [directory, fsyncReturnsAtOnce(directory)]));
}

/** Last first, so that a crash halfway leaves temp 1, which tells the repair to roll back. */
function removeTemps(staged: readonly StagedFile[]): void {
  for (const { tempPath } of [...staged].reverse()) removeQuietly(tempPath);
}

async function syncDirectories(paths: readonly string[], atOnce?: AtOnceByDirectory): Promise<void> {
  for (const directory of new Set(paths.map((path) => dirname(path)))) await syncDirectory(directory, atOnce?.get(directory));
}
