import { DerError, formatTag, readDerHeader } from "./der.js";

/**
 * The few TBSCertificate fields (RFC 5280 §4.1) the SPIFFE rules need and OpenSSL (through
 * `node:crypto`) does not expose, read straight from the DER. Node has already parsed the
 * whole certificate by the time this runs; this walk only locates fields and checks each one
 * it reads. Extension values are returned raw and decoded by the functions below.
 *
 * Why not an ASN.1 library: every sidecar start and every rotation parses certificates, and
 * the well-kept ones cost more than the rest of a one-shot run's own work. Importing them on
 * Node 20 here took a median 28 ms (asn1js) and 94 ms (@peculiar/asn1-x509, what
 * @peculiar/x509 uses), against 3.6 ms for this module (7 runs each, 2026-12-03), with a
 * start-up budget of 100 ms over bare Node (issue 7). Signatures, chains and key matching stay
 * with OpenSSL; @peculiar/x509 remains where certificates are made (the fake agent).
 */
export interface TbsFields {
  /** Content octets of the serialNumber INTEGER. */
  readonly serial: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly extensions: readonly RawExtension[];
}

export interface RawExtension {
  readonly oid: string;
  readonly critical: boolean;
  /** Content octets of extnValue: the DER of the extension's own value. */
  readonly value: Uint8Array;
}

const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  oid: 0x06,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  version: 0xa0,
  issuerUniqueId: 0x81,
  subjectUniqueId: 0x82,
  extensions: 0xa3,
  uriName: 0x86,
} as const;

interface Element {
  readonly tag: number;
  readonly offset: number;
  readonly content: Uint8Array;
  readonly end: number;
}

function readElement(bytes: Uint8Array, offset: number, limit: number, what: string): Element {
  const { tag, headerLength, contentLength } = readDerHeader(bytes, offset);
  const end = offset + headerLength + contentLength;
  if (end > limit) throw new DerError(`${what} at byte ${offset} runs past the end of its enclosing element`);
  return { tag, offset, content: bytes.subarray(offset + headerLength, end), end };
}

/** The elements inside a constructed element, which must fill it exactly. */
function childrenOf(parent: Element, what: string): Element[] {
  const children: Element[] = [];
  let offset = 0;
  while (offset < parent.content.length) {
    const child = readElement(parent.content, offset, parent.content.length, what);
    children.push(child);
    offset = child.end;
  }
  return children;
}

function expect(element: Element | undefined, tag: number, what: string): Element {
  if (element === undefined) throw new DerError(`${what} is missing`);
  if (element.tag !== tag) throw new DerError(`${what}: expected tag ${formatTag(tag)}, found ${formatTag(element.tag)}`);
  return element;
}

/** Object identifier in dotted form (X.690 §8.19), with the minimal encoding DER requires. */
function decodeOid(content: Uint8Array, what: string): string {
  if (content.length === 0) throw new DerError(`${what}: empty OBJECT IDENTIFIER`);
  const arcs: number[] = [];
  let value = 0;
  let fresh = true;
  for (const byte of content) {
    if (fresh && byte === 0x80) throw new DerError(`${what}: OBJECT IDENTIFIER arc with a leading 0x80 octet (X.690 §8.19.2)`);
    if (value > Number.MAX_SAFE_INTEGER / 128) throw new DerError(`${what}: OBJECT IDENTIFIER arc too large`);
    value = value * 128 + (byte & 0x7f);
    fresh = (byte & 0x80) === 0;
    if (fresh) {
      arcs.push(value);
      value = 0;
    }
  }
  if (!fresh) throw new DerError(`${what}: OBJECT IDENTIFIER ends inside an arc`);
  const [first = 0, ...rest] = arcs;
  const root = first < 40 ? 0 : first < 80 ? 1 : 2;
  return [root, first - root * 40, ...rest].join(".");
}

function decodeBoolean(element: Element, what: string): boolean {
  const [value] = element.content;
  if (element.content.length !== 1 || (value !== 0x00 && value !== 0xff)) {
    throw new DerError(`${what}: a DER BOOLEAN is one octet, 0x00 or 0xff (X.690 §11.1)`);
  }
  return value === 0xff;
}

