import { closeSync, openSync } from "node:fs";
import { mkdir, mkdtemp, readFile } from "node:fs/promises";
import { join } from "node:path";
import { BenchAgent } from "../lib/bench-agent.js";
import type { BenchContext } from "../lib/context.js";
import { reportProblem, sleep, withTempDir } from "../lib/context.js";
import { cpuMs, rssKiB } from "../lib/proc-stats.js";
import { spawnQuiet, startSidecarWithProbe, stopProcess, writeConfig } from "../lib/processes.js";
import { sidecarRotation, StepTally } from "../lib/rotation-step.js";
import { distribution, elapsedMs } from "../lib/stats.js";
import type { Distribution } from "../lib/stats.js";
import { commandFor, jwtTokenFile } from "../lib/tools.js";
import type { ToolName } from "../lib/tools.js";

export interface FederationColumn {
  /** Spawn to the probe's first read: start-up plus the first 1,000-domain update. */
  readonly firstWriteMs: number;
  /** Push to verified read for later updates, each carrying every federated bundle. */
  readonly latencyMs: Distribution;
  readonly cpuMsPerUpdate: number;
  readonly rssKiB: number;
  readonly failures: number;
}

export interface FederationResult {
  readonly trustDomains: number;
  /** How long the fake agent took to create the CAs (not a sidecar number). */
  readonly agentSetupMs: number;
  readonly tools: Partial<Record<ToolName, FederationColumn>>;
}

function federatedNames(count: number): string[] {
  return Array.from({ length: count }, (_, index) => `td${String(index).padStart(4, "0")}.federated.example`);
}

/** Scenario 5a: updates carrying N federated trust domains, all written into the bundle file. */
export async function federation(context: BenchContext): Promise<FederationResult> {
  const { federatedTrustDomains: count, federatedRotations } = context.counts;
  return withTempDir("/tmp", "sbench-fed-", (socketDir) =>
    withTempDir("/dev/shm", "sbench-fed-", async (dir) => {
      const setupStarted = process.hrtime.bigint();
      const agent = await BenchAgent.start({ socketPath: join(socketDir, "agent.sock"), x509TtlSeconds: 3600, federatesWith: federatedNames(count) });
      const agentSetupMs = elapsedMs(setupStarted, process.hrtime.bigint());
      const tools: ToolName[] = context.helper === undefined ? ["ours"] : ["ours", "helper"];
      const columns: Partial<Record<ToolName, FederationColumn>> = {};
      try {
        // One tool at a time on the one agent: a push reaches only the sidecar being measured.
        for (const tool of tools) {
          const certDir = join(dir, tool);
          await mkdir(certDir);
          const spawned = process.hrtime.bigint();
          const sidecar = await startSidecarWithProbe(tool, dir, { agentSocket: agent.socketPath, certDir, x509: true, includeFederatedDomains: true }, context.helper);
          const firstWriteMs = elapsedMs(spawned, process.hrtime.bigint());
          const tally = new StepTally();
          try {
            await sleep(500);
            const cpuBefore = cpuMs(sidecar.pid);
            for (let index = 0; index < federatedRotations; index += 1) {
              await sidecarRotation(agent, sidecar.probe, tally);
              await sleep(20);
            }
            columns[tool] = {
              firstWriteMs,
              latencyMs: distribution(tally.latenciesMs),
              cpuMsPerUpdate: (cpuMs(sidecar.pid) - cpuBefore) / federatedRotations,
              rssKiB: rssKiB(sidecar.pid),
              failures: tally.failures,
            };
          } finally {
            await sidecar.stop();
          }
          if (tally.failures > 0) reportProblem(context, tool, "federation", `${tally.failures} failed updates; first: ${tally.errors[0] ?? "timeout"}`);
          const bundle = await readFile(join(certDir, "svid_bundle.pem"), "utf8");
          const written = bundle.split("BEGIN CERTIFICATE").length - 1;
          if (written !== count + 1) reportProblem(context, tool, "federation", `the bundle file holds ${written} certificates, not ${count + 1}`);
        }
      } finally {
        await agent.stop();
      }
      return { trustDomains: count, agentSetupMs, tools: columns };
    }),
  );
}

export interface JwtRefreshColumn {
  /** Spawn to all token files present. */
  readonly allWrittenMs: number;
  readonly refreshesSeen: number;
  /** CPU per refreshed token, in milliseconds. */
  readonly cpuMsPerToken: number;
  readonly rssKiB: number;
  /** Set when spiffe-helper only survived with one Go thread running at a time. */
  readonly gomaxprocs1?: boolean;
}

export interface JwtRefreshResult {
  readonly audiences: number;
  readonly jwtTtlSeconds: number;
  readonly seconds: number;
  readonly tools: Partial<Record<ToolName, JwtRefreshColumn>>;
}

async function readTokens(certDir: string, count: number): Promise<(string | undefined)[]> {
  return Promise.all(Array.from({ length: count }, (_, index) => readFile(join(certDir, jwtTokenFile(index)), "utf8").catch(() => undefined)));
}

class ToolCrashedError extends Error {}

