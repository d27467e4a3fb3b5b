import { describeError, SpiffeSidecarError } from "../errors.js";
import { JwtBundleSet, parseJwtBundle } from "../spiffe/jwt-bundle.js";
import type { JwtBundle } from "../spiffe/jwt-bundle.js";
import { parseSpiffeId, parseTrustDomain } from "../spiffe/spiffe-id.js";
import type { SpiffeId, TrustDomain } from "../spiffe/spiffe-id.js";
import { parseX509BundleDer, X509BundleSet } from "../spiffe/x509-bundle.js";
import type { X509Bundle } from "../spiffe/x509-bundle.js";
import { parseX509SvidDer, verifyX509Svid, X509SvidError } from "../spiffe/x509-svid.js";
import type { X509Svid } from "../spiffe/x509-svid.js";
import { WorkloadApiResponseError } from "./errors.js";
import type { JWTBundlesResponse, X509BundlesResponse, X509SVID, X509SVIDResponse } from "./generated/workload.js";

/** One validated `X509SVIDResponse`: the workload's full X.509 state (Workload API §4.3). */
export interface X509Context {
  /** In the server's order; the first is the default identity (Workload API §8). */
  readonly svids: readonly X509Svid[];
  /** The SVIDs' own trust domain bundles plus the federated ones. */
  readonly bundles: X509BundleSet;
}

export interface DecodeOptions {
  /**
   * The instant at which every SVID must be valid.
   * @default new Date()
   */
  readonly now?: Date;
}

function reject(rule: string, message: string, cause?: unknown): never {
  throw new WorkloadApiResponseError(rule, message, cause === undefined ? {} : { cause });
}

/** The rule a wrapped error broke: an SVID error's own `rule`, else its `code`. */
function ruleOf(error: unknown): string {
  if (error instanceof X509SvidError) return error.rule;
  return error instanceof SpiffeSidecarError ? error.code : "invalid";
}

/** Runs a parse step; its failure becomes a rejection of the message, prefixed with `where`. */
function orReject<T>(where: string, fn: () => T): T {
  try {
    return fn();
  } catch (error: unknown) {
    return reject(ruleOf(error), `${where}: ${describeError(error)}`, error);
  }
}

/** Accepts `spiffe://td` (what SPIRE sends) or a bare `td`, as go-spiffe does (SPEC.md §1.5). */
function trustDomainOfKey(where: string, key: string): TrustDomain {
  return orReject(`${where} key ${JSON.stringify(key)} is not a trust domain`, () => parseTrustDomain(key));
}

function nonEmptyX509Bundle(where: string, trustDomain: TrustDomain, der: Uint8Array): X509Bundle {
  const bundle = orReject(where, () => parseX509BundleDer(trustDomain, der));
  if (bundle.authorities.length === 0) {
    reject(
      "empty-bundle",
      `${where}: the X.509 bundle of trust domain "${trustDomain.name}" is empty (Workload API §5.2)`,
    );
  }
  return bundle;
}

/** Later SVIDs that repeat a non-empty hint are dropped; the first one wins (Workload API §5.2.1). */
function withUniqueHints(svids: readonly X509SVID[]): { svid: X509SVID; index: number }[] {
  const seen = new Set<string>();
  const kept: { svid: X509SVID; index: number }[] = [];
  svids.forEach((svid, index) => {
    if (svid.hint !== "" && seen.has(svid.hint)) return;
    if (svid.hint !== "") seen.add(svid.hint);
    kept.push({ svid, index });
  });
  return kept;
}

function decodeSvid(raw: X509SVID, index: number, now: Date): { svid: X509Svid; bundle: X509Bundle } {
  const where = `X509SVIDResponse.svids[${index}]`;
  const id: SpiffeId = orReject(`${where}.spiffe_id`, () => parseSpiffeId(raw.spiffeId));
  const bundle = nonEmptyX509Bundle(`${where}.bundle`, id.trustDomain, raw.bundle);
  const named = `${where} (${raw.spiffeId})`;
  const svid = orReject(named, () => parseX509SvidDer(raw.x509Svid, raw.x509SvidKey, { hint: raw.hint }));
  if (svid.id.toString() !== id.toString()) {
    reject(
      "spiffe-id-mismatch",
      `${where}: spiffe_id "${raw.spiffeId}" does not match the leaf certificate's URI SAN ` +
        `"${svid.id.toString()}" (Workload API §5.2.1)`,
    );
  }
  // Each SVID is checked against the bundle sent with it, which is its own trust domain's.
  const ownBundle = new X509BundleSet([bundle]);
  orReject(named, () => verifyX509Svid(svid.certificates, ownBundle, { now }));
  return { svid, bundle };
}

