import { createHash, X509Certificate, type KeyObject } from "node:crypto";
import { describeError, SpiffeSidecarError } from "../errors.js";
import {
  decodeBasicConstraints,
  decodeExtKeyUsage,
  decodeKeyUsageBits,
  decodeUriSans,
  readTbsFields,
  serialHexOf,
  type RawExtension,
  type TbsFields,
} from "./certificate-der.js";
import { formatTag, readDerHeader, SEQUENCE_TAG, type DerHeader } from "./der.js";

/** DER that is not one well-formed X.509 certificate. */
export class CertificateError extends SpiffeSidecarError {
  readonly code = "ERR_CERTIFICATE";
}

/** The keyUsage bits of RFC 5280 §4.2.1.3, by their ASN.1 names. */
export type KeyUsageName =
  | "digitalSignature"
  | "nonRepudiation"
  | "keyEncipherment"
  | "dataEncipherment"
  | "keyAgreement"
  | "keyCertSign"
  | "cRLSign"
  | "encipherOnly"
  | "decipherOnly";

export const KEY_USAGE_NAMES: readonly KeyUsageName[] = [
  "digitalSignature",
  "nonRepudiation",
  "keyEncipherment",
  "dataEncipherment",
  "keyAgreement",
  "keyCertSign",
  "cRLSign",
  "encipherOnly",
  "decipherOnly",
];

/** id-kp-serverAuth and id-kp-clientAuth (RFC 5280 §4.2.1.12), required together by X509-SVID §4.4. */
export const EKU_SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
export const EKU_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

/** Extension OIDs (RFC 5280 §4.2.1) whose meaning this project evaluates. */
export const OID_BASIC_CONSTRAINTS = "2.5.29.19";
export const OID_KEY_USAGE = "2.5.29.15";
export const OID_EXT_KEY_USAGE = "2.5.29.37";
export const OID_SUBJECT_ALT_NAME = "2.5.29.17";
export const OID_SUBJECT_KEY_ID = "2.5.29.14";
export const OID_AUTHORITY_KEY_ID = "2.5.29.35";

/**
 * Real SVIDs and CA certificates are 0.5-3 KiB; 64 KiB leaves room for long name constraints
 * while keeping a hostile agent from making each update parse megabytes.
 */
export const MAX_CERTIFICATE_BYTES = 64 * 1024;

/** What the SPIFFE rules need from a certificate, read once. */
export interface ParsedCertificate {
  /** Exactly the certificate's bytes: the outer SEQUENCE and nothing after it. */
  readonly der: Uint8Array;
  /** Lowercase hex of the serial number's magnitude, as `openssl x509 -serial` prints it. */
  readonly serialHex: string;
  /** Distinguished names in RFC 4514 string form, e.g. `C=US, O=SPIFFE`. */
  readonly subject: string;
  readonly issuer: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** basicConstraints `cA` (false when the extension is absent). */
  readonly isCa: boolean;
  /** basicConstraints `pathLenConstraint`, when set. */
  readonly pathLenConstraint: number | undefined;
  /** The keyUsage bits; `undefined` when the extension is absent. */
  readonly keyUsage: ReadonlySet<KeyUsageName> | undefined;
  readonly keyUsageCritical: boolean;
  /** Extended key usage OIDs; empty when the extension is absent. */
  readonly extKeyUsage: readonly string[];
  readonly uriSans: readonly string[];
  /** OIDs of every extension marked critical. */
  readonly criticalExtensions: readonly string[];
  readonly publicKey: KeyObject;
  /** Lowercase hex SHA-256 of `der`, without separators. */
  readonly fingerprintSha256: string;
  /** Node's view of the certificate, for signature and issuer checks. */
  readonly x509: X509Certificate;
}

/**
 * Parses one DER certificate. Node (OpenSSL) parses the whole structure and supplies the
 * public key and the names; the extensions the SPIFFE rules evaluate are read from the DER
 * (`certificate-der.ts`), which keeps a general ASN.1 library off the sidecar's update path.
 * Neither rejects bytes after the certificate (Go does: go-spiffe's `corrupted.pem` has a
 * duplicated base64 line), so the outer SEQUENCE must span exactly the given bytes.
 */
export interface ParseCertificateOptions {
  /**
   * Release OpenSSL's copy once the certificate is read, and make `x509` and `publicKey` again
   * on first use: for trust bundle authorities, most of which (federated CAs) are only ever
   * written out. Each `X509Certificate` holds ~5 KB of native memory (1,000 made and kept:
   * +4.3 MB RSS, 2026-12-06).
   * @default false
   */
  readonly releaseOpenSsl?: boolean;
}

