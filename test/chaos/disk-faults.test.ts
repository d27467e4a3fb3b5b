import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { appendFile, readdir, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { describe, it, type TestContext } from "node:test";
import { sidecarBin } from "../support/run-cli.js";
import {
  isUpdate,
  onCleanup,
  runSidecar,
  scratch,
  snapshotFiles,
  startAgent,
  writeConfig,
  X509_FILES,
  type Scratch,
  type SidecarProcess,
} from "../sidecar/support.js";
import { judgeSet, x509Config } from "./chaos-support.js";

/**
 * Disk faults under the built sidecar: cert_dir on a 64 KiB tmpfs that is filled up, then
 * remounted read-only. While the fault lasts every write fails with a clear message and the
 * last good files stay byte for byte, with no temp file left; once it clears, writes resume
 * by themselves. Needs root (mount); skipped with the reason where mounting is not allowed.
 */
const builtMissing = existsSync(sidecarBin) ? undefined : `${sidecarBin} is missing: run npm run build first`;
const isRoot = process.getuid?.() === 0;

function mount(args: readonly string[]): string | undefined {
  const result = spawnSync("mount", args, { encoding: "utf8" });
  if (result.error !== undefined) return `mount: ${result.error.message}`;
  return result.status === 0 ? undefined : `mount ${args.join(" ")} failed: ${result.stderr.trim()}`;
}

/** Mounts a 64 KiB tmpfs on cert_dir, unmounted after the test; the reason when it cannot. */
function smallTmpfs(t: TestContext, where: Scratch): string | undefined {
  if (!isRoot) return "mounting a tmpfs needs root";
  const failure = mount(["-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", where.certDir]);
  if (failure === undefined) onCleanup(t, async () => void spawnSync("umount", ["-l", where.certDir]));
  return failure;
}

const outputs = (where: Scratch): string[] => Object.values(X509_FILES).map((name) => where.cert(name));
const isWriteFailure = (line: { msg?: string }): boolean => line.msg === "writing identity files failed; the previous files are kept";

/** Rotates, waits for the write to fail, and checks that nothing visible changed. */
async function expectFailedWrite(where: Scratch, sidecar: SidecarProcess, rotate: () => Promise<void>, errno: RegExp): Promise<void> {
  const before = await snapshotFiles(outputs(where));
  const failuresBefore = sidecar.count(isWriteFailure);
  await rotate();
  const [failure] = (await sidecar.waitForLog("a failed write", isWriteFailure, failuresBefore + 1)).slice(-1);
  assert.match(JSON.stringify(failure), errno);
  assert.deepEqual(await snapshotFiles(outputs(where)), before, "the last good files are untouched");
  assert.deepEqual(await judgeSet(where), { pair: "match", inspect: "VALID", temps: 0 });
}

async function expectWritesResume(where: Scratch, sidecar: SidecarProcess, rotate: () => Promise<void>): Promise<void> {
  const before = await snapshotFiles(outputs(where));
  const writes = sidecar.count(isUpdate);
  await rotate();
  await sidecar.waitForLog("a write after the fault cleared", isUpdate, writes + 1);
  assert.notDeepEqual(await snapshotFiles(outputs(where)), before, "new files were written");
  assert.deepEqual(await judgeSet(where), { pair: "match", inspect: "VALID", temps: 0 });
}

describe("disk faults under cert_dir", { skip: builtMissing }, () => {
  it("a full tmpfs, then a read-only one: old files kept, writes resume when the fault clears", async (t) => {
    const where = await scratch(t);
    const unavailable = smallTmpfs(t, where);
    if (unavailable !== undefined) return t.skip(unavailable);
    const agent = await startAgent(t, where, { x509TtlSeconds: 120 });
    const sidecar = runSidecar(t, await writeConfig(where, x509Config(agent.address, where, { log_level: "info" })));
    await sidecar.waitForLog("the first write", isUpdate);
    const rotate = (): Promise<void> => agent.rotateNow();

    const filler = where.cert("filler");
    await assert.rejects(async () => {
      for (;;) await appendFile(filler, Buffer.alloc(1024));
    }, /ENOSPC/);
    await expectFailedWrite(where, sidecar, rotate, /no space left/);
    await rm(filler);
    await expectWritesResume(where, sidecar, rotate);

    assert.equal(mount(["-o", "remount,ro", where.certDir]), undefined);
    await expectFailedWrite(where, sidecar, rotate, /read-only file system/);
    assert.equal(mount(["-o", "remount,rw", where.certDir]), undefined);
    await expectWritesResume(where, sidecar, rotate);
    assert.deepEqual((await readdir(where.certDir)).filter((name) => name.includes(".tmp-")), []);
  });
});
