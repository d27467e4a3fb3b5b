import { createPublicKey, type JsonWebKey, type KeyObject } from "node:crypto";
import { SpiffeSidecarError } from "../errors.js";
import type { TrustDomain } from "./spiffe-id.js";
import { isJsonObject, parseStrictJson, StrictJsonError } from "./strict-json.js";

/** A JWT bundle that cannot be used; the message names the key and the broken rule. */
export class JwtBundleError extends SpiffeSidecarError {
  readonly code = "ERR_JWT_BUNDLE";
}

/** The JWT authorities of one trust domain, by key ID (JWT-SVID §6). */
export interface JwtBundle {
  readonly trustDomain: TrustDomain;
  readonly authorities: ReadonlyMap<string, JsonWebKey>;
}

export interface JwtBundleSource {
  getJwtBundle(trustDomain: TrustDomain): JwtBundle | undefined;
}

/** `ES*` algorithms name these curves; a key on any other curve can verify no JWT-SVID (JWT-SVID §2.1). */
const JWT_SVID_CURVES: ReadonlySet<string> = new Set(["P-256", "P-384", "P-521"]);
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] as const;

/**
 * Reads one `jwt-svid` JWK into its canonical public form (kty, key parameters, kid).
 * Returns undefined for a key type no JWT-SVID algorithm can use: RS/PS need RSA and ES
 * needs EC on a NIST curve (JWT-SVID §2.1), and unknown types are ignored (Trust Domain &
 * Bundle §4.2.1). Everything else that is wrong calls `fail`, which must throw.
 */
export function readJwtAuthority(
  entry: Readonly<Record<string, unknown>>,
  index: number,
  fail: (message: string, cause?: unknown) => never,
): { kid: string; jwk: JsonWebKey } | undefined {
  const kty = entry["kty"];
  if (kty !== "EC" && kty !== "RSA") return undefined;
  if (kty === "EC" && !JWT_SVID_CURVES.has(String(entry["crv"]))) return undefined;
  const kid = entry["kid"];
  if (typeof kid !== "string" || kid === "") {
    fail(`JWT authority at index ${index} has no key ID: "kid" must be set (JWT-SVID §6.1)`);
  }
  const where = `JWT authority ${JSON.stringify(kid)}`;
  if (PRIVATE_MEMBERS.some((member) => entry[member] !== undefined)) {
    fail(`${where} contains private key material: a bundle must publish public keys only (RFC 7517 §4)`);
  }
  const names = kty === "EC" ? (["crv", "x", "y"] as const) : (["n", "e"] as const);
  const jwk: JsonWebKey = { kty };
  for (const name of names) {
    const value = entry[name];
    if (typeof value !== "string") fail(`${where} lacks the "${name}" parameter of a ${kty} key (RFC 7518 §6)`);
    jwk[name] = value;
  }
  jwk["kid"] = kid;
  Object.freeze(jwk);
  try {
    jwtAuthorityPublicKey(jwk);
  } catch (error: unknown) {
    fail(`${where} is not a valid ${kty} public key (RFC 7518 §6)`, error);
  }
  return { kid, jwk };
}

/**
 * The public key of each authority, imported once: the import that checks a bundle key is the
 * one every token it signed is verified with. Before, each token imported its authority again
 * through jose, which cost more than the signature check (RESULTS.md change 9).
 */
const publicKeyByAuthority = new WeakMap<JsonWebKey, KeyObject>();

/**
 * The authority's public key, from its public members only, so a stray `alg`, `use` or
 * `key_ops` cannot change how the key is read. Throws when they are not a valid public key.
 */
export function jwtAuthorityPublicKey(jwk: JsonWebKey): KeyObject {
  let key = publicKeyByAuthority.get(jwk);
  if (key === undefined) {
    key = createPublicKey({ key: publicJwkMembers(jwk), format: "jwk" });
    publicKeyByAuthority.set(jwk, key);
  }
  return key;
}

/**
 * The public key members of a JWK in a fixed order (kty, then its parameters), so marshalled
 * bundles are byte-stable whatever order the input had; callers append `use`, `kid`, `x5c`.
 */
export function publicJwkMembers(jwk: JsonWebKey): JsonWebKey {
  const out: JsonWebKey = {};
  for (const name of ["kty", "crv", "x", "y", "n", "e"] as const) {
    if (jwk[name] !== undefined) out[name] = jwk[name];
  }
  return out;
}

