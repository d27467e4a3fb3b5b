/**
 * Retry delays: exponential with bounded jitter. The n-th delay after a reset (n = 0, 1, ...) is
 * drawn uniformly from [(1 − jitter) × base, base], where base = min(max, initial × 2^n).
 *
 * Why this shape: the delay doubles while failures go on and never falls back on its own (with
 * jitter ≤ 0.5 the lowest draw of one step is at least the highest of the previous one), so a
 * crash loop or an absent agent is retried ever more slowly up to the cap, as the README says;
 * the jitter still spreads the reconnects of many sidecars on one node after the agent restarts.
 * The delay goes back to `initial` only through `reset()`, which callers make after a success:
 * a good stream message, a token written, a child that stayed up (DESIGN §3.4).
 */
export interface BackoffOptions {
  /**
   * The first delay (before jitter).
   * @default 1000
   */
  readonly initialMs?: number;
  /**
   * The longest delay.
   * @default 30000
   */
  readonly maxMs?: number;
  /**
   * How far below the exponential step a draw may fall, as a fraction in [0, 0.5].
   * @default 0.2
   */
  readonly jitter?: number;
  /**
   * A source of uniform numbers in [0, 1); tests inject a fixed one (1 draws the full step).
   * @default Math.random
   */
  readonly random?: () => number;
}

export const DEFAULT_INITIAL_BACKOFF_MS = 1_000;
export const DEFAULT_MAX_BACKOFF_MS = 30_000;
export const DEFAULT_BACKOFF_JITTER = 0.2;

export class Backoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #jitter: number;
  readonly #random: () => number;
  #attempts = 0;

  constructor(options: BackoffOptions = {}) {
    const initialMs = options.initialMs ?? DEFAULT_INITIAL_BACKOFF_MS;
    const maxMs = options.maxMs ?? DEFAULT_MAX_BACKOFF_MS;
    const jitter = options.jitter ?? DEFAULT_BACKOFF_JITTER;
    if (!(Number.isFinite(initialMs) && initialMs > 0)) {
      throw new RangeError(`backoff initialMs must be a positive number of milliseconds, got ${initialMs}`);
    }
    if (!(Number.isFinite(maxMs) && maxMs >= initialMs)) {
      throw new RangeError(`backoff maxMs must be at least initialMs (${initialMs}), got ${maxMs}`);
    }
    if (!(jitter >= 0 && jitter <= 0.5)) {
      throw new RangeError(`backoff jitter must be a fraction from 0 to 0.5 (so delays never shrink), got ${jitter}`);
    }
    this.#initialMs = initialMs;
    this.#maxMs = maxMs;
    this.#jitter = jitter;
    this.#random = options.random ?? Math.random;
  }

  /** How many delays were handed out since the last reset. */
  get attempts(): number {
    return this.#attempts;
  }

  /** The longest delay, which `next()` reaches after enough failures. */
  get maxMs(): number {
    return this.#maxMs;
  }

  /** The delay before the next attempt, in whole milliseconds. */
  next(): number {
    // 2^n overflows to Infinity long after it passed any cap; min() keeps it finite.
    const baseMs = Math.min(this.#maxMs, this.#initialMs * 2 ** this.#attempts);
    const drawn = baseMs * (1 - this.#jitter + this.#jitter * this.#random());
    this.#attempts += 1;
    return Math.max(1, Math.round(Math.min(baseMs, drawn)));
  }

  /** Starts over from `initial`; called once an attempt has succeeded. */
  reset(): void {
    this.#attempts = 0;
  }
}
