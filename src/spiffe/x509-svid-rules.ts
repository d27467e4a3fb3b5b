import { describeError, RuleViolationError } from "../errors.js";
import { EKU_CLIENT_AUTH, EKU_SERVER_AUTH, type ParsedCertificate } from "./certificate.js";
import { hasWorkloadPath, parseSpiffeId, type SpiffeId } from "./spiffe-id.js";

/** Stable ids of the X.509-SVID rules; tests and metrics match on these, not on messages. */
export type X509SvidRule =
  | "no-certificates"
  | "malformed-certificate"
  | "malformed-key"
  | "no-uri-san"
  | "multiple-uri-sans"
  | "invalid-spiffe-id"
  | "leaf-id-without-path"
  | "leaf-is-ca"
  | "leaf-missing-digital-signature"
  | "leaf-key-cert-sign"
  | "leaf-crl-sign"
  | "leaf-key-usage-not-critical"
  | "leaf-eku-incomplete"
  | "signing-cert-not-ca"
  | "signing-cert-missing-key-cert-sign"
  | "key-mismatch"
  | "exceeds-bound"
  | "signing-cert-foreign-trust-domain"
  | "no-bundle"
  | "not-yet-valid"
  | "expired"
  | "unhandled-critical-extension"
  | "issuer-not-ca"
  | "issuer-missing-key-cert-sign"
  | "path-length-exceeded"
  | "chain-unverified";

/** An X.509-SVID that breaks a rule; `rule` says which one. Messages never carry key bytes. */
export class X509SvidError extends RuleViolationError<X509SvidRule> {
  readonly code = "ERR_X509_SVID";
}

/** `certificate <serial hex>` for messages: enough to find it with `openssl x509 -serial`. */
export function describeCertificate(certificate: ParsedCertificate): string {
  return `certificate ${certificate.serialHex}`;
}

/** Reads the SPIFFE ID from the single URI SAN (X509-SVID §2, §5.2). */
export function spiffeIdFromCertificate(certificate: ParsedCertificate): SpiffeId {
  const [uri, ...more] = certificate.uriSans;
  if (uri === undefined) throw new X509SvidError("no-uri-san", "certificate contains no URI SAN (X509-SVID §2)");
  if (more.length > 0) {
    throw new X509SvidError(
      "multiple-uri-sans",
      `certificate contains more than one URI SAN: found ${more.length + 1}, exactly one is allowed (X509-SVID §2)`,
    );
  }
  try {
    return parseSpiffeId(uri);
  } catch (error: unknown) {
    throw new X509SvidError(
      "invalid-spiffe-id",
      `certificate URI SAN ${JSON.stringify(uri)} is not a valid SPIFFE ID: ${describeError(error)} (X509-SVID §2)`,
      { cause: error },
    );
  }
}

/**
 * The leaf rules of X509-SVID §5.2 in go-spiffe's order (ID, CA flag, key usage bits), so the
 * first broken rule reported matches what go-spiffe reports for the same certificate.
 *
 * Two issuance rules are also enforced on receipt, stricter than go-spiffe:
 * - keyUsage "MUST be marked critical" (§4.3): Go's `x509.CreateCertificate` always marks it
 *   critical, so every SVID SPIRE or go-spiffe tooling issues complies, as do all go-spiffe
 *   fixtures.
 * - when EKU is present it must carry both serverAuth and clientAuth (§4.4): SPIRE sets both;
 *   an SVID lacking one would fail later inside the TLS stack of the app we hand it to, where
 *   the cause is far harder to see. An absent EKU is allowed (§4.4 says "SHOULD include").
 */
export function checkLeafCertificate(leaf: ParsedCertificate): SpiffeId {
  const id = spiffeIdFromCertificate(leaf);
  if (!hasWorkloadPath(id)) {
    throw new X509SvidError(
      "leaf-id-without-path",
      `leaf certificate SPIFFE ID "${id.toString()}" must have a non-root path (X509-SVID §3.1)`,
    );
  }
  if (leaf.isCa) {
    throw new X509SvidError("leaf-is-ca", "leaf certificate must not have CA flag set to true (X509-SVID §4.1)");
  }
  checkLeafKeyUsage(leaf);
  const missingEku = [EKU_SERVER_AUTH, EKU_CLIENT_AUTH].filter((oid) => !leaf.extKeyUsage.includes(oid));
  if (leaf.extKeyUsage.length > 0 && missingEku.length > 0) {
    const names = missingEku.map((oid) => (oid === EKU_SERVER_AUTH ? "serverAuth" : "clientAuth")).join(" and ");
    throw new X509SvidError(
      "leaf-eku-incomplete",
      `leaf certificate extended key usage lacks ${names}; when present it must include both serverAuth and clientAuth (X509-SVID §4.4)`,
    );
  }
  return id;
}

function checkLeafKeyUsage(leaf: ParsedCertificate): void {
  const usage = leaf.keyUsage;
  if (usage === undefined || !usage.has("digitalSignature")) {
    throw new X509SvidError(
      "leaf-missing-digital-signature",
      "leaf certificate must have 'digitalSignature' set as key usage (X509-SVID §4.3)",
    );
  }
  if (usage.has("keyCertSign")) {
    throw new X509SvidError("leaf-key-cert-sign", "leaf certificate must not have 'keyCertSign' set as key usage (X509-SVID §4.3)");
  }
  if (usage.has("cRLSign")) {
    throw new X509SvidError("leaf-crl-sign", "leaf certificate must not have 'cRLSign' set as key usage (X509-SVID §4.3)");
  }
  if (!leaf.keyUsageCritical) {
    throw new X509SvidError("leaf-key-usage-not-critical", "leaf certificate keyUsage extension must be marked critical (X509-SVID §4.3)");
  }
}

/** Every certificate after the leaf signs: CA flag and keyCertSign (X509-SVID §4.1, §4.3). */
export function checkSigningCertificates(certificates: readonly ParsedCertificate[]): void {
  certificates.forEach((certificate, index) => {
    const where = `chain position ${index + 2}, ${describeCertificate(certificate)}`;
    if (!certificate.isCa) {
      throw new X509SvidError(
        "signing-cert-not-ca",
        `signing certificate must have CA flag set to true (${where}; X509-SVID §4.1)`,
      );
    }
    if (certificate.keyUsage?.has("keyCertSign") !== true) {
      throw new X509SvidError(
        "signing-cert-missing-key-cert-sign",
        `signing certificate must have 'keyCertSign' set as key usage (${where}; X509-SVID §4.3)`,
      );
    }
  });
}

/** Validity of one certificate at `now` (RFC 5280 §6.1.3 (a)(2), via X509-SVID §5.1). */
export function checkValidityPeriod(certificate: ParsedCertificate, now: Date): X509SvidError | undefined {
  const checked = `checked at ${now.toISOString()}`;
  if (now < certificate.notBefore) {
    return new X509SvidError(
      "not-yet-valid",
      `${describeCertificate(certificate)} is not valid before ${certificate.notBefore.toISOString()} (${checked}; X509-SVID §5.1)`,
    );
  }
  if (now > certificate.notAfter) {
    return new X509SvidError(
      "expired",
      `${describeCertificate(certificate)} expired at ${certificate.notAfter.toISOString()} (${checked}; X509-SVID §5.1)`,
    );
  }
  return undefined;
}
