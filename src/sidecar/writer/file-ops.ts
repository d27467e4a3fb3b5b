import { randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  fsync,
  fsyncSync,
  lstatSync,
  openSync,
  readFileSync,
  renameSync,
  statfsSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { promisify } from "node:util";
import type { OutputFile } from "../output/output-options.js";
import { FileWriteError, fileWriteError, type WriteAction } from "./file-writer.js";

/** `.<name>.tmp-<16 hex>`: hidden, and never mistaken for an output (DESIGN §3.2). */
export const TEMP_FILE_NAME = /^\..+\.tmp-[0-9a-f]{16}$/;
const PERMISSION_BITS = 0o7777;

export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${randomBytes(8).toString("hex")}`);
}

export type FileMetadata = Pick<OutputFile, "mode" | "uid" | "gid">;

function stepSync<T>(action: WriteAction, reportAs: string, run: () => T): T {
  try {
    return run();
  } catch (error: unknown) {
    throw fileWriteError(action, reportAs, error);
  }
}

async function step<T>(action: WriteAction, reportAs: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error: unknown) {
    throw fileWriteError(action, reportAs, error);
  }
}

const fsyncAsync = promisify(fsync);

/** `f_type` of the file systems that live in memory (linux/magic.h: TMPFS_MAGIC, RAMFS_MAGIC). */
const MEMORY_FILE_SYSTEMS: ReadonlySet<number> = new Set([0x01021994, 0x858458f6]);

/**
 * True when `directory` is on tmpfs or ramfs (Kubernetes `emptyDir: {medium: Memory}`,
 * `/dev/shm`), where fsync(2) has nothing to wait for and returns at once. There the fsyncs
 * run on this thread: each thread-pool round trip cost ~0.2 ms of CPU on this 2-vCPU VM
 * against microseconds for the call itself (fsync was 0.78 ms of a rotation's main-thread
 * CPU, profile over 1,100 rotations, 2026-12-06). Elsewhere fsync waits for the device and
 * stays on the thread pool, so the event loop never blocks on a disk. One statfs(2) per
 * directory per update, so a tmpfs mounted over the directory later is noticed.
 */
export function fsyncReturnsAtOnce(directory: string): boolean {
  try {
    return MEMORY_FILE_SYSTEMS.has(statfsSync(directory).type);
  } catch {
    // Not knowing costs only the thread-pool round trip.
    return false;
  }
}

/** fsync(2): on this thread when `atOnce` (see `fsyncReturnsAtOnce`), else on the thread pool. */
async function syncFd(fd: number, atOnce: boolean): Promise<void> {
  if (atOnce) fsyncSync(fd);
  else await fsyncAsync(fd);
}

/**
 * Creates `path`, which must not exist (`O_EXCL`; `O_NOFOLLOW` so a planted symlink is never
 * followed), holding exactly `contents`, durable before it returns. It is opened with the final
 * permission bits, which the umask can only narrow, then owner and exact mode are set on the
 * descriptor before any byte is written: the file is never readable more widely than asked,
 * even for an instant. `fchmod` comes after `fchown` because a chown clears set-id bits. On
 * failure the file is removed and the error names `reportAs`, the path the user knows.
 *
 * Only fsync, which waits for the device, runs on the thread pool (except where it cannot wait:
 * `fsyncReturnsAtOnce`); the other calls take microseconds on a small file, less than a
 * thread-pool round trip costs in CPU.
 */
export async function createDurableFile(path: string, contents: Uint8Array, metadata: FileMetadata, reportAs: string): Promise<void> {
  const fd = createFileSync(path, contents, metadata, reportAs);
  try {
    await syncAndClose(fd, reportAs, fsyncReturnsAtOnce(dirname(path)));
  } catch (error: unknown) {
    await unlink(path).catch(() => undefined);
    throw error;
  }
}

/**
 * The synchronous half of `createDurableFile`: creates, sets owner and mode, writes, and returns
 * the open descriptor for `syncAndClose`. On failure the file is closed and removed. Callers that
 * stage several files use it to create them strictly one after another (the crash repair relies
 * on that order) while their fsyncs still run side by side.
 */
export function createFileSync(path: string, contents: Uint8Array, metadata: FileMetadata, reportAs: string): number {
  const flags = constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW;
  const fd = stepSync("create", reportAs, () => openSync(path, flags, metadata.mode & 0o777));
  try {
    if (metadata.uid !== undefined || metadata.gid !== undefined) {
      stepSync("set owner of", reportAs, () => fchownSync(fd, metadata.uid ?? -1, metadata.gid ?? -1));
    }
    stepSync("set mode of", reportAs, () => fchmodSync(fd, metadata.mode));
    stepSync("write", reportAs, () => writeAll(fd, contents));
    return fd;
  } catch (error: unknown) {
    closeQuietly(fd);
    removeQuietly(path);
    throw error;
  }
}

/**
 * Waits for `fd` to reach the device, then closes it (also when the fsync fails). `atOnce`:
 * the file is on a file system where fsync returns at once (`fsyncReturnsAtOnce`).
 */
export async function syncAndClose(fd: number, reportAs: string, atOnce: boolean): Promise<void> {
  try {
    await step("sync", reportAs, () => syncFd(fd, atOnce));
  } catch (error: unknown) {
    closeQuietly(fd);
    throw error;
  }
  stepSync("write", reportAs, () => closeSync(fd));
}

/**
 * A read-only descriptor on the file at `path` that only keeps its inode alive; undefined when
 * there is nothing to hold. `O_NOFOLLOW` and `O_NONBLOCK` as in `readCurrentFile`: a planted
 * link is not followed and a FIFO does not block.
 */
export function openForHold(path: string): number | undefined {
  try {
    return openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
}

/** Unlinks `path` if it is there; for clean-up on a path whose error is already being reported. */
export function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Gone already, or the error being reported is the one that matters.
  }
}

function writeAll(fd: number, contents: Uint8Array): void {
  for (let offset = 0; offset < contents.length; ) offset += writeSync(fd, contents, offset);
}

export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // The error being reported is the one that matters.
  }
}

/** A regular file as it is on disk now. */
export interface CurrentFile {
  readonly contents: Buffer;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

/**
 * The regular file at `path`, or undefined when there is nothing (or a symlink, or some other
 * kind of file) that a rename may simply replace. A directory is an error: rename cannot
 * replace it and the user has to move it. `O_NONBLOCK` keeps a FIFO from hanging the read.
 *
 * The read is synchronous: every write compares each output with the disk, and for a small
 * local file four thread-pool round trips cost ten times the system calls themselves (with
 * 50 JWT-SVIDs, most of the sidecar's CPU). Only fsync, the one slow call, can stay asynchronous.
 */
export function readCurrentFile(path: string): CurrentFile | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error: unknown) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ELOOP") return undefined;
    throw fileWriteError("read", path, error);
  }
  try {
    const stats = fstatSync(fd);
    if (stats.isDirectory()) {
      throw new FileWriteError(`cannot write ${path}: it is a directory; remove it or choose another file name`, path, "EISDIR");
    }
    if (!stats.isFile()) return undefined;
    return { contents: readFileSync(fd), mode: stats.mode & PERMISSION_BITS, uid: stats.uid, gid: stats.gid };
  } catch (error: unknown) {
    throw fileWriteError("read", path, error);
  } finally {
    closeSync(fd);
  }
}

/**
 * What any change to the regular file at `path` alters: another file renamed over it changes
 * the inode; a write, chmod or chown moves the change time and usually the size, mode or owner.
 * Undefined when there is no regular file. One lstat(2), against four calls to read it back.
 * Blind spot: a same-size rewrite in place within one tick of the kernel's coarse clock after
 * our write (a few milliseconds, before Linux 6.13's fine-grained change times); it is caught
 * at the next content change.
 */
export function fileStamp(path: string): string | undefined {
  try {
    const stats = lstatSync(path, { bigint: true });
    if (!stats.isFile()) return undefined;
    return [stats.dev, stats.ino, stats.ctimeNs, stats.size, stats.mode, stats.uid, stats.gid].join(":");
  } catch {
    return undefined;
  }
}

export function sameContents(current: CurrentFile, file: OutputFile): boolean {
  return current.contents.equals(file.contents);
}

export function sameMetadata(current: Pick<CurrentFile, "mode" | "uid" | "gid">, file: FileMetadata): boolean {
  return (
    current.mode === file.mode &&
    (file.uid === undefined || current.uid === file.uid) &&
    (file.gid === undefined || current.gid === file.gid)
  );
}

export function renameOver(from: string, to: string): void {
  stepSync("rename", to, () => renameSync(from, to));
}

/** Makes renames and creations in `directory` durable (rename(2) alone survives no crash). */
export async function syncDirectory(directory: string, atOnce: boolean = fsyncReturnsAtOnce(directory)): Promise<void> {
  const fd = stepSync("sync", directory, () => openSync(directory, constants.O_RDONLY | constants.O_DIRECTORY));
  try {
    await step("sync", directory, () => syncFd(fd, atOnce));
  } finally {
    closeQuietly(fd);
  }
}
