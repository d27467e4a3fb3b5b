import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { OutputFile } from "../output/output-options.js";
import { DirectoryLayoutWriter, retiredVersions } from "./directory-layout-writer.js";
import { FileWriteError } from "./file-writer.js";

const VERSION_DIR = /^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d{3}_[0-9a-f]{8}$/;
let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), "directory-layout-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function freshDir(name: string): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir);
  return dir;
}

function file(path: string, text: string, mode = 0o644): OutputFile {
  return { path, contents: new Uint8Array(Buffer.from(text)), mode, group: "x509" };
}

function x509Set(dir: string, marker: string): OutputFile[] {
  return [
    file(join(dir, "svid_bundle.pem"), `bundle ${marker}`),
    file(join(dir, "svid.pem"), `cert ${marker}`),
    file(join(dir, "svid_key.pem"), `key ${marker}`, 0o600),
  ];
}

const versionsIn = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((name) => VERSION_DIR.test(name));

describe("DirectoryLayoutWriter", () => {
  it("writes a versioned directory behind ..data and one symlink per visible name", async () => {
    const dir = await freshDir("basic");
    const result = await new DirectoryLayoutWriter(dir).writeFiles(x509Set(dir, "v1"));
    assert.equal(result.changed.length, 3);
    const version = await readlink(join(dir, "..data"));
    assert.match(version, VERSION_DIR);
    for (const name of ["svid_bundle.pem", "svid.pem", "svid_key.pem"]) {
      assert.equal(await readlink(join(dir, name)), `..data/${name}`);
    }
    assert.equal(await readFile(join(dir, "svid_key.pem"), "utf8"), "key v1");
    assert.equal((await stat(join(dir, "svid_key.pem"))).mode & 0o7777, 0o600);
    assert.equal((await stat(join(dir, version))).mode & 0o7777, 0o755);
    assert.deepEqual(await versionsIn(dir), [version]);
  });

  it("skips an identical update without a new version", async () => {
    const dir = await freshDir("identical");
    const writer = new DirectoryLayoutWriter(dir);
    await writer.writeFiles(x509Set(dir, "v1"));
    const version = await readlink(join(dir, "..data"));
    const result = await writer.writeFiles(x509Set(dir, "v1"));
    assert.deepEqual([result.changed, result.repaired, result.unchanged.length], [[], [], 3]);
    assert.equal(await readlink(join(dir, "..data")), version);
  });

  it("swaps to a new version and keeps the ones before while a reader may be inside them", async () => {
    const dir = await freshDir("swap");
    const writer = new DirectoryLayoutWriter(dir);
    await writer.writeFiles(x509Set(dir, "v1"));
    const first = await readlink(join(dir, "..data"));
    await writer.writeFiles(x509Set(dir, "v2"));
    const second = await readlink(join(dir, "..data"));
    assert.notEqual(second, first);
    const kept = (await versionsIn(dir)).sort();
    assert.deepEqual(kept, [first, second].sort(), "a reader that resolved ..data to v1 can still open its files");
    assert.equal(await readFile(join(dir, first, "svid.pem"), "utf8"), "cert v1");
    assert.equal(await readFile(join(dir, "svid.pem"), "utf8"), "cert v2");
  });

  it("retires a replaced version after the next swap and a grace period, never the current or the one before", () => {
    const at = (second: number): string => `..2026_01_01_00_00_${String(second).padStart(2, "0")}.000_0000000${second % 10}`;
    const names = [at(0), at(1), at(2), at(30), at(31), at(50), "..data", "svid.pem"];
    const now = Date.UTC(2026, 0, 1, 0, 0, 45);
    // at(0) was replaced at 1 s and at(1) at 2 s, long ago; at(2) was replaced at 30 s, 15 s
    // ago; at(30) at 31 s, 14 s ago... all past the 10 s grace. at(31) is current, at(30) the
    // one before it, at(50) a left-over of a crash before its swap.
    assert.deepEqual(retiredVersions(names, at(31), now), [at(0), at(1), at(2), at(50)]);
    assert.deepEqual(retiredVersions(names, at(31), Date.UTC(2026, 0, 1, 0, 0, 35)), [at(0), at(1), at(50)]);
  });

  it("keeps files a write does not mention, as the same inode", async () => {
    const dir = await freshDir("carry-over");
    const writer = new DirectoryLayoutWriter(dir);
    await writer.writeFiles(x509Set(dir, "v1"));
    const certInode = (await stat(join(dir, "svid.pem"))).ino;
    await writer.writeFiles([file(join(dir, "jwt.token"), "token", 0o600)]);
    assert.equal(await readFile(join(dir, "svid.pem"), "utf8"), "cert v1");
    assert.equal((await stat(join(dir, "svid.pem"))).ino, certInode);
    assert.equal(await readFile(join(dir, "jwt.token"), "utf8"), "token");
  });

  it("adds and removes nested per-trust-domain files with the swap", async () => {
    const dir = await freshDir("nested");
    const writer = new DirectoryLayoutWriter(dir);
    const alpha = join(dir, "federated", "alpha.org.pem");
    const zeta = join(dir, "federated", "zeta.org.pem");
    await writer.writeFiles([file(alpha, "alpha"), file(zeta, "zeta")]);
    assert.equal(await readlink(join(dir, "federated")), "..data/federated");
    assert.equal(await readFile(zeta, "utf8"), "zeta");
    assert.deepEqual(await writer.removeFiles([zeta]), [zeta]);
    assert.deepEqual(await readdir(join(dir, "federated")), ["alpha.org.pem"]);
    await writer.removeFiles([alpha]);
    await assert.rejects(lstat(join(dir, "federated")), { code: "ENOENT" });
  });

  it("replaces regular files left by the files layout with symlinks", async () => {
    const dir = await freshDir("from-files-layout");
    await writeFile(join(dir, "svid.pem"), "plain");
    await new DirectoryLayoutWriter(dir).writeFiles(x509Set(dir, "v1"));
    assert.ok((await lstat(join(dir, "svid.pem"))).isSymbolicLink());
    assert.equal(await readFile(join(dir, "svid.pem"), "utf8"), "cert v1");
  });

  it("repairs a drifted mode with a new version", async () => {
    const dir = await freshDir("drift");
    const writer = new DirectoryLayoutWriter(dir);
    await writer.writeFiles(x509Set(dir, "v1"));
    const first = await readlink(join(dir, "..data"));
    await chmod(join(dir, "svid_key.pem"), 0o644);
    const result = await writer.writeFiles(x509Set(dir, "v1"));
    assert.deepEqual(result.repaired, [join(dir, "svid_key.pem")]);
    assert.notEqual(await readlink(join(dir, "..data")), first);
    assert.equal((await stat(join(dir, "svid_key.pem"))).mode & 0o7777, 0o600);
  });

  it("cleans up what a crash left, keeping the current version and those a reader may be inside", async () => {
    const dir = await freshDir("stale");
    const writer = new DirectoryLayoutWriter(dir);
    await writer.writeFiles(x509Set(dir, "v1"));
    const previous = await readlink(join(dir, "..data"));
    await writer.writeFiles(x509Set(dir, "v2"));
    const current = await readlink(join(dir, "..data"));
    await mkdir(join(dir, "..2001_01_01_00_00_00.000_deadbeef"));
    await mkdir(join(dir, "..2999_01_01_00_00_00.000_deadbeef"));
    await symlink("..2001_01_01_00_00_00.000_deadbeef", join(dir, "..data_tmp-0123456789abcdef"));
    await mkdir(join(dir, "..data_tmp"));
    await writeFile(join(dir, ".svid.pem.tmp-0123456789abcdef"), "partial");
    const report = await writer.recover({ directories: [dir], keyPairs: [] });
    assert.deepEqual(
      report.removed.map((path) => path.slice(dir.length + 1)).sort(),
      [
        ".svid.pem.tmp-0123456789abcdef",
        "..2999_01_01_00_00_00.000_deadbeef",
        "..data_tmp",
        "..data_tmp-0123456789abcdef",
      ].sort(),
    );
    // The 2001 one is older than `previous`, which replaced it a moment ago: within the grace.
    const kept = ["..2001_01_01_00_00_00.000_deadbeef", previous, current];
    assert.deepEqual((await versionsIn(dir)).sort(), kept.sort());
    assert.equal(await readFile(join(dir, "svid.pem"), "utf8"), "cert v2");
  });

  it("writes past anything planted at ..data_tmp, and removes it at start-up without following links", async () => {
    const dir = await freshDir("planted");
    const outside = join(root, "planted-outside");
    await mkdir(outside);
    await writeFile(join(outside, "keep"), "not ours");
    await mkdir(join(dir, "..data_tmp"));
    await symlink(outside, join(dir, "..data_tmp", "link"));
    const writer = new DirectoryLayoutWriter(dir);
    await writer.writeFiles(x509Set(dir, "v1"));
    await writer.writeFiles(x509Set(dir, "v2"));
    assert.equal(await readFile(join(dir, "svid.pem"), "utf8"), "cert v2");
    await writer.recover({ directories: [dir], keyPairs: [] });
    await assert.rejects(lstat(join(dir, "..data_tmp")), /ENOENT/);
    assert.equal(await readFile(join(outside, "keep"), "utf8"), "not ours");
  });

  it("refuses files outside its directory or with reserved names", async () => {
    const dir = await freshDir("outside");
    const writer = new DirectoryLayoutWriter(dir);
    const elsewhere = join(root, "elsewhere.pem");
    await assert.rejects(
      writer.writeFiles([file(elsewhere, "x")]),
      (e: unknown) =>
        e instanceof FileWriteError &&
        e.path === elsewhere &&
        e.message.endsWith("move the output into cert_dir or use write_layout: files"),
    );
    await assert.rejects(writer.writeFiles([file(join(dir, "..data"), "x")]), /names do not start with "\.\."/);
  });
});

