import type { DetailedPeerCertificate, PeerCertificate, TLSSocket } from "node:tls";
import { describeError } from "../errors.js";
import { parseCertificate, type ParsedCertificate } from "../spiffe/certificate.js";
import { parseSpiffeId, type SpiffeId } from "../spiffe/spiffe-id.js";
import type { X509BundleSource } from "../spiffe/x509-bundle.js";
import { MAX_PATH_CERTIFICATES, verifyX509Svid, type VerifiedX509Svid } from "../spiffe/x509-svid.js";
import { PeerAuthenticationError } from "./errors.js";

/** Decides which verified SPIFFE IDs may talk to us. */
export interface SpiffeIdAuthorizer {
  /** For messages: the allow-list, or that a function decides. */
  readonly description: string;
  allows(id: SpiffeId): boolean;
}

/**
 * An authorizer from an allow-list of SPIFFE IDs (checked for validity now, so a typo fails
 * at start-up rather than refusing every peer) or from a predicate.
 */
export function authorizeSpiffeId(allowed: readonly string[] | ((id: SpiffeId) => boolean)): SpiffeIdAuthorizer {
  if (typeof allowed === "function") return { description: "the authorization function", allows: allowed };
  const allowedIds = new Set(allowed.map((text) => parseSpiffeId(text).toString()));
  const listed = [...allowedIds].join(", ");
  return {
    description: allowedIds.size === 0 ? "an empty allow-list" : `the allow-list [${listed}]`,
    allows: (id) => allowedIds.has(id.toString()),
  };
}

/**
 * The peer's certificates, leaf first, from Node's peer certificate. In its detailed form
 * (`getPeerCertificate(true)`, and what `checkServerIdentity` is given) Node links each
 * certificate to its issuer from what the peer sent and what our `ca` holds, and ends a
 * self-signed root by linking it to itself.
 */
export function peerCertificateChain(peer: PeerCertificate | DetailedPeerCertificate): ParsedCertificate[] {
  const chain: ParsedCertificate[] = [];
  let current: PeerCertificate | DetailedPeerCertificate | undefined = peer;
  while (current?.raw !== undefined && chain.length < MAX_PATH_CERTIFICATES) {
    chain.push(parseCertificate(current.raw));
    const issuer: DetailedPeerCertificate | undefined = "issuerCertificate" in current ? current.issuerCertificate : undefined;
    if (issuer === undefined || issuer === current || issuer.raw?.equals(current.raw) === true) break;
    current = issuer;
  }
  return chain;
}

export interface VerifyPeerOptions {
  /**
   * The instant at which the peer's chain must be valid.
   * @default new Date()
   */
  now?: Date;
}

/**
 * Verifies a peer's X.509-SVID as X509-SVID §5 asks: the leaf rules, and a path to the bundle
 * of the peer's own trust domain only (Federation §4.2: OpenSSL, given every bundle as `ca`,
 * would let one trust domain's CA vouch for another's IDs). Then the authorizer decides.
 * An empty `peer` (`{}`, what Node gives when none was sent) is refused.
 */
export function verifyPeerCertificate(
  peer: PeerCertificate | DetailedPeerCertificate | undefined,
  bundles: X509BundleSource,
  authorizer: SpiffeIdAuthorizer,
  options: VerifyPeerOptions = {},
): VerifiedX509Svid {
  if (peer?.raw === undefined) {
    throw new PeerAuthenticationError("no-peer-certificate", "the peer presented no certificate; an X.509-SVID is required (X509-SVID §5)");
  }
  let verified: VerifiedX509Svid;
  try {
    verified = verifyX509Svid(peerCertificateChain(peer), bundles, options.now === undefined ? {} : { now: options.now });
  } catch (error: unknown) {
    throw new PeerAuthenticationError("untrusted-peer", `peer certificate refused: ${describeError(error)}`, { cause: error });
  }
  if (!authorizer.allows(verified.id)) {
    throw new PeerAuthenticationError("not-authorized", `peer ${verified.id.toString()} is not allowed by ${authorizer.description}`);
  }
  return verified;
}

/** `verifyPeerCertificate` on a connected socket's peer. */
export function verifyTlsPeer(
  socket: TLSSocket,
  bundles: X509BundleSource,
  authorizer: SpiffeIdAuthorizer,
  options: VerifyPeerOptions = {},
): VerifiedX509Svid {
  return verifyPeerCertificate(socket.getPeerCertificate(true), bundles, authorizer, options);
}
