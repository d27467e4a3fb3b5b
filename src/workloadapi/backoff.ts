/**
 * Reconnect delays with "decorrelated jitter" (Brooker, AWS Architecture Blog, 2015): each
 * delay is drawn uniformly from [initial, 3 × previous] and capped.
 *
 * Why this jitter rather than "full jitter" (uniform in [0, initial × 2^n]): full jitter can
 * draw delays close to zero, and against a local socket whose agent is down that turns into a
 * burst of connection attempts. Decorrelated jitter never waits less than `initial`, still grows
 * about exponentially, and still spreads the reconnects of many sidecars on one node after the
 * agent restarts. The delay goes back to `initial` only through `reset()`, which the stream
 * supervisor calls after a good message (DESIGN §3.4).
 */
export interface BackoffOptions {
  /**
   * The shortest delay, and the floor of every draw.
   * @default 1000
   */
  readonly initialMs?: number;
  /**
   * The longest delay.
   * @default 30000
   */
  readonly maxMs?: number;
  /**
   * A source of uniform numbers in [0, 1); tests inject a fixed one.
   * @default Math.random
   */
  readonly random?: () => number;
}

export const DEFAULT_INITIAL_BACKOFF_MS = 1_000;
export const DEFAULT_MAX_BACKOFF_MS = 30_000;

export class Backoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #random: () => number;
  #previousMs: number;
  #attempts = 0;

  constructor(options: BackoffOptions = {}) {
    const initialMs = options.initialMs ?? DEFAULT_INITIAL_BACKOFF_MS;
    const maxMs = options.maxMs ?? DEFAULT_MAX_BACKOFF_MS;
    if (!(Number.isFinite(initialMs) && initialMs > 0)) {
      throw new RangeError(`backoff initialMs must be a positive number of milliseconds, got ${initialMs}`);
    }
    if (!(Number.isFinite(maxMs) && maxMs >= initialMs)) {
      throw new RangeError(`backoff maxMs must be at least initialMs (${initialMs}), got ${maxMs}`);
    }
    this.#initialMs = initialMs;
    this.#maxMs = maxMs;
    this.#random = options.random ?? Math.random;
    this.#previousMs = initialMs;
  }

  /** How many delays were handed out since the last reset. */
  get attempts(): number {
    return this.#attempts;
  }

  /** The delay before the next attempt, in whole milliseconds. */
  next(): number {
    const upper = Math.min(this.#maxMs, this.#previousMs * 3);
    const drawn = this.#initialMs + this.#random() * (upper - this.#initialMs);
    const delayMs = Math.round(Math.min(this.#maxMs, drawn));
    this.#previousMs = delayMs;
    this.#attempts += 1;
    return delayMs;
  }

  /** Starts over from `initial`; called once a connection has proved healthy. */
  reset(): void {
    this.#previousMs = this.#initialMs;
    this.#attempts = 0;
  }
}
