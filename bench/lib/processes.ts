import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ProbeChannel } from "./probe-channel.js";
import { commandFor, helperConfig, ourConfig } from "./tools.js";
import type { SidecarSetup, ToolName } from "./tools.js";

const running = new Set<ChildProcess>();

/** Kills whatever the harness started and is still running; for an aborted run. */
export function killAll(): void {
  for (const child of running) child.kill("SIGKILL");
}

export interface SpawnOptions {
  /** Keeps stderr in this file descriptor, to explain a crash. */
  readonly stderrFd?: number;
  /** Added to the harness's environment. */
  readonly env?: Readonly<Record<string, string>>;
}

/** Spawns with output discarded: both tools log every rotation, and /dev/null costs nothing. */
export function spawnQuiet(file: string, args: readonly string[], cwd: string, options: SpawnOptions = {}): ChildProcess {
  const child = spawn(file, args, {
    cwd,
    stdio: ["ignore", "ignore", options.stderrFd ?? "ignore"],
    env: { ...process.env, ...options.env },
  });
  running.add(child);
  child.once("exit", () => running.delete(child));
  return child;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export async function waitForExit(child: ChildProcess, timeoutMs: number): Promise<Exit | undefined> {
  if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, signal: child.signalCode };
  const timer = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), timeoutMs).unref());
  const exited = once(child, "exit").then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  return Promise.race([exited, timer]);
}

/** SIGTERM, then SIGKILL if it is still there after `graceMs`. */
export async function stopProcess(child: ChildProcess, graceMs = 5000): Promise<Exit | undefined> {
  if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, signal: child.signalCode };
  child.kill("SIGTERM");
  const exit = await waitForExit(child, graceMs);
  if (exit !== undefined) return exit;
  child.kill("SIGKILL");
  return waitForExit(child, graceMs);
}

export async function writeConfig(tool: ToolName, dir: string, setup: SidecarSetup): Promise<string> {
  const path = join(dir, tool === "ours" ? "sidecar.yaml" : "helper.conf");
  await writeFile(path, tool === "ours" ? ourConfig(setup) : helperConfig(setup));
  return path;
}

/** A sidecar in daemon mode with the probe as its child, started and through its first write. */
export interface RunningSidecar {
  readonly tool: ToolName;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly probe: ProbeChannel;
  readonly probePid: number;
  stop(): Promise<void>;
}

export async function startSidecarWithProbe(
  tool: ToolName,
  dir: string,
  setup: Omit<SidecarSetup, "probe" | "daemonMode">,
  helper: string | undefined,
  startTimeoutMs = 30_000,
): Promise<RunningSidecar> {
  const probe = await ProbeChannel.listen(join(dir, `${tool}-probe.sock`));
  const configPath = await writeConfig(tool, dir, { ...setup, daemonMode: true, probe: { reportSocket: probe.socketPath } });
  const { file, args } = commandFor(tool, configPath, helper);
  const child = spawnQuiet(file, args, dir);
  const exited = once(child, "exit").then(([code]) => {
    throw new Error(`${tool} exited with ${String(code)} before its probe started (config ${configPath})`);
  });
  exited.catch(() => {});
  const start = await Promise.race([probe.nextStart(startTimeoutMs), exited]);
  if (start.error !== undefined) throw new Error(`${tool}: the probe's first read failed: ${start.error}`);
  if (child.pid === undefined) throw new Error(`${tool} has no pid`);
  return {
    tool,
    child,
    pid: child.pid,
    probe,
    probePid: start.pid,
    async stop() {
      await stopProcess(child);
      await probe.close();
    },
  };
}
