import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  fixtures,
  makeTempDir,
  processExists,
  readLines,
  waitForLine,
  waitForReady,
} from "../../../test/fixtures/fixture-helpers.js";
import { ChildSupervisor } from "../child/child-supervisor.js";
import { RestartChildNotifier, SignalChildNotifier } from "./child-notifiers.js";
import { CoalescingNotifier } from "./coalescing-notifier.js";
import { CompositeNotifier } from "./composite-notifier.js";

let dir: { path: string; remove: () => Promise<void> };
before(async () => {
  dir = await makeTempDir("child-notify");
});
after(async () => {
  await dir.remove();
});

function supervisedLogger(logFile: string): ChildSupervisor {
  return new ChildSupervisor({
    cmd: process.execPath,
    args: [fixtures.signalLogger, "--log", logFile],
    stdio: "ignore",
  });
}

const update = { changedPaths: ["/certs/svid.pem"] };

describe("SignalChildNotifier", () => {
  it("delivers the renew signal exactly once per notification", async () => {
    const logFile = join(dir.path, "signal.log");
    const supervisor = supervisedLogger(logFile);
    await supervisor.start();
    await waitForReady(logFile);
    const notifier = new CoalescingNotifier(new CompositeNotifier([new SignalChildNotifier(supervisor, "SIGUSR2")]));
    for (let n = 1; n <= 3; n += 1) {
      const result = await notifier.notify(update);
      assert.equal(result.ok, true);
      // Wait for each: a second signal sent while the first is still pending would merge.
      await waitForLine(logFile, "SIGUSR2", n);
    }
    await supervisor.stop({ gracePeriodMs: 5_000 });
    const lines = await readLines(logFile);
    assert.equal(lines.filter((line) => line === "SIGUSR2").length, 3);
  });

  it("fails, without throwing, when no child runs", async () => {
    const supervisor = new ChildSupervisor({ cmd: process.execPath, args: ["-e", ""], stdio: "ignore" });
    const result = await new SignalChildNotifier(supervisor, "SIGHUP").notify();
    const outcome = result.outcomes[0];
    assert.ok(outcome !== undefined && !outcome.ok);
    assert.equal(outcome.error.failure, "no-child");
    assert.match(outcome.error.message, /cannot send SIGHUP: the child from cmd is not running/);
  });
});

describe("RestartChildNotifier", () => {
  it("replaces the child with a new one", async () => {
    const logFile = join(dir.path, "restart.log");
    const supervisor = supervisedLogger(logFile);
    await supervisor.start();
    const firstPid = await waitForReady(logFile);
    const result = await new RestartChildNotifier(supervisor, { gracePeriodMs: 5_000 }).notify();
    assert.equal(result.ok, true);
    assert.equal(processExists(firstPid), false);
    await waitForLine(logFile, `ready ${supervisor.pid}`);
    await supervisor.stop({ gracePeriodMs: 5_000 });
  });

  it("fails once the child has exited for good", async () => {
    const supervisor = new ChildSupervisor({ cmd: process.execPath, args: ["-e", ""], stdio: "ignore" });
    await supervisor.start();
    await supervisor.whenExited();
    const outcome = (await new RestartChildNotifier(supervisor).notify()).outcomes[0];
    assert.ok(outcome !== undefined && !outcome.ok);
    assert.equal(outcome.error.failure, "no-child");
  });
});
