import "reflect-metadata";
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  type Extension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509CertificateGenerator,
} from "@peculiar/x509";
import { randomBytes, webcrypto } from "node:crypto";
import type { KeyUsageName } from "../spiffe/certificate.js";
import { concatDer } from "../spiffe/der.js";
import type { SpiffeId, TrustDomain } from "../spiffe/spiffe-id.js";

export type KeyType = "ec-p256" | "rsa-2048";

/** An issuing CA: a self-signed root, or an intermediate signed by `parent`. */
export interface CertificateAuthority {
  readonly trustDomain: TrustDomain;
  readonly keyType: KeyType;
  readonly subject: string;
  readonly serialHex: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly certificateDer: Uint8Array;
  /** This CA then its parents, excluding the root: what follows a leaf in an SVID chain. */
  readonly chainDer: Uint8Array;
  /** The root's certificate: the trust domain's bundle. */
  readonly rootDer: Uint8Array;
  readonly signingKey: webcrypto.CryptoKey;
  readonly publicKey: webcrypto.CryptoKey;
}

export interface CreateCertificateAuthorityOptions {
  trustDomain: TrustDomain;
  /** @default "ec-p256" */
  keyType?: KeyType;
  /** Signs this CA as an intermediate; without it the CA is a self-signed root. */
  parent?: CertificateAuthority;
  /** @default one minute before now */
  notBefore?: Date;
  /** @default one day after notBefore, SPIRE's default `ca_ttl` */
  notAfter?: Date;
}

export interface IssueX509SvidOptions {
  spiffeId: SpiffeId;
  /** Lifetime counted from `now`; the leaf never outlives its CA unless `notAfter` says so. */
  ttlSeconds: number;
  /** Backdates notBefore to absorb clock skew between us and the workload's peers. @default 5 */
  backdateSeconds?: number;
  /** @default new Date() */
  now?: Date;
  /** @default "ec-p256" */
  keyType?: KeyType;
  /** Fault: set basicConstraints cA=true on the leaf. @default false */
  isCa?: boolean;
  /** Fault: replace the leaf's key usage bits; an empty list omits the extension. @default ["digitalSignature"] */
  keyUsage?: KeyUsageName[];
  /** Fault: more URI SANs after the SPIFFE ID. @default [] */
  extraUriSans?: string[];
  /** Fault: leave the SPIFFE ID out of the URI SANs. @default false */
  omitUriSan?: boolean;
  /** Fault: exact validity start, overriding `now - backdateSeconds`. */
  notBefore?: Date;
  /** Fault: exact validity end, overriding `now + ttlSeconds` and the CA's own end. */
  notAfter?: Date;
}

