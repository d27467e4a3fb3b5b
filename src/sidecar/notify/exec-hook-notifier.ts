import { explainSpawnFailure } from "../child/child-exit.js";
import { hookEnvironment } from "./hook-environment.js";
import { NotifyError, notifyFailed, notifySucceeded } from "./notifier.js";
import type { AppNotifier, NotifyReason, NotifyResult } from "./notifier.js";

export interface ExecHookNotifierOptions {
  /** The program, e.g. `nginx`, `pg_ctl`, `systemctl`. */
  readonly command: string;
  /** @default [] */
  readonly args?: readonly string[];
  /**
   * How long the hook may run before it is killed (SIGTERM, then SIGKILL).
   * @default 30000
   */
  readonly timeoutMs?: number;
  /**
   * How long a timed-out hook has between SIGTERM and SIGKILL.
   * @default 5000
   */
  readonly killGraceMs?: number;
  /**
   * Run `command` through `/bin/sh -c`. Off unless asked for, so arguments are never
   * re-split or expanded.
   * @default false
   */
  readonly shell?: boolean;
  /**
   * How many of the hook's last stderr lines go into the failure message.
   * @default 10
   */
  readonly stderrTailLines?: number;
  /** Where the config names the hook, for messages. @default "exec_hook" */
  readonly configKey?: string;
}

const MAX_LINE_LENGTH = 500;

/** Keeps only the last lines of a stream, so a chatty hook cannot grow our memory. */
class LineTail {
  readonly #lines: string[] = [];
  readonly #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
  }

  push(line: string): void {
    this.#lines.push(line.length > MAX_LINE_LENGTH ? `${line.slice(0, MAX_LINE_LENGTH)}…` : line);
    if (this.#lines.length > this.#limit) this.#lines.shift();
  }

  describe(): string {
    const lines = this.#lines.filter((line) => line.trim() !== "");
    return lines.length === 0 ? "no stderr output" : `stderr: ${lines.join(" | ")}`;
  }
}

/**
 * Runs a reload command (`nginx -s reload`, `pg_ctl reload`, `systemctl reload x`) once per
 * update, telling it in its environment what changed (see `hook-environment.ts`). Its failure
 * or timeout is reported in the result, never thrown (DESIGN §6).
 */
export class ExecHookNotifier implements AppNotifier {
  readonly kind = "exec-hook";
  readonly #command: string;
  readonly #args: readonly string[];
  readonly #timeoutMs: number;
  readonly #killGraceMs: number;
  readonly #shell: boolean;
  readonly #tailLines: number;
  readonly #configKey: string;

  constructor(options: ExecHookNotifierOptions) {
    this.#command = options.command;
    this.#args = options.args ?? [];
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#killGraceMs = options.killGraceMs ?? 5_000;
    this.#shell = options.shell ?? false;
    this.#tailLines = options.stderrTailLines ?? 10;
    this.#configKey = options.configKey ?? "exec_hook";
  }

  async notify(reason: NotifyReason): Promise<NotifyResult> {
    const tail = new LineTail(this.#tailLines);
    // Loaded on the first run: execa is over a hundred modules that a sidecar without a hook
    // would load at every start for nothing.
    const { execa } = await import("execa");
    const result = await execa(this.#command, this.#args, {
      reject: false,
      shell: this.#shell,
      timeout: this.#timeoutMs,
      killSignal: "SIGTERM",
      forceKillAfterDelay: this.#killGraceMs,
      stdin: "ignore",
      env: hookEnvironment(reason),
      // Our stdout carries JSON log lines; the hook's output must not be mixed into it.
      stdout: "ignore",
      // A transform that yields nothing: each line goes to the tail, nothing is buffered.
      stderr: function* (line: unknown) {
        tail.push(String(line));
      },
    });
    const name = `exec hook "${this.#command}"`;
    if (result.timedOut) {
      const how = result.isForcefullyTerminated ? "SIGKILL" : (result.signal ?? "SIGTERM");
      const message = `${name} did not finish within ${this.#timeoutMs} ms and was killed with ${how}`;
      return this.#failed("hook-timeout", `${message}; ${tail.describe()}`, result.cause);
    }
    if (result.exitCode === undefined && result.signal === undefined) {
      const why = explainSpawnFailure(result.code, result.cause);
      return this.#failed("hook-start", `cannot run ${name}: ${why}; check ${this.#configKey}`, result.cause);
    }
    if (result.signal !== undefined) {
      return this.#failed("hook-failed", `${name} was killed by ${result.signal}; ${tail.describe()}`, result.cause);
    }
    if (result.exitCode !== 0) {
      const message = `${name} exited with code ${result.exitCode}; ${tail.describe()}`;
      return this.#failed("hook-failed", message, result.cause);
    }
    return notifySucceeded(this.kind, `${name} succeeded in ${Math.round(result.durationMs)} ms`);
  }

  #failed(failure: "hook-start" | "hook-failed" | "hook-timeout", message: string, cause: unknown): NotifyResult {
    return notifyFailed(new NotifyError(this.kind, failure, message, cause === undefined ? {} : { cause }));
  }
}
