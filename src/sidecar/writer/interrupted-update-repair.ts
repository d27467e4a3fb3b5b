import { lstatSync, readdirSync, renameSync, unlinkSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { describeError } from "../../errors.js";
import type { OutputOptions } from "../output/output-options.js";
import { readCurrentFile, syncDirectory, TEMP_FILE_NAME } from "./file-ops.js";
import type { RecoveryReport, RecoveryTargets } from "./file-writer.js";
import { nameDigest, parseUpdateTemp, type UpdateTemp } from "./update-temp-name.js";

/**
 * The directories to repair and the pairs to check for a set of outputs: cert_dir, the
 * federated bundle directory and the directory of every output named by an absolute path.
 * `extraOutputPaths` are outputs outside `OutputOptions` (the JWT-SVID files).
 */
export function recoveryTargets(options: OutputOptions, extraOutputPaths: readonly string[] = []): RecoveryTargets {
  const certDir = resolve(options.certDir);
  const named = [
    options.svidFileName,
    options.svidKeyFileName,
    options.svidBundleFileName,
    options.combinedPemFileName,
    options.pkcs12?.keystoreFileName,
    options.pkcs12?.truststoreFileName,
    options.spiffeBundleMapFileName,
    options.jwtBundleFileName,
  ].flatMap((name) => (name === undefined ? [] : [resolve(certDir, name)]));
  const federated = options.federatedBundleDir === undefined ? [] : [resolve(certDir, options.federatedBundleDir)];
  const directories = [certDir, ...federated, ...[...named, ...extraOutputPaths].map((path) => dirname(resolve(certDir, path)))];
  const keyPairs =
    options.svidFileName !== undefined && options.svidKeyFileName !== undefined
      ? [{ certPath: resolve(certDir, options.svidFileName), keyPath: resolve(certDir, options.svidKeyFileName) }]
      : [];
  return { directories: [...new Set(directories)], keyPairs };
}

export type UpdateRepair = Omit<RecoveryReport, "keyPairs">;

/**
 * Settles every update of the `files` layout that a crash interrupted, reading only the temp
 * files' names (see `update-temp-name.ts`) and contents. The writer keeps three rules that make
 * the names enough:
 * 1. an update creates its temps one after another in rename order, and removes them (when it
 *    gives up) in the reverse order, so while nothing is visible yet temp 1 exists;
 * 2. renames start only once every temp is complete and fsynced, and go in index order, so once
 *    temp 1 is gone every temp still there is complete and meant to be visible;
 * 3. nothing else ever removes temp 1 of an update.
 * So: temp 1 present means the update never became visible, and it is rolled back (its temps
 * removed, highest first); temp 1 gone means its renames had begun, and the rest are renamed
 * into place in order. A temp whose contents fail the digest in its name (only a power loss
 * or a stranger could do that) is discarded, never made visible. A crash during the repair
 * leaves a state that follows the same rules, so running it again finishes the job.
 */
export async function repairInterruptedUpdates(directories: readonly string[]): Promise<UpdateRepair> {
  const report: UpdateRepair = { rolledForward: [], removed: [], discarded: [], problems: [] };
  const updates = new Map<string, UpdateTemp[]>();
  const touched = new Set<string>();
  for (const directory of new Set(directories.map((path) => resolve(path)))) {
    for (const name of listNames(directory, report)) {
      const temp = parseUpdateTemp(directory, name);
      if (temp !== undefined) {
        updates.set(temp.update, [...(updates.get(temp.update) ?? []), temp]);
      } else if (TEMP_FILE_NAME.test(name) && removeEntry(resolve(directory, name), report)) {
        report.removed.push(resolve(directory, name));
        touched.add(directory);
      }
    }
  }
  // Each update's age is read once, not on every comparison of the sort.
  const byAge = [...updates.values()].map((temps) => ({ temps, oldestMs: oldest(temps) })).sort((a, b) => a.oldestMs - b.oldestMs);
  for (const { temps } of byAge) {
    settleUpdate(temps, report);
    for (const temp of temps) touched.add(dirname(temp.path));
  }
  for (const directory of touched) {
    try {
      await syncDirectory(directory);
    } catch (error: unknown) {
      report.problems.push(describeError(error));
    }
  }
  return report;
}

function settleUpdate(temps: readonly UpdateTemp[], report: UpdateRepair): void {
  const inOrder = [...temps].sort((a, b) => a.index - b.index);
  if (inOrder[0]?.index === 1) {
    for (const temp of inOrder.reverse()) if (removeEntry(temp.path, report)) report.removed.push(temp.path);
    return;
  }
  for (const temp of inOrder) {
    if (!isComplete(temp)) {
      if (removeEntry(temp.path, report)) report.discarded.push(temp.path);
      continue;
    }
    try {
      renameSync(temp.path, temp.targetPath);
      report.rolledForward.push(temp.targetPath);
    } catch (error: unknown) {
      report.problems.push(`cannot rename ${temp.path} over ${temp.targetPath}: ${describeError(error)}`);
      if (removeEntry(temp.path, report)) report.discarded.push(temp.path);
    }
  }
}

/** A regular file (never a link followed) holding exactly what its name's digest says. */
function isComplete(temp: UpdateTemp): boolean {
  try {
    const current = readCurrentFile(temp.path);
    return current !== undefined && nameDigest(current.contents) === temp.digest;
  } catch {
    return false;
  }
}

/** When an update's oldest temp was written: older updates settle first, so a newer one that replaces the same output wins. */
function oldest(temps: readonly UpdateTemp[]): number {
  return Math.min(...temps.map((temp) => modifiedAt(temp.path)));
}

function modifiedAt(path: string): number {
  try {
    return lstatSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

function listNames(directory: string, report: UpdateRepair): string[] {
  try {
    return readdirSync(directory);
  } catch (error: unknown) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") report.problems.push(`cannot read ${directory}: ${describeError(error)}`);
    return [];
  }
}

/**
 * Unlinks a file or symlink (unlink never follows a link). A directory under one of our temp
 * names is not ours: it is left alone and reported.
 */
function removeEntry(path: string, report: UpdateRepair): boolean {
  try {
    if (lstatSync(path).isDirectory()) {
      report.problems.push(`${path} is a directory under a temp file name; left alone`);
      return false;
    }
    unlinkSync(path);
    return true;
  } catch (error: unknown) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    report.problems.push(`cannot remove ${path}: ${describeError(error)}`);
    return false;
  }
}
