import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";

/** How much new space grows, in KiB, over a burst of short-lived allocations in a fresh node. */
function newSpaceGrowthKiB(withTuning: boolean): number {
  const script = [
    withTuning ? `(await import(${JSON.stringify(new URL("./heap-tuning.ts", import.meta.url).href)})).capNewSpace();` : "",
    "const { getHeapSpaceStatistics } = await import('node:v8');",
    "const newSpaceKiB = () => Math.round((getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0) / 1024);",
    "const before = newSpaceKiB();",
    "let keep = [];",
    "for (let i = 0; i < 2_000_000; i++) { keep.push({ i, text: 'x' + i }); if (keep.length > 20_000) keep = []; }",
    "process.stdout.write(String(newSpaceKiB() - before));",
  ].join("\n");
  const output = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8" });
  return Number(output);
}

describe("heap tuning", () => {
  it("keeps new space at its size once applied, under an allocation burst that grows it without", () => {
    const untuned = newSpaceGrowthKiB(false);
    const tuned = newSpaceGrowthKiB(true);
    assert.ok(untuned > 0, `without the flags new space should grow: ${untuned} KiB`);
    assert.equal(tuned, 0, `new space grew by ${tuned} KiB`);
  });
});
