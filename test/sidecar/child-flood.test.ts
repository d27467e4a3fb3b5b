import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { pumpRotations } from "../chaos/chaos-support.js";
import { fixtures, readLines, waitForReady } from "../fixtures/fixture-helpers.js";
import { baseConfig, isUpdate, runSidecar, scratch, startAgent, toldApp, writeConfig, X509_FILES } from "./support.js";

/** How long the agent floods; FLOOD_SECONDS=30 gives issue 13's 30 s case. */
const FLOOD_MS = Number(process.env["FLOOD_SECONDS"] ?? "4") * 1_000;
const MIN_INTERVAL_MS = 500;

describe("a flood of updates", () => {
  it("gives the app at most one signal per notify_min_interval, the last for the newest files", async (t) => {
    const where = await scratch(t);
    const log = where.file("app.log");
    const agent = await startAgent(t, where, { x509TtlSeconds: 3_600 });
    const config = await writeConfig(where, {
      ...baseConfig(agent, where),
      ...X509_FILES,
      cmd: process.execPath,
      cmd_args: [fixtures.signalLogger, "--log", log],
      renew_signal: "SIGHUP",
      notify_min_interval: `${MIN_INTERVAL_MS}ms`,
      cmd_start_grace: "1ms",
    });
    const sidecar = runSidecar(t, config);
    await waitForReady(log);

    const started = performance.now();
    const pump = pumpRotations(agent, 1);
    await delay(FLOOD_MS);
    const rotations = await pump.stop();
    const floodMs = performance.now() - started;
    // The last update's own notification may wait out one interval after the flood ends.
    await delay(MIN_INTERVAL_MS * 3);

    const signals = (await readLines(log)).filter((line) => line === "SIGHUP").length;
    const writes = sidecar.count(isUpdate) - 1;
    const told = sidecar.count(toldApp("signal-child"));
    // By construction, not by timing: one notification per interval, plus the trailing one.
    const bound = Math.ceil((floodMs + MIN_INTERVAL_MS * 3) / MIN_INTERVAL_MS) + 1;
    t.diagnostic(`flood ${Math.round(floodMs)} ms: ${rotations} rotations, ${writes} writes, ${signals} SIGHUPs (bound ${bound})`);
    assert.ok(signals >= 1, "the app was told");
    assert.ok(signals <= bound, `${signals} SIGHUPs for ${rotations} rotations`);
    assert.equal(told, signals, "one log line per signal, not one per coalesced update");
    const lastWrite = sidecar.logs.findLastIndex(isUpdate);
    const lastTold = sidecar.logs.findLastIndex(toldApp("signal-child"));
    assert.ok(lastTold > lastWrite, "the last signal came after the last write: the app has the newest files");
    assert.equal(sidecar.hasExited, false);
    assert.deepEqual(await sidecar.stop(), { code: 0, signal: null });
  });
});
