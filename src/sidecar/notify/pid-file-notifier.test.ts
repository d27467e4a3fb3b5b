import assert from "node:assert/strict";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  exitOf,
  makeTempDir,
  startSignalLogger,
  waitForLine,
  waitForReady,
} from "../../../test/fixtures/fixture-helpers.js";
import type { NotifyResult } from "./notifier.js";
import { parsePidFileContents, PidFileNotifier, pidFileRetryDelayMs } from "./pid-file-notifier.js";

let dir: { path: string; remove: () => Promise<void> };
before(async () => {
  dir = await makeTempDir("pidfile");
});
after(async () => {
  await dir.remove();
});

function failureOf(result: NotifyResult): { failure: string; message: string } {
  const outcome = result.outcomes[0];
  assert.ok(outcome !== undefined && !outcome.ok, "expected a failed outcome");
  return { failure: outcome.error.failure, message: outcome.error.message };
}

describe("parsePidFileContents", () => {
  it("accepts one positive decimal PID with surrounding whitespace", () => {
    assert.deepEqual(parsePidFileContents("4242\n"), { ok: true, pid: 4242 });
    assert.deepEqual(parsePidFileContents("  7 \r\n"), { ok: true, pid: 7 });
  });

  it("takes the PID from the first line of PostgreSQL's postmaster.pid", () => {
    const postmasterPid = "12345\n/var/lib/postgresql/15/main\n1700000000\n5432\n/var/run/postgresql\n*\n  5432001     32768\nready   \n";
    assert.deepEqual(parsePidFileContents(postmasterPid), { ok: true, pid: 12345 });
  });

  it("refuses everything else", () => {
    assert.deepEqual(parsePidFileContents(""), { ok: false, problem: "empty" });
    assert.deepEqual(parsePidFileContents(" \n"), { ok: false, problem: "empty" });
    for (const text of ["0", "-5", "+5", "0042", "12abc", "1.5", "1e3", "12 34", "\n12", "2147483648", "abc"]) {
      assert.deepEqual(parsePidFileContents(text), { ok: false, problem: "invalid" }, JSON.stringify(text));
    }
  });
});

