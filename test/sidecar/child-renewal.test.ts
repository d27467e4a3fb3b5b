import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fixtures, readLines, waitFor, waitForLine } from "../fixtures/fixture-helpers.js";
import { baseConfig, runSidecar, scratch, startAgent, writeConfig, X509_FILES } from "./support.js";

/** "start <pid>" lines, one per start of late-handler.mjs or the one-line counter below. */
async function startPids(logFile: string): Promise<number[]> {
  return (await readLines(logFile)).filter((line) => line.startsWith("start ")).map((line) => Number(line.slice(6)));
}

describe("cmd under restart_policy on-renewal (spiffe-helper's, the default)", () => {
  it("starts an exited cmd again on each renewal, once per rotation, and keeps running", async (t) => {
    const where = await scratch(t);
    const count = where.file("runs");
    const agent = await startAgent(t, where, { x509TtlSeconds: 3_600 });
    // A one-shot reload command, as spiffe-helper's MySQL example runs `mysql -e "ALTER INSTANCE RELOAD TLS;"`.
    const script = `require("node:fs").appendFileSync(${JSON.stringify(count)}, "start " + process.pid + "\\n")`;
    const config = await writeConfig(where, { ...baseConfig(agent, where), ...X509_FILES, cmd: process.execPath, cmd_args: ["-e", script] });
    const sidecar = runSidecar(t, config);
    for (let runs = 1; runs <= 3; runs += 1) {
      await waitForLine(count, `start ${(await waitFor("a run", async () => (await startPids(count))[runs - 1]))}`);
      await sidecar.waitForLog("the exit", (line) => typeof line.msg === "string" && line.msg.includes("starts it again at the next renewal"), runs);
      if (runs < 3) await agent.rotateNow();
    }
    assert.equal((await startPids(count)).length, 3, "one run for the first SVID, one per rotation");
    assert.equal(sidecar.hasExited, false, "the command's exit does not end the sidecar");
    assert.deepEqual(await sidecar.stop(), { code: 0, signal: null }, "stopped by SIGTERM, it exits 0 as spiffe-helper does");
  });

  it("a rotation 50 ms after the child starts: the signal waits for cmd_start_grace, the child survives and gets it", async (t) => {
    const where = await scratch(t);
    const log = where.file("app.log");
    const agent = await startAgent(t, where, { x509TtlSeconds: 3_600 });
    const config = await writeConfig(where, {
      ...baseConfig(agent, where),
      ...X509_FILES,
      cmd: process.execPath,
      cmd_args: [fixtures.lateHandler, "--log", log, "--delay", "300"],
      renew_signal: "SIGHUP",
    });
    const sidecar = runSidecar(t, config);
    await sidecar.waitForLog("the child's start", (line) => line.msg === "child started");
    await new Promise((resolve) => setTimeout(resolve, 50));
    await agent.rotateNow();
    await sidecar.waitForLog("the held signal", (line) => typeof line.msg === "string" && line.msg.startsWith("holding SIGHUP"));
    const lines = await waitForLine(log, "SIGHUP");
    const [pid] = await startPids(log);
    assert.deepEqual(lines, [`start ${pid}`, `ready ${pid}`, "SIGHUP"], "one child, handler installed before the one signal");
    assert.equal(sidecar.hasExited, false);
    assert.deepEqual(await sidecar.stop(), { code: 0, signal: null });
  });

  it("a child killed by the renew signal itself is started again, even under restart_policy never", async (t) => {
    const where = await scratch(t);
    const log = where.file("app.log");
    const agent = await startAgent(t, where, { x509TtlSeconds: 3_600 });
    const config = await writeConfig(where, {
      ...baseConfig(agent, where),
      ...X509_FILES,
      cmd: process.execPath,
      // The handler comes 60 s late and no grace protects it: SIGHUP kills it.
      cmd_args: [fixtures.lateHandler, "--log", log, "--delay", "60000"],
      renew_signal: "SIGHUP",
      cmd_start_grace: "1ms",
      restart_policy: "never",
    });
    const sidecar = runSidecar(t, config);
    await waitFor("the first start", async () => ((await startPids(log)).length >= 1 ? true : undefined));
    await agent.rotateNow();
    const [line] = await sidecar.waitForLog("the restart", (entry) => typeof entry.msg === "string" && entry.msg.includes("a signal the sidecar sent it"));
    assert.match(String(line?.msg), /killed by SIGHUP/);
    await waitFor("the second start", async () => ((await startPids(log)).length >= 2 ? true : undefined));
    assert.equal(sidecar.hasExited, false, "the sidecar does not end for it");
  });
});
