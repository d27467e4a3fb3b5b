import { runCli, sidecarBin, type CliResult } from "../support/run-cli.js";

export interface RunInOptions {
  /** Working directory: spiffe-helper's default `helper.conf` is read from here. */
  readonly cwd: string;
  /** Added to PATH only, so the runner's SPIFFE_ENDPOINT_SOCKET never leaks in. */
  readonly env?: NodeJS.ProcessEnv;
  /** SIGKILL after this long: a hang fails the test instead of stalling the run. @default 30 s */
  readonly timeoutMs?: number;
}

/** Runs the built `spiffe-sidecar` with `args` in `cwd` to completion. */
export function runSidecarIn(args: readonly string[], options: RunInOptions): Promise<CliResult> {
  return runCli(sidecarBin, args, { PATH: process.env["PATH"], ...options.env }, {
    cwd: options.cwd,
    timeoutMs: options.timeoutMs ?? 30_000,
  });
}

/** The `msg` of every JSON log line on stdout, in order. */
export function logMessages(stdout: string): string[] {
  return stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => String((JSON.parse(line) as { msg?: unknown }).msg));
}
