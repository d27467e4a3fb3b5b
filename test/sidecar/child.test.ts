import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { TestContext } from "node:test";
import { fixtures, processExists, readLines, waitForLine, waitForReady } from "../fixtures/fixture-helpers.js";
import { baseConfig, isUpdate, runSidecar, scratch, startAgent, toldApp, writeConfig, X509_FILES, type Scratch, type SidecarProcess } from "./support.js";

/** A sidecar supervising `node <args>`; no renew_signal, so rotations never touch the child. */
async function supervise(t: TestContext, where: Scratch, args: readonly string[], extra: Record<string, unknown> = {}): Promise<SidecarProcess> {
  const agent = await startAgent(t, where, { x509TtlSeconds: 4 });
  const config = await writeConfig(where, {
    ...baseConfig(agent, where),
    ...X509_FILES,
    cmd: process.execPath,
    cmd_args: [...args],
    // Under the usual 1 s first wait: every wait is this long (and it keeps the tests quick).
    restart_backoff_max: "300ms",
    // These tests are about the wrapper's policies; on-renewal has its own in child-renewal.test.ts.
    restart_policy: "never",
    ...extra,
  });
  return runSidecar(t, config);
}

/** The pids flaky.mjs recorded, one per start. */
async function starts(countFile: string): Promise<number[]> {
  return (await readLines(countFile)).filter((line) => line.startsWith("start ")).map((line) => Number(line.slice(6)));
}

describe("the supervised child", () => {
  it("is started only after the first complete write, and its exit code becomes the sidecar's", async (t) => {
    const where = await scratch(t);
    const script = `require("node:fs").accessSync(${JSON.stringify(where.cert("svid_key.pem"))}); process.exit(3)`;
    const sidecar = await supervise(t, where, ["-e", script]);
    assert.deepEqual(await sidecar.exited, { code: 3, signal: null });
    const firstWrite = sidecar.logs.findIndex(isUpdate);
    const childStart = sidecar.logs.findIndex((line) => line.msg === "child started");
    assert.ok(firstWrite >= 0 && firstWrite < childStart, "the files were written before the child started");
  });

  it("forwards SIGTERM: the child stops, nothing is left behind, and its status is the sidecar's", async (t) => {
    const where = await scratch(t);
    const log = where.file("child.log");
    const sidecar = await supervise(t, where, [fixtures.signalLogger, "--log", log, "--term-exit", "7"]);
    const childPid = await waitForReady(log);
    assert.deepEqual(await sidecar.stop("SIGTERM"), { code: 7, signal: null });
    assert.deepEqual((await readLines(log)).slice(1), ["SIGTERM"]);
    assert.equal(processExists(childPid), false, "the child is gone, not an orphan or a zombie");
  });

  it("forwards SIGINT too", async (t) => {
    const where = await scratch(t);
    const log = where.file("child.log");
    const sidecar = await supervise(t, where, [fixtures.signalLogger, "--log", log]);
    const childPid = await waitForReady(log);
    assert.deepEqual(await sidecar.stop("SIGINT"), { code: 0, signal: null });
    assert.deepEqual((await readLines(log)).slice(1), ["SIGINT"]);
    assert.equal(processExists(childPid), false);
  });

  it("kills a child that ignores SIGTERM after restart_grace_period", async (t) => {
    const where = await scratch(t);
    const log = where.file("child.log");
    const sidecar = await supervise(t, where, [fixtures.signalLogger, "--log", log, "--ignore-term"], { restart_grace_period: "300ms" });
    const childPid = await waitForReady(log);
    // 128 + SIGKILL(9), the shell's convention for a child killed by a signal.
    assert.deepEqual(await sidecar.stop("SIGTERM"), { code: 137, signal: null });
    assert.ok(sidecar.logs.some((line) => typeof line.msg === "string" && line.msg.includes("sending SIGKILL")));
    assert.equal(processExists(childPid), false);
  });

  it('restart_policy "never": a failing child ends the sidecar with its status, started once', async (t) => {
    const where = await scratch(t);
    const count = where.file("starts");
    const sidecar = await supervise(t, where, [fixtures.flaky, "--count-file", count, "--exits", "5", "--exit-code", "4"], { restart_policy: "never" });
    assert.deepEqual(await sidecar.exited, { code: 4, signal: null });
    assert.equal((await starts(count)).length, 1);
  });

  it('restart_policy "on-failure": restarts after failures until the child runs, and not after a clean exit', async (t) => {
    const where = await scratch(t);
    const count = where.file("starts");
    const sidecar = await supervise(t, where, [fixtures.flaky, "--count-file", count, "--exits", "2", "--exit-code", "1"], { restart_policy: "on-failure" });
    await waitForLine(count, "ready");
    assert.equal((await starts(count)).length, 3, "two failed starts, then one that runs");
    assert.equal(sidecar.hasExited, false);
    assert.deepEqual(await sidecar.stop(), { code: 0, signal: null });

    const clean = await scratch(t);
    const cleanCount = clean.file("starts");
    const cleanSidecar = await supervise(t, clean, [fixtures.flaky, "--count-file", cleanCount, "--then", "exit:0"], { restart_policy: "on-failure" });
    assert.deepEqual(await cleanSidecar.exited, { code: 0, signal: null });
    assert.equal((await starts(cleanCount)).length, 1, "a clean exit is not a failure");
  });

  it('restart_policy "always": restarts after clean exits too', async (t) => {
    const where = await scratch(t);
    const count = where.file("starts");
    const sidecar = await supervise(t, where, [fixtures.flaky, "--count-file", count, "--exits", "2", "--exit-code", "0"], { restart_policy: "always" });
    await waitForLine(count, "ready");
    const pids = await starts(count);
    assert.equal(pids.length, 3);
    assert.equal(new Set(pids).size, 3, "each start is a new process");
    assert.equal(sidecar.hasExited, false);
    assert.deepEqual(await sidecar.stop(), { code: 0, signal: null });
    for (const pid of pids) assert.equal(processExists(pid), false);
  });

  it('notify_action "restart": each update restarts the child instead of signalling it', async (t) => {
    const where = await scratch(t);
    const count = where.file("starts");
    // Rotations come from rotateNow, each once the current child is up: a child killed before
    // it ran its first line would leave no trace to count.
    const agent = await startAgent(t, where, { x509TtlSeconds: 60 });
    const config = await writeConfig(where, {
      ...baseConfig(agent, where),
      ...X509_FILES,
      cmd: process.execPath,
      cmd_args: [fixtures.flaky, "--count-file", count],
      notify_action: "restart",
      restart_grace_period: "5s",
    });
    const sidecar = runSidecar(t, config);
    for (let restarts = 1; restarts <= 2; restarts += 1) {
      await waitForLine(count, "ready", restarts);
      await agent.rotateNow();
      await sidecar.waitForLog("the restart", toldApp("restart-child"), restarts);
    }
    await waitForLine(count, "ready", 3);
    const pids = await starts(count);
    assert.equal(pids.length, 3, "one start for the first write, one per update after it");
    assert.equal(new Set(pids).size, 3);
    for (const pid of pids.slice(0, -1)) assert.equal(processExists(pid), false, "the old child is gone");
    assert.deepEqual(await sidecar.stop(), { code: 0, signal: null });
    assert.equal(sidecar.count(toldApp("restart-child")), 2);
    assert.equal(sidecar.count(isUpdate), 3);
  });
});
