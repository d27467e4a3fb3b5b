import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The built entry points: tests exercise what users run, so `npm test` builds first. */
export const sidecarBin = fileURLToPath(new URL("../../dist/bin/spiffe-sidecar.js", import.meta.url));
export const fakeAgentBin = fileURLToPath(new URL("../../dist/bin/spiffe-fake-agent.js", import.meta.url));

export interface RunCliOptions {
  readonly cwd?: string;
  /** SIGKILL after this long, so a hang fails the test instead of stalling the run. */
  readonly timeoutMs?: number;
}

/** Runs a CLI to completion and collects its output. */
export function runCli(
  bin: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  options: RunCliOptions = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: options.cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => child.kill("SIGKILL"), options.timeoutMs);
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
