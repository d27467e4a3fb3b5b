import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  fixtures,
  makeTempDir,
  processExists,
  readLines,
  waitFor,
  waitForLine,
  waitForReady,
} from "../../../test/fixtures/fixture-helpers.js";
import { ChildStartError, conventionalExitCode } from "./child-exit.js";
import { ChildSupervisor } from "./child-supervisor.js";
import type { ChildState, ChildSupervisorLogger, ChildSupervisorOptions } from "./child-supervisor.js";

const FAST_BACKOFF = { initialMs: 10, maxMs: 50 };

let dir: { path: string; remove: () => Promise<void> };
before(async () => {
  dir = await makeTempDir("child");
});
after(async () => {
  await dir.remove();
});

let fileCounter = 0;
function tempFile(name: string): string {
  fileCounter += 1;
  return join(dir.path, `${fileCounter}-${name}`);
}

function nodeSupervisor(script: readonly string[], options: Partial<ChildSupervisorOptions> = {}): ChildSupervisor {
  return new ChildSupervisor({ cmd: process.execPath, args: script, stdio: "ignore", ...options });
}

function recordingLogger(): ChildSupervisorLogger & { lines: { fields: object; message: string }[] } {
  const lines: { fields: object; message: string }[] = [];
  const record = (fields: object, message: string): void => {
    lines.push({ fields, message });
  };
  return { lines, info: record, warn: record };
}

describe("conventionalExitCode", () => {
  it("passes a code through and maps a signal to 128 + n", () => {
    assert.equal(conventionalExitCode({ code: 3, signal: null }), 3);
    assert.equal(conventionalExitCode({ code: null, signal: "SIGKILL" }), 137);
    assert.equal(conventionalExitCode({ code: null, signal: "SIGTERM" }), 143);
  });
});

describe("ChildSupervisor exit status", () => {
  const cases: { name: string; script: string; expected: number }[] = [
    { name: "exit 0", script: "process.exit(0)", expected: 0 },
    { name: "exit 3", script: "process.exit(3)", expected: 3 },
    { name: "killed by SIGKILL", script: "process.kill(process.pid, 'SIGKILL')", expected: 137 },
    { name: "killed by SIGTERM", script: "process.kill(process.pid, 'SIGTERM')", expected: 143 },
  ];
  for (const { name, script, expected } of cases) {
    it(`${name} -> ${expected}`, async () => {
      const states: ChildState[] = [];
      const supervisor = nodeSupervisor(["-e", script], { onStateChange: (state) => states.push(state) });
      await supervisor.start();
      assert.equal(await supervisor.whenExited(), expected);
      assert.deepEqual(states, ["starting", "running", "exited"]);
    });
  }

  it("reports a missing command with the key and the file to fix", async () => {
    const supervisor = new ChildSupervisor({ cmd: "/nonexistent/app-binary", configSource: "/etc/sidecar.yaml" });
    await assert.rejects(supervisor.start(), (error: unknown) => {
      assert.ok(error instanceof ChildStartError);
      assert.equal(error.code, "ERR_CHILD_START");
      assert.equal(error.systemCode, "ENOENT");
      assert.match(error.message, /^cannot start cmd "\/nonexistent\/app-binary": no such file/);
      assert.match(error.message, /check cmd in \/etc\/sidecar\.yaml$/);
      return true;
    });
    await assert.rejects(supervisor.whenExited(), ChildStartError);
    assert.equal(supervisor.state, "exited");
  });
});

function flaky(countFile: string, exits: number, exitCode: number, then: string): string[] {
  return [
    fixtures.flaky,
    ...["--count-file", countFile, "--exits", `${exits}`, "--exit-code", `${exitCode}`, "--then", then],
  ];
}

async function starts(countFile: string): Promise<number> {
  return (await readLines(countFile)).filter((line) => line.startsWith("start")).length;
}

