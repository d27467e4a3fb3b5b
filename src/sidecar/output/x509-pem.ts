import type { ParsedCertificate } from "../../spiffe/certificate.js";
import { encodePem } from "../../spiffe/pem.js";
import type { X509Bundle } from "../../spiffe/x509-bundle.js";
import type { X509IdentityState } from "./identity-state.js";
import { OutputRenderError, type OutputOptions } from "./output-options.js";

const CERTIFICATE_BLOCK = "CERTIFICATE";
const PRIVATE_KEY_BLOCK = "PRIVATE KEY";

/** A certificate headed for a bundle output, with the trust domain it is trusted for. */
export interface BundleCertificate {
  readonly trustDomainName: string;
  readonly certificate: ParsedCertificate;
}

type X509Selection = Pick<OutputOptions, "addIntermediatesToBundle" | "includeFederatedDomains" | "omitExpired">;

/**
 * spiffe-helper drops a certificate when `NotAfter.Before(now)`: one that expires exactly now
 * is still written, as RFC 5280 §4.1.2.5 counts notAfter as inside the validity period.
 */
function isExpired(certificate: ParsedCertificate, now: Date): boolean {
  return certificate.notAfter.getTime() < now.getTime();
}

function keepUnexpired<T>(items: readonly T[], certificateOf: (item: T) => ParsedCertificate, options: X509Selection, now: Date): T[] {
  return options.omitExpired ? items.filter((item) => !isExpired(certificateOf(item), now)) : [...items];
}

/** The bundle of the SVID's own trust domain; an SVID we cannot anchor is never written. */
function ownBundle(x509: X509IdentityState): X509Bundle {
  const trustDomain = x509.svid.id.trustDomain;
  const bundle = x509.bundles.get(trustDomain);
  if (bundle === undefined) {
    throw new OutputRenderError(
      `no X.509 bundle for trust domain "${trustDomain.name}", the SVID's own: ` +
        "the agent must send it with the SVID (SPIFFE Workload API §5.2.1)",
    );
  }
  return bundle;
}

/** The federated bundles, sorted by trust domain name as go-spiffe's `Set.Bundles` returns them. */
export function federatedBundles(x509: X509IdentityState): X509Bundle[] {
  const ownName = x509.svid.id.trustDomain.name;
  return x509.bundles.bundles().filter((bundle) => bundle.trustDomain.name !== ownName);
}

/** The SVID file's certificates: leaf then intermediates, or the leaf alone when they move to the bundle. */
export function svidFileCertificates(x509: X509IdentityState, options: X509Selection, now: Date): ParsedCertificate[] {
  const chain = options.addIntermediatesToBundle ? x509.svid.certificates.slice(0, 1) : x509.svid.certificates;
  return keepUnexpired(chain, (certificate) => certificate, options, now);
}

/**
 * The bundle file's certificates in spiffe-helper's order: the own trust domain's CAs, then the
 * SVID's intermediates (with `addIntermediatesToBundle`), then each federated trust domain's
 * CAs in name order (with `includeFederatedDomains`). Repeats are kept, as spiffe-helper does.
 */
export function bundleFileCertificates(x509: X509IdentityState, options: X509Selection, now: Date): BundleCertificate[] {
  const own = ownBundle(x509);
  const ownName = own.trustDomain.name;
  const label = (trustDomainName: string) => (certificate: ParsedCertificate) => ({ trustDomainName, certificate });
  const certificates = own.authorities.map(label(ownName));
  if (options.addIntermediatesToBundle) certificates.push(...x509.svid.certificates.slice(1).map(label(ownName)));
  if (options.includeFederatedDomains) {
    for (const bundle of federatedBundles(x509)) {
      certificates.push(...bundle.authorities.map(label(bundle.trustDomain.name)));
    }
  }
  return keepUnexpired(certificates, (item) => item.certificate, options, now);
}

/** One trust domain's CAs alone: its file in `federatedBundleDir`, its entry of the SPIFFE bundle map. */
export function trustDomainCertificates(bundle: X509Bundle, options: X509Selection, now: Date): ParsedCertificate[] {
  return keepUnexpired(bundle.authorities, (certificate) => certificate, options, now);
}

/** PEM of certificates already encoded: bundle authorities recur in every update, parsed once (x509-bundle.ts). */
const pemByCertificate = new WeakMap<ParsedCertificate, string>();

function certificatePem(certificate: ParsedCertificate): string {
  let pem = pemByCertificate.get(certificate);
  if (pem === undefined) {
    pem = encodePem(CERTIFICATE_BLOCK, certificate.der);
    pemByCertificate.set(certificate, pem);
  }
  return pem;
}

/** `CERTIFICATE` blocks as Go's `pem.EncodeToMemory` writes them, concatenated; empty for none. */
export function certificatesPem(certificates: readonly ParsedCertificate[]): string {
  return certificates.map(certificatePem).join("");
}

/**
 * The last bytes rendered for a list of bundle certificates, by its first one. Every update
 * carries every bundle again, and an unchanged one arrives as the same objects (x509-bundle.ts),
 * so the bundle file of 1,000 federated trust domains is the same ~850 KB each time: made once,
 * not joined, encoded and copied again per update.
 */
const lastBytesByFirstCertificate = new WeakMap<ParsedCertificate, { readonly certificates: readonly ParsedCertificate[]; readonly bytes: Uint8Array }>();

/** `certificatesPem` as UTF-8 bytes; the same array again for the same certificates. Never mutate it. */
export function certificatesPemBytes(certificates: readonly ParsedCertificate[]): Uint8Array {
  const [first] = certificates;
  if (first === undefined) return new Uint8Array();
  const last = lastBytesByFirstCertificate.get(first);
  if (last !== undefined && last.certificates.length === certificates.length && last.certificates.every((item, index) => item === certificates[index])) {
    return last.bytes;
  }
  const bytes = new Uint8Array(Buffer.from(certificatesPem(certificates), "utf8"));
  lastBytesByFirstCertificate.set(first, { certificates, bytes });
  return bytes;
}

/** The private key as a PKCS#8 `PRIVATE KEY` block (spiffe-helper's `MarshalPKCS8PrivateKey`). */
export function privateKeyPem(x509: X509IdentityState): string {
  return encodePem(PRIVATE_KEY_BLOCK, x509.svid.privateKeyDer);
}

/** The SVID's private key as PKCS#8 DER, for the PKCS#12 keystore. */
export function privateKeyDer(x509: X509IdentityState): Uint8Array {
  return x509.svid.privateKeyDer;
}
