import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  exitOf,
  fixtures,
  makeTempDir,
  processExists,
  readLines,
  waitForLine,
  waitForReady,
} from "../../../test/fixtures/fixture-helpers.js";
import { ChildSupervisor } from "./child-supervisor.js";
import {
  forwardSignals,
  HANDLED_SIGNALS,
  IGNORED_SIGNALS,
  PASS_THROUGH_SIGNALS,
  profilerOwnsSigprof,
  SignalRouter,
  TERMINATING_SIGNALS,
} from "./signal-forwarding.js";
import type { SignalSource } from "./signal-forwarding.js";

let dir: { path: string; remove: () => Promise<void> };
before(async () => {
  dir = await makeTempDir("signals");
});
after(async () => {
  await dir.remove();
});

/** A supervising process (the driver) whose child is signal-logger; like `spiffe-sidecar run`. */
async function startDriver(
  name: string,
  gracePeriodMs: number,
  loggerArgs: readonly string[],
): Promise<{ driver: ChildProcess; childPid: number; logFile: string }> {
  const logFile = join(dir.path, `${name}.log`);
  const driver = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      fixtures.supervisorDriver,
      `${gracePeriodMs}`,
      process.execPath,
      fixtures.signalLogger,
      "--log",
      logFile,
      ...loggerArgs,
    ],
    { stdio: "ignore" },
  );
  const childPid = await waitForReady(logFile);
  return { driver, childPid, logFile };
}

describe("a supervising process that gets a signal", () => {
  it("SIGTERM: the child gets it, exits, and the supervisor exits with the child's code", async () => {
    const { driver, childPid, logFile } = await startDriver("term", 10_000, ["--term-exit", "7"]);
    driver.kill("SIGTERM");
    assert.deepEqual(await exitOf(driver), { code: 7, signal: null });
    assert.equal((await readLines(logFile)).at(-1), "SIGTERM");
    // Reaped, not a zombie: a zombie still answers kill(pid, 0).
    assert.equal(processExists(childPid), false);
  });

  it("SIGTERM: a child that ignores it is killed after the grace period", async () => {
    const { driver, childPid } = await startDriver("ignore", 200, ["--ignore-term"]);
    driver.kill("SIGTERM");
    assert.deepEqual(await exitOf(driver), { code: 137, signal: null });
    assert.equal(processExists(childPid), false);
  });

  it("SIGHUP is passed through and SIGINT stops the child", async () => {
    const { driver, childPid, logFile } = await startDriver("hup", 10_000, ["--term-exit", "3"]);
    driver.kill("SIGHUP");
    await waitForLine(logFile, "SIGHUP");
    assert.equal(processExists(childPid), true);
    driver.kill("SIGINT");
    assert.deepEqual(await exitOf(driver), { code: 3, signal: null });
    assert.deepEqual((await readLines(logFile)).slice(1), ["SIGHUP", "SIGINT"]);
    assert.equal(processExists(childPid), false);
  });
});

describe("forwardSignals", () => {
  function fakeProcess(): EventEmitter & SignalSource {
    return new EventEmitter() as EventEmitter & SignalSource;
  }

  it("tells onTerminate once, stops the child with the signal received, and disposes", async () => {
    const logFile = join(dir.path, "unit.log");
    const supervisor = new ChildSupervisor({
      cmd: process.execPath,
      args: [fixtures.signalLogger, "--log", logFile, "--term-exit", "4"],
      stdio: "ignore",
    });
    const source = fakeProcess();
    const seen: NodeJS.Signals[] = [];
    const forwarding = forwardSignals(supervisor, { source, onTerminate: (signal) => seen.push(signal) });
    await supervisor.start();
    await waitForReady(logFile);

    source.emit("SIGQUIT", "SIGQUIT");
    // The second signal waits until the child has handled the first: sent back to back, the
    // two can reach a Node child's handlers in either order.
    await waitForLine(logFile, "SIGQUIT");
    source.emit("SIGTERM", "SIGTERM");
    assert.equal(await supervisor.whenExited(), 4);
    assert.deepEqual(seen, ["SIGQUIT"]);
    assert.equal((await readLines(logFile)).slice(1)[0], "SIGQUIT");

    forwarding.dispose();
    for (const signal of [...TERMINATING_SIGNALS, ...PASS_THROUGH_SIGNALS]) {
      assert.equal(source.listenerCount(signal), 0, signal);
    }
  });
});

describe("SignalRouter without a child", () => {
  it("shuts down on SIGTERM and SIGINT only, once, and logs every other signal as ignored", () => {
    const source = new EventEmitter() as EventEmitter & SignalSource;
    const lines: string[] = [];
    const record = (_fields: object, message: string): void => {
      lines.push(message);
    };
    const terminations: NodeJS.Signals[] = [];
    const router = new SignalRouter({ source, logger: { info: record, warn: record }, onTerminate: (signal) => terminations.push(signal) });
    for (const signal of ["SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", ...IGNORED_SIGNALS] as const) source.emit(signal, signal);
    assert.deepEqual(terminations, [], "none of these ends the sidecar");
    assert.equal(lines.length, 4 + IGNORED_SIGNALS.length, "each is logged");
    assert.ok(lines.every((line) => / ignored/.test(line)));
    source.emit("SIGTERM", "SIGTERM");
    source.emit("SIGINT", "SIGINT");
    assert.deepEqual(terminations, ["SIGTERM"]);
    assert.match(lines.at(-1) ?? "", /received SIGINT again: already shutting down/);
    router.dispose();
    for (const signal of HANDLED_SIGNALS) assert.equal(source.listenerCount(signal), 0, signal);
  });

  it("reloads on SIGHUP when told how, and only on SIGHUP", () => {
    const source = new EventEmitter() as EventEmitter & SignalSource;
    const reloads: NodeJS.Signals[] = [];
    const router = new SignalRouter({ source, onTerminate: () => undefined, onReload: (signal) => reloads.push(signal) });
    for (const signal of ["SIGHUP", "SIGUSR1", "SIGQUIT", "SIGHUP"] as const) source.emit(signal, signal);
    assert.deepEqual(reloads, ["SIGHUP", "SIGHUP"]);
    router.dispose();
  });
});

describe("profilerOwnsSigprof", () => {
  it("leaves SIGPROF to V8's profiler when a flag starts it, on the command line or in NODE_OPTIONS", () => {
    assert.equal(profilerOwnsSigprof(["--cpu-prof", "--cpu-prof-dir=/tmp/p"]), true);
    assert.equal(profilerOwnsSigprof(["--prof"]), true);
    assert.equal(profilerOwnsSigprof([], "--max-semi-space-size=1 --cpu-prof"), true);
    assert.equal(profilerOwnsSigprof(["--max-semi-space-size=1"], "--enable-source-maps"), false);
    assert.equal(profilerOwnsSigprof([]), false);
    assert.equal(profilerOwnsSigprof(["--cpu-prof-interval=1000", "--heap-prof-interval=524288"]), false, "configured, not started");
  });
});
