import { spawn } from "node:child_process";
import type { ChildProcess, SpawnOptions } from "node:child_process";
import { performance } from "node:perf_hooks";
import type { ChildExit } from "./child-exit.js";
import { groupExists, signalGroup } from "./process-group.js";
import { startWatchdog } from "./watchdog.js";
import type { Watchdog } from "./watchdog.js";

export interface ChildGroupOptions {
  /** How long the watchdog waits between SIGTERM and SIGKILL after the sidecar died. */
  readonly gracePeriodMs: number;
  /** Told when no watchdog could be started for this child. */
  readonly onWatchdogUnavailable: (error: Error) => void;
}

/**
 * One started child process, the leader of its own process group (so it and everything it
 * starts can be stopped together, and a terminal's Ctrl-C reaches it once, through us). Its
 * `exit` listener is attached in the same tick as the spawn, so the exit is never missed and
 * Node (libuv) always reaps the process: no zombie.
 */
export class RunningChild {
  /** Always set once the OS has started the process; Node types it as optional. */
  readonly pid: number | undefined;
  /** `performance.now()` when the OS started it; for the start-up grace and the backoff reset. */
  readonly startedAt: number;
  /** Settles once the process has exited and been reaped. Never rejects. */
  readonly exited: Promise<ChildExit>;
  readonly #process: ChildProcess;
  readonly #watchdog: Watchdog;

  private constructor(child: ChildProcess, exited: Promise<ChildExit>, watchdog: Watchdog) {
    this.#process = child;
    this.pid = child.pid;
    this.startedAt = performance.now();
    this.exited = exited;
    this.#watchdog = watchdog;
  }

  /**
   * Starts `cmd` without a shell, in a new process group (`detached`: setsid, which also
   * detaches it from the terminal). Resolves once the OS has started it; rejects with the
   * system error (`ENOENT`, `EACCES`, ...) when it cannot be started.
   */
  static spawn(cmd: string, args: readonly string[], options: SpawnOptions, group: ChildGroupOptions): Promise<RunningChild> {
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { ...options, detached: true });
      const exited = new Promise<ChildExit>((resolveExit) => {
        child.once("exit", (code, signal) => resolveExit({ code, signal }));
      });
      const onSpawnError = (error: Error): void => reject(error);
      child.once("error", onSpawnError);
      child.once("spawn", () => {
        child.off("error", onSpawnError);
        // After a successful start, `error` only reports a signal that could not be sent;
        // kill() already returns false for that, and an unhandled `error` would crash us.
        child.on("error", () => undefined);
        const watchdog =
          child.pid === undefined
            ? { pid: undefined, disarm: () => undefined }
            : startWatchdog(child.pid, group.gracePeriodMs, group.onWatchdogUnavailable);
        resolve(new RunningChild(child, exited, watchdog));
      });
    });
  }

  /**
   * Sends a signal to the child alone; false when it has already exited (Node then sends
   * nothing, so a reused PID is never hit).
   */
  kill(signal: NodeJS.Signals): boolean {
    return this.#process.kill(signal);
  }

  /**
   * Sends a signal to the child's whole process group, descendants that stayed in it
   * included; false when nobody is left in it.
   */
  killGroup(signal: NodeJS.Signals): boolean {
    if (this.pid === undefined) return false;
    return signalGroup(this.pid, signal);
  }

  /** True while any process of the child's group exists. */
  get groupAlive(): boolean {
    return this.pid !== undefined && groupExists(this.pid);
  }

  /** The group is gone (or given up on): the watchdog may go. */
  releaseWatchdog(): void {
    this.#watchdog.disarm();
  }
}