/**
 * Reads cert and key through the visible names between two reads of `..data`, the reader
 * protocol the layout supports; a changed link means a swap happened and the pair is skipped.
 * Prints the number of consistent pairs and of pairs whose markers differ.
 */
const PAIR_READER = `
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
const [dir, stopPath] = process.argv.slice(-2);
const counts = { consistent: 0, mismatched: 0, raced: 0, missing: 0, wideDirs: 0 };
const marker = (text) => text.split(" ")[1];
const readPair = () => {
  try {
    const before = readlinkSync(join(dir, "..data"));
    const cert = readFileSync(join(dir, "svid.pem"), "utf8");
    const key = readFileSync(join(dir, "svid_key.pem"), "utf8");
    if (readlinkSync(join(dir, "..data")) !== before) { counts.raced++; return; }
    if (marker(cert) === marker(key)) counts.consistent++; else counts.mismatched++;
  } catch (error) {
    if (error.code === "ENOENT") counts.missing++; else throw error;
  }
  // A version directory is visible in the listing from its mkdir on, before ..data points at it.
  for (const entry of readdirSync(dir)) {
    if (!entry.startsWith("..2")) continue;
    try { if ((lstatSync(join(dir, entry)).mode & 0o022) !== 0) counts.wideDirs++; } catch {}
  }
};
process.stdout.write("ready\\n");
while (!existsSync(stopPath)) readPair();
readPair();
process.stdout.write(JSON.stringify(counts) + "\\n");
`;

