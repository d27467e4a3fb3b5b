import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Backoff, DEFAULT_BACKOFF_JITTER, DEFAULT_INITIAL_BACKOFF_MS, DEFAULT_MAX_BACKOFF_MS } from "./backoff.js";

function fixed(value: number): () => number {
  return () => value;
}

function draw(backoff: Backoff, count: number): number[] {
  return Array.from({ length: count }, () => backoff.next());
}

describe("Backoff (exponential, bounded jitter)", () => {
  it("doubles per attempt and stops at the cap (random 1 draws the full step)", () => {
    const backoff = new Backoff({ random: fixed(1) });
    assert.deepEqual(draw(backoff, 7), [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  });

  it("falls at most `jitter` below each step (random 0 draws the lowest)", () => {
    const backoff = new Backoff({ random: fixed(0) });
    assert.deepEqual(draw(backoff, 7), [800, 1600, 3200, 6400, 12800, 24000, 24000]);
  });

  it("draws uniformly inside the band", () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 10_000, jitter: 0.5, random: fixed(0.5) });
    // 0.75 of each step: 100, 200, 400.
    assert.deepEqual(draw(backoff, 3), [75, 150, 300]);
  });

  it("never shrinks while failures go on, whatever the random draws", () => {
    const values = [0.999, 0, 0.5, 0.999, 0, 0.1, 0.9];
    let i = 0;
    for (const jitter of [0, 0.2, 0.5]) {
      const backoff = new Backoff({ initialMs: 20, maxMs: 5000, jitter, random: () => values[i++ % values.length] ?? 0 });
      const delays = draw(backoff, 40);
      for (const [index, delay] of delays.entries()) {
        assert.ok(delay >= 20 * (1 - jitter) && delay <= 5000, `${delay} out of range`);
        const previous = delays[index - 1];
        // Below the cap each step's floor is at least the previous step's ceiling.
        if (previous !== undefined && previous < 5000 * (1 - jitter)) assert.ok(delay >= previous, `${delays.join(",")}`);
      }
    }
  });

  it("starts over after reset and counts attempts", () => {
    const backoff = new Backoff({ random: fixed(1) });
    draw(backoff, 3);
    assert.equal(backoff.attempts, 3);
    backoff.reset();
    assert.equal(backoff.attempts, 0);
    assert.equal(backoff.next(), 1000);
  });

  it("stays finite after very many attempts", () => {
    const backoff = new Backoff({ random: fixed(1) });
    draw(backoff, 2000);
    assert.equal(backoff.next(), 30_000);
  });

  it("defaults to 1 s initial, 30 s cap and 20 % jitter", () => {
    assert.equal(DEFAULT_INITIAL_BACKOFF_MS, 1000);
    assert.equal(DEFAULT_MAX_BACKOFF_MS, 30_000);
    assert.equal(DEFAULT_BACKOFF_JITTER, 0.2);
    assert.equal(new Backoff().maxMs, 30_000);
  });

  it("rejects nonsensical options with the fix", () => {
    assert.throws(() => new Backoff({ initialMs: 0 }), /initialMs must be a positive number/);
    assert.throws(() => new Backoff({ initialMs: 100, maxMs: 50 }), /maxMs must be at least initialMs \(100\)/);
    assert.throws(() => new Backoff({ jitter: 0.8 }), /jitter must be a fraction from 0 to 0.5/);
  });
});
