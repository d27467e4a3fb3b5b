import { spawn } from "node:child_process";
import type { ChildProcess, SpawnOptions } from "node:child_process";
import { performance } from "node:perf_hooks";
import type { ChildExit } from "./child-exit.js";

/**
 * One started child process. Its `exit` listener is attached in the same tick as the spawn, so
 * the exit is never missed and Node (libuv) always reaps the process: no zombie.
 */
export class RunningChild {
  /** Always set once the OS has started the process; Node types it as optional. */
  readonly pid: number | undefined;
  /** `performance.now()` when the OS started it; for the restart backoff reset. */
  readonly startedAt: number;
  /** Settles once the process has exited and been reaped. Never rejects. */
  readonly exited: Promise<ChildExit>;
  readonly #process: ChildProcess;

  private constructor(child: ChildProcess, exited: Promise<ChildExit>) {
    this.#process = child;
    this.pid = child.pid;
    this.startedAt = performance.now();
    this.exited = exited;
  }

  /**
   * Starts `cmd` without a shell. Resolves once the OS has started it; rejects with the system
   * error (`ENOENT`, `EACCES`, ...) when it cannot be started.
   */
  static spawn(cmd: string, args: readonly string[], options: SpawnOptions): Promise<RunningChild> {
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, args, options);
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
        resolve(new RunningChild(child, exited));
      });
    });
  }

  /**
   * Sends a signal; false when the process has already exited (Node then sends nothing, so a
   * reused PID is never hit).
   */
  kill(signal: NodeJS.Signals): boolean {
    return this.#process.kill(signal);
  }
}