/**
 * Validates an `X509SVIDResponse` and turns it into an X509Context, or throws
 * WorkloadApiResponseError. One bad SVID rejects the whole message: every message is the full
 * state (Workload API §4.3), so delivering the good part would silently drop an identity, and
 * could change which SVID is first (the default) or carries a hint. Keeping the last good
 * state until a wholly valid one arrives is what DESIGN §3.1 asks for.
 */
export function decodeX509Context(message: X509SVIDResponse, options: DecodeOptions = {}): X509Context {
  const now = options.now ?? new Date();
  if (message.svids.length === 0) {
    reject("no-svids", "X509SVIDResponse contains no SVIDs, but it MUST contain one or more (Workload API §5.2.1)");
  }
  const svids: X509Svid[] = [];
  const bundles = new X509BundleSet();
  for (const { svid: raw, index } of withUniqueHints(message.svids)) {
    const { svid, bundle } = decodeSvid(raw, index, now);
    svids.push(svid);
    // SPIRE sends the same bundle with every SVID of a trust domain; the first one stands.
    if (bundles.get(bundle.trustDomain) === undefined) bundles.set(bundle);
  }
  for (const [key, der] of Object.entries(message.federatedBundles)) {
    const where = `X509SVIDResponse.federated_bundles[${JSON.stringify(key)}]`;
    const trustDomain = trustDomainOfKey("X509SVIDResponse.federated_bundles", key);
    if (bundles.get(trustDomain) !== undefined) {
      reject(
        "duplicate-trust-domain",
        `${where}: trust domain "${trustDomain.name}" already has a bundle in this response; ` +
          "a federated bundle must name another trust domain",
      );
    }
    bundles.set(nonEmptyX509Bundle(where, trustDomain, der));
  }
  return { svids, bundles };
}

/** Reads a bundle map whose keys are trust domains, refusing two keys for the same domain. */
function decodeBundleMap<B extends { trustDomain: TrustDomain }>(
  messageName: string,
  entries: Record<string, Buffer>,
  parse: (where: string, trustDomain: TrustDomain, value: Buffer) => B,
): B[] {
  const keys = Object.keys(entries);
  if (keys.length === 0) {
    reject(
      "no-bundles",
      `${messageName}.bundles is empty, but it MUST contain at least the bundle of the server's ` +
        "trust domain (Workload API §5.2.2, §6.2.2)",
    );
  }
  const seen = new Set<string>();
  return keys.map((key) => {
    const where = `${messageName}.bundles[${JSON.stringify(key)}]`;
    const trustDomain = trustDomainOfKey(`${messageName}.bundles`, key);
    if (seen.has(trustDomain.name)) {
      reject("duplicate-trust-domain", `${where}: trust domain "${trustDomain.name}" appears under two keys`);
    }
    seen.add(trustDomain.name);
    return parse(where, trustDomain, entries[key] ?? Buffer.alloc(0));
  });
}

/** Validates an `X509BundlesResponse`: every bundle parses and is non-empty. */
export function decodeX509Bundles(message: X509BundlesResponse): X509BundleSet {
  return new X509BundleSet(decodeBundleMap("X509BundlesResponse", message.bundles, nonEmptyX509Bundle));
}

/**
 * Validates a `JWTBundlesResponse`: each value is a plain RFC 7517 JWK set (Workload API
 * §6.2.2). A set with no keys is kept: that trust domain simply vouches for no JWT-SVID.
 */
export function decodeJwtBundles(message: JWTBundlesResponse): JwtBundleSet {
  const parse = (where: string, trustDomain: TrustDomain, value: Buffer): JwtBundle =>
    orReject(where, () => parseJwtBundle(trustDomain, value));
  return new JwtBundleSet(decodeBundleMap("JWTBundlesResponse", message.bundles, parse));
}