describe("DirectoryLayoutWriter under a concurrent reader", () => {
  it("never shows a cert and key from different versions, a missing file or a wide version directory across 100 swaps", async () => {
    const dir = await freshDir("concurrent");
    const stopPath = join(root, "concurrent.stop");
    const writer = new DirectoryLayoutWriter(dir);
    await writer.writeFiles(x509Set(dir, "v0"));
    const child = spawn(process.execPath, ["--input-type=module", "-e", PAIR_READER, dir, stopPath], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    while (!output.includes("ready\n")) await once(child.stdout, "data");
    const umask = process.umask(0o000);
    try {
      for (let i = 1; i <= 100; i++) await writer.writeFiles(x509Set(dir, `v${i}`));
    } finally {
      process.umask(umask);
    }
    await writeFile(stopPath, "");
    await once(child, "exit");
    const counts = JSON.parse(output.split("\n")[1] ?? "{}") as Record<string, number>;
    const failures = { mismatched: counts["mismatched"], missing: counts["missing"], wideDirs: counts["wideDirs"] };
    assert.deepEqual(failures, { mismatched: 0, missing: 0, wideDirs: 0 });
    assert.ok((counts["consistent"] ?? 0) > 0, "the final read after the last swap is consistent");
    assert.ok((await versionsIn(dir)).length >= 2, "the current version and the ones before it");
    assert.equal(await readFile(join(dir, "svid_key.pem"), "utf8"), "key v100");
  });
});
