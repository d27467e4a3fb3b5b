import type { KeyObject } from "node:crypto";
import { describeError } from "../errors.js";
import { parseCertificate, type ParsedCertificate } from "./certificate.js";
import { formatTag, readDerHeader, SEQUENCE_TAG, splitDerSequence, type DerHeader } from "./der.js";
import { decodePem, encodePem, pemBlocksOfType, type PemBlock } from "./pem.js";
import { importPkcs8PrivateKey, type ImportedPrivateKey } from "./pkcs8-ec-key.js";
import type { SpiffeId } from "./spiffe-id.js";
import type { X509BundleSource } from "./x509-bundle.js";
import { checkLeafCertificate, checkSigningCertificates, X509SvidError } from "./x509-svid-rules.js";
import { verifyX509Svid, type VerifiedX509Svid, type VerifyX509SvidOptions } from "./x509-verify.js";

export { X509SvidError, type X509SvidRule } from "./x509-svid-rules.js";
export { MAX_PATH_CERTIFICATES, verifyX509Svid, type VerifiedX509Svid, type VerifyX509SvidOptions } from "./x509-verify.js";

/** An X.509-SVID with its private key, as the Workload API delivers it (SPIFFE Workload API §5.2.1). */
export interface X509Svid {
  readonly id: SpiffeId;
  /** Leaf first, then any intermediates, as presented. */
  readonly certificates: readonly ParsedCertificate[];
  readonly privateKey: KeyObject;
  /**
   * The key as OpenSSL exports it in unencrypted PKCS#8 DER, taken once at parse time: an
   * export per write cost 0.2 ms per rotation (CPU profile, 2026-12-06).
   */
  readonly privateKeyDer: Uint8Array;
  /** The operator's label for this SVID; empty when the server sent none. */
  readonly hint: string;
}

export interface ParseX509SvidOptions {
  /**
   * The SVID's `hint` from the Workload API.
   * @default ""
   */
  hint?: string;
}

const CERTIFICATE_BLOCK = "CERTIFICATE";
const PKCS8_BLOCK = "PRIVATE KEY";

/**
 * Bounds on what an agent may send. SPIRE chains hold the leaf and at most a few intermediates,
 * and Go's verifier gives up on paths longer than that anyway; without a bound, a hostile agent
 * makes every update parse (and every write carry) thousands of certificates.
 */
export const MAX_CHAIN_CERTIFICATES = 16;
/** An RSA-16384 PKCS#8 key is under 10 KiB; anything larger is not a key we could use. */
export const MAX_PRIVATE_KEY_BYTES = 16 * 1024;

const NOT_PKCS8 = "private key is not an unencrypted PKCS#8 DER key";

/**
 * Parses a Workload API `X509SVID`: the concatenated DER chain and the unencrypted PKCS#8 DER
 * key. Applies go-spiffe's `Parse` rules in go-spiffe's order (chain, key, leaf rules, signing
 * certificates, key match) but no time or chain-of-trust check: that is `verifyX509Svid`.
 */
export function parseX509SvidDer(chainDer: Uint8Array, keyPkcs8Der: Uint8Array, options: ParseX509SvidOptions = {}): X509Svid {
  let elements: Uint8Array[];
  try {
    elements = splitDerSequence(chainDer);
  } catch (error: unknown) {
    throw new X509SvidError("malformed-certificate", `cannot parse certificate chain: ${describeError(error)}`, { cause: error });
  }
  return buildSvid(elements, keyPkcs8Der, options.hint ?? "");
}

/**
 * Parses PEM text; `certPem` and `keyPem` may be the same file. Blocks are picked by type, so a
 * key before the certificate is fine (go-spiffe's `good-key-and-cert.pem`).
 */
export function parseX509SvidPem(certPem: string, keyPem: string, options: ParseX509SvidOptions = {}): X509Svid {
  const certificateDers = pemBlocksOfType(decodeSvidPem(certPem, "certificate"), CERTIFICATE_BLOCK);
  if (certificateDers.length === 0) {
    throw new X509SvidError("no-certificates", `certificate PEM contains no ${CERTIFICATE_BLOCK} block`);
  }
  const keyBlocks = decodeSvidPem(keyPem, "private key");
  const [keyDer] = pemBlocksOfType(keyBlocks, PKCS8_BLOCK);
  if (keyDer === undefined) {
    const found = [...new Set(keyBlocks.map((block) => `"${block.type}"`))].join(", ");
    throw new X509SvidError(
      "malformed-key",
      `private key PEM has no "${PKCS8_BLOCK}" (PKCS#8) block, found ${found} (SPIFFE Workload API §5.2.1)`,
    );
  }
  return buildSvid(certificateDers, keyDer, options.hint ?? "");
}

const PEM_RULES = {
  certificate: { malformed: "malformed-certificate", empty: "no-certificates" },
  "private key": { malformed: "malformed-key", empty: "malformed-key" },
} as const;

