import { NOTIFIER_KINDS } from "../notify/notifier.js";
import type { NotifierKind, NotifyResult } from "../notify/notifier.js";

/** spiffe-helper's per-output write status, with its spelling. */
export type WriteStatus = "unwritten" | "written" | "failed";

/**
 * Why an update from the agent was refused and the last good state kept (DESIGN §3.1). The
 * `reason` label of `spiffe_sidecar_rejected_updates_total`: a closed set, never free text.
 */
export type RejectReason =
  | "empty-response"
  | "malformed-response"
  | "invalid-spiffe-id"
  | "invalid-svid"
  | "key-mismatch"
  | "untrusted-chain"
  | "expired"
  | "not-yet-valid"
  | "invalid-bundle"
  | "invalid-jwt-svid"
  | "hint-not-found"
  | "exceeds-bound"
  | "trust-domain-mismatch"
  | "other";

export const REJECT_REASONS: readonly RejectReason[] = [
  "empty-response",
  "malformed-response",
  "invalid-spiffe-id",
  "invalid-svid",
  "key-mismatch",
  "untrusted-chain",
  "expired",
  "not-yet-valid",
  "invalid-bundle",
  "invalid-jwt-svid",
  "hint-not-found",
  "exceeds-bound",
  "trust-domain-mismatch",
  "other",
];

/** What a probe reports as wrong; stable ids for the status body and tests. */
export type HealthProblem =
  | "x509-write-failed"
  | "jwt-write-failed"
  | "x509-unwritten"
  | "jwt-unwritten"
  | "svid-expired"
  | "jwt-svid-expired"
  | "stream-stuck"
  | "agent-refused"
  | "write-stuck"
  | "app-serving-stale";

export interface HealthVerdict {
  readonly healthy: boolean;
  readonly problems: readonly HealthProblem[];
}

/**
 * A write that has not settled after this long holds every later update behind it (writes run
 * one at a time): the process can no longer make progress, the one case where a restart helps.
 * A full or read-only disk fails fast (ENOSPC, EROFS) and never counts here.
 */
export const WRITE_STUCK_AFTER_MS = 120_000;

/** The outputs the configuration asks for; each is tracked from `unwritten`. */
export interface HealthOutputs {
  /** `svid_file_name`, `svid_key_file_name` and `svid_bundle_file_name` are set. */
  readonly x509: boolean;
  /** The JWT-SVID files, as spiffe-helper names them in `jwt_write_status` (cert_dir joined). */
  readonly jwtSvidPaths: readonly string[];
  /** The JWT bundle file, when `jwt_bundle_file_name` is set. */
  readonly jwtBundlePath?: string;
}

/** A read-only view of the counters and gauges, for `/metrics`. */
export interface HealthSnapshot {
  readonly svidNotAfter: Date | undefined;
  readonly rotations: number;
  readonly lastUpdate: Date | undefined;
  readonly writeErrors: number;
  readonly rejectedUpdates: ReadonlyMap<RejectReason, number>;
  readonly agentConnected: boolean;
  readonly reconnects: number;
  /** Permanent refusals (InvalidArgument, Unimplemented) of streams that had delivered. */
  readonly agentRefusals: number;
  readonly notifyFailures: ReadonlyMap<NotifierKind, number>;
  readonly jwtSvidExpiry: ReadonlyMap<string, Date>;
  /** Whether the app served the SVID last written (verify_reload); undefined before any verification. */
  readonly appServingCurrentSvid: boolean | undefined;
  /** Verifications whose window passed with the app serving another certificate, or none. */
  readonly reloadVerifyFailures: number;
}

/**
 * Everything the health probes and metrics report, kept as plain data with the clock passed in.
 *
 * Liveness fails only when restarting the sidecar would help (DESIGN §3.9): a write that never
 * settles. That the probe is answered at all shows the event loop runs. A failed write is not
 * a liveness problem, unlike in spiffe-helper: on a full or read-only disk a restart changes
 * nothing, the sidecar already retries the write with backoff, and a kubelet restarting it
 * over ENOSPC only adds a crash loop (issue 13 item 9). Agent loss does not touch it either.
 *
 * Readiness says whether the files are valid and fresh: every output written, the last write
 * succeeded, nothing stuck, and the X.509-SVID and each JWT-SVID on disk still valid at `now`.
 * So it turns false when the agent stays unreachable, or keeps sending rejected updates, past
 * the expiry of what we last wrote (issue 4). `reasons` says why, in words.
 */
export class HealthState {
  #outputs: HealthOutputs;
  #x509Status: WriteStatus = "unwritten";
  #lastWriteError: string | undefined;
  #writeInProgressSince: Date | undefined;
  readonly #stuckStreams = new Map<string, string>();
  readonly #agentRefusals = new Map<string, string>();
  #agentRefusalCount = 0;
  readonly #jwtStatus = new Map<string, WriteStatus>();
  readonly #jwtSvidExpiry = new Map<string, Date>();
  #svid: { readonly serialHex: string; readonly notAfter: Date } | undefined;
  #rotations = 0;
  #lastUpdate: Date | undefined;
  #writeErrors = 0;
  readonly #rejected = new Map<RejectReason, number>(REJECT_REASONS.map((reason) => [reason, 0]));
  #agentConnected = false;
  #everConnected = false;
  #reconnects = 0;
  readonly #notifyFailures = new Map<NotifierKind, number>(NOTIFIER_KINDS.map((kind) => [kind, 0]));
  #appServingCurrent: boolean | undefined;
  #appServingStaleReason: string | undefined;
  #reloadVerifyFailures = 0;

