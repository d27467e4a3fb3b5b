import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readVector } from "../../test/support/vectors.js";
import { decodePem, encodePem, PemError, pemBlocksOfType } from "./pem.js";

const X509SVID = "go-spiffe/svid/x509svid/testdata/";
const X509BUNDLE = "go-spiffe/bundle/x509bundle/testdata/";

describe("decodePem", () => {
  it("reads a key block and a certificate block in file order", () => {
    const blocks = decodePem(readVector(`${X509SVID}good-key-and-cert.pem`).toString("utf8"));
    assert.deepEqual(
      blocks.map((block) => block.type),
      ["PRIVATE KEY", "CERTIFICATE"],
    );
    assert.equal(blocks[1]?.der[0], 0x30);
  });

  it("returns no blocks for text without PEM", () => {
    assert.deepEqual(decodePem(readVector(`${X509SVID}not-pem`).toString("utf8")), []);
    assert.deepEqual(decodePem(""), []);
  });

  it("ignores explanatory text around blocks and CRLF line ends", () => {
    const pem = encodePem("CERTIFICATE", new Uint8Array([0x30, 0x00]));
    const blocks = decodePem(`subject=CN=x\r\n${pem.replaceAll("\n", "\r\n")}trailing words\n`);
    assert.deepEqual(blocks, [{ type: "CERTIFICATE", der: new Uint8Array([0x30, 0x00]) }]);
  });

  it("rejects a block without an END line", () => {
    assert.throws(
      () => decodePem("-----BEGIN CERTIFICATE-----\nMAA=\n"),
      (e: unknown) => e instanceof PemError && e.message === 'PEM block "CERTIFICATE" has no END line (RFC 7468 §2)',
    );
  });

  it("rejects an END line with another label", () => {
    assert.throws(() => decodePem("-----BEGIN CERTIFICATE-----\nMAA=\n-----END PRIVATE KEY-----\n"), /closed by "END PRIVATE KEY"/);
  });

  it("rejects a block interrupted by another BEGIN", () => {
    assert.throws(
      () => decodePem("-----BEGIN CERTIFICATE-----\nMAA=\n-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"),
      /not closed before the next block/,
    );
  });

  it("rejects invalid base64 and encrypted-key headers", () => {
    assert.throws(() => decodePem("-----BEGIN CERTIFICATE-----\nM*A=\n-----END CERTIFICATE-----\n"), /does not contain valid base64/);
    assert.throws(() => decodePem("-----BEGIN CERTIFICATE-----\nMAA\n-----END CERTIFICATE-----\n"), /does not contain valid base64/);
    assert.throws(
      () => decodePem("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nMAA=\n-----END RSA PRIVATE KEY-----\n"),
      /has RFC 1421 headers/,
    );
  });

  it("decodes the duplicated-line fixture as base64 (the DER check catches it later)", () => {
    const [block] = decodePem(readVector(`${X509BUNDLE}corrupted.pem`).toString("utf8"));
    assert.equal(block?.der.length, 403);
  });
});

describe("encodePem", () => {
  it("reproduces go-spiffe's certs.pem byte for byte", () => {
    const text = readVector(`${X509BUNDLE}certs.pem`).toString("utf8");
    const encoded = decodePem(text)
      .map((block) => encodePem(block.type, block.der))
      .join("");
    assert.equal(encoded, text);
  });

  it("wraps base64 at 64 columns and ends with a newline", () => {
    const pem = encodePem("CERTIFICATE", new Uint8Array(100).fill(0xab));
    const lines = pem.split("\n");
    assert.deepEqual(
      lines.slice(1, 4).map((line) => line.length),
      [64, 64, 136 - 128],
    );
    assert.ok(pem.endsWith("-----END CERTIFICATE-----\n"));
  });

  it("encodes a view of a larger buffer, not the whole buffer", () => {
    const backing = new Uint8Array([1, 2, 0x30, 0x00, 3]);
    const [block] = decodePem(encodePem("X", backing.subarray(2, 4)));
    assert.deepEqual(block?.der, new Uint8Array([0x30, 0x00]));
  });
});

describe("pemBlocksOfType", () => {
  it("selects by type, keeping order", () => {
    const blocks = decodePem(readVector(`${X509SVID}good-cert-and-key.pem`).toString("utf8"));
    assert.equal(pemBlocksOfType(blocks, "CERTIFICATE").length, 1);
    assert.equal(pemBlocksOfType(blocks, "PRIVATE KEY").length, 1);
    assert.equal(pemBlocksOfType(blocks, "EC PRIVATE KEY").length, 0);
  });
});