describe("ChildSupervisor restart policies", () => {

  it("never: the first exit ends the supervisor with its code", async () => {
    const countFile = tempFile("count");
    const supervisor = nodeSupervisor(flaky(countFile, 1, 3, "exit:0"), { restartPolicy: "never" });
    await supervisor.start();
    assert.equal(await supervisor.whenExited(), 3);
    assert.equal(await starts(countFile), 1);
    assert.equal(supervisor.restarts, 0);
  });

  it("on-failure: restarts after each non-zero exit and ends on exit 0", async () => {
    const countFile = tempFile("count");
    const supervisor = nodeSupervisor(flaky(countFile, 2, 3, "exit:0"), {
      restartPolicy: "on-failure",
      restartBackoff: FAST_BACKOFF,
    });
    await supervisor.start();
    assert.equal(await supervisor.whenExited(), 0);
    assert.equal(await starts(countFile), 3);
    assert.equal(supervisor.restarts, 2);
  });

  it("always: restarts even after exit 0, until stopped", async () => {
    const countFile = tempFile("count");
    const supervisor = nodeSupervisor(flaky(countFile, 2, 0, "run"), {
      restartPolicy: "always",
      restartBackoff: FAST_BACKOFF,
    });
    await supervisor.start();
    await waitForLine(countFile, "ready");
    assert.equal(supervisor.state, "running");
    assert.equal(supervisor.restarts, 2);
    assert.equal(await supervisor.stop({ gracePeriodMs: 5_000 }), 0);
    assert.equal(await starts(countFile), 3);
    assert.equal(supervisor.state, "exited");
  });

  it("backs off exponentially and starts over after a child that stayed up", async () => {
    const delaysFor = async (stableAfterMs: number): Promise<unknown[]> => {
      const logger = recordingLogger();
      const supervisor = nodeSupervisor(flaky(tempFile("count"), 3, 1, "exit:0"), {
        restartPolicy: "on-failure",
        restartBackoff: { ...FAST_BACKOFF, random: () => 0.5 },
        stableAfterMs,
        logger,
      });
      await supervisor.start();
      await supervisor.whenExited();
      return logger.lines.map(({ fields }) => (fields as { delayMs?: number }).delayMs).filter((d) => d !== undefined);
    };
    // random() = 0.5 is the jitter's midpoint: min(max, initial × 2^n).
    assert.deepEqual(await delaysFor(3_600_000), [10, 20, 40]);
    assert.deepEqual(await delaysFor(0), [10, 10, 10]);
  });

  it("stop() during the backoff delay ends with the last exit status", async () => {
    const countFile = tempFile("count");
    const supervisor = nodeSupervisor(flaky(countFile, 1, 4, "run"), {
      restartPolicy: "on-failure",
      restartBackoff: { initialMs: 3_600_000, maxMs: 3_600_000 },
    });
    await supervisor.start();
    await waitFor("the restart delay", () => (supervisor.state === "restarting" ? true : undefined));
    assert.equal(await supervisor.stop(), 4);
    assert.equal(await starts(countFile), 1);
  });
});

describe("ChildSupervisor signal, restart and stop", () => {
  function logger(logFile: string, extra: readonly string[] = []): string[] {
    return [fixtures.signalLogger, "--log", logFile, ...extra];
  }

  it("delivers the renew signal once per call", async () => {
    const logFile = tempFile("log");
    const supervisor = nodeSupervisor(logger(logFile, ["--term-exit", "5"]));
    await supervisor.start();
    await waitForReady(logFile);
    for (let n = 1; n <= 3; n += 1) {
      assert.equal(supervisor.signal("SIGHUP"), "delivered");
      await waitForLine(logFile, "SIGHUP", n);
    }
    assert.equal(await supervisor.stop({ gracePeriodMs: 5_000 }), 5);
    const lines = await readLines(logFile);
    assert.equal(lines.filter((line) => line === "SIGHUP").length, 3);
    assert.equal(lines.at(-1), "SIGTERM");
  });

  it("does not throw when there is no child to signal, and says so", () => {
    const log = recordingLogger();
    const supervisor = nodeSupervisor(["-e", ""], { logger: log });
    assert.equal(supervisor.signal("SIGHUP"), "not-running");
    assert.match(log.lines[0]?.message ?? "", /cannot send SIGHUP: no child is running/);
  });

  it("restart() stops the child and starts a new one", async () => {
    const logFile = tempFile("log");
    const supervisor = nodeSupervisor(logger(logFile));
    await supervisor.start();
    const firstPid = await waitForReady(logFile);
    await supervisor.restart({ gracePeriodMs: 5_000 });
    assert.equal(supervisor.state, "running");
    assert.equal(supervisor.restarts, 1);
    assert.notEqual(supervisor.pid, firstPid);
    assert.equal(processExists(firstPid), false);
    await waitForLine(logFile, `ready ${supervisor.pid}`);
    assert.equal(await supervisor.stop({ gracePeriodMs: 5_000 }), 0);
  });

  it("restart() sends SIGKILL to a child that ignores SIGTERM", async () => {
    const logFile = tempFile("log");
    const supervisor = nodeSupervisor(logger(logFile, ["--ignore-term"]));
    await supervisor.start();
    const firstPid = await waitForReady(logFile);
    await supervisor.restart({ gracePeriodMs: 100 });
    assert.equal(processExists(firstPid), false);
    assert.equal((await readLines(logFile)).includes("SIGTERM"), true);
    await waitForLine(logFile, `ready ${supervisor.pid}`);
    assert.equal(await supervisor.stop({ gracePeriodMs: 100 }), 137);
  });

  it("stop() passes the given signal on", async () => {
    const logFile = tempFile("log");
    const supervisor = nodeSupervisor(logger(logFile, ["--term-exit", "9"]));
    await supervisor.start();
    const pid = await waitForReady(logFile);
    assert.equal(await supervisor.stop({ signal: "SIGINT", gracePeriodMs: 5_000 }), 9);
    assert.equal((await readLines(logFile)).at(-1), "SIGINT");
    assert.equal(processExists(pid), false);
    assert.equal(supervisor.signal("SIGHUP"), "not-running");
  });

  it("stop() before start() ends at once with 0", async () => {
    const supervisor = nodeSupervisor(["-e", ""]);
    assert.equal(await supervisor.stop(), 0);
    assert.equal(supervisor.state, "exited");
  });
});