/**
 * Builds a bundle from a JWK set object. Keys with a `use` other than `jwt-svid` are
 * skipped: the Workload API sends none (API §6.2.2) but a SPIFFE bundle may carry them.
 * A duplicate key ID is an error: it would make the authority for a token ambiguous.
 */
export function jwtBundleFromJwkSet(trustDomain: TrustDomain, jwks: { readonly keys?: unknown }): JwtBundle {
  const fail: (message: string, cause?: unknown) => never = (message, cause) => {
    throw new JwtBundleError(`JWT bundle for trust domain "${trustDomain.name}": ${message}`, causeOption(cause));
  };
  const keys: unknown = jwks.keys;
  if (!Array.isArray(keys)) fail('a JWK set must have a "keys" array (RFC 7517 §5)');
  const authorities = new Map<string, JsonWebKey>();
  keys.forEach((entry: unknown, index: number) => {
    if (!isJsonObject(entry)) fail(`key at index ${index} is not a JSON object (RFC 7517 §5)`);
    if (entry["use"] !== undefined && entry["use"] !== "jwt-svid") return;
    const authority = readJwtAuthority(entry, index, fail);
    if (authority === undefined) return;
    if (authorities.has(authority.kid)) {
      fail(`key ID ${JSON.stringify(authority.kid)} appears more than once (JWT-SVID §6.1)`);
    }
    authorities.set(authority.kid, authority.jwk);
  });
  return { trustDomain, authorities };
}

/** Parses a plain RFC 7517 JWK set, the form of each `JWTBundlesResponse.bundles` value. */
export function parseJwtBundle(trustDomain: TrustDomain, jwksJson: string | Uint8Array): JwtBundle {
  let document: unknown;
  try {
    document = parseStrictJson(jwksJson);
  } catch (error: unknown) {
    if (!(error instanceof StrictJsonError)) throw error;
    throw new JwtBundleError(`JWT bundle for trust domain "${trustDomain.name}" is not valid JSON: ${error.message}`, {
      cause: error,
    });
  }
  if (!isJsonObject(document)) {
    throw new JwtBundleError(`JWT bundle for trust domain "${trustDomain.name}" must be a JSON object (RFC 7517 §5)`);
  }
  return jwtBundleFromJwkSet(trustDomain, document);
}

/**
 * Marshals a bundle as the plain JWK set SPIRE serves on the Workload API: no `use`, no
 * SPIFFE parameters, indented (SPEC.md §1.5).
 */
export function marshalJwtBundle(bundle: JwtBundle): string {
  const keys = [...bundle.authorities].map(([kid, jwk]) => ({ ...publicJwkMembers(jwk), kid }));
  return JSON.stringify({ keys }, null, 2);
}

/** JWT bundles keyed by trust domain name; a validator looks up the subject's trust domain here. */
export class JwtBundleSet implements JwtBundleSource {
  readonly #byName = new Map<string, JwtBundle>();

  constructor(bundles: Iterable<JwtBundle> = []) {
    for (const bundle of bundles) this.set(bundle);
  }

  /** Adds or replaces the bundle of `bundle.trustDomain`. */
  set(bundle: JwtBundle): void {
    this.#byName.set(bundle.trustDomain.name, bundle);
  }

  get(trustDomain: TrustDomain): JwtBundle | undefined {
    return this.#byName.get(trustDomain.name);
  }

  getJwtBundle(trustDomain: TrustDomain): JwtBundle | undefined {
    return this.get(trustDomain);
  }

  delete(trustDomain: TrustDomain): boolean {
    return this.#byName.delete(trustDomain.name);
  }

  get size(): number {
    return this.#byName.size;
  }

  /** Sorted by name, so output built from the set is deterministic. */
  trustDomains(): TrustDomain[] {
    return this.bundles().map((bundle) => bundle.trustDomain);
  }

  /** Sorted by trust domain name. */
  bundles(): JwtBundle[] {
    return [...this.#byName.values()].sort((a, b) => compareNames(a.trustDomain.name, b.trustDomain.name));
  }
}

/** Error options that add `cause` only when there is one. */
export function causeOption(cause: unknown): { cause?: unknown } {
  return cause === undefined ? {} : { cause };
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
