import { randomBytes } from "node:crypto";
import { chmod, link, lstat, mkdir, readdir, readlink, rm, symlink, unlink } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import type { OutputFile } from "../output/output-options.js";
import { createDurableFile, readCurrentFile, renameOver, sameContents, sameMetadata, syncDirectory, tempPathFor } from "./file-ops.js";
import {
  FileWriteError,
  fileWriteError,
  SerialQueue,
  type FileWriter,
  type RecoveryReport,
  type RecoveryTargets,
  type WriteResult,
} from "./file-writer.js";
import { repairInterruptedUpdates } from "./interrupted-update-repair.js";
import { checkKeyPair } from "./key-pair-check.js";

const DATA_LINK = "..data";
/**
 * The new link is made under a fresh random name (`..data_tmp-<hex>`), never a fixed one, so
 * nothing planted in the directory can block a swap; `..data_tmp` itself, Kubernetes' fixed
 * name, is still cleared at start-up.
 */
const DATA_TMP_LINK = /^\.\.data_tmp(-[0-9a-f]{16})?$/;
const VERSION_DIR_NAME = /^\.\.(\d{4})_(\d{2})_(\d{2})_(\d{2})_(\d{2})_(\d{2})\.(\d{3})_[0-9a-f]{8}$/;
/**
 * A replaced version is kept until the next swap and, beyond that, until the version that
 * replaced it is this old: a reader that resolved `..data` and was then descheduled (a loaded
 * node) must still find the files it is about to open. At one rotation a second that is about
 * ten small directories of hard links.
 */
const RETIRED_VERSION_GRACE_MS = 10_000;
/**
 * Version directories must be traversable by the application whatever the sidecar's umask.
 * They are created with this mode, which a umask can only narrow (never 0777 under umask 000,
 * not even before the chmod), and are unreachable until `..data` points at them.
 */
const DIRECTORY_MODE = 0o755;

/** `..2025_01_31_12_00_00.000_1a2b3c4d`: sortable, and hidden behind the `..` prefix as in Kubernetes. */
function versionDirName(now: Date): string {
  const stamp = now.toISOString().replace(/[-T:]/g, "_").replace(/Z$/, "");
  return `..${stamp}_${randomBytes(4).toString("hex")}`;
}

const topLevelName = (name: string): string => name.split(sep)[0] ?? name;

async function existingDataVersion(root: string): Promise<string | undefined> {
  try {
    return await readlink(join(root, DATA_LINK));
  } catch (error: unknown) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw fileWriteError("read", join(root, DATA_LINK), error);
  }
}

/** Every regular file under `directory`, as names relative to it; empty when it does not exist. */
async function listFiles(directory: string, prefix = ""): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(join(directory, prefix), { withFileTypes: true });
  } catch (error: unknown) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw fileWriteError("read", directory, error);
  }
  const names: string[] = [];
  for (const entry of entries) {
    const name = prefix === "" ? entry.name : join(prefix, entry.name);
    if (entry.isDirectory()) names.push(...(await listFiles(directory, name)));
    else if (entry.isFile()) names.push(name);
  }
  return names;
}

/** What a swap has to put in the new version directory. */
interface VersionPlan {
  readonly write: OutputFile[];
  /** Names to hard-link from `keepFrom`: the same inode, so an unchanged file is not touched. */
  readonly keep: string[];
  /** The current version directory; set whenever `keep` is not empty. */
  readonly keepFrom: string | undefined;
}

/**
 * The `directory` layout, Kubernetes AtomicWriter style, for outputs that must change together
 * (cert + key + bundle). Every update writes the complete file set into a new versioned
 * directory `..<timestamp>_<random>`, fsyncs it, points a new `..data_tmp` symlink at it and
 * renames that over `..data` (one atomic step), then fsyncs `root`. Each visible name is a
 * symlink `name -> ..data/name`, created once, so at every instant the names on disk resolve
 * into one consistent version. A reader that needs a consistent pair reads both files between
 * two reads of `..data` and retries if the link changed (each `open` resolves the link anew).
 */
export class DirectoryLayoutWriter implements FileWriter {
  readonly #root: string;
  readonly #queue = new SerialQueue();

  constructor(root: string) {
    this.#root = resolve(root);
  }

  writeFiles(files: readonly OutputFile[]): Promise<WriteResult> {
    return this.#queue.run(async () => (await this.#update(files, [])).result);
  }

  async removeFiles(paths: readonly string[]): Promise<string[]> {
    return this.#queue.run(async () => (await this.#update([], paths)).removed);
  }

