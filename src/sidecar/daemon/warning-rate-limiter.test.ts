import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { WarningRateLimiter, type SuppressedWarnings } from "./warning-rate-limiter.js";

describe("WarningRateLimiter", () => {
  it("logs the first occurrence of each key at once", () => {
    const limiter = new WarningRateLimiter(30_000);
    assert.equal(limiter.admit("malformed", 0, "a"), true);
    assert.equal(limiter.admit("expired", 1, "b"), true);
    assert.equal(limiter.nextSummaryAt(), undefined, "nothing counted, nothing to summarise");
  });

  it("turns a flood of 20,068 into one line and one summary per window", () => {
    const limiter = new WarningRateLimiter(30_000);
    let logged = 0;
    const summaries: SuppressedWarnings[] = [];
    // 20,068 occurrences spread over 30 s, with the caller's timer collecting on time.
    for (let index = 0; index < 20_068; index++) {
      const now = Math.floor((index * 30_000) / 20_068);
      const due = limiter.nextSummaryAt();
      if (due !== undefined && now >= due) summaries.push(...limiter.takeEnded(now));
      if (limiter.admit("malformed", now, `update ${index}`)) logged += 1;
    }
    summaries.push(...limiter.takeEnded(30_000));
    assert.equal(logged, 1);
    assert.deepEqual(summaries, [{ key: "malformed", count: 20_067, windowMs: 30_000, lastDetail: "update 20067" }]);
  });

  it("keeps a key that kept failing limited for another window, and forgets a quiet one", () => {
    const limiter = new WarningRateLimiter(1_000);
    assert.equal(limiter.admit("k", 0, "first"), true);
    assert.equal(limiter.admit("k", 500, "second"), false);
    assert.equal(limiter.nextSummaryAt(), 1_000);
    assert.deepEqual(limiter.takeEnded(999), []);
    assert.deepEqual(limiter.takeEnded(1_000), [{ key: "k", count: 1, windowMs: 1_000, lastDetail: "second" }]);
    assert.equal(limiter.admit("k", 1_500, "third"), false, "still limited: it was failing a moment ago");
    assert.deepEqual(limiter.takeEnded(2_000), [{ key: "k", count: 1, windowMs: 1_000, lastDetail: "third" }]);
    assert.deepEqual(limiter.takeEnded(3_000), [], "a quiet window owes nothing");
    assert.equal(limiter.admit("k", 3_001, "fourth"), true, "after a quiet window the key is logged at once again");
  });

  it("counts into a window whose summary is overdue instead of logging", () => {
    const limiter = new WarningRateLimiter(1_000);
    limiter.admit("k", 0, "a");
    limiter.admit("k", 10, "b");
    assert.equal(limiter.admit("k", 5_000, "c"), false);
    assert.deepEqual(limiter.takeEnded(5_000), [{ key: "k", count: 2, windowMs: 1_000, lastDetail: "c" }]);
  });

  it("hands out every owed summary at stop", () => {
    const limiter = new WarningRateLimiter(1_000);
    limiter.admit("a", 0, "x");
    limiter.admit("a", 1, "y");
    limiter.admit("b", 2, "z");
    assert.deepEqual(limiter.takeAll(), [{ key: "a", count: 1, windowMs: 1_000, lastDetail: "y" }]);
    assert.equal(limiter.nextSummaryAt(), undefined);
  });
});
