import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { describeError } from "../../errors.js";
import { systemErrorCode } from "../child/child-exit.js";
import { NotifyError, notifyFailed, notifySucceeded, notifySuperseded } from "./notifier.js";
import type { AppNotifier, NotifyFailure, NotifyOptions, NotifyResult } from "./notifier.js";

export interface PidFileNotifierOptions {
  /** spiffe-helper's `pid_file_name`. */
  readonly pidFilePath: string;
  /** spiffe-helper's `renew_signal`. */
  readonly signal: NodeJS.Signals;
  /**
   * Tries before giving up when the file or the process is missing: the app may be
   * restarting and about to write a new PID. With the delays below, spiffe-helper's patience
   * (k8s wait.Backoff{Steps: 10, Duration: 100ms, Factor: 2, Jitter: 0.1}): about 51 s.
   * @default 10
   */
  readonly attempts?: number;
  /**
   * The first wait; each next one doubles.
   * @default 100
   */
  readonly retryDelayMs?: number;
  /**
   * Each wait is lengthened by up to this share of itself, as spiffe-helper's does.
   * @default 0.1
   */
  readonly jitter?: number;
  /** @default Math.random */
  readonly random?: () => number;
  /**
   * Waits between tries, rejecting when `signal` aborts; tests replace it.
   * @default node:timers/promises setTimeout
   */
  readonly sleep?: (ms: number, signal: AbortSignal | undefined) => Promise<unknown>;
}

/**
 * The wait after failed try number `attempt` (1-based): `retryDelayMs` doubled per try,
 * plus up to `jitter` of it.
 */
export function pidFileRetryDelayMs(attempt: number, retryDelayMs: number, jitter: number, random: number): number {
  const baseMs = retryDelayMs * 2 ** (attempt - 1);
  return Math.round(baseMs * (1 + jitter * random));
}

export type PidFileContents =
  | { readonly ok: true; readonly pid: number }
  | { readonly ok: false; readonly problem: "empty" | "invalid" };

/** Largest pid_t; Linux PIDs stay far below it. */
const MAX_PID = 2 ** 31 - 1;

/**
 * Reads a PID file strictly: the first line holds one positive decimal number, optionally
 * surrounded by whitespace. Later lines are ignored because PostgreSQL's `postmaster.pid` puts
 * the postmaster's PID on line 1 and its data directory, port and socket after it. Anything
 * else is refused rather than guessed at, so a wrong path never signals an unrelated process.
 */
export function parsePidFileContents(text: string): PidFileContents {
  if (text.trim() === "") return { ok: false, problem: "empty" };
  const firstLine = (text.split("\n", 1)[0] ?? "").trim();
  if (!/^[1-9][0-9]{0,9}$/.test(firstLine)) return { ok: false, problem: "invalid" };
  const pid = Number(firstLine);
  return pid <= MAX_PID ? { ok: true, pid } : { ok: false, problem: "invalid" };
}

/** Missing files and processes are what a restarting app looks like for a moment. */
const RETRYABLE: ReadonlySet<NotifyFailure> = new Set(["pid-file-missing", "pid-file-empty", "process-missing"]);

/**
 * Sends `renew_signal` to the process named by `pid_file_name`. The file is read again on every
 * update, because the app writes a new PID each time it restarts.
 */
export class PidFileNotifier implements AppNotifier {
  readonly kind = "pid-file";
  readonly #path: string;
  readonly #signal: NodeJS.Signals;
  readonly #attempts: number;
  readonly #retryDelayMs: number;
  readonly #jitter: number;
  readonly #random: () => number;
  readonly #sleep: (ms: number, signal: AbortSignal | undefined) => Promise<unknown>;

  constructor(options: PidFileNotifierOptions) {
    this.#path = options.pidFilePath;
    this.#signal = options.signal;
    this.#attempts = Math.max(1, options.attempts ?? 10);
    this.#retryDelayMs = options.retryDelayMs ?? 100;
    this.#jitter = options.jitter ?? 0.1;
    this.#random = options.random ?? Math.random;
    this.#sleep = options.sleep ?? ((ms, signal) => sleep(ms, undefined, signal === undefined ? {} : { signal }));
  }

  /**
   * Signals the process the file names, retrying while the file or process is missing. A
   * newer update (`options.superseded`) ends the waiting: it reads the file afresh itself.
   */
  async notify(_reason?: unknown, options: NotifyOptions = {}): Promise<NotifyResult> {
    const superseded = options.superseded;
    for (let attempt = 1; ; attempt += 1) {
      const result = await this.#signalOnce();
      if (result.ok) return notifySucceeded(this.kind, result.detail);
      if (!RETRYABLE.has(result.error.failure) || attempt >= this.#attempts) {
        const tries = attempt === 1 ? "" : ` (tried ${attempt} times)`;
        const error = new NotifyError(this.kind, result.error.failure, `${result.error.message}${tries}`, {
          cause: result.error.cause,
        });
        return notifyFailed(error);
      }
      if (superseded?.aborted === true) return this.#superseded(attempt, result.error);
      try {
        await this.#sleep(pidFileRetryDelayMs(attempt, this.#retryDelayMs, this.#jitter, this.#random()), superseded);
      } catch {
        return this.#superseded(attempt, result.error);
      }
    }
  }

  #superseded(attempt: number, error: NotifyError): NotifyResult {
    return notifySuperseded(
      this.kind,
      `stopped retrying after ${attempt} tries (${error.failure}): a newer update signals the process instead`,
    );
  }

  async #signalOnce(): Promise<{ ok: true; detail: string } | { ok: false; error: NotifyError }> {
    let text: string;
    try {
      text = await readFile(this.#path, "utf8");
    } catch (error: unknown) {
      if (systemErrorCode(error) === "ENOENT") return this.#failure("pid-file-missing", "does not exist", error);
      return this.#failure("pid-file-unreadable", `cannot be read: ${describeError(error)}`, error);
    }
    const contents = parsePidFileContents(text);
    if (!contents.ok) {
      // The contents are never quoted: a mistyped path could point at a key file.
      return contents.problem === "empty"
        ? this.#failure("pid-file-empty", "is empty")
        : this.#failure("pid-file-invalid", "must hold one positive decimal PID and nothing else");
    }
    try {
      process.kill(contents.pid, this.#signal);
      return { ok: true, detail: `sent ${this.#signal} to PID ${contents.pid} from ${this.#path}` };
    } catch (error: unknown) {
      const pid = `names PID ${contents.pid}`;
      switch (systemErrorCode(error)) {
        case "ESRCH":
          return this.#failure("process-missing", `${pid}, which is not running`, error);
        case "EPERM":
          return this.#failure("permission-denied", `${pid}, which this user may not signal`, error);
        default:
          return this.#failure("signal-failed", `${pid}; sending failed: ${describeError(error)}`, error);
      }
    }
  }

  #failure(failure: NotifyFailure, problem: string, cause?: unknown): { ok: false; error: NotifyError } {
    const message = `cannot send ${this.#signal} to the app: pid file ${this.#path} ${problem}; check pid_file_name`;
    return { ok: false, error: new NotifyError(this.kind, failure, message, cause === undefined ? {} : { cause }) };
  }
}
