import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { mergeReasons } from "./notifier.js";
import type { Notifier, NotifyReason, NotifyResult } from "./notifier.js";

interface Pending {
  reason: NotifyReason;
  result: Promise<NotifyResult>;
}

export interface CoalescingNotifierOptions {
  /**
   * The shortest time between the starts of two notifications (`notify_min_interval`). The
   * first of a burst goes out at once; the rest of the interval collapses into one at its end.
   * @default 0
   */
  readonly minIntervalMs?: number;
}

/**
 * Makes sure the app is told once per update, never by two overlapping notifications (DESIGN
 * §6: "one notification per update"), and at most once per `minIntervalMs` however fast the
 * agent pushes (issue 13, item 11: 2,079 SIGHUPs in 32 s before this interval).
 *
 * A call while a notification is in flight, or less than `minIntervalMs` after the last one
 * started, is not run beside it: it is merged into exactly one follow-up that starts when both
 * the flight and the interval are over, and every merged caller gets that follow-up's result.
 * The follow-up is needed because files may have changed after the app was told; one is
 * enough because it covers every change made before it starts, so the app always ends up told
 * about the newest files. The flight in progress is told it is superseded, so a notifier that
 * is only waiting (the pid file's retries) can give way.
 */
export class CoalescingNotifier implements Notifier {
  readonly #inner: Notifier;
  readonly #minIntervalMs: number;
  #inFlight: { readonly result: Promise<NotifyResult>; readonly superseded: AbortController } | undefined;
  #pending: Pending | undefined;
  #lastStartedAt = Number.NEGATIVE_INFINITY;
  readonly #closing = new AbortController();

  constructor(inner: Notifier, options: CoalescingNotifierOptions = {}) {
    this.#inner = inner;
    this.#minIntervalMs = Math.max(0, options.minIntervalMs ?? 0);
  }

  /** Whether a notification is running or waiting; for shutdown, which lets it finish. */
  get busy(): boolean {
    return this.#inFlight !== undefined || this.#pending !== undefined;
  }

  /**
   * At shutdown: a notification still waiting is dropped (the app is being stopped, and a hook
   * must not run after the sidecar has decided to exit), and one in flight is told to give way.
   */
  close(): void {
    this.#closing.abort();
    this.#inFlight?.superseded.abort();
  }

  notify(reason: NotifyReason): Promise<NotifyResult> {
    if (this.#closing.signal.aborted) return Promise.resolve({ ok: true, outcomes: [] });
    this.#inFlight?.superseded.abort();
    const pending = this.#pending;
    if (pending !== undefined) {
      pending.reason = mergeReasons(pending.reason, reason);
      return pending.result;
    }
    const inFlight = this.#inFlight;
    if (inFlight === undefined && this.#untilIntervalEndsMs() <= 0) return this.#run(reason);

    const next: Pending = { reason, result: Promise.resolve({ ok: true, outcomes: [] }) };
    next.result = (async () => {
      // Inner notifiers never reject; the catch keeps a broken one from stalling the queue.
      await inFlight?.result.catch(() => undefined);
      const waitMs = this.#untilIntervalEndsMs();
      if (waitMs > 0) await sleep(waitMs, undefined, { signal: this.#closing.signal }).catch(() => undefined);
      this.#pending = undefined;
      if (this.#closing.signal.aborted) return { ok: true, outcomes: [] };
      return this.#run(next.reason);
    })();
    this.#pending = next;
    return next.result;
  }

  #untilIntervalEndsMs(): number {
    return this.#lastStartedAt + this.#minIntervalMs - performance.now();
  }

  #run(reason: NotifyReason): Promise<NotifyResult> {
    this.#lastStartedAt = performance.now();
    const superseded = new AbortController();
    const result = this.#inner.notify(reason, { superseded: superseded.signal }).finally(() => {
      if (this.#inFlight?.result === result) this.#inFlight = undefined;
    });
    this.#inFlight = { result, superseded };
    return result;
  }
}
