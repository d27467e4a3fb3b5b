import { concatDer } from "../spiffe/der.js";
import type { TrustDomain } from "../spiffe/spiffe-id.js";
import { JWTBundlesResponse, X509BundlesResponse } from "../workloadapi/generated/workload.js";
import type { X509SVIDResponse } from "../workloadapi/generated/workload.js";
import type { IssuedSvid } from "./issuer.js";

/** Everything the streams send, at one moment. Immutable: a change makes a new snapshot. */
export interface AgentSnapshot {
  readonly trustDomain: TrustDomain;
  /** False with no identity configured: every stream is refused with `PermissionDenied`. */
  readonly hasIdentity: boolean;
  /** The X.509-SVIDs as sent (faults applied), in identity order. */
  readonly svids: readonly IssuedSvid[];
  /** The `empty-svids` fault: send `svids: []` although identities exist. */
  readonly emptySvids: boolean;
  /**
   * X.509 authorities (DER) by trust domain name: the own trust domain and the federated ones.
   * A trust domain read from a bundle file is absent while the file holds no certificates.
   */
  readonly x509Authorities: ReadonlyMap<string, readonly Uint8Array[]>;
  /** JWKS JSON by trust domain name, same keys as `x509Authorities`. */
  readonly jwks: ReadonlyMap<string, string>;
}

/** Federated trust domain names in a fixed order, so equal states encode to equal bytes. */
function federatedNames(snapshot: AgentSnapshot): string[] {
  return [...snapshot.x509Authorities.keys()].filter((name) => name !== snapshot.trustDomain.name).sort();
}

/** SPEC.md §1.5: bundle maps are keyed by the trust domain's SPIFFE ID, `spiffe://<td>`. */
function bundleKey(name: string): string {
  return `spiffe://${name}`;
}

function x509BundleBytes(snapshot: AgentSnapshot, name: string): Buffer {
  return Buffer.from(concatDer(snapshot.x509Authorities.get(name) ?? []));
}

function bundleMap(names: readonly string[], bytesOf: (name: string) => Buffer): Record<string, Buffer> {
  const map: Record<string, Buffer> = {};
  for (const name of names) map[bundleKey(name)] = bytesOf(name);
  return map;
}

/**
 * As SPIRE composes it: one X509SVID per identity, each with the own trust domain's bundle,
 * and the federated bundles alongside (SPEC.md §1.5). CRLs are never sent.
 */
export function composeX509SvidResponse(snapshot: AgentSnapshot): X509SVIDResponse {
  const ownBundle = x509BundleBytes(snapshot, snapshot.trustDomain.name);
  const svids = snapshot.emptySvids
    ? []
    : snapshot.svids.map((svid) => ({
        spiffeId: svid.spiffeId,
        x509Svid: Buffer.from(svid.chainDer),
        x509SvidKey: Buffer.from(svid.privateKeyDer),
        bundle: ownBundle,
        hint: svid.hint,
      }));
  return {
    svids,
    crl: [],
    federatedBundles: bundleMap(federatedNames(snapshot), (name) => x509BundleBytes(snapshot, name)),
  };
}

/** The own trust domain's bundle first, then the federated ones. */
export function composeX509BundlesResponse(snapshot: AgentSnapshot): X509BundlesResponse {
  const names = [snapshot.trustDomain.name, ...federatedNames(snapshot)];
  return { crl: [], bundles: bundleMap(names, (name) => x509BundleBytes(snapshot, name)) };
}

/** Each value a plain RFC 7517 JWKS (API §6.2.2). */
export function composeJwtBundlesResponse(snapshot: AgentSnapshot): JWTBundlesResponse {
  const names = [snapshot.trustDomain.name, ...federatedNames(snapshot)];
  return { bundles: bundleMap(names, (name) => Buffer.from(snapshot.jwks.get(name) ?? "", "utf8")) };
}

/** Wire bytes of a bundle response, to skip a send equal to the last one as SPIRE's `proto.Equal` does. */
export function encodeX509BundlesResponse(response: X509BundlesResponse): Buffer {
  return Buffer.from(X509BundlesResponse.encode(response).finish());
}

export function encodeJwtBundlesResponse(response: JWTBundlesResponse): Buffer {
  return Buffer.from(JWTBundlesResponse.encode(response).finish());
}
