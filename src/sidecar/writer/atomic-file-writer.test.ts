import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import type { OutputFile } from "../output/output-options.js";
import { AtomicFileWriter } from "./atomic-file-writer.js";
import { FileWriteError, fileWriteError } from "./file-writer.js";

const isRoot = process.getuid?.() === 0;
let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), "atomic-writer-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function freshDir(name: string): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir);
  return dir;
}

function file(path: string, text: string, mode = 0o600, extra: Partial<OutputFile> = {}): OutputFile {
  return { path, contents: new Uint8Array(Buffer.from(text)), mode, group: "x509", ...extra };
}

async function withUmask<T>(mask: number, run: () => Promise<T>): Promise<T> {
  const previous = process.umask(mask);
  try {
    return await run();
  } finally {
    process.umask(previous);
  }
}

const tempsIn = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((name) => name.includes(".tmp-"));

describe("AtomicFileWriter", () => {
  for (const mask of [0o022, 0o077, 0o000]) {
    it(`applies modes exactly under umask ${mask.toString(8).padStart(3, "0")}`, async () => {
      const dir = await freshDir(`umask-${mask}`);
      const modes = [0o600, 0o644, 0o640, 0o444];
      await withUmask(mask, () =>
        new AtomicFileWriter().writeFiles(modes.map((mode) => file(join(dir, `f${mode.toString(8)}`), "x", mode))),
      );
      for (const mode of modes) assert.equal((await stat(join(dir, `f${mode.toString(8)}`))).mode & 0o7777, mode);
    });
  }

  it("skips identical content without touching the file", async () => {
    const dir = await freshDir("identical");
    const writer = new AtomicFileWriter();
    const target = join(dir, "svid.pem");
    assert.deepEqual(await writer.writeFiles([file(target, "cert")]), { changed: [target], repaired: [], unchanged: [] });
    const before = await stat(target);
    assert.deepEqual(await writer.writeFiles([file(target, "cert")]), { changed: [], repaired: [], unchanged: [target] });
    const afterStat = await stat(target);
    assert.equal(afterStat.ino, before.ino);
    assert.equal(afterStat.mtimeMs, before.mtimeMs);
  });

  it("replaces changed content with a new inode", async () => {
    const dir = await freshDir("changed");
    const writer = new AtomicFileWriter();
    const target = join(dir, "svid.pem");
    await writer.writeFiles([file(target, "old")]);
    const before = await stat(target);
    assert.deepEqual((await writer.writeFiles([file(target, "new")])).changed, [target]);
    assert.equal(await readFile(target, "utf8"), "new");
    assert.notEqual((await stat(target)).ino, before.ino);
  });

  it("restores a mode changed by hand with a fresh file, reported as repaired", async () => {
    const dir = await freshDir("drift");
    const writer = new AtomicFileWriter();
    const target = join(dir, "key.pem");
    await writer.writeFiles([file(target, "key", 0o600)]);
    await chmod(target, 0o666);
    const drifted = await stat(target);
    assert.deepEqual(await writer.writeFiles([file(target, "key", 0o600)]), { changed: [], repaired: [target], unchanged: [] });
    const repaired = await stat(target);
    assert.equal(repaired.mode & 0o7777, 0o600);
    assert.notEqual(repaired.ino, drifted.ino, "the visible file must be replaced, not chmod'ed in place");
  });

  it("replaces a file edited in place to the same size after our write", async () => {
    const dir = await freshDir("edited");
    const writer = new AtomicFileWriter();
    const target = join(dir, "svid.pem");
    await writer.writeFiles([file(target, "cert-A")]);
    // Kernels before 6.13 stamp change times from a clock that ticks every few milliseconds;
    // an edit within the same tick as our write is the one case the stamp cannot see.
    await delay(20);
    await writeFile(target, "cert-B");
    assert.deepEqual(await writer.writeFiles([file(target, "cert-A")]), { changed: [target], repaired: [], unchanged: [] });
    assert.equal(await readFile(target, "utf8"), "cert-A");
  });

  it("judges a file someone else put back with our content as unchanged, and repairs its mode", async () => {
    const dir = await freshDir("replaced");
    const writer = new AtomicFileWriter();
    const target = join(dir, "svid.pem");
    await writer.writeFiles([file(target, "cert", 0o600)]);
    await rm(target);
    await writeFile(target, "cert", { mode: 0o644 });
    await chmod(target, 0o644);
    assert.deepEqual(await writer.writeFiles([file(target, "cert", 0o600)]), { changed: [], repaired: [target], unchanged: [] });
    assert.equal((await stat(target)).mode & 0o7777, 0o600);
    assert.deepEqual(await writer.writeFiles([file(target, "cert", 0o600)]), { changed: [], repaired: [], unchanged: [target] });
  });

  it("sets and re-applies the owner", { skip: isRoot ? false : "needs root to give files away" }, async () => {
    const dir = await freshDir("owner");
    const writer = new AtomicFileWriter();
    const target = join(dir, "key.pem");
    const owned = file(target, "key", 0o600, { uid: 4321, gid: 4322 });
    await writer.writeFiles([owned]);
    let stats = await stat(target);
    assert.deepEqual([stats.uid, stats.gid], [4321, 4322]);
    await chown(target, 0, 0);
    assert.deepEqual((await writer.writeFiles([owned])).repaired, [target]);
    stats = await stat(target);
    assert.deepEqual([stats.uid, stats.gid, stats.mode & 0o7777], [4321, 4322, 0o600]);
  });

  it("leaves no temp file behind after success", async () => {
    const dir = await freshDir("no-temps");
    const writer = new AtomicFileWriter();
    for (let i = 0; i < 5; i++) await writer.writeFiles([file(join(dir, "a"), `v${i}`), file(join(dir, "b"), `w${i}`)]);
    assert.deepEqual(await tempsIn(dir), []);
  });

  it("refuses to replace a directory, naming it, and changes nothing", async () => {
    const dir = await freshDir("is-dir");
    const writer = new AtomicFileWriter();
    await writer.writeFiles([file(join(dir, "svid.pem"), "old")]);
    await mkdir(join(dir, "svid_key.pem"));
    await assert.rejects(
      writer.writeFiles([file(join(dir, "svid.pem"), "new"), file(join(dir, "svid_key.pem"), "key")]),
      (e: unknown) =>
        e instanceof FileWriteError &&
        e.code === "ERR_FILE_WRITE" &&
        e.path === join(dir, "svid_key.pem") &&
        e.message === `cannot write ${join(dir, "svid_key.pem")}: it is a directory; remove it or choose another file name`,
    );
    assert.equal(await readFile(join(dir, "svid.pem"), "utf8"), "old");
    assert.deepEqual(await tempsIn(dir), []);
  });

  it("removes staged temps when a later file cannot be created, leaving visible files untouched", async () => {
    const dir = await freshDir("staging-failure");
    const writer = new AtomicFileWriter();
    await writer.writeFiles([file(join(dir, "svid.pem"), "old")]);
    const missing = join(dir, "no-such-dir", "key.pem");
    await assert.rejects(
      writer.writeFiles([file(join(dir, "svid.pem"), "new"), file(missing, "key")]),
      (e: unknown) =>
        e instanceof FileWriteError &&
        e.errno === "ENOENT" &&
        e.message === `cannot create ${missing}: ${join(dir, "no-such-dir")} does not exist; create it or fix cert_dir`,
    );
    assert.equal(await readFile(join(dir, "svid.pem"), "utf8"), "old");
    assert.deepEqual(await tempsIn(dir), []);
  });

  it("reports a read-only directory with the fix", { skip: isRoot ? "root ignores directory permissions" : false }, async () => {
    const dir = await freshDir("read-only");
    await chmod(dir, 0o500);
    try {
      await assert.rejects(
        new AtomicFileWriter().writeFiles([file(join(dir, "svid.pem"), "x")]),
        new RegExp(`^FileWriteError: cannot create ${join(dir, "svid.pem")}: permission denied; check the owner and mode of ${dir}$`),
      );
      assert.deepEqual(await tempsIn(dir), []);
    } finally {
      await chmod(dir, 0o700);
    }
  });

  it("rejects a batch naming one path twice", async () => {
    const dir = await freshDir("twice");
    await assert.rejects(
      new AtomicFileWriter().writeFiles([file(join(dir, "a"), "1"), file(join(dir, "a"), "2")]),
      /output .*\/a is listed twice in one write/,
    );
  });

  it("removes files and ignores ones already gone", async () => {
    const dir = await freshDir("remove");
    const writer = new AtomicFileWriter();
    await writer.writeFiles([file(join(dir, "a.pem"), "a")]);
    assert.deepEqual(await writer.removeFiles([join(dir, "a.pem"), join(dir, "never.pem")]), [join(dir, "a.pem")]);
    assert.deepEqual(await readdir(dir), []);
  });
});

