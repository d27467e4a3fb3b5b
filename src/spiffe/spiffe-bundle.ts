import { X509Certificate, type JsonWebKey } from "node:crypto";
import { SpiffeSidecarError } from "../errors.js";
import { causeOption, publicJwkMembers, readJwtAuthority, type JwtBundle } from "./jwt-bundle.js";
import type { TrustDomain } from "./spiffe-id.js";
import { isJsonObject, parseStrictJson, StrictJsonError } from "./strict-json.js";

/** A SPIFFE bundle (or bundle map) that breaks Trust Domain & Bundle §4-5; the message says how. */
export class SpiffeBundleError extends SpiffeSidecarError {
  readonly code = "ERR_SPIFFE_BUNDLE";
}

/**
 * The keys a trust domain publishes (Trust Domain & Bundle §4). A bundle carries no trust
 * domain name of its own, so it is always stored with the one it was fetched for (§3).
 */
export interface SpiffeBundle {
  readonly trustDomain: TrustDomain;
  /** DER of each `x509-svid` CA certificate. */
  readonly x509Authorities: readonly Uint8Array[];
  /** `jwt-svid` keys by key ID, in canonical public form without `use`. */
  readonly jwtAuthorities: ReadonlyMap<string, JsonWebKey>;
  /** `spiffe_sequence`: an unsigned 64-bit integer, hence a bigint (§4.1.1). */
  readonly sequence?: bigint;
  /** `spiffe_refresh_hint` in seconds (§4.1.2). */
  readonly refreshHintSeconds?: number;
}

const MAX_SEQUENCE = 2n ** 64n - 1n;
/** Key types that can describe a CA's public key; any other `kty` is ignored (§4.2.1). */
const X509_KEY_TYPES: ReadonlySet<unknown> = new Set(["EC", "RSA", "OKP"]);
const STANDARD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

type Fail = (message: string, cause?: unknown) => never;

/** Parses the JSON of a SPIFFE bundle, as served by a bundle endpoint (Federation §4). */
export function parseSpiffeBundle(trustDomain: TrustDomain, json: string | Uint8Array): SpiffeBundle {
  let document: unknown;
  try {
    document = parseStrictJson(json);
  } catch (error: unknown) {
    if (!(error instanceof StrictJsonError)) throw error;
    throw new SpiffeBundleError(`SPIFFE bundle for trust domain "${trustDomain.name}" is not valid JSON: ${error.message}`, {
      cause: error,
    });
  }
  return spiffeBundleFromJson(trustDomain, document);
}

/**
 * Reads an already-parsed bundle document. Follows the standard where go-spiffe is
 * stricter (SPEC.md §6): an `x509-svid` key without `x5c` is ignored rather than an error,
 * and of several `x5c` values only the first is used (X509-SVID §6.2). `keys: []` is a
 * valid bundle that revokes every authority (§4.1.3).
 */
export function spiffeBundleFromJson(trustDomain: TrustDomain, document: unknown): SpiffeBundle {
  const fail: Fail = (message, cause) => {
    throw new SpiffeBundleError(`SPIFFE bundle for trust domain "${trustDomain.name}": ${message}`, causeOption(cause));
  };
  if (!isJsonObject(document)) fail("must be a JSON object (Trust Domain & Bundle §4.1)");
  const keys = document["keys"];
  if (keys === undefined) fail('the "keys" member must be present; an empty list is valid (Trust Domain & Bundle §4.1.3)');
  if (!Array.isArray(keys)) fail('"keys" must be an array of JWKs (Trust Domain & Bundle §4.1.3)');
  const x509Authorities: Uint8Array[] = [];
  const jwtAuthorities = new Map<string, JsonWebKey>();
  keys.forEach((entry: unknown, index: number) => {
    if (!isJsonObject(entry)) fail(`key at index ${index} is not a JSON object (RFC 7517 §5)`);
    const use = entry["use"];
    if (use === "x509-svid") {
      const der = readX509Authority(entry, index, fail);
      if (der !== undefined) x509Authorities.push(der);
    } else if (use === "jwt-svid") {
      const authority = readJwtAuthority(entry, index, fail);
      if (authority === undefined) return;
      if (jwtAuthorities.has(authority.kid)) {
        fail(`JWT authority key ID ${JSON.stringify(authority.kid)} appears more than once (JWT-SVID §6.1)`);
      }
      jwtAuthorities.set(authority.kid, authority.jwk);
    }
    // A missing or unknown `use` (including WIT's `wit-svid`) is ignored (§4.2.2).
  });
  const sequence = readSequence(document["spiffe_sequence"], fail);
  const refreshHintSeconds = readRefreshHint(document["spiffe_refresh_hint"], fail);
  return {
    trustDomain,
    x509Authorities,
    jwtAuthorities,
    ...(sequence === undefined ? {} : { sequence }),
    ...(refreshHintSeconds === undefined ? {} : { refreshHintSeconds }),
  };
}

