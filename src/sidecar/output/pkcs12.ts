import { createCipheriv, createHash, createHmac, pbkdf2Sync } from "node:crypto";
import { createRequire } from "node:module";
import type forgeModule from "node-forge";

/**
 * PKCS#12 (RFC 7292) keystores and truststores for Java and other PKCS#12 readers, in the
 * profile OpenSSL 3 and JDK 8u301+/11.0.12+ write by default: the key is a PBES2 shrouded key bag
 * (PBKDF2-HMAC-SHA-256, AES-256-CBC, RFC 8018), certificates sit in a plain `data` safe, and the
 * integrity MAC is HMAC-SHA-256 keyed through the PKCS#12 KDF (RFC 7292 Appendix B). node-forge
 * supplies the ASN.1 encoder and that KDF; node:crypto does PBKDF2, AES and HMAC.
 *
 * Salts and the IV are derived from the inputs instead of drawn at random, so the same key,
 * chain and password always give the same bytes. The writer skips identical content, and a
 * random salt would make every render "new" and notify the application for nothing.
 */

/** Iteration count for PBKDF2 and the MAC KDF; Java's default since JDK 12. */
export const PKCS12_ITERATIONS = 10_000;

const OID = {
  data: "1.2.840.113549.1.7.1",
  certBag: "1.2.840.113549.1.12.10.1.3",
  pkcs8ShroudedKeyBag: "1.2.840.113549.1.12.10.1.2",
  x509Certificate: "1.2.840.113549.1.9.22.1",
  friendlyName: "1.2.840.113549.1.9.20",
  localKeyId: "1.2.840.113549.1.9.21",
  pbes2: "1.2.840.113549.1.5.13",
  pbkdf2: "1.2.840.113549.1.5.12",
  hmacWithSha256: "1.2.840.113549.2.9",
  aes256Cbc: "2.16.840.1.101.3.4.1.42",
  sha256: "2.16.840.1.101.3.4.2.1",
  /** Oracle's TrustedKeyUsage: Java loads a certificate-only bag as a trusted entry only with it. */
  javaTrustedKeyUsage: "2.16.840.1.113894.746875.1.1",
  anyExtendedKeyUsage: "2.5.29.37.0",
} as const;

const SALT_BYTES = 16;
const AES_256_KEY_BYTES = 32;
const AES_BLOCK_BYTES = 16;
const SHA_256_BYTES = 32;
/** The PKCS#12 KDF's diversifier for MAC keys (RFC 7292 Appendix B.3). */
const KDF_ID_MAC = 3;

type Forge = typeof forgeModule;
type Asn1 = forgeModule.asn1.Asn1;
let loadedForge: Forge | undefined;

/** Loaded on first use: only PKCS#12 outputs need node-forge, and every sidecar would pay its load time and memory. */
function forge(): Forge {
  loadedForge ??= createRequire(import.meta.url)("node-forge") as Forge;
  return loadedForge;
}

/** A universal-class element; `value` is the children of a constructed one, else the content octets. */
function universal(type: keyof typeof forgeModule.asn1.Type, constructed: boolean, value: Asn1[] | string): Asn1 {
  const { asn1 } = forge();
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type[type], constructed, value);
}

const binary = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("binary");
const sequence = (items: Asn1[]): Asn1 => universal("SEQUENCE", true, items);
const setOf = (items: Asn1[]): Asn1 => universal("SET", true, items);
const oid = (dotted: string): Asn1 => universal("OID", false, forge().asn1.oidToDer(dotted).getBytes());
const octets = (bytes: Uint8Array): Asn1 => universal("OCTETSTRING", false, binary(bytes));
const integer = (value: number): Asn1 => universal("INTEGER", false, forge().asn1.integerToDer(value).getBytes());
const nullValue = (): Asn1 => universal("NULL", false, "");
const bmpString = (text: string): Asn1 => universal("BMPSTRING", false, text);
const explicit0 = (inner: Asn1): Asn1 => forge().asn1.create(forge().asn1.Class.CONTEXT_SPECIFIC, 0, true, [inner]);
const toDer = (node: Asn1): Buffer => Buffer.from(forge().asn1.toDer(node).getBytes(), "binary");
const attribute = (type: string, values: Asn1[]): Asn1 => sequence([oid(type), setOf(values)]);

export interface Pkcs12KeyStoreInput {
  /** Unencrypted PKCS#8 DER. */
  readonly privateKeyDer: Uint8Array;
  /** Leaf first, then intermediates. */
  readonly certificateDers: readonly Uint8Array[];
  readonly password: string;
  /** The key entry's alias in Java. */
  readonly friendlyName: string;
}

export interface TrustedCertificate {
  readonly der: Uint8Array;
  /** Java alias; unique within the store. */
  readonly alias: string;
}

/** A digest of everything a file encodes, password included; the salts and IV derive from it. */
function inputDigest(kind: string, parts: readonly Uint8Array[]): Buffer {
  const digest = createHash("sha256").update(kind);
  for (const part of parts) digest.update(createHash("sha256").update(part).digest());
  return digest.digest();
}

const deriveBytes = (seed: Buffer, label: string, length: number): Buffer =>
  createHmac("sha256", seed).update(label).digest().subarray(0, length);

/**
 * The last store of each kind, by input digest. The encoding is deterministic, so this only
 * saves the MAC KDF's pure-JavaScript rounds (tens of milliseconds) when a render repeats.
 */
const lastEncoded = new Map<string, { seedHex: string; bytes: Uint8Array }>();