export function parseCertificate(der: Uint8Array, options: ParseCertificateOptions = {}): ParsedCertificate {
  checkOuterSequence(der);
  const exact = new Uint8Array(der);
  let node: X509Certificate;
  let tbs: TbsFields;
  try {
    node = new X509Certificate(exact);
    tbs = readTbsFields(exact);
  } catch (error: unknown) {
    throw new CertificateError(`malformed certificate: ${describeError(error)}`, { cause: error });
  }
  const fields = readFields(exact, node, tbs);
  return options.releaseOpenSsl === true ? withOpenSslOnDemand(fields) : fields;
}

/** The same fields, with `x509` and `publicKey` made from the DER when first asked for, then kept. */
function withOpenSslOnDemand(fields: ParsedCertificate): ParsedCertificate {
  const { x509: _x509, publicKey: _publicKey, ...rest } = fields;
  let x509: X509Certificate | undefined;
  let publicKey: KeyObject | undefined;
  return {
    ...rest,
    get x509(): X509Certificate {
      x509 ??= new X509Certificate(rest.der);
      return x509;
    },
    get publicKey(): KeyObject {
      publicKey ??= this.x509.publicKey;
      return publicKey;
    },
  };
}

function checkOuterSequence(der: Uint8Array): void {
  if (der.length === 0) throw new CertificateError("malformed certificate: no bytes");
  if (der.length > MAX_CERTIFICATE_BYTES) {
    throw new CertificateError(
      `certificate is ${der.length} bytes; at most ${MAX_CERTIFICATE_BYTES} are accepted (MAX_CERTIFICATE_BYTES)`,
    );
  }
  let header: DerHeader;
  try {
    header = readDerHeader(der, 0);
  } catch (error: unknown) {
    throw new CertificateError(`malformed certificate: ${describeError(error)}`, { cause: error });
  }
  if (header.tag !== SEQUENCE_TAG) {
    throw new CertificateError(
      `malformed certificate: expected a DER SEQUENCE (tag 0x30), found tag ${formatTag(header.tag)} (RFC 5280 §4.1)`,
    );
  }
  const spanned = header.headerLength + header.contentLength;
  if (spanned !== der.length) {
    throw new CertificateError(
      `malformed certificate: its DER SEQUENCE spans ${spanned} bytes but ${der.length} were given (RFC 5280 §4.1, X.690 §10.1)`,
    );
  }
}

/** RFC 4514-style `C=US, O=SPIFFE` from OpenSSL's one-attribute-per-line form. */
function distinguishedName(multiline: string): string {
  return multiline.split("\n").join(", ");
}

function readFields(der: Uint8Array, node: X509Certificate, tbs: TbsFields): ParsedCertificate {
  const extensionOids = tbs.extensions.map((extension) => extension.oid);
  const duplicate = extensionOids.find((oid, index) => extensionOids.indexOf(oid) !== index);
  if (duplicate !== undefined) {
    throw new CertificateError(`malformed certificate: extension ${duplicate} appears more than once (RFC 5280 §4.2)`);
  }
  const extension = (oid: string): RawExtension | undefined => tbs.extensions.find((candidate) => candidate.oid === oid);
  try {
    const basicConstraints = extension(OID_BASIC_CONSTRAINTS);
    const { isCa, pathLenConstraint } = basicConstraints === undefined ? { isCa: false, pathLenConstraint: undefined } : decodeBasicConstraints(basicConstraints.value);
    const keyUsage = extension(OID_KEY_USAGE);
    const extKeyUsage = extension(OID_EXT_KEY_USAGE);
    const subjectAltName = extension(OID_SUBJECT_ALT_NAME);
    return {
      der,
      serialHex: serialHexOf(tbs.serial),
      subject: distinguishedName(node.subject),
      issuer: distinguishedName(node.issuer),
      notBefore: tbs.notBefore,
      notAfter: tbs.notAfter,
      isCa,
      pathLenConstraint,
      keyUsage: keyUsage === undefined ? undefined : keyUsageNames(decodeKeyUsageBits(keyUsage.value)),
      keyUsageCritical: keyUsage?.critical ?? false,
      extKeyUsage: extKeyUsage === undefined ? [] : decodeExtKeyUsage(extKeyUsage.value),
      uriSans: subjectAltName === undefined ? [] : decodeUriSans(subjectAltName.value),
      criticalExtensions: tbs.extensions.filter((candidate) => candidate.critical).map((candidate) => candidate.oid),
      publicKey: node.publicKey,
      fingerprintSha256: createHash("sha256").update(der).digest("hex"),
      x509: node,
    };
  } catch (error: unknown) {
    throw new CertificateError(`malformed certificate extension: ${describeError(error)}`, { cause: error });
  }
}

function keyUsageNames(bits: readonly boolean[]): ReadonlySet<KeyUsageName> {
  return new Set(KEY_USAGE_NAMES.filter((_, bit) => bits[bit] === true));
}

/** True when `now` lies within [notBefore, notAfter], both ends included (RFC 5280 §4.1.2.5). */
export function isValidAt(certificate: ParsedCertificate, now: Date): boolean {
  return certificate.notBefore <= now && now <= certificate.notAfter;
}