  /**
   * Removes temp links (and settles a `files`-layout update, should the layout have been
   * switched after a crash), anything at a `..data_tmp` name, and every version but the one
   * `..data` points to and the one before it, which a reader may still be inside. Then checks
   * each cert/key pair through the links, as an application reads them.
   */
  recover(targets: RecoveryTargets): Promise<RecoveryReport> {
    return this.#queue.run(async () => {
      const repair = await repairInterruptedUpdates([this.#root, ...targets.directories]);
      const current = await existingDataVersion(this.#root);
      const names = await readdir(this.#root).catch((error: unknown) => {
        throw fileWriteError("read", this.#root, error);
      });
      const retired = current === undefined ? [] : retiredVersions(names, current, Date.now());
      const stale = names.filter((name) => DATA_TMP_LINK.test(name) || retired.includes(name));
      for (const name of stale) await removeEntry(join(this.#root, name));
      if (stale.length > 0) await syncDirectory(this.#root);
      const removed = [...repair.removed, ...stale.map((name) => join(this.#root, name))];
      return { ...repair, removed, keyPairs: targets.keyPairs.map(checkKeyPair) };
    });
  }

  /** The name of `path` inside the layout; it must lie below the root and not use a reserved `..` name. */
  #nameOf(path: string): string {
    const name = relative(this.#root, resolve(path));
    if (name === "" || isAbsolute(name) || topLevelName(name).startsWith("..")) {
      throw new FileWriteError(
        `cannot write ${path}: the directory layout manages files inside ${this.#root} whose names do not start with ".."; ` +
          "move the output into cert_dir or use write_layout: files",
        path,
        undefined,
      );
    }
    return name;
  }

  async #update(upserts: readonly OutputFile[], removals: readonly string[]): Promise<{ result: WriteResult; removed: string[] }> {
    const result: WriteResult = { changed: [], repaired: [], unchanged: [] };
    const current = await existingDataVersion(this.#root);
    const existing = new Set(current === undefined ? [] : await listFiles(join(this.#root, current)));
    const upsertNames = new Map(upserts.map((file) => [this.#nameOf(file.path), file]));
    if (upsertNames.size !== upserts.length) throw new TypeError("an output is listed twice in one write");
    const removedNames = new Set(removals.map((path) => this.#nameOf(path)).filter((name) => existing.has(name)));
    const plan: VersionPlan = { write: [], keep: [], keepFrom: current };
    for (const [name, file] of upsertNames) {
      const onDisk = current === undefined ? undefined : readCurrentFile(join(this.#root, current, name));
      const sameBytes = onDisk !== undefined && sameContents(onDisk, file);
      if (sameBytes && sameMetadata(onDisk, file)) {
        result.unchanged.push(file.path);
        plan.keep.push(name);
        continue;
      }
      (sameBytes ? result.repaired : result.changed).push(file.path);
      plan.write.push(file);
    }
    for (const name of existing) if (!upsertNames.has(name) && !removedNames.has(name)) plan.keep.push(name);
    let version = current;
    if (plan.write.length > 0 || removedNames.size > 0) {
      version = await this.#buildVersion(plan);
      await this.#swapDataLink(version);
    }
    const visible = new Set([...plan.keep, ...plan.write.map((file) => this.#nameOf(file.path))].map(topLevelName));
    await this.#syncVisibleLinks(visible, new Set([...existing].map(topLevelName)));
    // The version just replaced stays until the next swap: a reader that resolved `..data`
    // a moment ago may still be opening files inside it.
    if (version !== current && version !== undefined) await this.#removeRetiredVersions(version);
    return { result, removed: [...removedNames].map((name) => join(this.#root, name)) };
  }

  async #buildVersion(plan: VersionPlan): Promise<string> {
    const version = versionDirName(new Date());
    const versionPath = join(this.#root, version);
    const directories = new Set<string>([versionPath]);
    const ensureParent = async (path: string): Promise<void> => {
      for (let dir = dirname(path); !directories.has(dir); dir = dirname(dir)) {
        await mkdir(dir, { recursive: true, mode: DIRECTORY_MODE });
        await chmod(dir, DIRECTORY_MODE);
        directories.add(dir);
      }
    };
    try {
      await mkdir(versionPath, { mode: DIRECTORY_MODE });
      await chmod(versionPath, DIRECTORY_MODE);
      for (const file of plan.write) {
        const target = join(versionPath, this.#nameOf(file.path));
        await ensureParent(target);
        await createDurableFile(target, file.contents, file, file.path);
      }
      for (const name of plan.keep) {
        const target = join(versionPath, name);
        await ensureParent(target);
        await link(join(this.#root, plan.keepFrom ?? "", name), target);
      }
      for (const dir of [...directories].reverse()) await syncDirectory(dir);
    } catch (error: unknown) {
      await rm(versionPath, { recursive: true, force: true });
      throw fileWriteError("write", versionPath, error);
    }
    return version;
  }

  /** The one atomic step: a fresh `..data_tmp-<hex>` symlink renamed over `..data`. */
  async #swapDataLink(version: string): Promise<void> {
    const tmpLink = join(this.#root, `..data_tmp-${randomBytes(8).toString("hex")}`);
    try {
      await symlink(version, tmpLink);
      renameOver(tmpLink, join(this.#root, DATA_LINK));
    } catch (error: unknown) {
      await rm(tmpLink, { force: true });
      await rm(join(this.#root, version), { recursive: true, force: true });
      throw fileWriteError("link", join(this.#root, DATA_LINK), error);
    }
    await syncDirectory(this.#root);
  }

  /**
   * Points each visible name at `..data/<name>` (a temp symlink renamed over whatever is
   * there, so a regular file from the `files` layout is replaced atomically) and removes
   * our links whose target left the set.
   */
  async #syncVisibleLinks(visible: ReadonlySet<string>, previous: ReadonlySet<string>): Promise<void> {
    let touched = false;
    for (const name of visible) {
      const path = join(this.#root, name);
      const target = `${DATA_LINK}/${name}`;
      if ((await linkTarget(path)) === target) continue;
      const tempPath = tempPathFor(path);
      try {
        await symlink(target, tempPath);
        renameOver(tempPath, path);
      } catch (error: unknown) {
        await rm(tempPath, { force: true });
        throw fileWriteError("link", path, error);
      }
      touched = true;
    }
    for (const name of previous) {
      const path = join(this.#root, name);
      if (visible.has(name) || (await linkTarget(path)) !== `${DATA_LINK}/${name}`) continue;
      await unlink(path).catch((error: unknown) => {
        throw fileWriteError("remove", path, error);
      });
      touched = true;
    }
    if (touched) await syncDirectory(this.#root);
  }

  async #removeRetiredVersions(current: string): Promise<void> {
    const names = await readdir(this.#root);
    for (const name of retiredVersions(names, current, Date.now())) await removeEntry(join(this.#root, name));
  }
}

/**
 * The version directories that may go: all but `current`, the one before it (the newest older
 * name: names sort by their timestamp) and any whose successor is younger than the grace
 * period. Versions newer than `current` are left-overs of a crash before the swap. Should the
 * clock have stepped, the worst case keeps a directory until a later swap or removes one early,
 * but never `current` or the one before it.
 */
export function retiredVersions(names: readonly string[], current: string, nowMs: number): string[] {
  const versions = names.filter((name) => VERSION_DIR_NAME.test(name)).sort();
  const previous = versions.filter((name) => name < current).at(-1);
  return versions.filter((name, index) => {
    if (name === current || name === previous) return false;
    if (name > current) return true;
    const successorMs = versionTimeMs(versions[index + 1] ?? current);
    return successorMs === undefined || nowMs - successorMs > RETIRED_VERSION_GRACE_MS;
  });
}

/** When a version directory was made, from its name; undefined for a name that is not one. */
function versionTimeMs(name: string): number | undefined {
  const match = VERSION_DIR_NAME.exec(name);
  if (match === null) return undefined;
  const [year, month, day, hour, minute, second, milli] = match.slice(1).map(Number);
  return Date.UTC(year ?? 0, (month ?? 1) - 1, day ?? 1, hour ?? 0, minute ?? 0, second ?? 0, milli ?? 0);
}

/**
 * Removes whatever is at `path` without following a link: a symlink or file is unlinked, a
 * directory removed with its contents (`rm` lstat()s each entry and unlinks links inside it,
 * never their targets).
 */
async function removeEntry(path: string): Promise<void> {
  try {
    const stats = await lstat(path);
    if (stats.isDirectory()) await rm(path, { recursive: true, force: true });
    else await unlink(path);
  } catch (error: unknown) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw fileWriteError("remove", path, error);
  }
}

/** The target of the symlink at `path`, or undefined when it is missing or not a symlink. */
async function linkTarget(path: string): Promise<string | undefined> {
  try {
    const stats = await lstat(path);
    return stats.isSymbolicLink() ? await readlink(path) : undefined;
  } catch (error: unknown) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw fileWriteError("read", path, error);
  }
}
