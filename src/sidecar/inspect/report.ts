import { RuleViolationError, SpiffeSidecarError } from "../../errors.js";

/** One certificate of the chain as `inspect` shows it. */
export interface CertificateSummary {
  readonly subject: string;
  readonly issuer: string;
  readonly serialHex: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly isCa: boolean;
  readonly uriSans: readonly string[];
}

export type Verdict =
  | { readonly valid: true }
  | { readonly valid: false; readonly rule: string; readonly reason: string };

/** What `inspect` found; the same object is printed as text or as `--json`. */
export interface InspectReport {
  readonly kind: "x509-svid" | "jwt-svid";
  readonly spiffeId?: string;
  readonly serialHex?: string;
  readonly notBefore?: string;
  readonly notAfter?: string;
  /** Negative once expired. */
  readonly secondsLeft?: number;
  readonly audience?: readonly string[];
  readonly chain?: readonly CertificateSummary[];
  /** The checks that ran and passed, in order, so a reader knows what "valid" covered. */
  readonly passedChecks: readonly string[];
  /** Checks that could not run for lack of an input, e.g. the chain without `--bundle`. */
  readonly skippedChecks: readonly string[];
  readonly checkedAt: string;
  readonly verdict: Verdict;
}

/** Turns a thrown validation error into a verdict, keeping the rule id when it has one. */
export function failedVerdict(error: unknown): Verdict {
  if (error instanceof SpiffeSidecarError) {
    const rule = error instanceof RuleViolationError ? error.rule : error.code;
    return { valid: false, rule, reason: error.message };
  }
  throw error;
}

export function secondsBetween(from: Date, to: Date): number {
  return Math.floor((to.getTime() - from.getTime()) / 1000);
}
