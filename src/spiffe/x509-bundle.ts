import { createHash } from "node:crypto";
import { describeError, SpiffeSidecarError } from "../errors.js";
import { parseCertificate, type ParsedCertificate } from "./certificate.js";
import { concatDer, splitDerSequence } from "./der.js";
import { decodePem, encodePem, type PemBlock } from "./pem.js";
import type { TrustDomain } from "./spiffe-id.js";

/** An X.509 bundle that cannot be parsed; the message names the trust domain. */
export class X509BundleError extends SpiffeSidecarError {
  readonly code = "ERR_X509_BUNDLE";
}

/**
 * The X.509 authorities of one trust domain (SPIFFE Trust Domain and Bundle §3). A bundle
 * carries no name of its own, so the trust domain always travels with it. Authorities need not
 * be SVIDs or even self-signed (an upstream-authority setup publishes intermediates).
 */
export interface X509Bundle {
  readonly trustDomain: TrustDomain;
  readonly authorities: readonly ParsedCertificate[];
}

/** Where a verifier finds the bundle of a trust domain; `undefined` means untrusted. */
export interface X509BundleSource {
  getX509Bundle(trustDomain: TrustDomain): X509Bundle | undefined;
}

const CERTIFICATE_BLOCK = "CERTIFICATE";

/**
 * A trust domain publishes its current CAs plus those rotating in or out, a handful at a time;
 * 512 is far beyond any real bundle and keeps a hostile agent from making every update parse
 * an unbounded list.
 */
export const MAX_BUNDLE_AUTHORITIES = 512;

/** Builds a bundle, dropping repeated certificates but keeping the first-seen order. */
export function x509BundleFromCertificates(
  trustDomain: TrustDomain,
  certificates: Iterable<ParsedCertificate>,
): X509Bundle {
  const seen = new Set<string>();
  const authorities: ParsedCertificate[] = [];
  for (const certificate of certificates) {
    if (seen.has(certificate.fingerprintSha256)) continue;
    seen.add(certificate.fingerprintSha256);
    authorities.push(certificate);
  }
  return { trustDomain, authorities };
}

/**
 * Parses the Workload API form: concatenated DER certificates (SPIFFE Workload API §5.2.1,
 * `bundle` and `federated_bundles`). Empty input is an empty bundle, as go-spiffe's `ParseRaw`
 * has it; whether an empty bundle is acceptable is the caller's decision.
 */
export function parseX509BundleDer(trustDomain: TrustDomain, concatenatedDer: Uint8Array): X509Bundle {
  const previous = lastBundleByTrustDomain.get(trustDomain.name);
  if (previous !== undefined && holdsExactly(previous, concatenatedDer)) return previous;
  const bundle = parseBundleElements(trustDomain, concatenatedDer);
  rememberRecent(lastBundleByTrustDomain, trustDomain.name, bundle);
  return bundle;
}

/**
 * The last bundle parsed for each trust domain. Every Workload API update carries every bundle
 * again (SPIFFE Workload API §4.3) and a trust domain's CAs change only when they rotate: an
 * unchanged bundle is recognised by comparing its bytes, without hashing each certificate, and
 * the same objects are handed out again, so an update of 1,000 federated trust domains
 * allocates next to nothing that outlives it.
 */
const lastBundleByTrustDomain = new Map<string, X509Bundle>();

/** True when `der` is exactly the bundle's authorities, concatenated in order. */
function holdsExactly(bundle: X509Bundle, der: Uint8Array): boolean {
  const only = bundle.authorities.length === 1 ? bundle.authorities[0] : undefined;
  // Most trust domains publish one CA: compared whole, without a view per authority.
  if (only !== undefined) return only.der.length === der.length && Buffer.compare(only.der, der) === 0;
  let offset = 0;
  for (const { der: authority } of bundle.authorities) {
    const end = offset + authority.length;
    if (end > der.length || Buffer.compare(der.subarray(offset, end), authority) !== 0) return false;
    offset = end;
  }
  return offset === der.length;
}

function parseBundleElements(trustDomain: TrustDomain, concatenatedDer: Uint8Array): X509Bundle {
  let elements: Uint8Array[];
  try {
    elements = splitDerSequence(concatenatedDer);
  } catch (error: unknown) {
    throw bundleError(trustDomain, describeError(error), error);
  }
  const bundle = x509BundleFromCertificates(trustDomain, parseEach(trustDomain, elements));
  checkX509BundleAuthorities(bundle);
  return bundle;
}

/**
 * Every authority of a bundle must be a CA (X509-SVID §4.1: signing certificates set `cA`).
 * go-spiffe's `x509bundle` does not check this, but a leaf certificate in a trust bundle is a
 * mix-up upstream, and an app handed that bundle would trust whatever the mix-up put there.
 * The whole bundle is refused, not filtered: a partial bundle would silently drop trust.
 * The Workload API form is always checked; a PEM file read from disk is checked by callers
 * that judge it (`inspect`), since go-spiffe's own PEM fixtures hold non-CA certificates.
 */
export function checkX509BundleAuthorities(bundle: X509Bundle): void {
  bundle.authorities.forEach((authority, index) => {
    if (!authority.isCa) {
      throw bundleError(
        bundle.trustDomain,
        `certificate ${index + 1} (serial ${authority.serialHex}) is not a CA: basicConstraints cA must be true for a bundle authority (X509-SVID §4.1)`,
      );
    }
  });
}

