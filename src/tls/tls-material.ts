import { describeError } from "../errors.js";
import { encodePem } from "../spiffe/pem.js";
import { parseTrustDomain, type TrustDomain } from "../spiffe/spiffe-id.js";
import { parseX509BundlePem, X509BundleSet, type X509Bundle } from "../spiffe/x509-bundle.js";
import { marshalX509SvidPem, parseX509SvidPem, verifyX509Svid, type X509Svid } from "../spiffe/x509-svid.js";
import { SpiffeTlsFilesError } from "./errors.js";

/** The text of the files the sidecar writes, as read at one moment. */
export interface SpiffeTlsPem {
  /** `svid_file_name`: the leaf, then any intermediates. */
  readonly certificatePem: string;
  /** `svid_key_file_name`: the PKCS#8 private key. */
  readonly privateKeyPem: string;
  /**
   * `svid_bundle_file_name`: the CAs of the workload's own trust domain. It must not be
   * written with `include_federated_domains`, which pools other domains' CAs into it; use
   * `federated_bundle_dir` for those.
   */
  readonly bundlePem: string;
  /** `federated_bundle_dir`: each federated trust domain's CAs, by trust domain name. @default none */
  readonly federatedBundlePems?: ReadonlyMap<string, string>;
}

/** A checked identity: the workload's own SVID and every bundle, kept per trust domain. */
export interface SpiffeTlsMaterial {
  readonly svid: X509Svid;
  /** Own and federated bundles; a peer is only ever checked against its own trust domain's. */
  readonly bundles: X509BundleSet;
  /** For Node's `cert`: the checked chain, leaf first. */
  readonly certificatePem: string;
  /** For Node's `key`. Never logged. */
  readonly privateKeyPem: string;
  /** For Node's `ca`: every authority of every bundle, one PEM block each. */
  readonly authoritiesPem: readonly string[];
}

export interface TlsMaterialOptions {
  /**
   * The instant at which the SVID must be valid.
   * @default new Date()
   */
  now?: Date;
}

function filesError(rule: SpiffeTlsFilesError["rule"], detail: string, cause: unknown): SpiffeTlsFilesError {
  return new SpiffeTlsFilesError(rule, detail, { cause });
}

function parseSvid(pem: SpiffeTlsPem): X509Svid {
  try {
    return parseX509SvidPem(pem.certificatePem, pem.privateKeyPem);
  } catch (error: unknown) {
    throw filesError("invalid-svid", `SVID certificate and key files: ${describeError(error)}`, error);
  }
}

function parseBundle(trustDomain: TrustDomain, text: string, what: string): X509Bundle {
  let bundle: X509Bundle;
  try {
    bundle = parseX509BundlePem(trustDomain, text);
  } catch (error: unknown) {
    throw filesError("invalid-bundle", `${what}: ${describeError(error)}`, error);
  }
  if (bundle.authorities.length === 0) {
    throw new SpiffeTlsFilesError("invalid-bundle", `${what} holds no CA certificate (SPIFFE Trust Domain and Bundle §3)`);
  }
  return bundle;
}

function federatedBundle(own: TrustDomain, name: string, text: string): X509Bundle {
  const what = `federated bundle file ${name}.pem`;
  let trustDomain: TrustDomain;
  try {
    trustDomain = parseTrustDomain(name);
  } catch (error: unknown) {
    throw filesError("invalid-bundle", `${what}: the file name is not a trust domain: ${describeError(error)}`, error);
  }
  if (trustDomain.name === own.name) {
    throw new SpiffeTlsFilesError(
      "invalid-bundle",
      `${what} names the workload's own trust domain; its CAs belong in the bundle file, not among the federated ones`,
    );
  }
  return parseBundle(trustDomain, text, what);
}

/**
 * Builds the TLS material from the files' text. Pure. Refuses any set that would make a
 * broken TLS endpoint: a key that does not match the certificate (a torn read during a
 * rotation), an SVID that does not chain to its own trust domain's bundle or has expired, an
 * empty or unparsable bundle. The workload's own trust domain is the SVID's.
 */
export function spiffeTlsMaterialFromPem(pem: SpiffeTlsPem, options: TlsMaterialOptions = {}): SpiffeTlsMaterial {
  const svid = parseSvid(pem);
  const own = svid.id.trustDomain;
  const bundles = new X509BundleSet([parseBundle(own, pem.bundlePem, "bundle file")]);
  for (const [name, text] of pem.federatedBundlePems ?? new Map<string, string>()) {
    bundles.set(federatedBundle(own, name, text));
  }
  try {
    verifyX509Svid(svid.certificates, bundles, options.now === undefined ? {} : { now: options.now });
  } catch (error: unknown) {
    throw filesError("untrusted-svid", `own SVID ${svid.id.toString()}: ${describeError(error)}`, error);
  }
  // Re-encoded from what was checked, so stray blocks in the files never reach OpenSSL.
  const { certificatesPem, privateKeyPem } = marshalX509SvidPem(svid);
  return {
    svid,
    bundles,
    certificatePem: certificatesPem,
    privateKeyPem,
    authoritiesPem: bundles.bundles().flatMap((bundle) => bundle.authorities.map((authority) => encodePem("CERTIFICATE", authority.der))),
  };
}
