import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readVector } from "../../test/support/vectors.js";
import {
  decodeBasicConstraints,
  decodeExtKeyUsage,
  decodeKeyUsageBits,
  decodeUriSans,
  readTbsFields,
  serialHexOf,
} from "./certificate-der.js";
import { DerError } from "./der.js";
import { decodePem } from "./pem.js";

/** One DER element with a short-form length (every test value is under 128 bytes). */
function tlv(tag: number, ...content: (number | Uint8Array)[]): Uint8Array {
  const bytes = content.flatMap((part) => (typeof part === "number" ? [part] : [...part]));
  return new Uint8Array([tag, bytes.length, ...bytes]);
}

const seq = (...items: Uint8Array[]): Uint8Array => tlv(0x30, ...items);
const SERVER_AUTH = tlv(0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01);
const CLIENT_AUTH = tlv(0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02);

function assertDerError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => error instanceof DerError && error.code === "ERR_DER" && pattern.test(error.message));
}

describe("decodeBasicConstraints", () => {
  it("reads an empty SEQUENCE as not a CA, and cA with a path length", () => {
    assert.deepEqual(decodeBasicConstraints(seq()), { isCa: false, pathLenConstraint: undefined });
    assert.deepEqual(decodeBasicConstraints(seq(tlv(0x01, 0xff), tlv(0x02, 0x02))), { isCa: true, pathLenConstraint: 2 });
  });

  it("refuses a BOOLEAN that is not 0x00 or 0xff (X.690 §11.1)", () => {
    assertDerError(() => decodeBasicConstraints(seq(tlv(0x01, 0x01))), /cA: a DER BOOLEAN is one octet, 0x00 or 0xff/);
  });

  it("refuses a negative path length and fields after it", () => {
    assertDerError(() => decodeBasicConstraints(seq(tlv(0x01, 0xff), tlv(0x02, 0x80))), /small non-negative INTEGER \(RFC 5280 §4\.2\.1\.9\)$/);
    assertDerError(() => decodeBasicConstraints(seq(tlv(0x01, 0xff), tlv(0x02, 0x01), tlv(0x02, 0x01))), /fields after pathLenConstraint/);
  });
});

describe("decodeKeyUsageBits", () => {
  it("numbers the bits from the most significant one, as RFC 5280 §4.2.1.3 names them", () => {
    // 0xa0 = 1010 0000: digitalSignature (bit 0) and keyEncipherment (bit 2).
    assert.deepEqual(decodeKeyUsageBits(tlv(0x03, 0x05, 0xa0)), [true, false, true, false, false, false, false, false]);
  });

  it("refuses an impossible unused-bits count", () => {
    assertDerError(() => decodeKeyUsageBits(tlv(0x03, 0x08, 0xa0)), /not a well-formed BIT STRING/);
    assertDerError(() => decodeKeyUsageBits(tlv(0x03, 0x01)), /not a well-formed BIT STRING/);
  });

  it("refuses another type in place of the BIT STRING", () => {
    assertDerError(() => decodeKeyUsageBits(tlv(0x04, 0x00)), /keyUsage: expected tag 0x03, found 0x04/);
  });
});

describe("decodeExtKeyUsage", () => {
  it("reads the purposes in order", () => {
    assert.deepEqual(decodeExtKeyUsage(seq(SERVER_AUTH, CLIENT_AUTH)), ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
  });

  it("refuses a non-minimal arc and an arc cut short (X.690 §8.19)", () => {
    assertDerError(() => decodeExtKeyUsage(seq(tlv(0x06, 0x2b, 0x80, 0x01))), /leading 0x80 octet/);
    assertDerError(() => decodeExtKeyUsage(seq(tlv(0x06, 0x2b, 0x86))), /ends inside an arc/);
  });

  it("refuses bytes after the SEQUENCE", () => {
    assertDerError(() => decodeExtKeyUsage(new Uint8Array([...seq(SERVER_AUTH), 0x00])), /bytes after its SEQUENCE/);
  });
});

describe("decodeUriSans", () => {
  it("keeps only uniformResourceIdentifier names", () => {
    const dns = tlv(0x82, ...Buffer.from("example.org"));
    const uri = tlv(0x86, ...Buffer.from("spiffe://example.org/app"));
    assert.deepEqual(decodeUriSans(seq(dns, uri)), ["spiffe://example.org/app"]);
  });

  it("refuses a name whose length runs past the SEQUENCE", () => {
    assertDerError(() => decodeUriSans(new Uint8Array([0x30, 0x03, 0x86, 0x05, 0x61])), /runs past the end/);
  });
});

describe("readTbsFields and serialHexOf on go-spiffe fixtures", () => {
  const [leaf] = decodePem(readVector("go-spiffe/svid/x509svid/testdata/good-leaf-and-intermediate.pem").toString("utf8"));
  const [v1] = decodePem(readVector("go-spiffe/bundle/x509bundle/testdata/cert.pem").toString("utf8"));

  it("reads the leaf's serial, validity and extensions", () => {
    const fields = readTbsFields(leaf?.der ?? new Uint8Array());
    assert.equal(serialHexOf(fields.serial), "9e1363cf3700a4335b8804cf14cfe5e9");
    assert.equal(fields.notAfter.toISOString(), "2020-03-24T15:07:40.000Z");
    assert.deepEqual(
      fields.extensions.filter((extension) => extension.critical).map((extension) => extension.oid).sort(),
      ["2.5.29.15", "2.5.29.19"],
    );
  });

  it("reads a v1 certificate, which has no extensions", () => {
    assert.deepEqual(readTbsFields(v1?.der ?? new Uint8Array()).extensions, []);
  });

  it("keeps a serial's leading zero unless it only marks the number positive", () => {
    assert.equal(serialHexOf(new Uint8Array([0x00, 0x9e])), "9e");
    assert.equal(serialHexOf(new Uint8Array([0x00, 0x1e])), "001e");
    assert.equal(serialHexOf(new Uint8Array([0x00])), "00");
  });
});
