import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { BenchAgent } from "../lib/bench-agent.js";
import type { BenchContext } from "../lib/context.js";
import { sleep, withTempDir } from "../lib/context.js";
import { contextSwitches, cpuMs } from "../lib/proc-stats.js";
import { spawnQuiet, startSidecarWithProbe, stopProcess } from "../lib/processes.js";
import type { RunningSidecar } from "../lib/processes.js";
import { median } from "../lib/stats.js";
import type { ToolName } from "../lib/tools.js";

const SLICE_SECONDS = 20;

export type IdleContender = ToolName | "idle node";

export interface IdleColumn {
  /** Context switches of every thread, per minute: each is a wake-up. */
  readonly wakeupsPerMinute: number;
  /**
   * The median 20-second slice, per minute: the steady rate of periodic timers, without the
   * one-off bursts (V8's memory reducer collects garbage a few times after activity stops).
   */
  readonly steadyWakeupsPerMinute: number;
  readonly mainThreadWakeupsPerMinute: number;
  readonly threads: number;
  readonly cpuMsPerMinute: number;
}

export interface IdleResult {
  readonly seconds: number;
  readonly contenders: Partial<Record<IdleContender, IdleColumn>>;
}

/**
 * Scenario 4b: wake-ups while idle. The SVIDs live an hour, so nothing is due; every context
 * switch in the window is a timer, a poll or a keepalive. All contenders idle side by side,
 * each on its own agent, beside a bare node process as the runtime's floor.
 */
export async function idle(context: BenchContext): Promise<IdleResult> {
  const seconds = context.counts.idleSeconds;
  return withTempDir("/tmp", "sbench-idle-", (socketDir) =>
    withTempDir("/dev/shm", "sbench-idle-", async (dir) => {
      const tools: ToolName[] = context.helper === undefined ? ["ours"] : ["ours", "helper"];
      const agents: BenchAgent[] = [];
      const sidecars: RunningSidecar[] = [];
      const bareNode = spawnQuiet(process.execPath, ["-e", "setInterval(() => {}, 1 << 30)"], "/");
      try {
        for (const tool of tools) {
          const agent = await BenchAgent.start({ socketPath: join(socketDir, `${tool}.sock`), x509TtlSeconds: 3600 });
          agents.push(agent);
          const certDir = join(dir, tool);
          await mkdir(certDir);
          sidecars.push(await startSidecarWithProbe(tool, dir, { agentSocket: agent.socketPath, certDir, x509: true }, context.helper));
        }
        await sleep(2000);
        const pids = new Map<IdleContender, number>(sidecars.map((sidecar) => [sidecar.tool, sidecar.pid]));
        if (bareNode.pid !== undefined) pids.set("idle node", bareNode.pid);
        const before = new Map([...pids].map(([name, pid]) => [name, { switches: contextSwitches(pid), cpu: cpuMs(pid) }]));
        const slices = new Map<IdleContender, number[]>([...pids.keys()].map((name) => [name, []]));
        let previous = new Map([...pids].map(([name, pid]) => [name, contextSwitches(pid).allThreads]));
        for (let elapsed = 0; elapsed < seconds; elapsed += SLICE_SECONDS) {
          await sleep(Math.min(SLICE_SECONDS, seconds - elapsed) * 1000);
          const now = new Map([...pids].map(([name, pid]) => [name, contextSwitches(pid).allThreads]));
          if (seconds - elapsed >= SLICE_SECONDS) for (const [name, count] of now) slices.get(name)?.push(count - (previous.get(name) ?? count));
          previous = now;
        }
        const contenders: Partial<Record<IdleContender, IdleColumn>> = {};
        const perMinute = 60 / seconds;
        for (const [name, pid] of pids) {
          const start = before.get(name);
          if (start === undefined) continue;
          const end = contextSwitches(pid);
          contenders[name] = {
            wakeupsPerMinute: (end.allThreads - start.switches.allThreads) * perMinute,
            steadyWakeupsPerMinute: median(slices.get(name) ?? []) * (60 / SLICE_SECONDS),
            mainThreadWakeupsPerMinute: (end.mainThread - start.switches.mainThread) * perMinute,
            threads: end.threads,
            cpuMsPerMinute: (cpuMs(pid) - start.cpu) * perMinute,
          };
        }
        return { seconds, contenders };
      } finally {
        for (const sidecar of sidecars) await sidecar.stop();
        await stopProcess(bareNode);
        for (const agent of agents) await agent.stop();
      }
    }),
  );
}