const TIME_FORMATS: Readonly<Record<number, { readonly pattern: RegExp; readonly name: string }>> = {
  [TAG.utcTime]: { pattern: /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/, name: "UTCTime YYMMDDHHMMSSZ" },
  [TAG.generalizedTime]: { pattern: /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/, name: "GeneralizedTime YYYYMMDDHHMMSSZ" },
};

/** UTCTime or GeneralizedTime in the one form RFC 5280 §4.1.2.5.1 and §4.1.2.5.2 allow. */
function decodeTime(element: Element, what: string): Date {
  const format = TIME_FORMATS[element.tag];
  if (format === undefined) throw new DerError(`${what}: expected UTCTime or GeneralizedTime, found tag ${formatTag(element.tag)}`);
  const text = Buffer.from(element.content).toString("latin1");
  const match = format.pattern.exec(text);
  if (match === null) throw new DerError(`${what}: "${text}" is not ${format.name} (RFC 5280 §4.1.2.5)`);
  const [, yearText = "", month = "", day = "", hour = "", minute = "", second = ""] = match;
  let year = Number(yearText);
  // RFC 5280 §4.1.2.5.1: two-digit years 50-99 are 19xx, 00-49 are 20xx.
  if (element.tag === TAG.utcTime) year += year >= 50 ? 1900 : 2000;
  const date = new Date(Date.UTC(year, Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second)));
  date.setUTCFullYear(year);
  if (date.getUTCMonth() !== Number(month) - 1 || date.getUTCDate() !== Number(day) || Number(hour) > 23 || Number(minute) > 59 || Number(second) > 59) {
    throw new DerError(`${what}: "${text}" is not a valid date and time (RFC 5280 §4.1.2.5)`);
  }
  return date;
}

function decodeExtension(element: Element): RawExtension {
  const [oidElement, second, third, ...extra] = childrenOf(expect(element, TAG.sequence, "extension"), "extension field");
  const oid = decodeOid(expect(oidElement, TAG.oid, "extension extnID").content, "extension extnID");
  const hasCritical = second?.tag === TAG.boolean;
  const valueElement = expect(hasCritical ? third : second, TAG.octetString, `extension ${oid} extnValue`);
  if (extra.length > 0 || (!hasCritical && third !== undefined)) throw new DerError(`extension ${oid} has fields after extnValue (RFC 5280 §4.1)`);
  return { oid, critical: hasCritical && second !== undefined && decodeBoolean(second, `extension ${oid} critical`), value: valueElement.content };
}

/** Walks a whole certificate's TBSCertificate (RFC 5280 §4.1) for the fields in `TbsFields`. */
export function readTbsFields(der: Uint8Array): TbsFields {
  const certificate = expect(readElement(der, 0, der.length, "certificate"), TAG.sequence, "certificate");
  const [tbsElement] = childrenOf(certificate, "certificate field");
  const fields = childrenOf(expect(tbsElement, TAG.sequence, "tbsCertificate"), "tbsCertificate field");
  let index = fields[0]?.tag === TAG.version ? 1 : 0;
  const next = (tag: number, what: string): Element => expect(fields[index++], tag, what);
  const serial = next(TAG.integer, "serialNumber").content;
  next(TAG.sequence, "signature");
  next(TAG.sequence, "issuer");
  const [notBefore, notAfter, ...extraTimes] = childrenOf(next(TAG.sequence, "validity"), "validity field");
  if (notBefore === undefined || notAfter === undefined || extraTimes.length > 0) throw new DerError("validity must hold exactly notBefore and notAfter (RFC 5280 §4.1.2.5)");
  next(TAG.sequence, "subject");
  next(TAG.sequence, "subjectPublicKeyInfo");
  if (fields[index]?.tag === TAG.issuerUniqueId) index += 1;
  if (fields[index]?.tag === TAG.subjectUniqueId) index += 1;
  let extensions: RawExtension[] = [];
  if (fields[index]?.tag === TAG.extensions) {
    const [list, ...rest] = childrenOf(next(TAG.extensions, "extensions"), "extensions");
    if (rest.length > 0) throw new DerError("extensions hold more than one SEQUENCE (RFC 5280 §4.1)");
    extensions = childrenOf(expect(list, TAG.sequence, "extensions"), "extension").map(decodeExtension);
  }
  if (index !== fields.length) throw new DerError(`tbsCertificate has an unexpected field with tag ${formatTag(fields[index]?.tag ?? 0)} (RFC 5280 §4.1)`);
  return { serial, notBefore: decodeTime(notBefore, "notBefore"), notAfter: decodeTime(notAfter, "notAfter"), extensions };
}

