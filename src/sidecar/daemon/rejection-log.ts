import type { RejectReason } from "../health/health-state.js";
import type { Logger } from "../logger.js";
import { DEFAULT_WARNING_WINDOW_MS, WarningRateLimiter, type SuppressedWarnings } from "./warning-rate-limiter.js";

/**
 * The log side of refused updates: the first refusal of a kind (what was refused, and why) is
 * logged at once; repeats within the window become one summary line with their count, so an
 * agent sending thousands of broken updates a second costs a line or two per window, not a
 * line each (issue 13 item 12). The metric still counts every one. `detail` must already be
 * cut to a bound (`boundText`): this module only decides how often it is logged.
 */
export class RejectionLog {
  readonly #logger: Logger;
  readonly #now: () => Date;
  readonly #limiter: WarningRateLimiter;
  /** What each limiter key stands for; bounded: `what` comes from the configuration, `reason` from a closed set. */
  readonly #kinds = new Map<string, { readonly what: string; readonly reason: RejectReason }>();
  #summaryTimer: NodeJS.Timeout | undefined;

  constructor(logger: Logger, now: () => Date, windowMs: number = DEFAULT_WARNING_WINDOW_MS) {
    this.#logger = logger;
    this.#now = now;
    this.#limiter = new WarningRateLimiter(windowMs);
  }

  /** One refused update: `what` ("X.509 update"), its metric `reason`, and the cut message. */
  record(what: string, reason: RejectReason, detail: string): void {
    const key = `${what}\n${reason}`;
    this.#kinds.set(key, { what, reason });
    if (this.#limiter.admit(key, this.#now().getTime(), detail)) {
      this.#logger.warn({ reason, err: detail }, `${what} rejected; the files on disk are kept`);
      return;
    }
    this.#scheduleSummary();
  }

  /** Logs every summary still owed, e.g. at shutdown, and stops the timer. */
  stop(): void {
    clearTimeout(this.#summaryTimer);
    this.#summaryTimer = undefined;
    this.#logSummaries(this.#limiter.takeAll());
  }

  #scheduleSummary(): void {
    if (this.#summaryTimer !== undefined) return;
    const due = this.#limiter.nextSummaryAt();
    if (due === undefined) return;
    this.#summaryTimer = setTimeout(() => {
      this.#summaryTimer = undefined;
      this.#logSummaries(this.#limiter.takeEnded(this.#now().getTime()));
      this.#scheduleSummary();
    }, Math.max(0, due - this.#now().getTime()));
    // A summary owed must not keep a one-shot run alive; a daemon is kept alive by its streams.
    this.#summaryTimer.unref();
  }

  #logSummaries(summaries: readonly SuppressedWarnings[]): void {
    for (const { key, count, windowMs, lastDetail } of summaries) {
      const kind = this.#kinds.get(key);
      if (kind === undefined) continue;
      this.#logger.warn(
        { reason: kind.reason, count, window_s: windowMs / 1000, err: lastDetail },
        `rejected ${count.toLocaleString("en-US")} more ${kind.what}s in the last ${windowMs / 1000} s (${kind.reason}); the files on disk are kept`,
      );
    }
  }
}
