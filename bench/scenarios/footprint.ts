import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { BenchAgent } from "../lib/bench-agent.js";
import type { BenchContext } from "../lib/context.js";
import { must, reportProblem, sleep, turnOf, withTempDir } from "../lib/context.js";
import { cpuMs, rssKiB } from "../lib/proc-stats.js";
import { spawnQuiet, startSidecarWithProbe, stopProcess } from "../lib/processes.js";
import type { RunningSidecar } from "../lib/processes.js";
import { sidecarRotation, StepTally } from "../lib/rotation-step.js";
import type { ToolName } from "../lib/tools.js";

export interface Checkpoint {
  readonly rotations: number;
  readonly rssKiB: number;
  /** CPU time used since the first checkpoint (after start). */
  readonly cpuMs: number;
}

export interface FootprintColumn {
  readonly checkpoints: readonly Checkpoint[];
  /** RSS growth per 1,000 rotations between the last two checkpoints, in KiB. */
  readonly growthKiBPer1000: number;
  /** User + system CPU per 1,000 rotations over the whole run, in milliseconds. */
  readonly cpuMsPer1000: number;
  readonly failures: number;
}

export interface FootprintResult {
  readonly filesystem: "tmpfs";
  /** RSS of `node` idling on a timer: the runtime's own floor. */
  readonly bareNodeRssKiB: number;
  readonly tools: Partial<Record<ToolName, FootprintColumn>>;
}

const SETTLE_MS = 500;

/** RSS of a bare idle node process, after it has settled. */
export async function bareNodeRss(): Promise<number> {
  const child = spawnQuiet(process.execPath, ["-e", "setInterval(() => {}, 1 << 30)"], "/");
  try {
    await sleep(1000);
    if (child.pid === undefined) throw new Error("node did not start");
    return rssKiB(child.pid);
  } finally {
    await stopProcess(child);
  }
}

function checkpoint(sidecar: RunningSidecar, rotations: number, cpuAtStart: number): Checkpoint {
  return { rotations, rssKiB: rssKiB(sidecar.pid), cpuMs: cpuMs(sidecar.pid) - cpuAtStart };
}

function summarize(checkpoints: readonly Checkpoint[], failures: number): FootprintColumn {
  const last = checkpoints[checkpoints.length - 1];
  const before = checkpoints[checkpoints.length - 2];
  const growth = last === undefined || before === undefined ? Number.NaN : ((last.rssKiB - before.rssKiB) / (last.rotations - before.rotations)) * 1000;
  return {
    checkpoints,
    growthKiBPer1000: growth,
    cpuMsPer1000: last === undefined || last.rotations === 0 ? Number.NaN : (last.cpuMs / last.rotations) * 1000,
    failures,
  };
}

/**
 * Scenarios 3 and 4: RSS and CPU of the sidecar process itself (not its child) after start
 * and at each checkpoint, with the tools' rotations interleaved one by one on tmpfs. Rotations
 * are driven by rotateNow as fast as the probe confirms them, rather than by a 100 ms TTL:
 * the agent's TTLs are whole seconds.
 */
export async function footprint(context: BenchContext): Promise<FootprintResult> {
  const checkpoints = context.counts.footprintCheckpoints;
  const bareNodeRssKiB = await bareNodeRss();
  return withTempDir("/tmp", "sbench-mem-", (socketDir) =>
    withTempDir("/dev/shm", "sbench-mem-", async (dir) => {
      const tools: ToolName[] = context.helper === undefined ? ["ours"] : ["ours", "helper"];
      const agents = new Map<ToolName, BenchAgent>();
      const sidecars = new Map<ToolName, RunningSidecar>();
      const tallies = new Map<ToolName, StepTally>(tools.map((tool) => [tool, new StepTally()]));
      const results = new Map<ToolName, Checkpoint[]>(tools.map((tool) => [tool, []]));
      const cpuAtStart = new Map<ToolName, number>();
      try {
        for (const tool of tools) {
          const agent = await BenchAgent.start({ socketPath: join(socketDir, `${tool}.sock`), x509TtlSeconds: 3600 });
          agents.set(tool, agent);
          const certDir = join(dir, tool);
          await mkdir(certDir);
          sidecars.set(tool, await startSidecarWithProbe(tool, dir, { agentSocket: agent.socketPath, certDir, x509: true }, context.helper));
        }
        await sleep(1000);
        for (const [tool, sidecar] of sidecars) {
          cpuAtStart.set(tool, cpuMs(sidecar.pid));
          results.get(tool)?.push(checkpoint(sidecar, 0, cpuMs(sidecar.pid)));
        }
        let done = 0;
        for (const target of checkpoints) {
          for (; done < target; done += 1) {
            for (let turn = 0; turn < tools.length; turn += 1) {
              const tool = turnOf(tools, done, turn);
              const sidecar = must(sidecars.get(tool), tool);
              await sidecarRotation(must(agents.get(tool), `${tool} agent`), sidecar.probe, must(tallies.get(tool), `${tool} tally`));
            }
          }
          await sleep(SETTLE_MS);
          for (const [tool, sidecar] of sidecars) results.get(tool)?.push(checkpoint(sidecar, target, cpuAtStart.get(tool) ?? 0));
          context.log(`  footprint: ${target} rotations`);
        }
      } finally {
        for (const sidecar of sidecars.values()) await sidecar.stop();
        for (const agent of agents.values()) await agent.stop();
      }
      const columns: Partial<Record<ToolName, FootprintColumn>> = {};
      for (const tool of tools) {
        const tally = must(tallies.get(tool), `${tool} tally`);
        columns[tool] = summarize(results.get(tool) ?? [], tally.failures);
        if (tally.failures > 0) reportProblem(context, tool, "footprint", `${tally.errors.length} bad reads, ${tally.timeouts} missed; first: ${tally.errors[0] ?? "-"}`);
      }
      return { filesystem: "tmpfs", bareNodeRssKiB, tools: columns };
    }),
  );
}