/** Lowercase hex of the serial's magnitude: the INTEGER without its sign-padding octet. */
export function serialHexOf(serial: Uint8Array): string {
  const magnitude = serial.length > 1 && serial[0] === 0x00 && (serial[1] ?? 0) > 0x7f ? serial.subarray(1) : serial;
  return Buffer.from(magnitude).toString("hex");
}

/** basicConstraints (RFC 5280 §4.2.1.9): `SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }`. */
export function decodeBasicConstraints(value: Uint8Array): { isCa: boolean; pathLenConstraint: number | undefined } {
  const sequence = expect(readElement(value, 0, value.length, "basicConstraints"), TAG.sequence, "basicConstraints");
  if (sequence.end !== value.length) throw new DerError("basicConstraints has bytes after its SEQUENCE");
  const fields = childrenOf(sequence, "basicConstraints field");
  let index = 0;
  const isCa = fields[0]?.tag === TAG.boolean ? decodeBoolean(fields[index++] as Element, "basicConstraints cA") : false;
  let pathLenConstraint: number | undefined;
  const pathLen = fields[index];
  if (pathLen !== undefined) {
    const { content } = expect(pathLen, TAG.integer, "basicConstraints pathLenConstraint");
    if (content.length === 0 || content.length > 4 || ((content[0] ?? 0) & 0x80) !== 0) {
      throw new DerError("basicConstraints pathLenConstraint must be a small non-negative INTEGER (RFC 5280 §4.2.1.9)");
    }
    pathLenConstraint = content.reduce((total, byte) => total * 256 + byte, 0);
    index += 1;
  }
  if (index !== fields.length) throw new DerError("basicConstraints has fields after pathLenConstraint (RFC 5280 §4.2.1.9)");
  return { isCa, pathLenConstraint };
}

/** keyUsage (RFC 5280 §4.2.1.3): a BIT STRING; bit i of the result is named bit i. */
export function decodeKeyUsageBits(value: Uint8Array): boolean[] {
  const bitString = expect(readElement(value, 0, value.length, "keyUsage"), TAG.bitString, "keyUsage");
  if (bitString.end !== value.length) throw new DerError("keyUsage has bytes after its BIT STRING");
  const [unused = -1, ...octets] = bitString.content;
  if (unused < 0 || unused > 7 || (octets.length === 0 && unused !== 0)) throw new DerError("keyUsage is not a well-formed BIT STRING (X.690 §8.6)");
  return octets.flatMap((octet) => Array.from({ length: 8 }, (_, bit) => ((octet >> (7 - bit)) & 1) === 1));
}

/** extKeyUsage (RFC 5280 §4.2.1.12): `SEQUENCE SIZE (1..MAX) OF KeyPurposeId`, in order. */
export function decodeExtKeyUsage(value: Uint8Array): string[] {
  const sequence = expect(readElement(value, 0, value.length, "extKeyUsage"), TAG.sequence, "extKeyUsage");
  if (sequence.end !== value.length) throw new DerError("extKeyUsage has bytes after its SEQUENCE");
  return childrenOf(sequence, "extKeyUsage purpose").map((purpose) => decodeOid(expect(purpose, TAG.oid, "extKeyUsage purpose").content, "extKeyUsage purpose"));
}

/** The uniformResourceIdentifier names of a subjectAltName (RFC 5280 §4.2.1.6); other kinds are skipped. */
export function decodeUriSans(value: Uint8Array): string[] {
  const sequence = expect(readElement(value, 0, value.length, "subjectAltName"), TAG.sequence, "subjectAltName");
  if (sequence.end !== value.length) throw new DerError("subjectAltName has bytes after its SEQUENCE");
  return childrenOf(sequence, "subjectAltName name")
    .filter((name) => name.tag === TAG.uriName)
    .map((name) => Buffer.from(name.content).toString("latin1"));
}
