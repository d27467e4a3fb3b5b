import { spawn } from "node:child_process";
import { once } from "node:events";
import { access, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { BenchAgent } from "../lib/bench-agent.js";
import type { BenchContext } from "../lib/context.js";
import { reportProblem, turnOf, withTempDir } from "../lib/context.js";
import { writeConfig } from "../lib/processes.js";
import { distribution, elapsedMs } from "../lib/stats.js";
import type { Distribution } from "../lib/stats.js";
import { BUNDLE_FILE, CERT_FILE, commandFor, jwtTokenFile, KEY_FILE, seaBinary } from "../lib/tools.js";
import type { SidecarSetup, ToolName } from "../lib/tools.js";
import { FILESYSTEM_DIRS } from "./rotation-latency.js";
import type { Filesystem } from "./rotation-latency.js";

/** "ours (single executable)": the same sidecar built by `npm run build:sea`, when there is one. */
export type OneShotContender = ToolName | "ours (single executable)" | "node -e 0";

export interface OneShotResult {
  readonly filesystem: Filesystem;
  readonly runs: number;
  /** Spawn to exit, every file written, in milliseconds. */
  readonly contenders: Partial<Record<OneShotContender, Distribution>>;
  readonly failures: Partial<Record<OneShotContender, number>>;
}

/** Spawns, waits for the exit, and returns the time on the harness's one monotonic clock. */
async function timeRun(file: string, args: readonly string[], cwd: string): Promise<{ ms: number; code: number | null }> {
  const started = process.hrtime.bigint();
  const child = spawn(file, args, { cwd, stdio: "ignore" });
  const [code] = (await once(child, "exit")) as [number | null];
  return { ms: elapsedMs(started, process.hrtime.bigint()), code };
}

async function allExist(paths: readonly string[]): Promise<boolean> {
  try {
    await Promise.all(paths.map((path) => access(path)));
    return true;
  } catch {
    return false;
  }
}

export interface OneShotPlan {
  readonly label: string;
  readonly runs: number;
  readonly filesystem: Filesystem;
  /** What each run writes, besides the agent address and the cert_dir. */
  readonly setup: Omit<SidecarSetup, "agentSocket" | "certDir" | "daemonMode">;
  /** With the bare runtime as a floor, and the single executable beside the npm build. */
  readonly withNodeFloor: boolean;
  readonly agentOptions?: { readonly jwtTtlSeconds?: number };
}

/** Names of the files a plan's run must leave behind. */
function expectedFiles(setup: OneShotPlan["setup"], certDir: string): string[] {
  const x509 = setup.x509 ? [CERT_FILE, KEY_FILE, BUNDLE_FILE] : [];
  const jwt = (setup.jwtAudiences ?? []).map((_, index) => jwtTokenFile(index));
  return [...x509, ...jwt].map((name) => join(certDir, name));
}

/**
 * Scenario 2 (and the JWT half of 5): a one-shot run from spawn to exit with every file
 * written, alternating the contenders run by run. Each run gets an empty cert_dir.
 */
export async function oneShot(context: BenchContext, plan: OneShotPlan): Promise<OneShotResult> {
  return withTempDir("/tmp", "sbench-once-", (socketDir) =>
    withTempDir(FILESYSTEM_DIRS[plan.filesystem], "sbench-once-", async (dir) => {
      const agent = await BenchAgent.start({ socketPath: join(socketDir, "agent.sock"), x509TtlSeconds: 3600, ...plan.agentOptions });
      const tools: ToolName[] = context.helper === undefined ? ["ours"] : ["ours", "helper"];
      const sea = plan.withNodeFloor ? seaBinary() : undefined;
      const contenders: OneShotContender[] = [...tools, ...(sea === undefined ? [] : (["ours (single executable)"] as const)), ...(plan.withNodeFloor ? (["node -e 0"] as const) : [])];
      const times = new Map<OneShotContender, number[]>(contenders.map((contender) => [contender, []]));
      const failures: Partial<Record<OneShotContender, number>> = {};
      try {
        for (let run = 0; run < plan.runs; run += 1) {
          for (let turn = 0; turn < contenders.length; turn += 1) {
            const contender = turnOf(contenders, run, turn);
            const runDir = join(dir, `${run}-${turn}`);
            const certDir = join(runDir, "certs");
            await mkdir(certDir, { recursive: true });
            let command: { file: string; args: string[] };
            if (contender === "node -e 0") {
              command = { file: process.execPath, args: ["-e", "0"] };
            } else {
              const tool = contender === "ours (single executable)" ? "ours" : contender;
              const configPath = await writeConfig(tool, runDir, { ...plan.setup, agentSocket: agent.socketPath, certDir, daemonMode: false });
              command = commandFor(tool, configPath, context.helper);
              if (contender === "ours (single executable)" && sea !== undefined) command = { file: sea, args: ["run", "-c", configPath] };
            }
            const { ms, code } = await timeRun(command.file, command.args, runDir);
            const written = contender === "node -e 0" || (await allExist(expectedFiles(plan.setup, certDir)));
            if (code !== 0 || !written) {
              failures[contender] = (failures[contender] ?? 0) + 1;
              reportProblem(context, contender, plan.label, `run ${run} exited with ${String(code)}${written ? "" : " without writing every file"}`);
            } else {
              times.get(contender)?.push(ms);
            }
          }
        }
      } finally {
        await agent.stop();
      }
      const result: Partial<Record<OneShotContender, Distribution>> = {};
      for (const [contender, values] of times) result[contender] = distribution(values);
      return { filesystem: plan.filesystem, runs: plan.runs, contenders: result, failures };
    }),
  );
}