describe("ChildSupervisor start-up grace, on-renewal and process group", () => {
  it("holds signals to a young child and sends each once when the grace ends", async () => {
    const logFile = tempFile("log");
    const log = recordingLogger();
    // Longer than the child takes to install its handlers, so the held signal reaches them.
    const supervisor = nodeSupervisor([fixtures.signalLogger, "--log", logFile], { startGraceMs: 1_500, logger: log });
    await supervisor.start();
    assert.deepEqual([supervisor.signal("SIGHUP"), supervisor.signal("SIGHUP"), supervisor.renew("SIGHUP")], ["held", "held", "held"]);
    await waitForLine(logFile, "SIGHUP");
    await waitFor("the held-signal log line", () => (log.lines.some((line) => line.message.startsWith("start-up grace over")) ? true : undefined));
    assert.equal(supervisor.signal("SIGHUP"), "delivered", "after the grace a signal goes out at once");
    await waitForLine(logFile, "SIGHUP", 2);
    assert.equal(await supervisor.stop({ gracePeriodMs: 5_000 }), 0);
    assert.equal((await readLines(logFile)).filter((line) => line === "SIGHUP").length, 2, "three calls in the grace, one signal");
  });

  it("on-renewal: an exited child waits, and renew() starts it again", async () => {
    const countFile = tempFile("count");
    const supervisor = nodeSupervisor(flaky(countFile, 0, 0, "exit:0"), { restartPolicy: "on-renewal" });
    await supervisor.start();
    await waitFor("the waiting state", () => (supervisor.state === "waiting" ? true : undefined));
    assert.equal(supervisor.renew(undefined), "started");
    await waitFor("the second exit", async () => ((await starts(countFile)) === 2 && supervisor.state === "waiting" ? true : undefined));
    assert.equal(supervisor.renew("SIGHUP"), "started", "a signal cannot reach an exited child: it is started instead");
    await waitFor("the third exit", async () => ((await starts(countFile)) === 3 && supervisor.state === "waiting" ? true : undefined));
    assert.equal(await supervisor.stop(), 0, "the last run's status");
    assert.equal(supervisor.restarts, 2);
  });

  it("stop() ends the child's whole process group, a grandchild included", async () => {
    const logFile = tempFile("log");
    const supervisor = nodeSupervisor([fixtures.forker, "--log", logFile]);
    await supervisor.start();
    const lines = await waitFor("the grandchild", async () => {
      const found = await readLines(logFile);
      return found.some((line) => line.startsWith("ready ")) ? found : undefined;
    });
    const grandchild = Number(lines.find((line) => line.startsWith("grandchild "))?.slice("grandchild ".length));
    assert.equal(processExists(grandchild), true);
    assert.equal(await supervisor.stop({ gracePeriodMs: 5_000 }), 0);
    // `sleep` is not our child: once dead, whoever adopted it reaps it; a zombie is dead too.
    await waitFor("the grandchild's end", async () => {
      const stat = await readFile(`/proc/${grandchild}/stat`, "utf8").catch(() => "");
      return stat === "" || / [ZX] /.test(stat.slice(stat.lastIndexOf(")"))) ? true : undefined;
    });
  });
});
