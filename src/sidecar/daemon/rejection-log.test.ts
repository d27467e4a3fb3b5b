import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { pino } from "pino";
import type { Logger } from "../logger.js";
import { RejectionLog } from "./rejection-log.js";
import { SvidExpiryWatch } from "./svid-expiry-watch.js";

/** A real pino logger writing JSON lines into an array. */
function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString("utf8").split("\n")) if (text !== "") lines.push(JSON.parse(text) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: "info" }, sink), lines };
}

/** Polls until `done()`; the deadline only bounds a failing test, nothing is timed. */
async function eventually(what: string, done: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("RejectionLog", () => {
  it("logs 20,000 identical rejections as one line, then one summary with the count", async () => {
    const { logger, lines } = capturingLogger();
    let clock = 0;
    const log = new RejectionLog(logger, () => new Date(clock), 50);
    for (let index = 0; index < 20_000; index++) log.record("X.509 update", "malformed-response", `broken ${index}`);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.["msg"], "X.509 update rejected; the files on disk are kept");
    assert.equal(lines[0]?.["err"], "broken 0");
    clock = 50;
    await eventually("the summary", () => lines.length >= 2);
    assert.equal(lines.length, 2);
    assert.equal(lines[1]?.["msg"], "rejected 19,999 more X.509 updates in the last 0.05 s (malformed-response); the files on disk are kept");
    assert.equal(lines[1]?.["count"], 19_999);
    assert.equal(lines[1]?.["err"], "broken 19999");
    log.stop();
  });

  it("logs a new reason at once, and owes its summary at stop", () => {
    const { logger, lines } = capturingLogger();
    const log = new RejectionLog(logger, () => new Date(0), 60_000);
    log.record("X.509 update", "expired", "a");
    log.record("X.509 update", "key-mismatch", "b");
    log.record("X.509 update", "key-mismatch", "c");
    assert.deepEqual(lines.map((line) => line["reason"]), ["expired", "key-mismatch"]);
    log.stop();
    assert.equal(lines.length, 3);
    assert.equal(lines[2]?.["count"], 1);
  });
});

describe("SvidExpiryWatch", () => {
  it("logs once when the SVID on disk expires, and not for one replaced in time", async () => {
    const { logger, lines } = capturingLogger();
    const watch = new SvidExpiryWatch(logger, () => new Date());
    const soon = (ms: number) => new Date(Date.now() + ms);
    watch.watch({ spiffeId: "spiffe://example.org/app", serialHex: "01", notAfter: soon(30) });
    watch.watch({ spiffeId: "spiffe://example.org/app", serialHex: "02", notAfter: soon(60) });
    await eventually("the expiry line", () => lines.length >= 1);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.["serial"], "02");
    assert.equal(lines[0]?.["level"], 50);
    assert.match(String(lines[0]?.["msg"]), /^the X\.509-SVID on disk has expired/);
    watch.stop();
  });
});
