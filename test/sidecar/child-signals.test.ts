import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fixtures, processExists, waitForLine, waitForReady } from "../fixtures/fixture-helpers.js";
import { baseConfig, isUpdate, runSidecar, scratch, startAgent, writeConfig, X509_FILES } from "./support.js";

const STRAY_SIGNALS = ["SIGUSR1", "SIGUSR2", "SIGQUIT", "SIGALRM", "SIGPWR", "SIGXCPU"] as const;

describe("signals to the sidecar", () => {
  it("without a child: SIGHUP reloads the configuration, each stray signal is logged and ignored; SIGTERM then exits 0", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where, { x509TtlSeconds: 3_600 });
    const sidecar = runSidecar(t, await writeConfig(where, { ...baseConfig(agent, where), ...X509_FILES }));
    await sidecar.waitForLog("the first write", isUpdate);
    for (const signal of STRAY_SIGNALS) {
      sidecar.process.kill(signal);
      const [line] = await sidecar.waitForLog(`the ${signal} line`, (entry) => entry["signal"] === signal);
      assert.match(String(line?.msg), new RegExp(`^received ${signal}: ignored`));
      assert.equal(sidecar.hasExited, false, `${signal} did not end the sidecar`);
    }
    sidecar.process.kill("SIGHUP");
    const [hup] = await sidecar.waitForLog("the SIGHUP line", (entry) => entry["signal"] === "SIGHUP");
    assert.match(String(hup?.msg), /reloads its configuration/);
    await sidecar.waitForLog("the reload", (entry) => entry["trigger"] === "SIGHUP");
    assert.equal(sidecar.hasExited, false, "SIGHUP did not end the sidecar");
    assert.deepEqual(await sidecar.stop("SIGTERM"), { code: 0, signal: null });
  });

  it("without a child: SIGINT exits 0 too", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where, { x509TtlSeconds: 3_600 });
    const sidecar = runSidecar(t, await writeConfig(where, { ...baseConfig(agent, where), ...X509_FILES }));
    await sidecar.waitForLog("the first write", isUpdate);
    assert.deepEqual(await sidecar.stop("SIGINT"), { code: 0, signal: null });
  });

  it("with a child: SIGHUP and SIGUSR2 are passed on and logged, others are logged and ignored; SIGQUIT stops it", async (t) => {
    const where = await scratch(t);
    const log = where.file("child.log");
    const agent = await startAgent(t, where, { x509TtlSeconds: 3_600 });
    const config = await writeConfig(where, {
      ...baseConfig(agent, where),
      ...X509_FILES,
      cmd: process.execPath,
      cmd_args: [fixtures.signalLogger, "--log", log, "--term-exit", "5"],
      restart_policy: "never",
      cmd_start_grace: "1ms",
    });
    const sidecar = runSidecar(t, config);
    const childPid = await waitForReady(log);
    sidecar.process.kill("SIGHUP");
    await waitForLine(log, "SIGHUP");
    sidecar.process.kill("SIGUSR2");
    await waitForLine(log, "SIGUSR2");
    sidecar.process.kill("SIGALRM");
    await sidecar.waitForLog("the SIGALRM line", (entry) => entry["signal"] === "SIGALRM" && String(entry.msg).includes("ignored"));
    assert.equal(sidecar.count((entry) => String(entry.msg).startsWith("received SIGHUP: passing it to the child")), 1);
    assert.equal(processExists(childPid), true);
    assert.equal(sidecar.hasExited, false);
    assert.deepEqual(await sidecar.stop("SIGQUIT"), { code: 5, signal: null }, "SIGQUIT stops the child, whose status is the sidecar's");
  });

  it("with a child: SIGUSR1 is passed on; a child that dies of it, as the sidecar sent it, is started again", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where, { x509TtlSeconds: 3_600 });
    // `sleep` has no SIGUSR1 handler (a Node child would open its inspector instead).
    const config = await writeConfig(where, {
      ...baseConfig(agent, where),
      ...X509_FILES,
      cmd: "sleep",
      cmd_args: ["1000"],
      restart_policy: "never",
      cmd_start_grace: "1ms",
    });
    const sidecar = runSidecar(t, config);
    const [started] = await sidecar.waitForLog("the child's start", (entry) => entry.msg === "child started");
    sidecar.process.kill("SIGUSR1");
    const [restart] = await sidecar.waitForLog("the restart", (entry) => String(entry.msg).includes("a signal the sidecar sent it"));
    assert.match(String(restart?.msg), /killed by SIGUSR1/);
    const [, second] = await sidecar.waitForLog("the second start", (entry) => entry.msg === "child started", 2);
    assert.notEqual(second?.["pid"], started?.["pid"], "a new process");
    assert.deepEqual(await sidecar.stop("SIGTERM"), { code: 143, signal: null }, "sleep dies of the forwarded SIGTERM");
  });
});