describe("fileWriteError", () => {
  const path = "/certs/svid.pem";
  const errno = (code: string): Error => Object.assign(new Error(`${code}: raw`), { code });

  it("names the path and the fix for permission errors", () => {
    assert.equal(
      fileWriteError("create", path, errno("EACCES")).message,
      "cannot create /certs/svid.pem: permission denied; check the owner and mode of /certs",
    );
    assert.match(fileWriteError("set owner of", path, errno("EPERM")).message, /only root \(CAP_CHOWN\) can give files away/);
  });

  it("explains a full disk and a read-only file system", () => {
    assert.match(fileWriteError("write", path, errno("ENOSPC")).message, /^cannot write \/certs\/svid.pem: no space left/);
    assert.match(fileWriteError("rename", path, errno("EROFS")).message, /\/certs is on a read-only file system; mount it read-write$/);
  });

  it("falls back to the system message", () => {
    const error = fileWriteError("sync", path, errno("EIO"));
    assert.equal(error.message, "cannot sync /certs/svid.pem: EIO: raw");
    assert.equal(error.errno, "EIO");
  });
});

/**
 * Polls `path` through one descriptor per read (open, fstat, read), so mode and content come
 * from the same inode, until `stopPath` exists; then reads once more and prints counts.
 */
const POLLING_READER = `
import { closeSync, existsSync, fstatSync, openSync, readFileSync } from "node:fs";
const [path, stopPath, expectedLength] = process.argv.slice(-3);
const counts = { reads: 0, missing: 0, partial: 0, tooWide: 0 };
const readOnce = () => {
  let fd;
  try { fd = openSync(path, "r"); } catch { counts.missing++; return; }
  try {
    const mode = fstatSync(fd).mode & 0o7777;
    const text = readFileSync(fd, "utf8");
    counts.reads++;
    if ((mode & ~0o600) !== 0) counts.tooWide++;
    if (text.length !== Number(expectedLength) || !text.endsWith("-----END TEST-----\\n")) counts.partial++;
  } finally { closeSync(fd); }
};
process.stdout.write("ready\\n");
while (!existsSync(stopPath)) readOnce();
readOnce();
process.stdout.write(JSON.stringify(counts) + "\\n");
`;

