import { ratio } from "./stats.js";
import type { BenchResults, TargetCheck } from "./results.js";

const MIB = 1024;

/** `ok` undefined: a number reported beside the targets, judged by nobody. */
function check(target: string, value: number, limit: string, ok: ((value: number) => boolean) | undefined): TargetCheck {
  return { target, value, limit, met: Number.isNaN(value) || ok === undefined ? undefined : ok(value) };
}

/** Growth between two checkpoints early in a run is the heap warming up, not a leak. */
const MIN_ROTATIONS_FOR_GROWTH = 5000;

/** The targets of issue 7, as ratios and differences within this run. */
export function checkTargets(results: BenchResults): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const tmpfs = results.rotation.find((run) => run.filesystem === "tmpfs");
  if (tmpfs !== undefined) {
    const ours = tmpfs.contenders.ours?.latencyMs.p99;
    checks.push(check("rotation p99 on tmpfs, ours / spiffe-helper", ratio(ours, tmpfs.contenders.helper?.latencyMs.p99), "≤ 1.0", (v) => v <= 1));
    checks.push(check("rotation p99 on tmpfs, ours / floor", ratio(ours, tmpfs.contenders.floor?.latencyMs.p99), "≤ 2.0", (v) => v <= 2));
  }
  for (const run of results.oneShot) {
    const ours = run.contenders.ours?.p50;
    const node = run.contenders["node -e 0"]?.p50;
    const above = ours === undefined || node === undefined ? Number.NaN : ours - node;
    checks.push(check(`one-shot median on ${run.filesystem}, ours − node -e 0 (ms)`, above, "≤ 100", (v) => v <= 100));
    checks.push(check(`one-shot median on ${run.filesystem}, ours / spiffe-helper`, ratio(ours, run.contenders.helper?.p50), "reported, no limit", undefined));
  }
  const footprint = results.footprint;
  if (footprint !== undefined) {
    const oursStart = footprint.tools.ours?.checkpoints[0]?.rssKiB;
    const helperStart = footprint.tools.helper?.checkpoints[0]?.rssKiB;
    const oursLast = footprint.tools.ours?.checkpoints.at(-1)?.rssKiB;
    const helperLast = footprint.tools.helper?.checkpoints.at(-1)?.rssKiB;
    checks.push(check("RSS after start, ours / spiffe-helper", ratio(oursStart, helperStart), "≤ 2.0", (v) => v <= 2));
    checks.push(check("RSS after the last rotation, ours / spiffe-helper", ratio(oursLast, helperLast), "≤ 2.0", (v) => v <= 2));
    const above = oursStart === undefined ? Number.NaN : (oursStart - footprint.bareNodeRssKiB) / MIB;
    checks.push(check("RSS after start, ours − idle node (MiB)", above, "≤ 25", (v) => v <= 25));
    const growth = footprint.tools.ours?.growthKiBPer1000;
    const rotations = footprint.tools.ours?.checkpoints.at(-1)?.rotations ?? 0;
    const judged = rotations >= MIN_ROTATIONS_FOR_GROWTH;
    // The target is in KB; /proc reports KiB.
    checks.push(
      check(
        "RSS growth per 1,000 rotations, ours (KB)",
        growth === undefined ? Number.NaN : growth * 1.024,
        judged ? "< 100" : `< 100, judged only over ${MIN_ROTATIONS_FOR_GROWTH}+ rotations (full mode)`,
        judged ? (v) => v < 100 : undefined,
      ),
    );
    checks.push(check("CPU per rotation, ours / spiffe-helper", ratio(footprint.tools.ours?.cpuMsPer1000, footprint.tools.helper?.cpuMsPer1000), "≤ 1.0", (v) => v <= 1));
  }
  const idle = results.idle;
  if (idle !== undefined) {
    const ours = idle.contenders.ours?.steadyWakeupsPerMinute;
    const node = idle.contenders["idle node"]?.steadyWakeupsPerMinute;
    // "No periodic timers": no more steady wake-ups than the bare runtime, give or take one a minute.
    const above = ours === undefined || node === undefined ? Number.NaN : ours - node;
    // With fewer than three slices the median cannot set a one-off GC burst aside.
    const judged = idle.seconds >= 60;
    checks.push(
      check(
        "steady idle wake-ups per minute, ours − idle node",
        above,
        judged ? "≤ 1 (no periodic timers)" : "≤ 1, judged only over 60 s (full mode)",
        judged ? (v) => v <= 1 : undefined,
      ),
    );
  }
  return checks;
}
