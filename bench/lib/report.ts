import type { BenchResults } from "./results.js";
import type { Distribution } from "./stats.js";
import { ratio } from "./stats.js";

type Cell = number | undefined;

function num(value: Cell, digits?: number): string {
  if (value === undefined || Number.isNaN(value)) return "–";
  const places = digits ?? (Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2);
  return value.toFixed(places);
}

function times(value: number): string {
  return Number.isNaN(value) ? "–" : `${value.toFixed(2)}×`;
}

const MIB = 1024;

class Table {
  readonly #rows: string[] = [];

  /** A row: ours, spiffe-helper, the floor or reference, then ours/helper and ours/floor. */
  row(label: string, ours: Cell, helper: Cell, floor: Cell, unit: string, floorAsDifference = false): void {
    const vsFloor = ours === undefined || floor === undefined ? Number.NaN : floorAsDifference ? ours - floor : ratio(ours, floor);
    const floorCell = floorAsDifference ? (Number.isNaN(vsFloor) ? "–" : `+${num(vsFloor)} ${unit}`) : times(vsFloor);
    this.#rows.push(`| ${label} | ${num(ours)} | ${num(helper)} | ${num(floor)} | ${unit} | ${times(ratio(ours, helper))} | ${floorCell} |`);
  }

  section(title: string): void {
    this.#rows.push(`| **${title}** | | | | | | |`);
  }

  render(): string {
    return [
      "| metric | ours | spiffe-helper | floor / reference | unit | ours ÷ helper | ours vs floor |",
      "|---|---:|---:|---:|---|---:|---:|",
      ...this.#rows,
    ].join("\n");
  }
}

function distributionRows(table: Table, label: string, ours: Distribution | undefined, helper: Distribution | undefined, floor: Distribution | undefined, keys: readonly (keyof Distribution)[], floorAsDifference = false): void {
  for (const key of keys) table.row(`${label} ${key}`, ours?.[key], helper?.[key], floor?.[key], "ms", floorAsDifference);
}

