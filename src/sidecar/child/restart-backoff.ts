/**
 * The wait before cmd is started again under `on-failure` and `always`, as the README says it
 * works: the wait doubles from `initialMs` up to `maxMs`, each draw moved by up to ±`jitter` of
 * itself (never above `maxMs`), and starts over only once a child has stayed up for a while.
 *
 * The Workload API reconnect (src/workloadapi/backoff.ts) once used decorrelated jitter, which
 * may fall back while failures continue and made a crash-looping child restart faster after
 * slower (issue 13, item 5). Here the sequence only grows until it is reset.
 */
export interface RestartBackoffOptions {
  /** @default 1000 */
  readonly initialMs?: number;
  /** @default 30000 */
  readonly maxMs?: number;
  /**
   * The largest share of a delay the jitter moves it by; 0.2 spreads restarts of many sidecars
   * whose apps fail together without hiding the doubling.
   * @default 0.2
   */
  readonly jitter?: number;
  /**
   * Uniform numbers in [0, 1); tests inject fixed ones.
   * @default Math.random
   */
  readonly random?: () => number;
}

export const DEFAULT_RESTART_INITIAL_MS = 1_000;
export const DEFAULT_RESTART_MAX_MS = 30_000;
export const DEFAULT_RESTART_JITTER = 0.2;
/** A child up this long (or `maxMs`, if longer) is past its crash loop. */
export const MIN_STABLE_AFTER_MS = 10_000;

/**
 * The delay before restart number `attempt` (0 for the first restart after a reset), given one
 * uniform draw `random` in [0, 1).
 */
export function restartDelayMs(
  attempt: number,
  random: number,
  options: Pick<RestartBackoffOptions, "initialMs" | "maxMs" | "jitter"> = {},
): number {
  const maxMs = options.maxMs ?? DEFAULT_RESTART_MAX_MS;
  const initialMs = Math.min(options.initialMs ?? DEFAULT_RESTART_INITIAL_MS, maxMs);
  const jitter = options.jitter ?? DEFAULT_RESTART_JITTER;
  // 2^attempt overflows to Infinity long after the cap is reached; min() keeps it finite.
  const baseMs = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt));
  const jitteredMs = baseMs * (1 + jitter * (2 * random - 1));
  return Math.round(Math.min(maxMs, Math.max(0, jitteredMs)));
}

/** How long a child must stay up for the next failure to start the sequence over. */
export function stableAfterMs(maxMs: number): number {
  return Math.max(MIN_STABLE_AFTER_MS, maxMs);
}

/** The restart sequence of one supervisor. */
export class RestartBackoff {
  readonly #options: Required<Omit<RestartBackoffOptions, "random">>;
  readonly #random: () => number;
  #attempt = 0;

  constructor(options: RestartBackoffOptions = {}) {
    const maxMs = options.maxMs ?? DEFAULT_RESTART_MAX_MS;
    const jitter = options.jitter ?? DEFAULT_RESTART_JITTER;
    if (!(Number.isFinite(maxMs) && maxMs >= 0)) {
      throw new RangeError(`restart backoff maxMs must be a non-negative number of milliseconds, got ${maxMs}`);
    }
    if (!(jitter >= 0 && jitter < 1)) throw new RangeError(`restart backoff jitter must be in [0, 1), got ${jitter}`);
    this.#options = { initialMs: options.initialMs ?? DEFAULT_RESTART_INITIAL_MS, maxMs, jitter };
    this.#random = options.random ?? Math.random;
  }

  /** The longest delay; also what `stableAfterMs()` is derived from. */
  get maxMs(): number {
    return this.#options.maxMs;
  }

  /** The delay before the next restart; each call doubles the base of the one after. */
  next(): number {
    const delayMs = restartDelayMs(this.#attempt, this.#random(), this.#options);
    this.#attempt += 1;
    return delayMs;
  }

  /** After a child stayed up `stableAfterMs(maxMs)`: the next restart waits `initialMs` again. */
  reset(): void {
    this.#attempt = 0;
  }
}