/**
 * Parses PEM `CERTIFICATE` blocks. Any other block type is refused rather than skipped: a
 * private key in a bundle file means something upstream mixed up its outputs, and a bundle we
 * write must never carry one onward.
 */
export function parseX509BundlePem(trustDomain: TrustDomain, pemText: string): X509Bundle {
  if (pemText.trim() === "") return { trustDomain, authorities: [] };
  let blocks: PemBlock[];
  try {
    blocks = decodePem(pemText);
  } catch (error: unknown) {
    throw bundleError(trustDomain, describeError(error), error);
  }
  if (blocks.length === 0) throw bundleError(trustDomain, "no PEM blocks found");
  const foreign = blocks.find((block) => block.type !== CERTIFICATE_BLOCK);
  if (foreign !== undefined) {
    throw bundleError(trustDomain, `found a "${foreign.type}" PEM block; a bundle holds only CERTIFICATE blocks`);
  }
  return x509BundleFromCertificates(trustDomain, parseEach(trustDomain, blocks.map((block) => block.der)));
}

/**
 * Authorities parsed before, by the SHA-256 of their DER. Every Workload API update carries
 * every bundle again (SPIFFE Workload API §4.3), and CAs change only when they rotate, so an
 * update re-parses only what is new; with many federated trust domains, parsing is otherwise
 * most of an update's cost. Least recently used entries go first once the cache is full.
 */
const authorityCache = new Map<string, ParsedCertificate>();
/** Entries kept by each cache of this module: far above any real set of trust domains. */
const CACHE_LIMIT = 4096;

/** Stores `value` as the most recently used entry, dropping the least recently used past the limit. */
function rememberRecent<T>(cache: Map<string, T>, key: string, value: T): void {
  cache.delete(key);
  cache.set(key, value);
  if (cache.size > CACHE_LIMIT) {
    const [oldest] = cache.keys();
    if (oldest !== undefined) cache.delete(oldest);
  }
}

function parseAuthority(der: Uint8Array): ParsedCertificate {
  const key = createHash("sha256").update(der).digest("hex");
  const cached = authorityCache.get(key);
  const parsed = cached ?? parseCertificate(der, { releaseOpenSsl: true });
  rememberRecent(authorityCache, key, parsed);
  return parsed;
}

function parseEach(trustDomain: TrustDomain, ders: readonly Uint8Array[]): ParsedCertificate[] {
  if (ders.length > MAX_BUNDLE_AUTHORITIES) {
    throw bundleError(trustDomain, `${ders.length} certificates; at most ${MAX_BUNDLE_AUTHORITIES} are accepted (MAX_BUNDLE_AUTHORITIES)`);
  }
  return ders.map((der, index) => {
    try {
      return parseAuthority(der);
    } catch (error: unknown) {
      throw bundleError(trustDomain, `certificate ${index + 1}: ${describeError(error)}`, error);
    }
  });
}

function bundleError(trustDomain: TrustDomain, detail: string, cause?: unknown): X509BundleError {
  return new X509BundleError(
    `cannot parse X.509 bundle of trust domain "${trustDomain.name}": ${detail}`,
    cause === undefined ? undefined : { cause },
  );
}

/** The authorities as PEM, in bundle order; byte-identical to go-spiffe's `Marshal`. */
export function marshalX509BundlePem(bundle: X509Bundle): string {
  return bundle.authorities.map((authority) => encodePem(CERTIFICATE_BLOCK, authority.der)).join("");
}

/** The authorities as concatenated DER, the Workload API's wire form. */
export function marshalX509BundleDer(bundle: X509Bundle): Uint8Array {
  return concatDer(bundle.authorities.map((authority) => authority.der));
}

/** Bundles keyed by trust domain; a verifier looks up only the bundle of the SVID's own domain. */
export class X509BundleSet implements X509BundleSource {
  readonly #bundleByTrustDomain = new Map<string, X509Bundle>();

  constructor(bundles: Iterable<X509Bundle> = []) {
    for (const bundle of bundles) this.set(bundle);
  }

  /** Adds or replaces the bundle of `bundle.trustDomain`. */
  set(bundle: X509Bundle): void {
    this.#bundleByTrustDomain.set(bundle.trustDomain.name, bundle);
  }

  get(trustDomain: TrustDomain): X509Bundle | undefined {
    return this.#bundleByTrustDomain.get(trustDomain.name);
  }

  getX509Bundle(trustDomain: TrustDomain): X509Bundle | undefined {
    return this.get(trustDomain);
  }

  /** Trust domains sorted by name, so output built from them is stable. */
  trustDomains(): TrustDomain[] {
    return this.bundles().map((bundle) => bundle.trustDomain);
  }

  /** Bundles sorted by trust domain name. */
  bundles(): X509Bundle[] {
    return [...this.#bundleByTrustDomain.values()].sort((a, b) =>
      a.trustDomain.name < b.trustDomain.name ? -1 : a.trustDomain.name > b.trustDomain.name ? 1 : 0,
    );
  }

  get size(): number {
    return this.#bundleByTrustDomain.size;
  }
}