export interface IssuedX509Svid {
  readonly spiffeId: SpiffeId;
  /** Concatenated DER: the leaf, then intermediates up to but excluding the root. */
  readonly chainDer: Uint8Array;
  /** Unencrypted PKCS#8 DER, as the Workload API carries it. */
  readonly privateKeyDer: Uint8Array;
  readonly serialHex: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

const DEFAULT_CA_BACKDATE_MS = 60_000;
const DEFAULT_CA_TTL_MS = 24 * 60 * 60 * 1000;
const DEFAULT_LEAF_BACKDATE_SECONDS = 5;

const KEY_ALGORITHMS = {
  "ec-p256": {
    generate: { name: "ECDSA", namedCurve: "P-256" },
    sign: { name: "ECDSA", hash: "SHA-256" },
  },
  "rsa-2048": {
    generate: { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    sign: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
  },
} as const;

function generateKeyPair(keyType: KeyType): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(KEY_ALGORITHMS[keyType].generate, true, ["sign", "verify"]);
}

/** A random positive 128-bit serial (RFC 5280 §4.1.2.2 asks for unique, positive, ≤ 20 octets). */
function randomSerialHex(): string {
  return randomBytes(16).toString("hex");
}

function caExtensions(trustDomain: TrustDomain): Extension[] {
  return [
    new BasicConstraintsExtension(true, undefined, true),
    new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
    // X509-SVID §3.2: a signing certificate's SPIFFE ID has no path.
    new SubjectAlternativeNameExtension([{ type: "url", value: trustDomain.idString() }]),
  ];
}

/** Creates a root CA, or an intermediate when `parent` is given (X509-SVID §3.2, §4.1, §4.3). */
export async function createCertificateAuthority(options: CreateCertificateAuthorityOptions): Promise<CertificateAuthority> {
  const { trustDomain, parent } = options;
  const keyType = options.keyType ?? "ec-p256";
  const keys = await generateKeyPair(keyType);
  const serialNumber = randomSerialHex();
  const notBefore = options.notBefore ?? new Date(Date.now() - DEFAULT_CA_BACKDATE_MS);
  const notAfter = options.notAfter ?? new Date(notBefore.getTime() + DEFAULT_CA_TTL_MS);
  // The serial in the name keeps successive CAs of one trust domain apart during rotation.
  const subject = `CN=${trustDomain.name} ${parent === undefined ? "root" : "intermediate"} CA ${serialNumber.slice(0, 8)}, O=SPIFFE`;
  const extensions = [...caExtensions(trustDomain), await SubjectKeyIdentifierExtension.create(keys.publicKey)];
  const certificate =
    parent === undefined
      ? await X509CertificateGenerator.createSelfSigned({
          serialNumber,
          name: subject,
          notBefore,
          notAfter,
          keys,
          signingAlgorithm: KEY_ALGORITHMS[keyType].sign,
          extensions,
        })
      : await X509CertificateGenerator.create({
          serialNumber,
          subject,
          issuer: parent.subject,
          notBefore,
          notAfter,
          publicKey: keys.publicKey,
          signingKey: parent.signingKey,
          signingAlgorithm: KEY_ALGORITHMS[parent.keyType].sign,
          extensions: [...extensions, await AuthorityKeyIdentifierExtension.create(parent.publicKey)],
        });
  const certificateDer = new Uint8Array(certificate.rawData);
  return {
    trustDomain,
    keyType,
    subject: certificate.subject,
    serialHex: certificate.serialNumber.toLowerCase(),
    notBefore: certificate.notBefore,
    notAfter: certificate.notAfter,
    certificateDer,
    chainDer: parent === undefined ? new Uint8Array(0) : concatDer([certificateDer, parent.chainDer]),
    rootDer: parent === undefined ? certificateDer : parent.rootDer,
    signingKey: keys.privateKey,
    publicKey: keys.publicKey,
  };
}

/** The bundle a verifier needs for SVIDs of this CA: its root certificate, DER. */
export function bundleDer(ca: CertificateAuthority): Uint8Array {
  return ca.rootDer;
}

function leafKeyUsageFlags(names: readonly KeyUsageName[]): number {
  return names.reduce((flags, name) => flags | KeyUsageFlags[name], 0);
}

function leafExtensions(options: IssueX509SvidOptions): Extension[] {
  const keyUsage = options.keyUsage ?? ["digitalSignature"];
  const uris = [...(options.omitUriSan === true ? [] : [options.spiffeId.toString()]), ...(options.extraUriSans ?? [])];
  const extensions: Extension[] = [
    new BasicConstraintsExtension(options.isCa === true, undefined, true),
    new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth, ExtendedKeyUsage.clientAuth]),
  ];
  if (keyUsage.length > 0) extensions.push(new KeyUsagesExtension(leafKeyUsageFlags(keyUsage), true));
  if (uris.length > 0) extensions.push(new SubjectAlternativeNameExtension(uris.map((value) => ({ type: "url", value }))));
  return extensions;
}

/**
 * Issues a leaf X.509-SVID (X509-SVID §3.1, §4): one URI SAN, cA=false, critical keyUsage
 * digitalSignature, EKU serverAuth+clientAuth. The fault options break exactly one of those
 * rules each, so the fake agent can serve SVIDs a client must refuse.
 */
export async function issueX509Svid(ca: CertificateAuthority, options: IssueX509SvidOptions): Promise<IssuedX509Svid> {
  const now = options.now ?? new Date();
  const keys = await generateKeyPair(options.keyType ?? "ec-p256");
  const backdateMs = (options.backdateSeconds ?? DEFAULT_LEAF_BACKDATE_SECONDS) * 1000;
  const notBefore = options.notBefore ?? new Date(now.getTime() - backdateMs);
  // X.509 times have whole seconds; rounding up keeps a 1 s SVID alive until its half-life
  // rotation instead of truncating it to expire early.
  const notAfter =
    options.notAfter ??
    new Date(Math.min(Math.ceil((now.getTime() + options.ttlSeconds * 1000) / 1000) * 1000, ca.notAfter.getTime()));
  const certificate = await X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: "O=SPIFFE",
    issuer: ca.subject,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: ca.signingKey,
    signingAlgorithm: KEY_ALGORITHMS[ca.keyType].sign,
    extensions: [
      ...leafExtensions(options),
      await SubjectKeyIdentifierExtension.create(keys.publicKey),
      await AuthorityKeyIdentifierExtension.create(ca.publicKey),
    ],
  });
  const leafDer = new Uint8Array(certificate.rawData);
  return {
    spiffeId: options.spiffeId,
    chainDer: concatDer([leafDer, ca.chainDer]),
    privateKeyDer: new Uint8Array(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey)),
    serialHex: certificate.serialNumber.toLowerCase(),
    notBefore: certificate.notBefore,
    notAfter: certificate.notAfter,
  };
}
