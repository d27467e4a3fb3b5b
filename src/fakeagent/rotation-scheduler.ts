import { setTimeout as sleep } from "node:timers/promises";

/**
 * When the next rotation is due: at half of the TTL, as SPIRE rotates SVIDs, plus a uniform
 * random jitter so that many agents (or many identities) do not push in lock-step.
 */
export function halfLifeDelayMs(ttlSeconds: number, jitterMs: number, random: () => number = Math.random): number {
  return Math.round((ttlSeconds * 1000) / 2 + jitterMs * random());
}

/** After a failed rotation, try again this soon (never later than the half-life). */
const RETRY_AFTER_FAILURE_MS = 1000;

/**
 * Runs `rotate` once per half-life. Rescheduling replaces the pending timer, so an early
 * rotation (rotateNow, a config change) restarts the clock. Every timer is unref'd: the gRPC
 * server, not the scheduler, keeps a process alive, and `stop` clears everything.
 */
export class RotationScheduler {
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(
    private readonly rotate: () => Promise<void>,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Schedules the next rotation `delayMs` from now, replacing any pending one. */
  schedule(delayMs: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.rotate().catch((error: unknown) => {
        this.onError(error);
        this.schedule(Math.min(RETRY_AFTER_FAILURE_MS, delayMs));
      });
    }, delayMs);
    this.#timer.unref();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/**
 * The waits between the steps of a CA or JWT key rotation. `stop` aborts them all, and a
 * step whose wait was aborted does not run.
 */
export class StepTimers {
  readonly #abort = new AbortController();

  /** Resolves true after `ms`, or false at once if (or when) the timers are stopped. */
  async wait(ms: number): Promise<boolean> {
    if (this.#abort.signal.aborted) return false;
    try {
      await sleep(ms, undefined, { signal: this.#abort.signal, ref: false });
      return true;
    } catch (error: unknown) {
      if (this.#abort.signal.aborted) return false;
      throw error;
    }
  }

  stop(): void {
    this.#abort.abort();
  }
}