function decodeSvidPem(text: string, what: keyof typeof PEM_RULES): PemBlock[] {
  let blocks: PemBlock[];
  try {
    blocks = decodePem(text);
  } catch (error: unknown) {
    throw new X509SvidError(PEM_RULES[what].malformed, `cannot parse ${what} PEM: ${describeError(error)}`, { cause: error });
  }
  if (blocks.length === 0) throw new X509SvidError(PEM_RULES[what].empty, `no PEM blocks found in the ${what} PEM`);
  return blocks;
}

function buildSvid(certificateDers: readonly Uint8Array[], keyPkcs8Der: Uint8Array, hint: string): X509Svid {
  if (certificateDers.length > MAX_CHAIN_CERTIFICATES) {
    throw new X509SvidError(
      "exceeds-bound",
      `certificate chain holds ${certificateDers.length} certificates; at most ${MAX_CHAIN_CERTIFICATES} are accepted (MAX_CHAIN_CERTIFICATES)`,
    );
  }
  const certificates = certificateDers.map((der, index) => {
    try {
      return parseCertificate(der);
    } catch (error: unknown) {
      throw new X509SvidError("malformed-certificate", `cannot parse certificate ${index + 1} of the chain: ${describeError(error)}`, {
        cause: error,
      });
    }
  });
  const [leaf, ...signers] = certificates;
  if (leaf === undefined) {
    throw new X509SvidError("no-certificates", "X509-SVID chain contains no certificates (SPIFFE Workload API §5.2.1)");
  }
  const { privateKey, pkcs8Der } = parsePrivateKey(keyPkcs8Der);
  const id = checkLeafCertificate(leaf);
  checkSigningCertificates(signers);
  if (!keyMatches(leaf, privateKey)) {
    throw new X509SvidError("key-mismatch", "leaf certificate does not match private key (SPIFFE Workload API §5.2.1)");
  }
  return { id, certificates, privateKey, privateKeyDer: pkcs8Der, hint };
}

function keyMatches(leaf: ParsedCertificate, privateKey: KeyObject): boolean {
  try {
    return leaf.x509.checkPrivateKey(privateKey);
  } catch {
    // OpenSSL throws instead of answering when the key and certificate algorithms differ.
    return false;
  }
}

/**
 * The key must be unencrypted PKCS#8 DER (SPIFFE Workload API §5.2.1). The cause from OpenSSL
 * names only a decoder step, never key bytes, so it is safe to keep.
 */
function parsePrivateKey(keyPkcs8Der: Uint8Array): ImportedPrivateKey {
  checkKeyExtent(keyPkcs8Der);
  try {
    return importPkcs8PrivateKey(keyPkcs8Der);
  } catch (error: unknown) {
    throw new X509SvidError(
      "malformed-key",
      `${NOT_PKCS8} (SPIFFE Workload API §5.2.1)`,
      { cause: error },
    );
  }
}

/**
 * OpenSSL decodes the first PKCS#8 SEQUENCE and ignores what follows it, so a key with bytes
 * appended would be written out as if it were whole. DER has exactly one encoding (X.690
 * §10.1): the outer SEQUENCE must span every byte given, as for certificates.
 */
function checkKeyExtent(keyPkcs8Der: Uint8Array): void {
  if (keyPkcs8Der.length > MAX_PRIVATE_KEY_BYTES) {
    throw new X509SvidError(
      "exceeds-bound",
      `private key is ${keyPkcs8Der.length} bytes; at most ${MAX_PRIVATE_KEY_BYTES} are accepted (MAX_PRIVATE_KEY_BYTES)`,
    );
  }
  let header: DerHeader;
  try {
    header = readDerHeader(keyPkcs8Der, 0);
  } catch (error: unknown) {
    throw new X509SvidError("malformed-key", `${NOT_PKCS8}: ${describeError(error)}`, { cause: error });
  }
  if (header.tag !== SEQUENCE_TAG) {
    throw new X509SvidError("malformed-key", `${NOT_PKCS8}: it starts with tag ${formatTag(header.tag)}, not a SEQUENCE (RFC 5958 §2)`);
  }
  const spanned = header.headerLength + header.contentLength;
  if (spanned !== keyPkcs8Der.length) {
    throw new X509SvidError(
      "malformed-key",
      `${NOT_PKCS8}: its DER SEQUENCE spans ${spanned} bytes but ${keyPkcs8Der.length} were given (RFC 5958 §2, X.690 §10.1)`,
    );
  }
}

/**
 * Checks a parsed SVID against the bundles at `now`: leaf rules, the chain to its own trust
 * domain's bundle, validity of every certificate on the path.
 */
export function validateX509Svid(
  svid: X509Svid,
  bundles: X509BundleSource,
  options: VerifyX509SvidOptions = {},
): VerifiedX509Svid {
  return verifyX509Svid(svid.certificates, bundles, options);
}

/** The chain as PEM (leaf first) and the key as a PKCS#8 `PRIVATE KEY` block, as spiffe-helper writes them. */
export function marshalX509SvidPem(svid: X509Svid): { certificatesPem: string; privateKeyPem: string } {
  return {
    certificatesPem: svid.certificates.map((certificate) => encodePem(CERTIFICATE_BLOCK, certificate.der)).join(""),
    privateKeyPem: encodePem(PKCS8_BLOCK, svid.privateKeyDer),
  };
}
