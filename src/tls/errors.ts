import { RuleViolationError } from "../errors.js";

/** Why a set of files on disk cannot serve as this workload's TLS identity. */
export type TlsFilesRule =
  /** A file could not be read (missing, permissions). */
  | "unreadable"
  /** The certificate chain or key breaks the X.509-SVID rules, or the key does not match. */
  | "invalid-svid"
  /** A bundle file does not parse, or a federated bundle file has a bad name. */
  | "invalid-bundle"
  /** The SVID does not verify against its own trust domain's bundle, or has expired. */
  | "untrusted-svid";

/**
 * The written files do not make a usable identity. During a rotation this is often a torn
 * read (a new certificate beside the old key); a reloading context keeps the last good set.
 */
export class SpiffeTlsFilesError extends RuleViolationError<TlsFilesRule> {
  readonly code = "ERR_SPIFFE_TLS_FILES";
}

/** Why a peer was refused. */
export type PeerAuthenticationRule =
  /** The peer sent no certificate. */
  | "no-peer-certificate"
  /** The peer's chain is not a valid X.509-SVID of a trust domain we hold a bundle for. */
  | "untrusted-peer"
  /** The peer's SPIFFE ID is valid but not allowed. */
  | "not-authorized"
  /** No `Authorization` header, or not a `Bearer` one. */
  | "no-bearer-token"
  /** The bearer token is not a valid JWT-SVID for this audience. */
  | "invalid-jwt-svid"
  /** The JWT bundle file could not be read or parsed. */
  | "jwt-bundle-unavailable";

/**
 * A peer that must not be served. `rule` is stable for tests and metrics; the message names
 * the SPIFFE ID and the broken rule, never token text or key bytes.
 */
export class PeerAuthenticationError extends RuleViolationError<PeerAuthenticationRule> {
  readonly code = "ERR_PEER_AUTHENTICATION";
}
