import type { ConnectionOptions, PeerCertificate } from "node:tls";
import { describeError } from "../errors.js";
import { parseCertificate } from "../spiffe/certificate.js";
import { encodePem } from "../spiffe/pem.js";
import { parseSpiffeId, type SpiffeId } from "../spiffe/spiffe-id.js";
import type { X509Bundle, X509BundleSource } from "../spiffe/x509-bundle.js";
import { marshalX509SvidPem, type VerifiedX509Svid, type X509Svid } from "../spiffe/x509-svid.js";
import { PeerAuthenticationError } from "./errors.js";
import { verifyPeerCertificate, type SpiffeIdAuthorizer } from "./peer-authorization.js";

// What the TLS and gRPC builders need of a source, and the checks they share.

/** Gives the SVID to present (go-spiffe `x509svid.Source`); `X509Source` is one. */
export interface X509SvidSource {
  /** The SVID to present now; called for every handshake or certificate swap. */
  getX509Svid(): X509Svid;
}

/**
 * Bundles per trust domain, and all of them at once: OpenSSL needs every authority as `ca`
 * before Node runs our per-trust-domain check. `X509Source` is one.
 */
export interface TlsBundleSource extends X509BundleSource {
  /** Every bundle held now, own and federated (only `bundles.bundles()` is read). */
  getX509Context(): { readonly bundles: { bundles(): readonly X509Bundle[] } };
}

/**
 * A source that says when its SVIDs or bundles change (`X509Source`'s `update` event), so a
 * server can swap its certificate. A source without it serves what it held at creation.
 */
export interface UpdatingSource {
  /** Subscribes to changes of the SVIDs or bundles. */
  on(event: "update", listener: () => void): unknown;
  /** Ends a subscription made with `on`. */
  off(event: "update", listener: () => void): unknown;
}

/** `X509Source`, or anything with its SVID and bundle methods. */
export type SpiffeTlsSource = X509SvidSource & TlsBundleSource;

export function authoritiesPem(bundles: TlsBundleSource): string[] {
  return bundles
    .getX509Context()
    .bundles.bundles()
    .flatMap((bundle) => bundle.authorities.map((authority) => encodePem("CERTIFICATE", authority.der)));
}

export function svidContextOptions(svids: X509SvidSource): { cert: string; key: string } {
  const { certificatesPem, privateKeyPem } = marshalX509SvidPem(svids.getX509Svid());
  return { cert: certificatesPem, key: privateKeyPem };
}

/** The SPIFFE ID a certificate claims, for refusal messages; not a verification. */
function claimedId(peer: PeerCertificate): string {
  try {
    return spiffeIdOfLeaf(peer.raw)?.toString() ?? "without a SPIFFE ID";
  } catch {
    // A certificate we cannot parse claims nothing we could name.
    return "with an unparsable certificate";
  }
}

/**
 * Verifies the peer against its own trust domain's bundle, then the authorizer, and makes
 * every refusal name the peer's claimed ID and the broken rule.
 */
export function verifyPeer(peer: PeerCertificate | undefined, bundles: X509BundleSource, authorizer: SpiffeIdAuthorizer): VerifiedX509Svid {
  try {
    return verifyPeerCertificate(peer, bundles, authorizer);
  } catch (error: unknown) {
    if (error instanceof PeerAuthenticationError && error.rule === "untrusted-peer" && peer?.raw !== undefined) {
      const reason = error.message.replace(/^peer certificate refused: /, "");
      throw new PeerAuthenticationError("untrusted-peer", `peer ${claimedId(peer)} is not trusted: ${reason}`, { cause: error });
    }
    throw error;
  }
}

/**
 * Node's `checkServerIdentity` doing SPIFFE verification. Node calls it after OpenSSL's chain
 * check and before `secureConnect`, so no byte is written to a refused server; an Error
 * returned aborts the connection (with `rejectUnauthorized: true`, which we always set).
 */
export function spiffeServerCheck(bundles: X509BundleSource, authorizer: SpiffeIdAuthorizer): NonNullable<ConnectionOptions["checkServerIdentity"]> {
  return (_hostname, certificate) => {
    try {
      verifyPeer(certificate, bundles, authorizer);
      return undefined;
    } catch (error: unknown) {
      return error instanceof Error ? error : new Error(describeError(error));
    }
  };
}

/** The source's `update` subscription, when it has one. */
export function updatesOf(source: object): UpdatingSource | undefined {
  const candidate = source as Partial<UpdatingSource>;
  return typeof candidate.on === "function" && typeof candidate.off === "function" ? (candidate as UpdatingSource) : undefined;
}

/** The SPIFFE ID among a certificate's URI SANs; read only from a leaf that was verified. */
export function spiffeIdOfLeaf(der: Uint8Array): SpiffeId | undefined {
  const uri = parseCertificate(der).uriSans.find((value) => value.startsWith("spiffe://"));
  return uri === undefined ? undefined : parseSpiffeId(uri);
}