interface JwtRefreshRun {
  readonly tool: ToolName;
  readonly dir: string;
  readonly agentSocket: string;
  readonly audiences: readonly string[];
  readonly seconds: number;
  readonly helper: string | undefined;
  readonly env?: Readonly<Record<string, string>>;
}

/** One daemon run: wait for every token, then count refreshes and CPU over the window. */
async function measureJwtRefresh(run: JwtRefreshRun): Promise<Omit<JwtRefreshColumn, "gomaxprocs1">> {
  const { tool, dir, audiences, seconds } = run;
  const count = audiences.length;
  const certDir = await mkdtemp(join(dir, `${tool}-`));
  const configPath = await writeConfig(tool, certDir, { agentSocket: run.agentSocket, certDir, x509: false, jwtAudiences: audiences, daemonMode: true });
  const { file, args } = commandFor(tool, configPath, run.helper);
  const stderrPath = join(certDir, "stderr.log");
  const stderrFd = openSync(stderrPath, "w");
  const spawned = process.hrtime.bigint();
  const child = spawnQuiet(file, args, dir, { stderrFd, ...(run.env === undefined ? {} : { env: run.env }) });
  closeSync(stderrFd);
  const checkAlive = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) return;
    const lines = (await readFile(stderrPath, "utf8").catch(() => "")).split("\n");
    const reason = lines.find((line) => /fatal|panic/i.test(line)) ?? lines.at(-2) ?? "";
    throw new ToolCrashedError(`${tool} exited with ${String(child.exitCode ?? child.signalCode)}: ${reason.trim()}`);
  };
  try {
    let tokens = await readTokens(certDir, count);
    while (tokens.some((token) => token === undefined)) {
      await checkAlive();
      if (elapsedMs(spawned, process.hrtime.bigint()) > 30_000) throw new Error(`${tool} did not write ${count} JWT-SVIDs within 30 s`);
      await sleep(10);
      tokens = await readTokens(certDir, count);
    }
    const allWrittenMs = elapsedMs(spawned, process.hrtime.bigint());
    if (child.pid === undefined) throw new Error(`${tool} has no pid`);
    const cpuBefore = cpuMs(child.pid);
    let refreshesSeen = 0;
    const deadline = Date.now() + seconds * 1000;
    while (Date.now() < deadline) {
      await sleep(100);
      const next = await readTokens(certDir, count);
      refreshesSeen += next.filter((token, index) => token !== undefined && token !== tokens[index]).length;
      tokens = next;
    }
    await checkAlive();
    const cpu = cpuMs(child.pid) - cpuBefore;
    return { allWrittenMs, refreshesSeen, cpuMsPerToken: refreshesSeen === 0 ? Number.NaN : cpu / refreshesSeen, rssKiB: rssKiB(child.pid) };
  } finally {
    await stopProcess(child);
  }
}

/**
 * Scenario 5b: a daemon keeping N JWT-SVIDs fresh, one audience each, on a short TTL.
 * spiffe-helper v0.11.0 updates one Go map from a goroutine per audience without a lock, and
 * with many audiences the Go runtime often aborts it ("concurrent map writes"). That is
 * reported as its problem, and it is measured again with GOMAXPROCS=1, where it survives.
 */
export async function jwtRefresh(context: BenchContext, jwtTtlSeconds: number): Promise<JwtRefreshResult> {
  const { jwtAudiences: count, jwtRefreshSeconds: seconds } = context.counts;
  const audiences = Array.from({ length: count }, (_, index) => `https://service-${index}.bench.example`);
  return withTempDir("/tmp", "sbench-jwt-", (socketDir) =>
    withTempDir("/dev/shm", "sbench-jwt-", async (dir) => {
      const agent = await BenchAgent.start({ socketPath: join(socketDir, "agent.sock"), x509TtlSeconds: 3600, jwtTtlSeconds });
      const tools: ToolName[] = context.helper === undefined ? ["ours"] : ["ours", "helper"];
      const columns: Partial<Record<ToolName, JwtRefreshColumn>> = {};
      try {
        for (const tool of tools) {
          const run: JwtRefreshRun = { tool, dir, agentSocket: agent.socketPath, audiences, seconds, helper: context.helper };
          try {
            columns[tool] = await measureJwtRefresh(run);
          } catch (error: unknown) {
            reportProblem(context, tool, "jwt refresh", error instanceof Error ? error.message : String(error));
            if (!(error instanceof ToolCrashedError) || tool !== "helper") continue;
            try {
              columns[tool] = { ...(await measureJwtRefresh({ ...run, env: { GOMAXPROCS: "1" } })), gomaxprocs1: true };
            } catch (retryError: unknown) {
              reportProblem(context, tool, "jwt refresh (GOMAXPROCS=1)", retryError instanceof Error ? retryError.message : String(retryError));
            }
          }
          const column = columns[tool];
          if (column !== undefined && column.refreshesSeen === 0) reportProblem(context, tool, "jwt refresh", `no token was refreshed in ${seconds} s with a ${jwtTtlSeconds} s TTL`);
        }
      } finally {
        await agent.stop();
      }
      return { audiences: count, jwtTtlSeconds, seconds, tools: columns };
    }),
  );
}
