import { SpiffeSidecarError } from "../../errors.js";
import { NOTIFY_ON_KINDS, type NotifyOnKind } from "../config/sidecar-config.js";

/**
 * The ways of telling the application that its files changed (DESIGN §6). Also the `notifier`
 * label of `spiffe_sidecar_notify_failures_total`, so the set is closed.
 */
export type NotifierKind = "signal-child" | "pid-file" | "exec-hook" | "restart-child";

export const NOTIFIER_KINDS: readonly NotifierKind[] = ["signal-child", "pid-file", "exec-hook", "restart-child"];

/** The X.509-SVID on disk after an update: public facts only, never its key. */
export interface NotifiedSvid {
  readonly spiffeId: string;
  readonly serialHex: string;
  readonly notAfter: Date;
}

/** What one update changed: file paths and kinds only, never their contents. */
export interface NotifyReason {
  readonly changedPaths: readonly string[];
  /**
   * What the changed files carry, in `NOTIFY_ON_KINDS` order; `notify_on` selects by it.
   * Undefined for a notification that is not about a write (a re-notification): it always goes out.
   */
  readonly changedKinds?: readonly NotifyOnKind[] | undefined;
  /** The X.509-SVID the files now hold, when one is configured and known. */
  readonly svid?: NotifiedSvid | undefined;
}

/** A stable id for why telling the app failed; matched by tests, logged as a field. */
export type NotifyFailure =
  | "no-child"
  | "signal-failed"
  | "pid-file-missing"
  | "pid-file-empty"
  | "pid-file-unreadable"
  | "pid-file-invalid"
  | "process-missing"
  | "permission-denied"
  | "hook-start"
  | "hook-failed"
  | "hook-timeout"
  | "restart-failed"
  | "unexpected";

/**
 * Telling the app failed. It is returned inside a `NotifyResult`, logged and counted, never
 * thrown: a broken reload command must not take the sidecar down (DESIGN §6).
 */
export class NotifyError extends SpiffeSidecarError {
  readonly code = "ERR_NOTIFY";
  readonly notifier: NotifierKind;
  readonly failure: NotifyFailure;

  constructor(notifier: NotifierKind, failure: NotifyFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.notifier = notifier;
    this.failure = failure;
  }
}

export type NotifyOutcome =
  | {
      readonly notifier: NotifierKind;
      readonly ok: true;
      readonly detail: string;
      /** A newer update arrived first; its own notification tells the app instead. */
      readonly superseded?: true;
    }
  | { readonly notifier: NotifierKind; readonly ok: false; readonly error: NotifyError };

/** One outcome per notifier that ran; `ok` when all of them succeeded. */
export interface NotifyResult {
  readonly ok: boolean;
  readonly outcomes: readonly NotifyOutcome[];
}

export interface NotifyOptions {
  /**
   * Aborted when a newer update is waiting to be told: a notifier that is still waiting (the
   * pid file's retries) may stop and leave it to the newer one.
   */
  readonly superseded?: AbortSignal;
}

/** Tells the app about one complete update. Never rejects: failures are in the result. */
export interface Notifier {
  notify(reason: NotifyReason, options?: NotifyOptions): Promise<NotifyResult>;
}

/** A notifier that reaches the app one concrete way. */
export interface AppNotifier extends Notifier {
  readonly kind: NotifierKind;
}

export function notifySucceeded(notifier: NotifierKind, detail: string): NotifyResult {
  return { ok: true, outcomes: [{ notifier, ok: true, detail }] };
}

export function notifySuperseded(notifier: NotifierKind, detail: string): NotifyResult {
  return { ok: true, outcomes: [{ notifier, ok: true, detail, superseded: true }] };
}

export function notifyFailed(error: NotifyError): NotifyResult {
  return { ok: false, outcomes: [{ notifier: error.notifier, ok: false, error }] };
}

/** One reason covering both updates, for notifications that were coalesced into one; the newer SVID wins. */
export function mergeReasons(first: NotifyReason, second: NotifyReason): NotifyReason {
  const changedPaths = [...new Set([...first.changedPaths, ...second.changedPaths])];
  const svid = second.svid ?? first.svid;
  const merged = svid === undefined ? { changedPaths } : { changedPaths, svid };
  if (first.changedKinds === undefined || second.changedKinds === undefined) return merged;
  const kinds = new Set([...first.changedKinds, ...second.changedKinds]);
  return { ...merged, changedKinds: NOTIFY_ON_KINDS.filter((kind) => kinds.has(kind)) };
}