  constructor(outputs: HealthOutputs) {
    this.#outputs = outputs;
    for (const path of outputs.jwtSvidPaths) this.#jwtStatus.set(path, "unwritten");
    if (outputs.jwtBundlePath !== undefined) this.#jwtStatus.set(outputs.jwtBundlePath, "unwritten");
  }

  /**
   * A reloaded configuration's outputs: a new one is tracked from `unwritten`, a dropped one is
   * forgotten, one kept keeps its status.
   */
  setOutputs(outputs: HealthOutputs): void {
    const paths = new Set([...outputs.jwtSvidPaths, ...(outputs.jwtBundlePath === undefined ? [] : [outputs.jwtBundlePath])]);
    for (const path of this.#jwtStatus.keys()) {
      if (paths.has(path)) continue;
      this.#jwtStatus.delete(path);
      this.#jwtSvidExpiry.delete(path);
    }
    for (const path of paths) if (!this.#jwtStatus.has(path)) this.#jwtStatus.set(path, "unwritten");
    if (!outputs.x509) this.#x509Status = "unwritten";
    this.#outputs = outputs;
  }

  /** The X.509 files were written. A new serial number counts as a rotation. */
  recordX509Written(svid: { readonly serialHex: string; readonly notAfter: Date }, now: Date = new Date()): void {
    if (this.#svid?.serialHex !== svid.serialHex) this.#rotations += 1;
    this.#svid = { serialHex: svid.serialHex, notAfter: svid.notAfter };
    this.#x509Status = "written";
    this.#lastUpdate = now;
  }

  /** `detail` names the file and the system error; it never holds file contents. */
  recordX509WriteFailed(detail: string): void {
    this.#x509Status = "failed";
    this.#lastWriteError = detail;
    this.#writeErrors += 1;
  }

  /** A write of the output set began; `writeSettled` ends it, however it ended. */
  recordWriteStarted(now: Date = new Date()): void {
    this.#writeInProgressSince = now;
  }

  recordWriteSettled(): void {
    this.#writeInProgressSince = undefined;
  }

  /**
   * A Workload API stream that accepted the call but sent nothing in time (`detail` says which
   * and for how long), or `undefined` once it delivers again.
   */
  setStreamStuck(method: string, detail: string | undefined): void {
    if (detail === undefined) this.#stuckStreams.delete(method);
    else this.#stuckStreams.set(method, detail);
  }

  /**
   * A stream that had delivered was refused for good (InvalidArgument, Unimplemented): `detail`
   * says which and why; `undefined` once it delivers again. Each refusal is counted.
   */
  setAgentRefusal(method: string, detail: string | undefined): void {
    if (detail === undefined) {
      this.#agentRefusals.delete(method);
      return;
    }
    this.#agentRefusals.set(method, detail);
    this.#agentRefusalCount += 1;
  }

  recordJwtSvidWritten(path: string, expiry: Date, now: Date = new Date()): void {
    this.#setJwtStatus(path, "written");
    this.#jwtSvidExpiry.set(path, expiry);
    this.#lastUpdate = now;
  }

  recordJwtBundleWritten(now: Date = new Date()): void {
    const path = this.#outputs.jwtBundlePath;
    if (path === undefined) throw new RangeError("a JWT bundle was written but no jwt_bundle_file_name is tracked");
    this.#setJwtStatus(path, "written");
    this.#lastUpdate = now;
  }

  /** A JWT-SVID file or the JWT bundle file could not be written. */
  recordJwtWriteFailed(path: string, detail: string): void {
    this.#setJwtStatus(path, "failed");
    this.#lastWriteError = detail;
    this.#writeErrors += 1;
  }

  recordRejectedUpdate(reason: RejectReason): void {
    // Guards the label set against a caller that slipped a free-text reason past the type.
    const label = this.#rejected.has(reason) ? reason : "other";
    this.#rejected.set(label, (this.#rejected.get(label) ?? 0) + 1);
  }

  /** Connected after having been connected before counts as a reconnect. */
  setAgentConnected(connected: boolean): void {
    if (connected && !this.#agentConnected && this.#everConnected) this.#reconnects += 1;
    if (connected) this.#everConnected = true;
    this.#agentConnected = connected;
  }

  recordNotifyResult(result: NotifyResult): void {
    for (const outcome of result.outcomes) {
      if (outcome.ok) continue;
      this.#notifyFailures.set(outcome.notifier, (this.#notifyFailures.get(outcome.notifier) ?? 0) + 1);
    }
  }

  /** verify_reload saw the app serve the SVID last written; clears an earlier failure. */
  recordAppServingCurrent(): void {
    this.#appServingCurrent = true;
    this.#appServingStaleReason = undefined;
  }

  /** verify_reload's window passed without the app serving it; `reason` says what it serves instead. */
  recordAppServingStale(reason: string): void {
    this.#appServingCurrent = false;
    this.#appServingStaleReason = reason;
    this.#reloadVerifyFailures += 1;
  }

  liveness(now: Date = new Date()): HealthVerdict {
    const problems: HealthProblem[] = [];
    if (this.#writeStuck(now)) problems.push("write-stuck");
    return { healthy: problems.length === 0, problems };
  }

  readiness(now: Date = new Date()): HealthVerdict {
    const problems: HealthProblem[] = [];
    if (this.#x509Status === "failed") problems.push("x509-write-failed");
    if ([...this.#jwtStatus.values()].includes("failed")) problems.push("jwt-write-failed");
    if (this.#outputs.x509 && this.#x509Status === "unwritten") problems.push("x509-unwritten");
    if ([...this.#jwtStatus.values()].includes("unwritten")) problems.push("jwt-unwritten");
    // X.509 notAfter is the last valid instant (RFC 5280 §4.1.2.5); a JWT's `exp` is the first
    // invalid one (RFC 7519 §4.1.4).
    if (this.#outputs.x509 && this.#svid !== undefined && now.getTime() > this.#svid.notAfter.getTime()) {
      problems.push("svid-expired");
    }
    if ([...this.#jwtSvidExpiry.values()].some((expiry) => now.getTime() >= expiry.getTime())) {
      problems.push("jwt-svid-expired");
    }
    if (this.#stuckStreams.size > 0) problems.push("stream-stuck");
    if (this.#agentRefusals.size > 0) problems.push("agent-refused");
    if (this.#writeStuck(now)) problems.push("write-stuck");
    if (this.#appServingCurrent === false) problems.push("app-serving-stale");
    return { healthy: problems.length === 0, problems };
  }

  /**
   * Each problem in words, for the probe body: which write failed and why, when the SVID
   * expired, which stream is silent. Built from paths, system error codes, dates and our own
   * messages only; never from file contents, so no key or token can reach it.
   */
  reasons(problems: readonly HealthProblem[], now: Date = new Date()): Partial<Record<HealthProblem, string>> {
    const reasonOf = (problem: HealthProblem): string => {
      switch (problem) {
        case "x509-write-failed":
        case "jwt-write-failed":
          return `the last write failed, the previous files are kept and the write is retried: ${this.#lastWriteError ?? "unknown error"}`;
        case "x509-unwritten":
          return "no X.509-SVID has been written yet";
        case "jwt-unwritten":
          return "a configured JWT output has not been written yet";
        case "svid-expired":
          return `the X.509-SVID on disk expired at ${this.#svid?.notAfter.toISOString() ?? "?"} and no valid newer one arrived`;
        case "jwt-svid-expired":
          return "a JWT-SVID on disk has expired and no valid newer one arrived";
        case "stream-stuck":
          return [...this.#stuckStreams.values()].join("; ");
        case "agent-refused":
          return [...this.#agentRefusals.values()].join("; ");
        case "write-stuck":
          return `a write has been in progress since ${this.#writeInProgressSince?.toISOString() ?? "?"} (at ${now.toISOString()}), holding every later update`;
        case "app-serving-stale":
          return `not serving current SVID: ${this.#appServingStaleReason ?? "?"}`;
      }
    };
    return Object.fromEntries(problems.map((problem) => [problem, reasonOf(problem)]));
  }

  #writeStuck(now: Date): boolean {
    const since = this.#writeInProgressSince;
    return since !== undefined && now.getTime() - since.getTime() > WRITE_STUCK_AFTER_MS;
  }

  /** spiffe-helper's `file_write_statuses`, with the same keys and status spellings. */
  fileWriteStatuses(): { x509_write_status?: WriteStatus; jwt_write_status: Record<string, WriteStatus> } {
    const jwt = Object.fromEntries(this.#jwtStatus);
    if (!this.#outputs.x509) return { jwt_write_status: jwt };
    return { x509_write_status: this.#x509Status, jwt_write_status: jwt };
  }

  snapshot(): HealthSnapshot {
    return {
      svidNotAfter: this.#svid?.notAfter,
      rotations: this.#rotations,
      lastUpdate: this.#lastUpdate,
      writeErrors: this.#writeErrors,
      rejectedUpdates: new Map(this.#rejected),
      agentConnected: this.#agentConnected,
      reconnects: this.#reconnects,
      agentRefusals: this.#agentRefusalCount,
      notifyFailures: new Map(this.#notifyFailures),
      jwtSvidExpiry: new Map(this.#jwtSvidExpiry),
      appServingCurrentSvid: this.#appServingCurrent,
      reloadVerifyFailures: this.#reloadVerifyFailures,
    };
  }

  #setJwtStatus(path: string, status: WriteStatus): void {
    if (!this.#jwtStatus.has(path)) throw new RangeError(`${path} is not a configured JWT output`);
    this.#jwtStatus.set(path, status);
  }
}
