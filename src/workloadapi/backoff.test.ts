import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Backoff, DEFAULT_INITIAL_BACKOFF_MS, DEFAULT_MAX_BACKOFF_MS } from "./backoff.js";

function fixed(value: number): () => number {
  return () => value;
}

function draw(backoff: Backoff, count: number): number[] {
  return Array.from({ length: count }, () => backoff.next());
}

describe("Backoff (decorrelated jitter)", () => {
  it("grows by up to 3x per attempt and stops at the cap", () => {
    const backoff = new Backoff({ random: fixed(0.999999) });
    assert.deepEqual(draw(backoff, 6), [3000, 9000, 27000, 30000, 30000, 30000]);
  });

  it("never waits less than the initial delay", () => {
    const backoff = new Backoff({ random: fixed(0) });
    assert.deepEqual(draw(backoff, 4), [1000, 1000, 1000, 1000]);
  });

  it("draws uniformly between the initial delay and 3x the previous one", () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 10_000, random: fixed(0.5) });
    // 100 + 0.5 * (300 - 100) = 200; then 100 + 0.5 * (600 - 100) = 350; then 100 + 0.5 * 950 = 575.
    assert.deepEqual(draw(backoff, 3), [200, 350, 575]);
  });

  it("stays within [initial, max] for any random value", () => {
    const values = [0, 0.1, 0.5, 0.9, 0.999];
    let i = 0;
    const backoff = new Backoff({ initialMs: 20, maxMs: 500, random: () => values[i++ % values.length] ?? 0 });
    for (const delay of draw(backoff, 50)) {
      assert.ok(delay >= 20 && delay <= 500, `${delay} out of range`);
    }
  });

  it("starts over after reset and counts attempts", () => {
    const backoff = new Backoff({ random: fixed(0.999999) });
    draw(backoff, 3);
    assert.equal(backoff.attempts, 3);
    backoff.reset();
    assert.equal(backoff.attempts, 0);
    assert.equal(backoff.next(), 3000);
  });

  it("defaults to about 1 s initial and 30 s cap", () => {
    assert.equal(DEFAULT_INITIAL_BACKOFF_MS, 1000);
    assert.equal(DEFAULT_MAX_BACKOFF_MS, 30_000);
  });

  it("rejects nonsensical options with the fix", () => {
    assert.throws(() => new Backoff({ initialMs: 0 }), /initialMs must be a positive number/);
    assert.throws(() => new Backoff({ initialMs: 100, maxMs: 50 }), /maxMs must be at least initialMs \(100\)/);
  });
});