function memoised(kind: string, seed: Buffer, encode: () => Uint8Array): Uint8Array {
  const seedHex = seed.toString("hex");
  const cached = lastEncoded.get(kind);
  if (cached?.seedHex === seedHex) return new Uint8Array(cached.bytes);
  const bytes = encode();
  lastEncoded.set(kind, { seedHex, bytes: new Uint8Array(bytes) });
  return bytes;
}

function certBag(der: Uint8Array, attributes: Asn1[]): Asn1 {
  const bag = [oid(OID.certBag), explicit0(sequence([oid(OID.x509Certificate), explicit0(octets(der))]))];
  if (attributes.length > 0) bag.push(setOf(attributes));
  return sequence(bag);
}

/** A `data` ContentInfo (PKCS#7 §8) around DER content: the SafeContents, or the authenticated safe. */
function dataContentInfo(content: Buffer): Asn1 {
  return sequence([oid(OID.data), explicit0(octets(content))]);
}

const safeContents = (safeBags: Asn1[]): Asn1 => dataContentInfo(toDer(sequence(safeBags)));

/** EncryptedPrivateKeyInfo with PBES2 (RFC 8018 §6.2, Appendix A.4); PBKDF2 takes the UTF-8 password. */
function shroudedKey(privateKeyDer: Uint8Array, password: string, salt: Buffer, iv: Buffer): Asn1 {
  const key = pbkdf2Sync(Buffer.from(password, "utf8"), salt, PKCS12_ITERATIONS, AES_256_KEY_BYTES, "sha256");
  const cipher = createCipheriv("aes-256-cbc", key, iv);
  const encrypted = Buffer.concat([cipher.update(privateKeyDer), cipher.final()]);
  const kdf = sequence([
    oid(OID.pbkdf2),
    sequence([octets(salt), integer(PKCS12_ITERATIONS), sequence([oid(OID.hmacWithSha256), nullValue()])]),
  ]);
  const scheme = sequence([oid(OID.aes256Cbc), octets(iv)]);
  return sequence([sequence([oid(OID.pbes2), sequence([kdf, scheme])]), octets(encrypted)]);
}

/** The PFX: the authenticated safe wrapped in `data`, then MacData with HMAC-SHA-256 (RFC 7292 §4). */
function pfx(contentInfos: Asn1[], password: string, macSalt: Buffer): Uint8Array {
  const authenticatedSafe = toDer(sequence(contentInfos));
  const macKey = forge().pkcs12.generateKey(
    password,
    forge().util.createBuffer(macSalt.toString("binary")),
    KDF_ID_MAC,
    PKCS12_ITERATIONS,
    SHA_256_BYTES,
    forge().md.sha256.create(),
  );
  const mac = createHmac("sha256", Buffer.from(macKey.getBytes(), "binary")).update(authenticatedSafe).digest();
  const macData = sequence([
    sequence([sequence([oid(OID.sha256), nullValue()]), octets(mac)]),
    octets(macSalt),
    integer(PKCS12_ITERATIONS),
  ]);
  return new Uint8Array(toDer(sequence([integer(3), dataContentInfo(authenticatedSafe), macData])));
}

/**
 * A keystore holding one private key entry: the shrouded key and the leaf share a localKeyId
 * (the leaf's SHA-1, as OpenSSL sets it) and the friendlyName, which Java reads as the alias;
 * intermediates follow as plain certificate bags so readers can build the chain.
 */
export function encodePkcs12KeyStore(input: Pkcs12KeyStoreInput): Uint8Array {
  const [leafDer, ...intermediateDers] = input.certificateDers;
  if (leafDer === undefined) throw new TypeError("a PKCS#12 keystore needs the leaf certificate");
  const seed = inputDigest("keystore", [
    Buffer.from(input.password, "utf8"),
    Buffer.from(input.friendlyName, "utf8"),
    input.privateKeyDer,
    ...input.certificateDers,
  ]);
  return memoised("keystore", seed, () => {
    const entryAttributes = [
      attribute(OID.friendlyName, [bmpString(input.friendlyName)]),
      attribute(OID.localKeyId, [octets(createHash("sha1").update(leafDer).digest())]),
    ];
    const encryptedKey = shroudedKey(
      input.privateKeyDer,
      input.password,
      deriveBytes(seed, "key-salt", SALT_BYTES),
      deriveBytes(seed, "key-iv", AES_BLOCK_BYTES),
    );
    const keyBag = sequence([oid(OID.pkcs8ShroudedKeyBag), explicit0(encryptedKey), setOf(entryAttributes)]);
    const certBags = [certBag(leafDer, entryAttributes), ...intermediateDers.map((der) => certBag(der, []))];
    return pfx([safeContents(certBags), safeContents([keyBag])], input.password, deriveBytes(seed, "mac-salt", SALT_BYTES));
  });
}

/**
 * A truststore of certificate bags, each marked with Java's TrustedKeyUsage attribute
 * (anyExtendedKeyUsage), as `keytool -importcert` writes them, and named by its alias.
 */
export function encodePkcs12TrustStore(certificates: readonly TrustedCertificate[], password: string): Uint8Array {
  const seed = inputDigest("truststore", [
    Buffer.from(password, "utf8"),
    ...certificates.flatMap((certificate) => [Buffer.from(certificate.alias, "utf8"), certificate.der]),
  ]);
  return memoised("truststore", seed, () => {
    const bags = certificates.map((certificate) =>
      certBag(certificate.der, [
        attribute(OID.friendlyName, [bmpString(certificate.alias)]),
        attribute(OID.javaTrustedKeyUsage, [oid(OID.anyExtendedKeyUsage)]),
      ]),
    );
    return pfx([safeContents(bags)], password, deriveBytes(seed, "mac-salt", SALT_BYTES));
  });
}
