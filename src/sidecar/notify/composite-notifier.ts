import { describeError } from "../../errors.js";
import { NotifyError, notifyFailed } from "./notifier.js";
import type { AppNotifier, Notifier, NotifyOptions, NotifyOutcome, NotifyReason, NotifyResult } from "./notifier.js";

/** The part of a pino logger the notifiers use. */
export interface NotifyLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/**
 * Runs every configured notifier side by side, so a slow one (a pid file retried for up to
 * 51 s, a hook near its timeout) never holds back the others, and logs each outcome in one
 * place as it comes: a line per notifier, the failure id as a field, never file contents.
 * The result lists the outcomes in configuration order.
 */
export class CompositeNotifier implements Notifier {
  readonly #notifiers: readonly AppNotifier[];
  readonly #logger: NotifyLogger | undefined;

  constructor(notifiers: readonly AppNotifier[], options: { readonly logger?: NotifyLogger } = {}) {
    this.#notifiers = notifiers;
    this.#logger = options.logger;
  }

  async notify(reason: NotifyReason, options: NotifyOptions = {}): Promise<NotifyResult> {
    const results = await Promise.all(
      this.#notifiers.map(async (notifier) => {
        const result = await this.#run(notifier, reason, options);
        for (const outcome of result.outcomes) this.#log(outcome, reason);
        return result;
      }),
    );
    const outcomes = results.flatMap((result) => result.outcomes);
    return { ok: outcomes.every((outcome) => outcome.ok), outcomes };
  }

  async #run(notifier: AppNotifier, reason: NotifyReason, options: NotifyOptions): Promise<NotifyResult> {
    try {
      return await notifier.notify(reason, options);
    } catch (error: unknown) {
      // Notifiers report failures in their result; this only guards the sidecar against a bug.
      const message = `${notifier.kind} notifier failed unexpectedly: ${describeError(error)}`;
      return notifyFailed(new NotifyError(notifier.kind, "unexpected", message, { cause: error }));
    }
  }

  #log(outcome: NotifyOutcome, reason: NotifyReason): void {
    if (this.#logger !== undefined) logNotifyOutcome(this.#logger, outcome, reason);
  }
}

/** The one log line of a notifier's outcome: the failure id as a field, never file contents. */
export function logNotifyOutcome(logger: NotifyLogger, outcome: NotifyOutcome, reason: NotifyReason): void {
  const fields = { notifier: outcome.notifier, changedFiles: reason.changedPaths.length };
  if (outcome.ok && outcome.superseded === true) logger.info(fields, `not told the app of this update: ${outcome.detail}`);
  else if (outcome.ok) logger.info(fields, `told the app: ${outcome.detail}`);
  else logger.warn({ ...fields, failure: outcome.error.failure }, outcome.error.message);
}