describe("PidFileNotifier", () => {
  it("reads the file again on every notification", async () => {
    const pidFile = join(dir.path, "reread.pid");
    const logA = join(dir.path, "a.log");
    const logB = join(dir.path, "b.log");
    const appA = startSignalLogger(logA);
    const appB = startSignalLogger(logB);
    try {
      const notifier = new PidFileNotifier({ pidFilePath: pidFile, signal: "SIGHUP" });
      await writeFile(pidFile, `${await waitForReady(logA)}\n`);
      assert.equal((await notifier.notify()).ok, true);
      await waitForLine(logA, "SIGHUP");

      await writeFile(pidFile, `${await waitForReady(logB)}\n`);
      assert.equal((await notifier.notify()).ok, true);
      const linesB = await waitForLine(logB, "SIGHUP");
      assert.equal(linesB.filter((line) => line === "SIGHUP").length, 1);
    } finally {
      appA.kill("SIGKILL");
      appB.kill("SIGKILL");
    }
  });

  it("retries while the file is briefly missing", async () => {
    const pidFile = join(dir.path, "missing.pid");
    const log = join(dir.path, "restarting.log");
    const app = startSignalLogger(log);
    try {
      const pid = await waitForReady(log);
      let waits = 0;
      const notifier = new PidFileNotifier({
        pidFilePath: pidFile,
        signal: "SIGHUP",
        // The app "finishes restarting" during the second wait.
        sleep: async () => {
          waits += 1;
          if (waits === 2) await writeFile(pidFile, `${pid}`);
        },
      });
      const result = await notifier.notify();
      assert.equal(result.ok, true);
      assert.equal(waits, 2);
      await waitForLine(log, "SIGHUP");
    } finally {
      app.kill("SIGKILL");
    }
  });

  it("gives up after the retries when the process stays gone", async () => {
    const pidFile = join(dir.path, "dead.pid");
    const log = join(dir.path, "dead.log");
    const app = startSignalLogger(log);
    const pid = await waitForReady(log);
    app.kill("SIGKILL");
    await exitOf(app);
    await writeFile(pidFile, `${pid}\n`);
    let waits = 0;
    const notifier = new PidFileNotifier({
      pidFilePath: pidFile,
      signal: "SIGHUP",
      attempts: 3,
      sleep: async () => {
        waits += 1;
      },
    });
    const { failure, message } = failureOf(await notifier.notify());
    assert.equal(failure, "process-missing");
    const expected = `names PID ${pid}, which is not running; check pid_file_name \\(tried 3 times\\)`;
    assert.match(message, new RegExp(expected));
    assert.equal(waits, 2);
  });

  it("is as patient as spiffe-helper: 10 tries, waits doubling from 100 ms, about 51 s in all", async () => {
    const pidFile = join(dir.path, "never.pid");
    await rm(pidFile, { force: true });
    const waits: number[] = [];
    const notifier = new PidFileNotifier({
      pidFilePath: pidFile,
      signal: "SIGHUP",
      random: () => 0,
      sleep: async (ms) => {
        waits.push(ms);
      },
    });
    const { failure, message } = failureOf(await notifier.notify());
    assert.equal(failure, "pid-file-missing");
    assert.match(message, /pid file .*never\.pid does not exist; check pid_file_name \(tried 10 times\)/);
    assert.deepEqual(waits, [100, 200, 400, 800, 1_600, 3_200, 6_400, 12_800, 25_600]);
    assert.equal(waits.reduce((sum, ms) => sum + ms, 0), 51_100);
  });

  it("lengthens each wait by up to 10%, as spiffe-helper's jitter does", () => {
    assert.equal(pidFileRetryDelayMs(1, 100, 0.1, 0), 100);
    assert.equal(pidFileRetryDelayMs(1, 100, 0.1, 0.999), 110);
    assert.equal(pidFileRetryDelayMs(9, 100, 0.1, 0.5), 26_880);
  });

  it("finds a pid file that appears during the retries, with real waits", async () => {
    const pidFile = join(dir.path, "late.pid");
    const log = join(dir.path, "late.log");
    await rm(pidFile, { force: true });
    const app = startSignalLogger(log);
    const pid = await waitForReady(log);
    const notifier = new PidFileNotifier({ pidFilePath: pidFile, signal: "SIGHUP" });
    const result = notifier.notify();
    await new Promise((resolve) => setTimeout(resolve, 250));
    await writeFile(pidFile, `${pid}\n`);
    assert.equal((await result).ok, true);
    await waitForLine(log, "SIGHUP");
    app.kill("SIGKILL");
    await exitOf(app);
  });

  it("stops waiting when a newer update supersedes it", async () => {
    const pidFile = join(dir.path, "superseded.pid");
    await rm(pidFile, { force: true });
    const superseded = new AbortController();
    const notifier = new PidFileNotifier({ pidFilePath: pidFile, signal: "SIGHUP" });
    const result = notifier.notify(undefined, { superseded: superseded.signal });
    setTimeout(() => superseded.abort(), 150);
    const { ok, outcomes } = await result;
    assert.equal(ok, true);
    const outcome = outcomes[0];
    assert.ok(outcome?.ok === true && outcome.superseded === true);
    assert.match(outcome.detail, /a newer update signals the process instead/);
  });

  it("refuses a file that is not a PID at once, without quoting it", async () => {
    const pidFile = join(dir.path, "garbage.pid");
    await writeFile(pidFile, "-----BEGIN PRIVATE KEY-----\nsecret\n");
    let waits = 0;
    const notifier = new PidFileNotifier({
      pidFilePath: pidFile,
      signal: "SIGHUP",
      sleep: async () => {
        waits += 1;
      },
    });
    const { failure, message } = failureOf(await notifier.notify());
    assert.equal(failure, "pid-file-invalid");
    assert.match(message, /must hold one positive decimal PID and nothing else/);
    assert.doesNotMatch(message, /secret|PRIVATE KEY/);
    assert.equal(waits, 0);
  });
});
