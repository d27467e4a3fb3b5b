import "reflect-metadata";
import { BasicConstraintsExtension, X509CertificateGenerator } from "@peculiar/x509";
import assert from "node:assert/strict";
import { X509Certificate, webcrypto } from "node:crypto";
import { describe, it } from "node:test";
import { readVector } from "../../test/support/vectors.js";
import { CertificateError, EKU_CLIENT_AUTH, EKU_SERVER_AUTH, isValidAt, parseCertificate } from "./certificate.js";
import { decodePem } from "./pem.js";

const X509SVID = "go-spiffe/svid/x509svid/testdata/";
const X509BUNDLE = "go-spiffe/bundle/x509bundle/testdata/";

function pemDers(relative: string): Uint8Array[] {
  return decodePem(readVector(relative).toString("utf8")).map((block) => block.der);
}

function assertCertificateError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof CertificateError && e.code === "ERR_CERTIFICATE" && pattern.test(e.message));
}

describe("parseCertificate on go-spiffe fixtures", () => {
  const [leafDer, intermediateDer] = pemDers(`${X509SVID}good-leaf-and-intermediate.pem`);

  it("reads the leaf's identity, usages and validity", () => {
    const leaf = parseCertificate(leafDer ?? new Uint8Array());
    assert.equal(leaf.serialHex, "9e1363cf3700a4335b8804cf14cfe5e9");
    assert.equal(leaf.subject, "C=US, O=SPIRE");
    assert.equal(leaf.issuer, "C=US, O=SPIFFE");
    assert.deepEqual(leaf.uriSans, ["spiffe://example.org/workload-1"]);
    assert.equal(leaf.isCa, false);
    assert.deepEqual([...(leaf.keyUsage ?? [])].sort(), ["digitalSignature", "keyAgreement", "keyEncipherment"]);
    assert.equal(leaf.keyUsageCritical, true);
    assert.deepEqual(leaf.extKeyUsage, [EKU_SERVER_AUTH, EKU_CLIENT_AUTH]);
    assert.equal(leaf.notAfter.toISOString(), "2020-03-24T15:07:40.000Z");
    assert.deepEqual([...leaf.criticalExtensions].sort(), ["2.5.29.15", "2.5.29.19"]);
    assert.equal(leaf.publicKey.asymmetricKeyType, "ec");
  });

  it("reads the intermediate's CA flag and key usage", () => {
    const intermediate = parseCertificate(intermediateDer ?? new Uint8Array());
    assert.equal(intermediate.isCa, true);
    assert.equal(intermediate.pathLenConstraint, undefined);
    assert.deepEqual([...(intermediate.keyUsage ?? [])].sort(), ["cRLSign", "digitalSignature", "keyCertSign"]);
    assert.deepEqual(intermediate.uriSans, ["spiffe://example.org"]);
    assert.deepEqual(intermediate.extKeyUsage, []);
  });

  it("fingerprints the exact DER with SHA-256", () => {
    const leaf = parseCertificate(leafDer ?? new Uint8Array());
    const expected = new X509Certificate(leafDer ?? new Uint8Array()).fingerprint256.replaceAll(":", "").toLowerCase();
    assert.equal(leaf.fingerprintSha256, expected);
    assert.deepEqual(leaf.der, leafDer);
  });

  it("reads a v1 certificate without extensions (cert.pem)", () => {
    const [der] = pemDers(`${X509BUNDLE}cert.pem`);
    const certificate = parseCertificate(der ?? new Uint8Array());
    assert.equal(certificate.subject, "CN=PEMUTILTEST1");
    assert.equal(certificate.keyUsage, undefined);
    assert.equal(certificate.isCa, false);
    assert.deepEqual(certificate.uriSans, []);
  });

  it("owns its bytes: changing the input afterwards changes nothing", () => {
    const copy = new Uint8Array(leafDer ?? new Uint8Array());
    const leaf = parseCertificate(copy);
    copy.fill(0);
    assert.deepEqual(leaf.der, leafDer);
  });
});

describe("parseCertificate rejects malformed input", () => {
  it("rejects corrupted.pem, whose DER has 48 bytes after the certificate, though Node accepts it", () => {
    const [der] = pemDers(`${X509BUNDLE}corrupted.pem`);
    assert.ok(der);
    // Why the strict check exists: OpenSSL (via Node) parses the first 355 bytes and ignores the rest.
    assert.equal(new X509Certificate(der).raw.length, 355);
    assertCertificateError(() => parseCertificate(der), /^malformed certificate: its DER SEQUENCE spans 355 bytes but 403 were given/);
  });

  it("rejects corrupt-cert.pem, which is not DER at all", () => {
    const [der] = pemDers(`${X509SVID}corrupt-cert.pem`);
    assertCertificateError(() => parseCertificate(der ?? new Uint8Array()), /^malformed certificate: expected a DER SEQUENCE \(tag 0x30\), found tag 0x43/);
  });

  it("rejects a private key (key.pem) as not a certificate", () => {
    const [der] = pemDers(`${X509BUNDLE}key.pem`);
    assertCertificateError(() => parseCertificate(der ?? new Uint8Array()), /^malformed certificate: /);
  });

  it("rejects empty input and a truncated certificate", () => {
    assertCertificateError(() => parseCertificate(new Uint8Array()), /^malformed certificate: no bytes$/);
    const [der] = pemDers(`${X509BUNDLE}cert.pem`);
    assertCertificateError(() => parseCertificate((der ?? new Uint8Array()).subarray(0, 100)), /spans \d+ bytes but 100 were given/);
  });

  it("rejects two certificates where one is expected", () => {
    const [der] = pemDers(`${X509BUNDLE}cert.pem`);
    const twice = new Uint8Array([...(der ?? []), ...(der ?? [])]);
    assertCertificateError(() => parseCertificate(twice), /spans (\d+) bytes but \d+ were given/);
  });

  it("rejects a certificate with a repeated extension (RFC 5280 §4.2)", async () => {
    const keys = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
    const certificate = await X509CertificateGenerator.createSelfSigned({
      name: "CN=dup",
      keys,
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
      extensions: [new BasicConstraintsExtension(true, undefined, true), new BasicConstraintsExtension(false, undefined, true)],
    });
    assertCertificateError(
      () => parseCertificate(new Uint8Array(certificate.rawData)),
      /^malformed certificate: extension 2\.5\.29\.19 appears more than once \(RFC 5280 §4\.2\)$/,
    );
  });
});

describe("isValidAt", () => {
  it("includes both ends of the validity period", () => {
    const [der] = pemDers(`${X509BUNDLE}cert.pem`);
    const certificate = parseCertificate(der ?? new Uint8Array());
    assert.equal(isValidAt(certificate, certificate.notBefore), true);
    assert.equal(isValidAt(certificate, certificate.notAfter), true);
    assert.equal(isValidAt(certificate, new Date(certificate.notAfter.getTime() + 1000)), false);
    assert.equal(isValidAt(certificate, new Date(certificate.notBefore.getTime() - 1000)), false);
  });
});
