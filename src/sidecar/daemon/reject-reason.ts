import { RuleViolationError, SpiffeSidecarError } from "../../errors.js";
import { JwtSvidError } from "../../spiffe/jwt-svid.js";
import type { RejectReason } from "../health/health-state.js";

const BY_RULE: Readonly<Record<string, RejectReason>> = {
  "no-svids": "empty-response",
  "no-certificates": "empty-response",
  "malformed-certificate": "malformed-response",
  "malformed-key": "malformed-response",
  ERR_DER: "malformed-response",
  ERR_PEM: "malformed-response",
  ERR_CERTIFICATE: "malformed-response",
  "no-uri-san": "invalid-spiffe-id",
  "multiple-uri-sans": "invalid-spiffe-id",
  "invalid-spiffe-id": "invalid-spiffe-id",
  "leaf-id-without-path": "invalid-spiffe-id",
  "spiffe-id-mismatch": "invalid-spiffe-id",
  ERR_SPIFFE_ID: "invalid-spiffe-id",
  "key-mismatch": "key-mismatch",
  "hint-not-found": "hint-not-found",
  "exceeds-bound": "exceeds-bound",
  "trust-domain-mismatch": "trust-domain-mismatch",
  "signing-cert-foreign-trust-domain": "untrusted-chain",
  "audience-mismatch": "invalid-jwt-svid",
  "invalid-token": "invalid-jwt-svid",
  "no-bundle": "untrusted-chain",
  "chain-unverified": "untrusted-chain",
  "issuer-not-ca": "untrusted-chain",
  "issuer-missing-key-cert-sign": "untrusted-chain",
  "path-length-exceeded": "untrusted-chain",
  expired: "expired",
  "not-yet-valid": "not-yet-valid",
  "empty-bundle": "invalid-bundle",
  "duplicate-trust-domain": "invalid-bundle",
  ERR_X509_BUNDLE: "invalid-bundle",
  ERR_JWT_BUNDLE: "invalid-bundle",
  ERR_SPIFFE_BUNDLE: "invalid-bundle",
  ERR_STRICT_JSON: "invalid-bundle",
};

/**
 * The metric label for a refused update: a closed set, so the rule id of any error (never its
 * message, which may name paths or IDs) picks one, and anything unforeseen is `other`.
 */
export function rejectReasonOf(error: unknown): RejectReason {
  // The client wraps a token that fails to parse in a WorkloadApiResponseError carrying the
  // JWT rule ("malformed", "expired", ...), which must not be read as an X.509 rule.
  if (error instanceof JwtSvidError || (error instanceof Error && error.cause instanceof JwtSvidError)) {
    return "invalid-jwt-svid";
  }
  const rule =
    error instanceof RuleViolationError ? error.rule : error instanceof SpiffeSidecarError ? error.code : undefined;
  if (rule === undefined) return "other";
  const named = BY_RULE[rule];
  if (named !== undefined) return named;
  if (rule.startsWith("leaf-") || rule.startsWith("signing-cert-") || rule === "unhandled-critical-extension") {
    return "invalid-svid";
  }
  return "other";
}
