import { createPrivateKey, type JsonWebKey, type KeyObject } from "node:crypto";

/**
 * OpenSSL 3.0's PKCS#8 decoder tries its decoders one by one: an EC P-256 key took 0.89 ms in
 * `createPrivateKey` against 0.08 ms for the same key as a JWK (2,000 calls each, Node 20.20 /
 * OpenSSL 3.0.19, 2026-12-06), and it was the largest single cost of a rotation. The
 * Workload API delivers EC keys in one exact shape (Go's `MarshalPKCS8PrivateKey`, which is
 * also what OpenSSL exports), so a key that matches it byte for byte, apart from the key
 * material, is imported as a JWK; any other key goes to OpenSSL's decoder as before. The JWK
 * import checks the public point is on the curve and sets the scalar just as the PKCS#8
 * decoder does.
 */

interface Curve {
  readonly jwkName: "P-256" | "P-384" | "P-521";
  readonly oid: readonly number[];
  /** Bytes of the private scalar and of each public coordinate (SEC 1 §2.3.7). */
  readonly size: number;
}

const EC_PUBLIC_KEY_OID = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const CURVES: readonly Curve[] = [
  { jwkName: "P-256", oid: [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07], size: 32 },
  { jwkName: "P-384", oid: [0x2b, 0x81, 0x04, 0x00, 0x22], size: 48 },
  { jwkName: "P-521", oid: [0x2b, 0x81, 0x04, 0x00, 0x23], size: 66 },
];

/** The DER of a curve's keys with zeroed key material, and where the material goes. */
interface Shape {
  readonly curve: Curve;
  readonly template: Uint8Array;
  readonly scalarAt: number;
  readonly pointAt: number;
}

function lengthOctets(length: number): number[] {
  if (length < 0x80) return [length];
  if (length < 0x100) return [0x81, length];
  return [0x82, length >> 8, length & 0xff];
}

function element(tag: number, content: readonly number[]): number[] {
  return [tag, ...lengthOctets(content.length), ...content];
}

const MARK_SCALAR = -1;
const MARK_POINT = -2;

/**
 * RFC 5958 OneAsymmetricKey v1 holding an RFC 5915 ECPrivateKey with the public key, the
 * curve's OID as the algorithm parameters and not repeated inside: what OpenSSL exports, so a
 * key of this shape is written out byte for byte as a re-export would have written it.
 */
function shapeOf(curve: Curve): Shape {
  const oid = element(0x06, curve.oid);
  const scalar = [0x04, ...lengthOctets(curve.size), MARK_SCALAR, ...new Array<number>(curve.size - 1).fill(0)];
  const point = element(0x03, [0x00, 0x04, MARK_POINT, ...new Array<number>(2 * curve.size - 1).fill(0)]);
  const ecPrivateKey = element(0x30, [0x02, 0x01, 0x01, ...scalar, ...element(0xa1, point)]);
  const algorithm = element(0x30, [...element(0x06, EC_PUBLIC_KEY_OID), ...oid]);
  const bytes = element(0x30, [0x02, 0x01, 0x00, ...algorithm, ...element(0x04, ecPrivateKey)]);
  const scalarAt = bytes.indexOf(MARK_SCALAR);
  const pointAt = bytes.indexOf(MARK_POINT);
  return { curve, template: Uint8Array.from(bytes, (byte) => Math.max(byte, 0)), scalarAt, pointAt };
}

const SHAPES: readonly Shape[] = CURVES.map(shapeOf);

function matches(der: Uint8Array, shape: Shape): boolean {
  const { template, scalarAt, pointAt, curve } = shape;
  if (der.length !== template.length) return false;
  for (let i = 0; i < der.length; i++) {
    const material = (i >= scalarAt && i < scalarAt + curve.size) || (i >= pointAt && i < pointAt + 2 * curve.size);
    if (!material && der[i] !== template[i]) return false;
  }
  return true;
}

function base64url(der: Uint8Array, from: number, length: number): string {
  return Buffer.from(der.buffer, der.byteOffset + from, length).toString("base64url");
}

/** The key as a JWK when its PKCS#8 DER has one of the known EC shapes; undefined otherwise. */
export function ecJwkOfPkcs8(der: Uint8Array): JsonWebKey | undefined {
  const shape = SHAPES.find((candidate) => matches(der, candidate));
  if (shape === undefined) return undefined;
  const { size, jwkName } = shape.curve;
  return {
    kty: "EC",
    crv: jwkName,
    d: base64url(der, shape.scalarAt, size),
    x: base64url(der, shape.pointAt, size),
    y: base64url(der, shape.pointAt + size, size),
  };
}

export interface ImportedPrivateKey {
  readonly privateKey: KeyObject;
  /** The key as OpenSSL exports it in PKCS#8 DER: the input itself when it had the known shape. */
  readonly pkcs8Der: Uint8Array;
}

/** Imports an unencrypted PKCS#8 DER private key; throws OpenSSL's error for a bad one. */
export function importPkcs8PrivateKey(der: Uint8Array): ImportedPrivateKey {
  const jwk = ecJwkOfPkcs8(der);
  if (jwk !== undefined) {
    // A copy: the input may be a view into a whole gRPC message.
    return { privateKey: createPrivateKey({ key: jwk, format: "jwk" }), pkcs8Der: new Uint8Array(der) };
  }
  const privateKey = createPrivateKey({ key: Buffer.from(der.buffer, der.byteOffset, der.byteLength), format: "der", type: "pkcs8" });
  return { privateKey, pkcs8Der: new Uint8Array(privateKey.export({ format: "der", type: "pkcs8" })) };
}