/**
 * The CA certificate of an `x509-svid` key, or undefined when the key must be ignored. A
 * `kid` on such a key breaks X509-SVID §6.1 for the publisher, but like go-spiffe we let it
 * pass: it changes nothing about which certificate is trusted.
 */
function readX509Authority(entry: Record<string, unknown>, index: number, fail: Fail): Uint8Array | undefined {
  if (!X509_KEY_TYPES.has(entry["kty"])) return undefined;
  const x5c = entry["x5c"];
  if (x5c === undefined) return undefined;
  if (!Array.isArray(x5c)) fail(`x509-svid key at index ${index}: "x5c" must be an array (RFC 7517 §4.7)`);
  if (x5c.length === 0) return undefined;
  const first: unknown = x5c[0];
  if (typeof first !== "string" || !STANDARD_BASE64.test(first)) {
    fail(`x509-svid key at index ${index}: "x5c" values must be standard base64 DER, not base64url (RFC 7517 §4.7)`);
  }
  const der = new Uint8Array(Buffer.from(first, "base64"));
  if (!isSingleDerSequence(der)) {
    fail(`x509-svid key at index ${index}: "x5c" is not a single DER certificate (X509-SVID §6.1)`);
  }
  try {
    new X509Certificate(der);
  } catch (error: unknown) {
    fail(`x509-svid key at index ${index}: "x5c" does not hold a parsable X.509 certificate (X509-SVID §6.1)`, error);
  }
  return der;
}

/**
 * True when the bytes are exactly one DER SEQUENCE. Node's X509Certificate ignores bytes
 * after the certificate, so without this a corrupted value could pass.
 */
function isSingleDerSequence(der: Uint8Array): boolean {
  if (der.length < 2 || der[0] !== 0x30) return false;
  const first = der[1] ?? 0;
  if (first < 0x80) return 2 + first === der.length;
  const octets = first & 0x7f;
  if (octets === 0 || octets > 4 || der.length < 2 + octets) return false;
  let length = 0;
  for (let i = 0; i < octets; i++) length = length * 256 + (der[2 + i] ?? 0);
  return 2 + octets + length === der.length;
}

function readSequence(value: unknown, fail: Fail): bigint | undefined {
  if (value === undefined) return undefined;
  let sequence: bigint | undefined;
  if (typeof value === "bigint") sequence = value;
  else if (typeof value === "number" && Number.isInteger(value)) sequence = BigInt(value);
  if (sequence === undefined || sequence < 0n || sequence > MAX_SEQUENCE) {
    fail('"spiffe_sequence" must be an integer from 0 to 2^64-1 (Trust Domain & Bundle §4.1.1)');
  }
  return sequence;
}

function readRefreshHint(value: unknown, fail: Fail): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    fail('"spiffe_refresh_hint" must be a whole, non-negative number of seconds (Trust Domain & Bundle §4.1.2)');
  }
  return value;
}

/** The bundle's JWT authorities as a JWT bundle, for validating JWT-SVIDs of its trust domain. */
export function jwtBundleFromSpiffeBundle(bundle: SpiffeBundle): JwtBundle {
  return { trustDomain: bundle.trustDomain, authorities: bundle.jwtAuthorities };
}

function bundleJwks(bundle: SpiffeBundle): JsonWebKey[] {
  const x509Keys = bundle.x509Authorities.map((der) => {
    const publicKey = new X509Certificate(der).publicKey.export({ format: "jwk" });
    return { ...publicJwkMembers(publicKey), use: "x509-svid", x5c: [Buffer.from(der).toString("base64")] };
  });
  const jwtKeys = [...bundle.jwtAuthorities].map(([kid, jwk]) => ({ ...publicJwkMembers(jwk), use: "jwt-svid", kid }));
  return [...x509Keys, ...jwtKeys];
}

/**
 * Marshals a bundle as indented JSON: `spiffe_sequence` (written from the bigint, so no
 * precision is lost), `spiffe_refresh_hint`, then `keys`: x509-svid keys first, each with
 * one standard-base64 `x5c`, then jwt-svid keys with their `kid`.
 */
export function marshalSpiffeBundle(bundle: SpiffeBundle): string {
  const members: string[] = [];
  if (bundle.sequence !== undefined) members.push(`"spiffe_sequence": ${bundle.sequence.toString()}`);
  if (bundle.refreshHintSeconds !== undefined) {
    members.push(`"spiffe_refresh_hint": ${JSON.stringify(bundle.refreshHintSeconds)}`);
  }
  members.push(`"keys": ${JSON.stringify(bundleJwks(bundle), null, 2)}`);
  return `{\n${members.map((member) => indent(member, "  ")).join(",\n")}\n}`;
}

/** Prefixes every line of `text` with `prefix`; used to nest marshalled JSON. */
export function indent(text: string, prefix: string): string {
  return prefix + text.replaceAll("\n", `\n${prefix}`);
}
