import {
  OID_AUTHORITY_KEY_ID,
  OID_BASIC_CONSTRAINTS,
  OID_EXT_KEY_USAGE,
  OID_KEY_USAGE,
  OID_SUBJECT_ALT_NAME,
  OID_SUBJECT_KEY_ID,
  type ParsedCertificate,
} from "./certificate.js";
import { parseSpiffeId, type SpiffeId } from "./spiffe-id.js";
import type { X509Bundle, X509BundleSource } from "./x509-bundle.js";
import {
  checkLeafCertificate,
  checkValidityPeriod,
  describeCertificate,
  X509SvidError,
} from "./x509-svid-rules.js";

export interface VerifyX509SvidOptions {
  /**
   * The instant at which every certificate on the path must be valid.
   * @default new Date()
   */
  now?: Date;
}

export interface VerifiedX509Svid {
  readonly id: SpiffeId;
  /** The path that verified: leaf, intermediates, then the bundle authority it reached. */
  readonly chain: readonly ParsedCertificate[];
}

/** Bounds on the search: SPIFFE chains are short, and the search must end on hostile input. */
export const MAX_PATH_CERTIFICATES = 10;
/** Go's `x509.Verify` uses the same budget against chains built to make path search explode. */
export const MAX_SIGNATURE_CHECKS = 100;

/**
 * Extensions whose meaning we evaluate. A critical extension outside this set (for example
 * nameConstraints, which X509-SVID §4.2 allows) makes the path invalid, as RFC 5280 §4.2
 * requires of an implementation that does not process it.
 */
const HANDLED_EXTENSIONS: ReadonlySet<string> = new Set([
  OID_BASIC_CONSTRAINTS,
  OID_KEY_USAGE,
  OID_EXT_KEY_USAGE,
  OID_SUBJECT_ALT_NAME,
  OID_SUBJECT_KEY_ID,
  OID_AUTHORITY_KEY_ID,
]);

/**
 * Verifies a presented chain (leaf first) as X509-SVID §5 describes: the leaf rules, then an
 * RFC 5280 path from the leaf through presented intermediates to any authority in the bundle
 * of the leaf's own trust domain. Bundles of different trust domains are never pooled
 * (SPIFFE Federation §4.2). An authority need not be self-signed: reaching any certificate in
 * the bundle ends the path, as SPIRE upstream-authority bundles publish intermediates.
 */
export function verifyX509Svid(
  certificates: readonly ParsedCertificate[],
  bundles: X509BundleSource,
  options: VerifyX509SvidOptions = {},
): VerifiedX509Svid {
  const now = options.now ?? new Date();
  const [leaf, ...intermediates] = certificates;
  if (leaf === undefined) {
    throw new X509SvidError("no-certificates", "X509-SVID chain contains no certificates (X509-SVID §5.1)");
  }
  const id = checkLeafCertificate(leaf);
  const bundle = bundles.getX509Bundle(id.trustDomain);
  if (bundle === undefined) {
    throw new X509SvidError(
      "no-bundle",
      `no X.509 bundle for trust domain "${id.trustDomain.name}": the SVID is untrusted (SPIFFE Workload API §4.6)`,
    );
  }
  const leafProblem = checkValidityPeriod(leaf, now) ?? checkCriticalExtensions(leaf);
  if (leafProblem !== undefined) throw leafProblem;
  const search = new PathSearch(bundle, intermediates, now);
  const chain = search.extend([leaf]);
  if (chain === undefined) throw search.failure();
  return { id, chain };
}

/**
 * Depth-first search for an issuer path. A candidate issuer is a certificate whose subject
 * chains to the current issuer name and whose key verifies the current signature; the CA,
 * key usage, path length and validity checks come after, so that the error can say precisely
 * why the actual issuer was refused (expired, not a CA, ...).
 */
class PathSearch {
  readonly #anchors: readonly ParsedCertificate[];
  readonly #candidates: readonly ParsedCertificate[];
  readonly #anchorFingerprints: ReadonlySet<string>;
  readonly #now: Date;
  readonly #trustDomainName: string;
  #signatureChecks = 0;
  #firstRefusal: X509SvidError | undefined;

