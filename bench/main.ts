// `npm run bench [-- --quick] [-- --only=rotation,oneshot,footprint,idle,scale] [-- --out=FILE]`
// Runs our sidecar and the Go spiffe-helper side by side against the fake agent (issues 7 and 16),
// writes the results as JSON and prints a markdown table. It fails only when something is
// functionally broken (a probe read a mismatched pair, a rotation never arrived), never on timing.
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, release, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { FULL_COUNTS, QUICK_COUNTS } from "./lib/context.js";
import type { BenchContext } from "./lib/context.js";
import { killAll } from "./lib/processes.js";
import { loadAverage } from "./lib/proc-stats.js";
import { renderMarkdown } from "./lib/report.js";
import type { BenchResults } from "./lib/results.js";
import { checkTargets } from "./lib/targets.js";
import { helperBinary, helperVersion, ourVersion, REPO_ROOT } from "./lib/tools.js";
import { footprint } from "./scenarios/footprint.js";
import { idle } from "./scenarios/idle.js";
import { oneShot } from "./scenarios/one-shot.js";
import { rotationLatency } from "./scenarios/rotation-latency.js";
import { federation, jwtRefresh } from "./scenarios/scale.js";

const SCENARIOS = ["rotation", "oneshot", "footprint", "idle", "scale"] as const;
type Scenario = (typeof SCENARIOS)[number];
const JWT_TTL_SECONDS = 6;

function parseOptions(): { quick: boolean; only: Set<Scenario>; out: string } {
  const { values } = parseArgs({
    options: { quick: { type: "boolean", default: false }, only: { type: "string" }, out: { type: "string" } },
    strict: true,
  });
  const only = new Set<Scenario>();
  for (const name of (values.only ?? SCENARIOS.join(",")).split(",")) {
    if (!(SCENARIOS as readonly string[]).includes(name)) throw new Error(`--only: unknown scenario "${name}"; use ${SCENARIOS.join(", ")}`);
    only.add(name as Scenario);
  }
  return { quick: values.quick, only, out: values.out ?? join(REPO_ROOT, "bench/results/latest.json") };
}

function stderrLog(started: number): (message: string) => void {
  return (message) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}\n`);
}

/** NaN and Infinity are not JSON; they become null. */
function toJson(results: BenchResults): string {
  return `${JSON.stringify(results, (_key, value: unknown) => (typeof value === "number" && !Number.isFinite(value) ? null : value), 2)}\n`;
}

async function main(): Promise<number> {
  const options = parseOptions();
  const started = Date.now();
  const log = stderrLog(started);
  const helper = helperBinary();
  if (helper === undefined) log("spiffe-helper is not installed (run scripts/install-interop-tools.sh); its columns stay empty");
  const context: BenchContext = { counts: options.quick ? QUICK_COUNTS : FULL_COUNTS, helper, problems: [], log };
  const loadAtStart = loadAverage();
  log(`${options.quick ? "quick" : "full"} run; load average ${loadAtStart}`);
  const results: BenchResults = {
    meta: {
      date: new Date().toISOString(),
      mode: options.quick ? "quick" : "full",
      durationSeconds: 0,
      machine: { nproc: cpus().length, cpuModel: cpus()[0]?.model ?? "unknown", memTotalGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10, kernel: release() },
      loadAverage: { start: loadAtStart, end: "" },
      node: process.version,
      ours: ourVersion(),
      helper: helper === undefined ? null : helperVersion(helper),
    },
    rotation: [],
    oneShot: [],
    targets: [],
    problems: context.problems,
  };
  const { only } = options;
  if (only.has("rotation")) {
    for (const filesystem of ["tmpfs", "disk"] as const) {
      log(`rotation latency on ${filesystem}`);
      results.rotation.push(await rotationLatency(context, filesystem));
    }
  }
  if (only.has("oneshot")) {
    for (const filesystem of context.counts.oneShotOnDisk ? (["tmpfs", "disk"] as const) : (["tmpfs"] as const)) {
      log(`one-shot start on ${filesystem}`);
      const plan = { label: `one-shot (${filesystem})`, runs: context.counts.oneShotRuns, filesystem, setup: { x509: true }, withNodeFloor: true };
      results.oneShot.push(await oneShot(context, plan));
    }
  }
  if (only.has("footprint")) {
    log("memory and CPU per rotation");
    results.footprint = await footprint(context);
  }
  if (only.has("idle")) {
    log(`idle wake-ups over ${context.counts.idleSeconds} s`);
    results.idle = await idle(context);
  }
  if (only.has("scale")) {
    log(`${context.counts.federatedTrustDomains} federated trust domains`);
    results.federation = await federation(context);
    const audiences = Array.from({ length: context.counts.jwtAudiences }, (_, index) => `https://service-${index}.bench.example`);
    log(`${audiences.length} JWT audiences, one-shot`);
    results.jwtOneShot = await oneShot(context, {
      label: "jwt one-shot",
      runs: context.counts.jwtOneShotRuns,
      filesystem: "tmpfs",
      setup: { x509: false, jwtAudiences: audiences },
      withNodeFloor: false,
    });
    log(`${audiences.length} JWT audiences, refreshed by the daemon`);
    results.jwtRefresh = await jwtRefresh(context, JWT_TTL_SECONDS);
  }
  results.meta = { ...results.meta, durationSeconds: Math.round((Date.now() - started) / 1000), loadAverage: { start: loadAtStart, end: loadAverage() } };
  results.targets = checkTargets(results);
  await mkdir(dirname(options.out), { recursive: true });
  await writeFile(options.out, toJson(results));
  process.stdout.write(`${renderMarkdown(results)}\n`);
  log(`results written to ${options.out}`);
  // spiffe-helper's own failures are reported, never ours to fail on.
  const broken = context.problems.filter((problem) => problem.tool !== "helper");
  return broken.length === 0 ? 0 : 1;
}

process.on("SIGINT", () => {
  killAll();
  process.exit(130);
});

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    killAll();
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
