import { mergeReasons } from "./notifier.js";
import type { Notifier, NotifyReason, NotifyResult } from "./notifier.js";

interface Pending {
  reason: NotifyReason;
  readonly result: Promise<NotifyResult>;
}

/**
 * Makes sure the app is told once per update and never by two overlapping notifications
 * (DESIGN §6: "one notification per update").
 *
 * While a notification is in flight, further calls are not run beside it: they are merged into
 * exactly one follow-up that starts when it ends, and every merged caller gets that follow-up's
 * result. The follow-up is needed because files may have changed after the app was signalled;
 * one is enough because it covers every change made before it starts.
 */
export class CoalescingNotifier implements Notifier {
  readonly #inner: Notifier;
  #inFlight: Promise<NotifyResult> | undefined;
  #pending: Pending | undefined;

  constructor(inner: Notifier) {
    this.#inner = inner;
  }

  /** Whether a notification is running or waiting; for shutdown, which lets it finish. */
  get busy(): boolean {
    return this.#inFlight !== undefined || this.#pending !== undefined;
  }

  notify(reason: NotifyReason): Promise<NotifyResult> {
    const pending = this.#pending;
    if (pending !== undefined) {
      pending.reason = mergeReasons(pending.reason, reason);
      return pending.result;
    }
    const inFlight = this.#inFlight;
    if (inFlight === undefined) return this.#run(reason);

    const next: Pending = {
      reason,
      // Inner notifiers never reject; the catch keeps a broken one from stalling the queue.
      result: inFlight.catch(() => undefined).then(() => {
        this.#pending = undefined;
        return this.#run(next.reason);
      }),
    };
    this.#pending = next;
    return next.result;
  }

  #run(reason: NotifyReason): Promise<NotifyResult> {
    const flight = this.#inner.notify(reason).finally(() => {
      if (this.#inFlight === flight) this.#inFlight = undefined;
    });
    this.#inFlight = flight;
    return flight;
  }
}