/** The results as one markdown table, then the targets, then any functional problems. */
export function renderMarkdown(results: BenchResults): string {
  const table = new Table();
  for (const run of results.rotation) {
    table.section(`1. rotation latency, push → verified read, ${run.filesystem} (${run.directory}), ${run.rotations} rotations; floor = write+fsync+rename ×3 + kill`);
    const { ours, helper, floor } = run.contenders;
    distributionRows(table, "latency", ours?.latencyMs, helper?.latencyMs, floor?.latencyMs, ["p50", "p95", "p99", "max"]);
    table.row("probe's own read (p50)", ours?.probeReadMs.p50, helper?.probeReadMs.p50, floor?.probeReadMs.p50, "ms");
  }
  for (const run of results.oneShot) {
    table.section(`2. one-shot start → files written → exit, ${run.filesystem}, ${run.runs} runs each; reference = node -e 0`);
    const { ours, helper } = run.contenders;
    distributionRows(table, "wall time", ours, helper, run.contenders["node -e 0"], ["p50", "p90"], true);
    const sea = run.contenders["ours (single executable)"];
    if (sea !== undefined) distributionRows(table, "single executable: wall time", sea, helper, run.contenders["node -e 0"], ["p50", "p90"], true);
  }
  const footprint = results.footprint;
  if (footprint !== undefined) {
    table.section("3. memory (VmRSS of the sidecar itself, tmpfs); reference = idle node");
    const { ours, helper } = footprint.tools;
    (ours?.checkpoints ?? []).forEach((point, index) => {
      const label = point.rotations === 0 ? "RSS after start" : `RSS after ${point.rotations} rotations`;
      table.row(label, point.rssKiB / MIB, (helper?.checkpoints[index]?.rssKiB ?? Number.NaN) / MIB, footprint.bareNodeRssKiB / MIB, "MiB", true);
    });
    table.row("RSS growth per 1,000 rotations", ours?.growthKiBPer1000, helper?.growthKiBPer1000, undefined, "KiB");
    table.section("4. CPU (utime+stime of the sidecar itself)");
    table.row("CPU per 1,000 rotations", ours?.cpuMsPer1000, helper?.cpuMsPer1000, undefined, "ms");
  }
  const idle = results.idle;
  if (idle !== undefined) {
    table.section(`4. idle, 1 h TTL, over ${idle.seconds} s; reference = idle node`);
    const { ours, helper } = idle.contenders;
    const node = idle.contenders["idle node"];
    table.row("wake-ups per minute (all threads)", ours?.wakeupsPerMinute, helper?.wakeupsPerMinute, node?.wakeupsPerMinute, "/min", true);
    table.row("steady wake-ups per minute (median 20 s slice)", ours?.steadyWakeupsPerMinute, helper?.steadyWakeupsPerMinute, node?.steadyWakeupsPerMinute, "/min", true);
    table.row("wake-ups per minute (main thread)", ours?.mainThreadWakeupsPerMinute, helper?.mainThreadWakeupsPerMinute, node?.mainThreadWakeupsPerMinute, "/min", true);
    table.row("CPU per minute", ours?.cpuMsPerMinute, helper?.cpuMsPerMinute, node?.cpuMsPerMinute, "ms", true);
    table.row("threads", ours?.threads, helper?.threads, node?.threads, "");
  }
  const federation = results.federation;
  if (federation !== undefined) {
    table.section(`5a. an update carrying ${federation.trustDomains} federated trust domains (include_federated_domains), tmpfs`);
    const { ours, helper } = federation.tools;
    table.row("spawn → first verified read", ours?.firstWriteMs, helper?.firstWriteMs, undefined, "ms");
    distributionRows(table, "update latency", ours?.latencyMs, helper?.latencyMs, undefined, ["p50", "max"]);
    table.row("CPU per update", ours?.cpuMsPerUpdate, helper?.cpuMsPerUpdate, undefined, "ms");
    table.row("RSS after the updates", (ours?.rssKiB ?? Number.NaN) / MIB, (helper?.rssKiB ?? Number.NaN) / MIB, undefined, "MiB");
  }
  const jwtOnce = results.jwtOneShot;
  const jwtRefresh = results.jwtRefresh;
  if (jwtOnce !== undefined || jwtRefresh !== undefined) {
    const gomaxprocs = jwtRefresh?.tools.helper?.gomaxprocs1 === true ? " (spiffe-helper's refresh row: GOMAXPROCS=1, see problems)" : "";
    table.section(`5b. ${jwtRefresh?.audiences ?? ""} JWT audiences, one token file each${jwtRefresh === undefined ? "" : `; refresh with a ${jwtRefresh.jwtTtlSeconds} s TTL over ${jwtRefresh.seconds} s${gomaxprocs}`}`);
    if (jwtOnce !== undefined) table.row("one-shot wall time p50", jwtOnce.contenders.ours?.p50, jwtOnce.contenders.helper?.p50, undefined, "ms");
    if (jwtRefresh !== undefined) {
      const { ours, helper } = jwtRefresh.tools;
      table.row("daemon: spawn → all tokens written", ours?.allWrittenMs, helper?.allWrittenMs, undefined, "ms");
      table.row("tokens refreshed in the window", ours?.refreshesSeen, helper?.refreshesSeen, undefined, "");
      table.row("CPU per refreshed token", ours?.cpuMsPerToken, helper?.cpuMsPerToken, undefined, "ms");
      table.row("RSS", (ours?.rssKiB ?? Number.NaN) / MIB, (helper?.rssKiB ?? Number.NaN) / MIB, undefined, "MiB");
    }
  }
  const targets = results.targets.map((target) => `| ${target.target} | ${num(target.value)} | ${target.limit} | ${target.met === undefined ? "–" : target.met ? "met" : "**missed**"} |`);
  const problems = results.problems.map((problem) => `- ${problem.tool}, ${problem.scenario}: ${problem.message}`);
  return [
    table.render(),
    "",
    "| target (issue 16) | this run | limit | |",
    "|---|---:|---|---|",
    ...targets,
    "",
    problems.length === 0 ? "Functional checks: every probe read matched (cert and key belong together, serial new), no rotation missed." : `Functional problems:\n${problems.join("\n")}`,
  ].join("\n");
}
