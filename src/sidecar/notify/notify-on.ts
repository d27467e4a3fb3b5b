import { NOTIFY_ON_KINDS, type NotifyOnKind } from "../config/sidecar-config.js";
import type { OutputGroup } from "../output/output-options.js";
import type { Notifier, NotifyOptions, NotifyReason, NotifyResult } from "./notifier.js";

const KIND_OF_GROUP: Readonly<Record<OutputGroup, NotifyOnKind>> = {
  x509: "x509",
  "x509-bundle": "bundles",
  "jwt-svid": "jwt_svid",
  "jwt-bundle": "jwt_bundle",
};

/** The `notify_on` kinds of the given output groups, each once, in `NOTIFY_ON_KINDS` order. */
export function changedKindsOf(groups: Iterable<OutputGroup>): NotifyOnKind[] {
  const kinds = new Set([...groups].map((group) => KIND_OF_GROUP[group]));
  return NOTIFY_ON_KINDS.filter((kind) => kinds.has(kind));
}

/** Whether an update concerns the app: it changed a kind `notifyOn` lists, or its kinds are unknown. */
export function concernsApp(reason: NotifyReason, notifyOn: readonly NotifyOnKind[]): boolean {
  return reason.changedKinds === undefined || reason.changedKinds.some((kind) => notifyOn.includes(kind));
}

/** The part of a pino logger this filter uses. */
export interface NotifyOnLogger {
  debug(fields: object, message: string): void;
}

/**
 * Tells the app only of updates it reads (`notify_on`): by default, as spiffe-helper, of X.509
 * changes and not of JWT-SVID or JWT bundle refreshes, so a JWT-SVID renewed every few minutes
 * does not reload nginx. An update it skips is only written; the files are on disk for the
 * next notification or restart.
 */
export class NotifyOnFilter implements Notifier {
  readonly #inner: Notifier;
  readonly #notifyOn: readonly NotifyOnKind[];
  readonly #logger: NotifyOnLogger | undefined;

  constructor(inner: Notifier, notifyOn: readonly NotifyOnKind[], logger?: NotifyOnLogger) {
    this.#inner = inner;
    this.#notifyOn = notifyOn;
    this.#logger = logger;
  }

  notify(reason: NotifyReason, options?: NotifyOptions): Promise<NotifyResult> {
    if (concernsApp(reason, this.#notifyOn)) return this.#inner.notify(reason, options);
    this.#logger?.debug(
      { changed: reason.changedKinds, notify_on: this.#notifyOn },
      "not telling the app: nothing it is notified on (notify_on) changed",
    );
    return Promise.resolve({ ok: true, outcomes: [] });
  }
}