  constructor(bundle: X509Bundle, intermediates: readonly ParsedCertificate[], now: Date) {
    this.#anchors = bundle.authorities;
    this.#anchorFingerprints = new Set(bundle.authorities.map((anchor) => anchor.fingerprintSha256));
    this.#candidates = [...bundle.authorities, ...intermediates].filter(
      (certificate, index, all) => all.findIndex((c) => c.fingerprintSha256 === certificate.fingerprintSha256) === index,
    );
    this.#now = now;
    this.#trustDomainName = bundle.trustDomain.name;
  }

  /** Returns a complete path that starts with `path`, or `undefined` if none exists. */
  extend(path: readonly ParsedCertificate[]): ParsedCertificate[] | undefined {
    const current = path[path.length - 1];
    if (current === undefined) return undefined;
    if (path.length >= MAX_PATH_CERTIFICATES) {
      this.#refuse(new X509SvidError("chain-unverified", `no path within ${MAX_PATH_CERTIFICATES} certificates (X509-SVID §5.1)`));
      return undefined;
    }
    for (const issuer of this.#candidates) {
      if (path.some((onPath) => onPath.fingerprintSha256 === issuer.fingerprintSha256)) continue;
      if (!namesChain(current, issuer)) continue;
      if (++this.#signatureChecks > MAX_SIGNATURE_CHECKS) {
        this.#refuse(new X509SvidError("chain-unverified", `gave up after ${MAX_SIGNATURE_CHECKS} signature checks (X509-SVID §5.1)`));
        return undefined;
      }
      if (!signatureVerifies(current, issuer)) continue;
      const problem = this.#issuerProblem(issuer, path);
      if (problem !== undefined) {
        this.#refuse(problem);
        continue;
      }
      const extended = [...path, issuer];
      if (this.#anchorFingerprints.has(issuer.fingerprintSha256)) return extended;
      const complete = this.extend(extended);
      if (complete !== undefined) return complete;
    }
    return undefined;
  }

  /** The error for a failed search: the first concrete refusal, else "unknown authority". */
  failure(): X509SvidError {
    const prefix = `certificate chain does not verify to the bundle of trust domain "${this.#trustDomainName}"`;
    if (this.#firstRefusal !== undefined) {
      return new X509SvidError(this.#firstRefusal.rule, `${prefix}: ${this.#firstRefusal.message}`);
    }
    const reason =
      this.#anchors.length === 0
        ? "the bundle has no authorities"
        : "no certificate in the chain or the bundle signed it (certificate signed by unknown authority)";
    return new X509SvidError("chain-unverified", `${prefix}: ${reason} (X509-SVID §5.1)`);
  }

  #refuse(problem: X509SvidError): void {
    this.#firstRefusal ??= problem;
  }

  #issuerProblem(issuer: ParsedCertificate, path: readonly ParsedCertificate[]): X509SvidError | undefined {
    const who = describeCertificate(issuer);
    if (!issuer.isCa) {
      return new X509SvidError("issuer-not-ca", `issuer ${who} is not a CA (RFC 5280 §6.1.4 (k))`);
    }
    if (issuer.keyUsage !== undefined && !issuer.keyUsage.has("keyCertSign")) {
      return new X509SvidError(
        "issuer-missing-key-cert-sign",
        `issuer ${who} lacks 'keyCertSign' key usage (RFC 5280 §6.1.4 (n))`,
      );
    }
    const below = path.slice(1).filter((certificate) => certificate.subject !== certificate.issuer).length;
    if (issuer.pathLenConstraint !== undefined && below > issuer.pathLenConstraint) {
      return new X509SvidError(
        "path-length-exceeded",
        `issuer ${who} allows ${issuer.pathLenConstraint} intermediates below it, the path has ${below} (RFC 5280 §4.2.1.9)`,
      );
    }
    return checkValidityPeriod(issuer, this.#now) ?? checkCriticalExtensions(issuer) ?? this.#foreignTrustDomain(issuer);
  }

  /**
   * A signing certificate that names a trust domain must name the leaf's (X509-SVID §3.2 says
   * it SHOULD reside there). Without this, a bundle sent for one trust domain vouches for an
   * SVID of another: an agent of `example.org` could hand out `spiffe://other.org/...` signed
   * by its own CA and the chain would verify, since the response labels the bundle with the
   * SVID's trust domain. Only a federated bundle of `other.org` may vouch for `other.org`.
   */
  #foreignTrustDomain(issuer: ParsedCertificate): X509SvidError | undefined {
    const named = trustDomainsNamedBy(issuer).find((name) => name !== this.#trustDomainName);
    if (named === undefined) return undefined;
    return new X509SvidError(
      "signing-cert-foreign-trust-domain",
      `issuer ${describeCertificate(issuer)} belongs to trust domain "${named}", not to "${this.#trustDomainName}" of the leaf; ` +
        "an SVID must chain to its own trust domain's authorities (X509-SVID §3.2, SPIFFE Federation §4.2)",
    );
  }
}

/** Trust domains of the SPIFFE IDs among a certificate's URI SANs; other URIs are not ours to judge. */
function trustDomainsNamedBy(certificate: ParsedCertificate): string[] {
  return certificate.uriSans.flatMap((uri) => {
    if (!uri.startsWith("spiffe://")) return [];
    try {
      return [parseSpiffeId(uri).trustDomain.name];
    } catch {
      // A malformed SPIFFE URI on a CA names no trust domain we could compare.
      return [];
    }
  });
}

/**
 * Name chaining (RFC 5280 §6.1.3 (a)(4)). OpenSSL's `checkIssued` compares canonical names but
 * also refuses mismatched key identifiers (only hints, RFC 5280 §4.2.1.1) and issuers without
 * keyCertSign (which we report precisely later), so equal RFC 4514 names also count.
 */
function namesChain(subject: ParsedCertificate, issuer: ParsedCertificate): boolean {
  return subject.issuer === issuer.subject || subject.x509.checkIssued(issuer.x509);
}

function signatureVerifies(subject: ParsedCertificate, issuer: ParsedCertificate): boolean {
  try {
    return subject.x509.verify(issuer.publicKey);
  } catch {
    // A key of another algorithm than the signature's is simply not the issuer.
    return false;
  }
}

function checkCriticalExtensions(certificate: ParsedCertificate): X509SvidError | undefined {
  const unhandled = certificate.criticalExtensions.filter((oid) => !HANDLED_EXTENSIONS.has(oid));
  if (unhandled.length === 0) return undefined;
  return new X509SvidError(
    "unhandled-critical-extension",
    `${describeCertificate(certificate)} has critical extension ${unhandled.join(", ")} that this verifier does not process (RFC 5280 §4.2)`,
  );
}