describe("AtomicFileWriter under a concurrent reader", () => {
  it("never shows a partial key file or one wider than 0600 across 200 writes", async () => {
    const dir = await freshDir("concurrent");
    const keyPath = join(dir, "svid_key.pem");
    const stopPath = join(dir, "stop");
    const version = (i: number): string => `-----BEGIN TEST-----\n${String(i).padStart(6, "0").repeat(1500)}\n-----END TEST-----\n`;
    const writer = new AtomicFileWriter();
    await writer.writeFiles([file(keyPath, version(0))]);
    const child = spawn(process.execPath, ["--input-type=module", "-e", POLLING_READER, keyPath, stopPath, String(version(0).length)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    while (!output.includes("ready\n")) await once(child.stdout, "data");
    await withUmask(0o000, async () => {
      for (let i = 1; i <= 200; i++) {
        await writer.writeFiles([file(join(dir, "svid.pem"), version(i), 0o644), file(keyPath, version(i), 0o600)]);
      }
    });
    await writeFile(stopPath, "");
    await once(child, "exit");
    const counts = JSON.parse(output.split("\n")[1] ?? "{}") as Record<string, number>;
    assert.deepEqual({ ...counts, reads: (counts["reads"] ?? 0) > 0 }, { reads: true, missing: 0, partial: 0, tooWide: 0 });
    assert.equal(await readFile(keyPath, "utf8"), version(200));
    assert.deepEqual(await tempsIn(dir), []);
  });
});
