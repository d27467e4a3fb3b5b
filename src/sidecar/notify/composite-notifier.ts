import { describeError } from "../../errors.js";
import { NotifyError, notifyFailed } from "./notifier.js";
import type { AppNotifier, Notifier, NotifyOutcome, NotifyReason, NotifyResult } from "./notifier.js";

/** The part of a pino logger the notifiers use. */
export interface NotifyLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/**
 * Runs every configured notifier, one after the other in configuration order, and logs each
 * outcome in one place: a line per notifier, the failure id as a field, never file contents.
 */
export class CompositeNotifier implements Notifier {
  readonly #notifiers: readonly AppNotifier[];
  readonly #logger: NotifyLogger | undefined;

  constructor(notifiers: readonly AppNotifier[], options: { readonly logger?: NotifyLogger } = {}) {
    this.#notifiers = notifiers;
    this.#logger = options.logger;
  }

  async notify(reason: NotifyReason): Promise<NotifyResult> {
    const outcomes: NotifyOutcome[] = [];
    for (const notifier of this.#notifiers) {
      const result = await this.#run(notifier, reason);
      for (const outcome of result.outcomes) {
        this.#log(outcome, reason);
        outcomes.push(outcome);
      }
    }
    return { ok: outcomes.every((outcome) => outcome.ok), outcomes };
  }

  async #run(notifier: AppNotifier, reason: NotifyReason): Promise<NotifyResult> {
    try {
      return await notifier.notify(reason);
    } catch (error: unknown) {
      // Notifiers report failures in their result; this only guards the sidecar against a bug.
      const message = `${notifier.kind} notifier failed unexpectedly: ${describeError(error)}`;
      return notifyFailed(new NotifyError(notifier.kind, "unexpected", message, { cause: error }));
    }
  }

  #log(outcome: NotifyOutcome, reason: NotifyReason): void {
    const fields = { notifier: outcome.notifier, changedFiles: reason.changedPaths.length };
    if (outcome.ok) this.#logger?.info(fields, `told the app: ${outcome.detail}`);
    else this.#logger?.warn({ ...fields, failure: outcome.error.failure }, outcome.error.message);
  }
}
