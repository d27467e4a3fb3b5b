import type { JsonWebKey } from "node:crypto";
import { marshalBundleMap } from "../../spiffe/bundle-map.js";
import type { JwtBundle, JwtBundleSet } from "../../spiffe/jwt-bundle.js";
import type { SpiffeBundle } from "../../spiffe/spiffe-bundle.js";
import type { TrustDomain } from "../../spiffe/spiffe-id.js";

/**
 * go-jose's member order for a public JWK (`kty`, `kid`, `crv`, `x`, `y`, `n`, `e`): what
 * go-spiffe's `jwtbundle.Bundle.Marshal` emits, so spiffe-helper readers see the same bytes.
 */
function goJoseJwk(kid: string, jwk: JsonWebKey): JsonWebKey {
  const out: JsonWebKey = {};
  if (jwk.kty !== undefined) out.kty = jwk.kty;
  out["kid"] = kid;
  for (const name of ["crv", "x", "y", "n", "e"] as const) {
    if (jwk[name] !== undefined) out[name] = jwk[name];
  }
  return out;
}

/** Go's encoder escapes these inside strings (HTML safety, JSONP line terminators); they only occur in strings. */
const GO_ESCAPED = /[<>&\u2028\u2029]/g;

/** `JSON.stringify` as Go's `json.Marshal` writes it: compact, with Go's extra escapes. */
function goJson(value: unknown): string {
  return JSON.stringify(value).replace(GO_ESCAPED, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The bundle's keys sorted by key ID. go-spiffe ranges over a Go map, so its order is random;
 * a fixed order keeps identical bundles byte-identical on disk.
 */
function sortedKeys(bundle: JwtBundle): JsonWebKey[] {
  return [...bundle.authorities]
    .sort(([a], [b]) => compareNames(a, b))
    .map(([kid, jwk]) => goJoseJwk(kid, jwk));
}

/**
 * spiffe-helper's JWT bundle file: a compact JSON object mapping every trust domain name to the
 * standard base64 of that trust domain's compact JWKS (Go's `json.Marshal` of a
 * `map[string]string`: keys in byte order, no trailing newline). Built by hand because
 * `JSON.stringify` would put integer-like names such as "123" first.
 */
export function renderSpiffeHelperJwtBundle(bundles: JwtBundleSet): string {
  const members = bundles
    .bundles()
    .map((bundle) => {
      const jwks = goJson({ keys: sortedKeys(bundle) });
      return `${goJson(bundle.trustDomain.name)}:${goJson(Buffer.from(jwks, "utf8").toString("base64"))}`;
    });
  return `{${members.join(",")}}`;
}

/**
 * The bundles a plain JWKS carries. A JWK set has no place for a trust domain, so merging
 * domains means a verifier would take a federated domain's key for its own. It therefore
 * holds the workload's own trust domain only, unless `includeFederatedDomains` asks for every
 * trust domain the agent sent (the same rule as the X.509 bundle file). Undefined when the own
 * trust domain is not known yet (no SVID in the state): the file waits rather than guessing.
 */
export function jwksBundles(
  bundles: JwtBundleSet,
  ownTrustDomain: TrustDomain | undefined,
  includeFederatedDomains: boolean,
): JwtBundle[] | undefined {
  if (includeFederatedDomains) return bundles.bundles();
  if (ownTrustDomain === undefined) return undefined;
  const own = bundles.get(ownTrustDomain);
  return own === undefined ? [] : [own];
}

/**
 * One RFC 7517 JWK set of the given bundles' keys, trust domains in name order and keys by
 * key ID within each, without `use` (as SPIRE serves it on the Workload API). RFC 7517 §5
 * only asks (SHOULD) for distinct key IDs, so a key ID two trust domains share stays twice.
 */
export function renderJwks(bundles: readonly JwtBundle[]): string {
  const keys = [...bundles]
    .sort((a, b) => compareNames(a.trustDomain.name, b.trustDomain.name))
    .flatMap((bundle) => sortedKeys(bundle));
  return `${JSON.stringify({ keys }, null, 2)}\n`;
}

/**
 * A SPIFFE bundle map (Trust Domain & Bundle §5) of every trust domain the agent sent, each
 * bundle holding its `jwt-svid` keys only: X.509 authorities travel on their own stream and
 * land in the X.509 bundle files.
 */
export function renderJwtBundleMap(bundles: JwtBundleSet): string {
  const spiffeBundles: SpiffeBundle[] = bundles.bundles().map((bundle) => ({
    trustDomain: bundle.trustDomain,
    x509Authorities: [],
    jwtAuthorities: new Map([...bundle.authorities].sort(([a], [b]) => compareNames(a, b))),
  }));
  return `${marshalBundleMap(spiffeBundles)}\n`;
}
