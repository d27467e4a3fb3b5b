import { ratio } from "./stats.js";
import type { BenchResults, TargetCheck } from "./results.js";

const KIB_PER_MIB = 1024;

/** `ok` undefined: a number reported beside the targets, judged by nobody. */
function check(target: string, value: number, limit: string, ok: ((value: number) => boolean) | undefined): TargetCheck {
  return { target, value, limit, met: Number.isNaN(value) || ok === undefined ? undefined : ok(value) };
}

/** Growth between two checkpoints early in a run is the heap warming up, not a leak. */
const MIN_ROTATIONS_FOR_GROWTH = 5000;
/** The memory target is stated after 10,000 rotations; the quick run stops long before. */
const ROTATIONS_FOR_LAST_RSS = 10_000;
/** Fewer than three 20 s slices cannot tell a one-off burst from a timer. */
const MIN_IDLE_SECONDS = 60;

function differenceOrNaN(a: number | undefined, b: number | undefined): number {
  return a === undefined || b === undefined ? Number.NaN : a - b;
}

function rotationTargets(results: BenchResults): TargetCheck[] {
  const tmpfs = results.rotation.find((run) => run.filesystem === "tmpfs");
  if (tmpfs === undefined) return [];
  const ours = tmpfs.contenders.ours?.latencyMs.p99;
  return [
    check("rotation p99, push → verified read, tmpfs, ours / spiffe-helper", ratio(ours, tmpfs.contenders.helper?.latencyMs.p99), "≤ 1.0", (v) => v <= 1),
    check("rotation p99, tmpfs, ours / write+fsync+rename floor", ratio(ours, tmpfs.contenders.floor?.latencyMs.p99), "reported, no limit", undefined),
  ];
}

function oneShotTargets(results: BenchResults): TargetCheck[] {
  return results.oneShot.flatMap((run) => {
    const ours = run.contenders.ours?.p50;
    const above = differenceOrNaN(ours, run.contenders["node -e 0"]?.p50);
    const judged = run.filesystem === "tmpfs";
    const sea = differenceOrNaN(run.contenders["ours (single executable)"]?.p50, run.contenders["node -e 0"]?.p50);
    return [
      check(`one-shot median on ${run.filesystem}, ours − node -e 0 (ms)`, above, judged ? "≤ 50" : "reported, no limit", judged ? (v) => v <= 50 : undefined),
      ...(Number.isNaN(sea)
        ? []
        : [check(`one-shot median on ${run.filesystem}, single executable − node -e 0 (ms)`, sea, judged ? "≤ 50" : "reported, no limit", judged ? (v) => v <= 50 : undefined)]),
      check(`one-shot median on ${run.filesystem}, ours / spiffe-helper`, ratio(ours, run.contenders.helper?.p50), "reported, no limit", undefined),
    ];
  });
}

function footprintTargets(results: BenchResults): TargetCheck[] {
  const footprint = results.footprint;
  if (footprint === undefined) return [];
  const ours = footprint.tools.ours;
  const start = ours?.checkpoints[0];
  const last = ours?.checkpoints.at(-1);
  const overNode = (rssKiB: number | undefined): number => differenceOrNaN(rssKiB, footprint.bareNodeRssKiB) / KIB_PER_MIB;
  const lastJudged = (last?.rotations ?? 0) >= ROTATIONS_FOR_LAST_RSS;
  const growthJudged = (last?.rotations ?? 0) >= MIN_ROTATIONS_FOR_GROWTH;
  return [
    check("RSS after start, ours − idle node (MiB)", overNode(start?.rssKiB), "≤ 8", (v) => v <= 8),
    check(
      `RSS after ${last?.rotations ?? "the last"} rotations, ours − idle node (MiB)`,
      overNode(last?.rssKiB),
      lastJudged ? "≤ 12" : `≤ 12, judged after ${ROTATIONS_FOR_LAST_RSS} rotations (full mode)`,
      lastJudged ? (v) => v <= 12 : undefined,
    ),
    // The target is in KB; /proc reports KiB.
    check(
      "RSS growth per 1,000 rotations, ours (KB)",
      ours === undefined ? Number.NaN : ours.growthKiBPer1000 * 1.024,
      growthJudged ? "< 100" : `< 100, judged over ${MIN_ROTATIONS_FOR_GROWTH}+ rotations (full mode)`,
      growthJudged ? (v) => v < 100 : undefined,
    ),
    check("CPU per X.509 rotation, ours / spiffe-helper", ratio(ours?.cpuMsPer1000, footprint.tools.helper?.cpuMsPer1000), "≤ 1.5", (v) => v <= 1.5),
    check("RSS after start, ours / spiffe-helper", ratio(start?.rssKiB, footprint.tools.helper?.checkpoints[0]?.rssKiB), "reported, no limit", undefined),
  ];
}

function idleTargets(results: BenchResults): TargetCheck[] {
  const idle = results.idle;
  if (idle === undefined) return [];
  const ours = idle.contenders.ours;
  const helper = idle.contenders.helper;
  const judged = idle.seconds >= MIN_IDLE_SECONDS;
  const limit = (text: string): string => (judged ? text : `${text}, judged over ${MIN_IDLE_SECONDS} s (full mode)`);
  return [
    check("idle, main-thread wake-ups per minute, ours", ours?.mainThreadWakeupsPerMinute ?? Number.NaN, limit("0"), judged ? (v) => v === 0 : undefined),
    check(
      "idle, wake-ups per minute of all threads, ours − spiffe-helper",
      differenceOrNaN(ours?.wakeupsPerMinute, helper?.wakeupsPerMinute),
      limit("≤ 0"),
      judged ? (v) => v <= 0 : undefined,
    ),
  ];
}

function scaleTargets(results: BenchResults): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const jwt = results.jwtRefresh;
  if (jwt !== undefined) {
    checks.push(
      check(
        `${jwt.audiences} JWT audiences, CPU per refreshed token, ours / spiffe-helper`,
        ratio(jwt.tools.ours?.cpuMsPerToken, jwt.tools.helper?.cpuMsPerToken),
        "≤ 2.0",
        (v) => v <= 2,
      ),
    );
  }
  const federation = results.federation;
  if (federation !== undefined) {
    checks.push(
      check(
        `${federation.trustDomains} federated trust domains, RSS, ours / spiffe-helper`,
        ratio(federation.tools.ours?.rssKiB, federation.tools.helper?.rssKiB),
        "≤ 2.0",
        (v) => v <= 2,
      ),
    );
  }
  return checks;
}

/** The targets of issue 16, as ratios and differences within this run. */
export function checkTargets(results: BenchResults): TargetCheck[] {
  return [...oneShotTargets(results), ...footprintTargets(results), ...rotationTargets(results), ...idleTargets(results), ...scaleTargets(results)];
}
