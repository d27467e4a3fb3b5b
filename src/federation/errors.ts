import { RuleViolationError } from "../errors.js";

/** Why a bundle endpoint could not give us a bundle, or could not be set up. */
export type FederationRule =
  /** The URL, trust domain, endpoint SPIFFE ID or a limit given by the caller is unusable. */
  | "invalid-options"
  /** No X.509 bundle is held for the endpoint's trust domain, so https_spiffe cannot authenticate it. */
  | "no-endpoint-bundle"
  /** The TCP connection or TLS handshake failed for a reason other than authentication. */
  | "connection-failed"
  /** The endpoint's certificate did not verify, or named another SPIFFE ID than the expected one. */
  | "endpoint-not-authenticated"
  /** The request did not complete within its deadline. */
  | "timeout"
  /** The caller's signal aborted the request. */
  | "aborted"
  /** The endpoint answered with a status other than 200. */
  | "http-status"
  /** A redirect pointed at a URL that is not a bundle endpoint URL, or there were too many. */
  | "bad-redirect"
  /** A fetched bundle has a lower `spiffe_sequence` than the one in force (Trust Domain & Bundle §4.1.1). */
  | "stale-bundle"
  /** The response body is larger than the limit. */
  | "body-too-large"
  /** The body is not a valid SPIFFE bundle (Trust Domain & Bundle §4). */
  | "invalid-bundle"
  /** The watcher was closed before it had a bundle. */
  | "closed";

/**
 * A failed bundle fetch or a bad federation setting. `rule` is stable for tests and metrics;
 * the message names the URL and what to check. Bundles carry no secrets, but messages still
 * never quote a response body.
 */
export class FederationError extends RuleViolationError<FederationRule> {
  readonly code = "ERR_FEDERATION";
}
