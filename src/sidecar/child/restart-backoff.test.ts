import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RestartBackoff, restartDelayMs, stableAfterMs } from "./restart-backoff.js";

describe("restart backoff", () => {
  it("doubles from 1 s and stops at the cap, with the jitter's midpoint", () => {
    const backoff = new RestartBackoff({ maxMs: 8_000, random: () => 0.5 });
    const delays = Array.from({ length: 7 }, () => backoff.next());
    assert.deepEqual(delays, [1_000, 2_000, 4_000, 8_000, 8_000, 8_000, 8_000]);
  });

  it("moves each delay by at most ±20% and never above the cap", () => {
    assert.equal(restartDelayMs(0, 0, { maxMs: 8_000 }), 800);
    assert.equal(restartDelayMs(0, 0.999_999, { maxMs: 8_000 }), 1_200);
    assert.equal(restartDelayMs(2, 0, { maxMs: 8_000 }), 3_200);
    assert.equal(restartDelayMs(3, 0.999_999, { maxMs: 8_000 }), 8_000, "capped after the jitter");
    assert.equal(restartDelayMs(3, 0, { maxMs: 8_000 }), 6_400);
  });

  it("never falls back while failures continue, whatever the draws", () => {
    // The sequence fell from 7437 ms to 1431 ms: each base is at least the last one.
    const draws = [0.99, 0, 0.99, 0, 0.99, 0, 0.99, 0, 0.99, 0];
    const backoff = new RestartBackoff({ maxMs: 8_000, random: () => draws.shift() ?? 0.5 });
    const delays = Array.from({ length: 10 }, () => backoff.next());
    assert.deepEqual(delays, [1_196, 1_600, 4_784, 6_400, 8_000, 6_400, 8_000, 6_400, 8_000, 6_400]);
    delays.forEach((delay, attempt) => {
      const baseMs = Math.min(8_000, 1_000 * 2 ** attempt);
      assert.ok(delay >= baseMs * 0.8 && delay <= 8_000, `restart ${attempt}: ${delay} ms`);
    });
  });

  it("starts over after reset()", () => {
    const backoff = new RestartBackoff({ maxMs: 30_000, random: () => 0.5 });
    backoff.next();
    backoff.next();
    backoff.reset();
    assert.equal(backoff.next(), 1_000);
  });

  it("a cap under 1 s makes every wait the cap, jittered downwards only", () => {
    const backoff = new RestartBackoff({ maxMs: 300, random: () => 0.5 });
    assert.deepEqual([backoff.next(), backoff.next()], [300, 300]);
    assert.equal(restartDelayMs(0, 0, { maxMs: 300 }), 240);
  });

  it("counts a child as stable after 10 s, or after the cap when that is longer", () => {
    assert.equal(stableAfterMs(8_000), 10_000);
    assert.equal(stableAfterMs(60_000), 60_000);
  });

  it("refuses a jitter that could make a delay negative", () => {
    assert.throws(() => new RestartBackoff({ jitter: 1 }), RangeError);
  });
});
