import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { BenchAgent } from "../lib/bench-agent.js";
import type { BenchContext } from "../lib/context.js";
import { must, reportProblem, sleep, turnOf, withTempDir } from "../lib/context.js";
import { floorFiles, writeFloorFiles } from "../lib/floor-writer.js";
import { ProbeChannel } from "../lib/probe-channel.js";
import { spawnQuiet, startSidecarWithProbe, stopProcess } from "../lib/processes.js";
import type { RunningSidecar } from "../lib/processes.js";
import { awaitReload, sidecarRotation, StepTally } from "../lib/rotation-step.js";
import { distribution } from "../lib/stats.js";
import type { Distribution } from "../lib/stats.js";
import { CERT_FILE, KEY_FILE, PROBE_APP } from "../lib/tools.js";
import type { ToolName } from "../lib/tools.js";

export type Filesystem = "tmpfs" | "disk";
export const FILESYSTEM_DIRS: Readonly<Record<Filesystem, string>> = { tmpfs: "/dev/shm", disk: "/tmp" };

export type Contender = ToolName | "floor";

export interface LatencyColumn {
  /** Push to the probe's verified read. */
  readonly latencyMs: Distribution;
  /** The probe's own part: SIGHUP handler to verified read. */
  readonly probeReadMs: Distribution;
  readonly errors: readonly string[];
  readonly timeouts: number;
  readonly extraReloads: number;
}

export interface RotationLatencyResult {
  readonly filesystem: Filesystem;
  readonly directory: string;
  readonly rotations: number;
  readonly contenders: Partial<Record<Contender, LatencyColumn>>;
}

/** The floor's "sidecar": a probe the harness starts itself, fed by `writeFloorFiles`. */
async function startFloor(dir: string, agent: BenchAgent): Promise<{ probe: ProbeChannel; probePid: number; rotate: () => Promise<bigint>; stop: () => Promise<void> }> {
  const certDir = join(dir, "floor");
  await mkdir(certDir);
  writeFloorFiles(floorFiles(agent.agent.snapshot(), certDir));
  const probe = await ProbeChannel.listen(join(dir, "floor-probe.sock"));
  const child = spawnQuiet(process.execPath, [PROBE_APP, probe.socketPath, join(certDir, CERT_FILE), join(certDir, KEY_FILE)], dir);
  const start = await probe.nextStart(30_000);
  return {
    probe,
    probePid: start.pid,
    async rotate() {
      await agent.agent.rotateNow();
      const files = floorFiles(agent.agent.snapshot(), certDir);
      const startedAt = process.hrtime.bigint();
      writeFloorFiles(files);
      process.kill(start.pid, "SIGHUP");
      return startedAt;
    },
    async stop() {
      await stopProcess(child);
      await probe.close();
    },
  };
}

function column(tally: StepTally): LatencyColumn {
  return {
    latencyMs: distribution(tally.latenciesMs),
    probeReadMs: distribution(tally.readsMs),
    errors: tally.errors.slice(0, 5),
    timeouts: tally.timeouts,
    extraReloads: tally.extraReloads,
  };
}

/**
 * Scenario 1. Each contender has its own agent, so a push reaches one sidecar only and the
 * others sit idle; rotations alternate between contenders one by one (A/B/floor, with the
 * order turning each round), so drift in machine load hits all of them alike.
 */
export async function rotationLatency(context: BenchContext, filesystem: Filesystem): Promise<RotationLatencyResult> {
  const { rotations, warmupRotations } = context.counts;
  return withTempDir("/tmp", "sbench-rot-", (socketDir) =>
    withTempDir(FILESYSTEM_DIRS[filesystem], "sbench-rot-", async (dir) => {
      const tools: ToolName[] = context.helper === undefined ? ["ours"] : ["ours", "helper"];
      const agents = new Map<Contender, BenchAgent>();
      const sidecars = new Map<ToolName, RunningSidecar>();
      const tallies = new Map<Contender, StepTally>();
      let floor: Awaited<ReturnType<typeof startFloor>> | undefined;
      try {
        const contenders: Contender[] = [...tools, "floor"];
        for (const contender of contenders) {
          agents.set(contender, await BenchAgent.start({ socketPath: join(socketDir, `${contender}.sock`), x509TtlSeconds: 3600 }));
          tallies.set(contender, new StepTally());
        }
        for (const tool of tools) {
          const certDir = join(dir, tool);
          await mkdir(certDir);
          const agent = must(agents.get(tool), `${tool} agent`);
          sidecars.set(tool, await startSidecarWithProbe(tool, dir, { agentSocket: agent.socketPath, certDir, x509: true }, context.helper));
        }
        floor = await startFloor(dir, must(agents.get("floor"), "floor agent"));
        for (let round = 0; round < warmupRotations + rotations; round += 1) {
          const measured = round >= warmupRotations;
          for (let turn = 0; turn < contenders.length; turn += 1) {
            const contender = turnOf(contenders, round, turn);
            const tally = measured ? must(tallies.get(contender), `${contender} tally`) : new StepTally();
            if (contender === "floor") {
              const from = await floor.rotate();
              tally.add(await awaitReload(floor.probe, from));
            } else {
              const sidecar = must(sidecars.get(contender), contender);
              await sidecarRotation(must(agents.get(contender), `${contender} agent`), sidecar.probe, tally);
            }
            // Let the process that just worked settle, so the next push finds everything idle.
            await sleep(5 + Math.random() * 10);
          }
        }
        await sleep(200);
        for (const [tool, sidecar] of sidecars) must(tallies.get(tool), `${tool} tally`).extraReloads += sidecar.probe.drain().length;
      } finally {
        for (const sidecar of sidecars.values()) await sidecar.stop();
        await floor?.stop();
        for (const agent of agents.values()) await agent.stop();
      }
      const result: Partial<Record<Contender, LatencyColumn>> = {};
      for (const [contender, tally] of tallies) {
        result[contender] = column(tally);
        if (tally.failures > 0 || tally.extraReloads > 0) {
          reportProblem(
            context,
            contender,
            `rotation latency (${filesystem})`,
            `${tally.errors.length} bad reads, ${tally.timeouts} missed rotations, ${tally.extraReloads} extra signals; first: ${tally.errors[0] ?? "-"}`,
          );
        }
      }
      return { filesystem, directory: FILESYSTEM_DIRS[filesystem], rotations, contenders: result };
    }),
  );
}
