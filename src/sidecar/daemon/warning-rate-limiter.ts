/**
 * Rate limiting for repeated warnings, as plain data with the clock passed in. An agent can
 * send updates as fast as the socket carries them; one warn line each gave 20,068 lines in
 * 30 s (issue 13 item 12). The first occurrence of a key is logged at once, so a new problem
 * is never delayed; repeats within the window are only counted, and the caller logs one
 * summary per window that had any. A key with a quiet window is forgotten, so the next
 * occurrence is again logged at once.
 */

/** What a window held beyond its first, logged, occurrence. */
export interface SuppressedWarnings {
  readonly key: string;
  /** Occurrences counted but not logged. */
  readonly count: number;
  /** The window's length, for the summary's "in the last 30 s". */
  readonly windowMs: number;
  /** The detail passed with the last counted occurrence. */
  readonly lastDetail: string;
}

interface OpenWindow {
  readonly endsAt: number;
  count: number;
  lastDetail: string;
}

/** A 30 s window: long enough to turn a flood into a line or two, short enough to follow. */
export const DEFAULT_WARNING_WINDOW_MS = 30_000;

export class WarningRateLimiter {
  readonly #windowMs: number;
  readonly #windows = new Map<string, OpenWindow>();

  constructor(windowMs: number = DEFAULT_WARNING_WINDOW_MS) {
    if (!(windowMs > 0)) throw new RangeError(`the warning window must be positive, got ${windowMs} ms`);
    this.#windowMs = windowMs;
  }

  /**
   * Records an occurrence of `key` at `now` (ms). True: log it now. False: it was counted for
   * the summary that `takeEnded` hands out when its window ends.
   */
  admit(key: string, now: number, detail: string): boolean {
    const open = this.#windows.get(key);
    // A window that ended but still owes its summary (the caller's timer is late) keeps counting.
    if (open !== undefined && (now < open.endsAt || open.count > 0)) {
      open.count += 1;
      open.lastDetail = detail;
      return false;
    }
    this.#windows.set(key, { endsAt: now + this.#windowMs, count: 0, lastDetail: detail });
    return true;
  }

  /**
   * Summaries of the windows that ended by `now` and counted anything. Such a key stays
   * limited for another window (a flood that goes on gives one line per window); a key whose
   * window ended quiet is forgotten.
   */
  takeEnded(now: number): SuppressedWarnings[] {
    const ended: SuppressedWarnings[] = [];
    for (const [key, open] of this.#windows) {
      if (now < open.endsAt) continue;
      if (open.count === 0) {
        this.#windows.delete(key);
        continue;
      }
      ended.push({ key, count: open.count, windowMs: this.#windowMs, lastDetail: open.lastDetail });
      this.#windows.set(key, { endsAt: now + this.#windowMs, count: 0, lastDetail: open.lastDetail });
    }
    return ended;
  }

  /** Every summary still owed, whether or not its window ended: for a clean stop. */
  takeAll(): SuppressedWarnings[] {
    const owed = [...this.#windows]
      .filter(([, open]) => open.count > 0)
      .map(([key, open]) => ({ key, count: open.count, windowMs: this.#windowMs, lastDetail: open.lastDetail }));
    this.#windows.clear();
    return owed;
  }

  /** When the earliest window with something to report ends; undefined when none has. */
  nextSummaryAt(): number | undefined {
    let earliest: number | undefined;
    for (const open of this.#windows.values()) {
      if (open.count > 0 && (earliest === undefined || open.endsAt < earliest)) earliest = open.endsAt;
    }
    return earliest;
  }
}
