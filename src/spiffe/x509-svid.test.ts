import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readVector } from "../../test/support/vectors.js";
import { concatDer } from "./der.js";
import { decodePem, pemBlocksOfType } from "./pem.js";
import {
  marshalX509SvidPem,
  MAX_CHAIN_CERTIFICATES,
  MAX_PRIVATE_KEY_BYTES,
  parseX509SvidDer,
  parseX509SvidPem,
  X509SvidError,
  type X509SvidRule,
} from "./x509-svid.js";

const X509SVID = "go-spiffe/svid/x509svid/testdata/";
const text = (name: string): string => readVector(X509SVID + name).toString("utf8");

function assertSvidError(fn: () => unknown, rule: X509SvidRule, message: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof X509SvidError, `expected X509SvidError, got ${String(e)}`);
    assert.equal(e.code, "ERR_X509_SVID");
    assert.equal(e.rule, rule);
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

/** The same PEM fixtures in the Workload API's wire form. */
function asDer(certPem: string, keyPem: string): { chain: Uint8Array; key: Uint8Array } {
  const [key] = pemBlocksOfType(decodePem(keyPem), "PRIVATE KEY");
  return { chain: concatDer(pemBlocksOfType(decodePem(certPem), "CERTIFICATE")), key: key ?? new Uint8Array() };
}

interface Case {
  cert: string;
  key: string;
  rule: X509SvidRule;
  message: string | RegExp;
}

// go-spiffe `svid/x509svid` TestLoad/TestParse cases, with the reasons listed in vectors/README.md.
const invalidCases: Case[] = [
  { cert: "good-leaf-and-intermediate.pem", key: "key-pkcs8-rsa.pem", rule: "key-mismatch", message: "leaf certificate does not match private key (SPIFFE Workload API §5.2.1)" },
  { cert: "wrong-leaf-empty-id.pem", key: "key-pkcs8-rsa.pem", rule: "no-uri-san", message: "certificate contains no URI SAN (X509-SVID §2)" },
  { cert: "wrong-leaf-ca-true.pem", key: "key-pkcs8-rsa.pem", rule: "leaf-is-ca", message: "leaf certificate must not have CA flag set to true (X509-SVID §4.1)" },
  {
    cert: "wrong-leaf-no-digital-signature.pem",
    key: "key-pkcs8-rsa.pem",
    rule: "leaf-missing-digital-signature",
    message: "leaf certificate must have 'digitalSignature' set as key usage (X509-SVID §4.3)",
  },
  { cert: "wrong-leaf-cert-sign.pem", key: "key-pkcs8-rsa.pem", rule: "leaf-key-cert-sign", message: "leaf certificate must not have 'keyCertSign' set as key usage (X509-SVID §4.3)" },
  { cert: "wrong-leaf-crl-sign.pem", key: "key-pkcs8-rsa.pem", rule: "leaf-crl-sign", message: "leaf certificate must not have 'cRLSign' set as key usage (X509-SVID §4.3)" },
  {
    cert: "wrong-intermediate-no-ca.pem",
    key: "key-pkcs8-rsa.pem",
    rule: "signing-cert-not-ca",
    message: /^signing certificate must have CA flag set to true \(chain position 2, certificate [0-9a-f]+; X509-SVID §4\.1\)$/,
  },
  {
    cert: "wrong-intermediate-no-key-cert-sign.pem",
    key: "key-pkcs8-rsa.pem",
    rule: "signing-cert-missing-key-cert-sign",
    message: /^signing certificate must have 'keyCertSign' set as key usage \(chain position 2, certificate [0-9a-f]+; X509-SVID §4\.3\)$/,
  },
  {
    cert: "good-leaf-only.pem",
    key: "corrupt-key.pem",
    rule: "malformed-key",
    message: "private key is not an unencrypted PKCS#8 DER key: it starts with tag 0x43, not a SEQUENCE (RFC 5958 §2)",
  },
];

describe("parseX509SvidPem on go-spiffe fixtures (structure only: every fixture has expired)", () => {
  it("accepts a single leaf with an RSA key", () => {
    const svid = parseX509SvidPem(text("good-leaf-only.pem"), text("key-pkcs8-rsa.pem"));
    assert.equal(svid.id.toString(), "spiffe://example.org/workload-1");
    assert.equal(svid.certificates.length, 1);
    assert.equal(svid.privateKey.asymmetricKeyType, "rsa");
    assert.equal(svid.hint, "");
  });

  it("accepts a leaf and intermediate with an EC key", () => {
    const svid = parseX509SvidPem(text("good-leaf-and-intermediate.pem"), text("key-pkcs8-ecdsa.pem"), { hint: "internal" });
    assert.equal(svid.certificates.length, 2);
    assert.equal(svid.privateKey.asymmetricKeyType, "ec");
    assert.equal(svid.hint, "internal");
  });

  it("accepts certificate and key in one file, in either order", () => {
    for (const name of ["good-cert-and-key.pem", "good-key-and-cert.pem"]) {
      const svid = parseX509SvidPem(text(name), text(name));
      assert.equal(svid.id.toString(), "spiffe://example.org/workload-1", name);
      assert.equal(svid.certificates.length, 1, name);
    }
  });

  for (const { cert, key, rule, message } of invalidCases) {
    it(`rejects ${cert} + ${key}: ${rule}`, () => {
      assertSvidError(() => parseX509SvidPem(text(cert), text(key)), rule, message);
    });
  }

  it("rejects not-pem as the certificate or as the key: no PEM blocks found", () => {
    assertSvidError(() => parseX509SvidPem(text("not-pem"), text("key-pkcs8-rsa.pem")), "no-certificates", "no PEM blocks found in the certificate PEM");
    assertSvidError(() => parseX509SvidPem(text("good-leaf-only.pem"), text("not-pem")), "malformed-key", "no PEM blocks found in the private key PEM");
  });

  it("rejects corrupt-cert.pem: malformed certificate", () => {
    assertSvidError(
      () => parseX509SvidPem(text("corrupt-cert.pem"), text("key-pkcs8-rsa.pem")),
      "malformed-certificate",
      /^cannot parse certificate 1 of the chain: malformed certificate: expected a DER SEQUENCE/,
    );
  });

  it("rejects a certificate PEM that holds only a key, and a key PEM that holds only certificates", () => {
    assertSvidError(() => parseX509SvidPem(text("key-pkcs8-rsa.pem"), text("key-pkcs8-rsa.pem")), "no-certificates", "certificate PEM contains no CERTIFICATE block");
    assertSvidError(
      () => parseX509SvidPem(text("good-leaf-only.pem"), text("good-leaf-only.pem")),
      "malformed-key",
      'private key PEM has no "PRIVATE KEY" (PKCS#8) block, found "CERTIFICATE" (SPIFFE Workload API §5.2.1)',
    );
  });
});

describe("parseX509SvidDer on the same fixtures in wire form", () => {
  it("accepts the valid pairs", () => {
    const { chain, key } = asDer(text("good-leaf-and-intermediate.pem"), text("key-pkcs8-ecdsa.pem"));
    const svid = parseX509SvidDer(chain, key, { hint: "h" });
    assert.equal(svid.certificates.length, 2);
    assert.equal(svid.hint, "h");
  });

  for (const { cert, key, rule, message } of invalidCases) {
    it(`rejects ${cert} + ${key}: ${rule}`, () => {
      const der = asDer(text(cert), text(key));
      assertSvidError(() => parseX509SvidDer(der.chain, der.key), rule, message);
    });
  }

  it("rejects an empty chain and a chain with trailing bytes", () => {
    const { chain, key } = asDer(text("good-leaf-only.pem"), text("key-pkcs8-rsa.pem"));
    assertSvidError(() => parseX509SvidDer(new Uint8Array(), key), "no-certificates", "X509-SVID chain contains no certificates (SPIFFE Workload API §5.2.1)");
    assertSvidError(
      () => parseX509SvidDer(concatDer([chain, new Uint8Array([0x30, 0x10])]), key),
      "malformed-certificate",
      /^cannot parse certificate chain: DER SEQUENCE at byte \d+ declares 16 content bytes but only 0 remain$/,
    );
  });

  it("rejects a key with bytes after its DER, which OpenSSL alone would ignore (issue 13.8)", () => {
    const { chain, key } = asDer(text("good-leaf-only.pem"), text("key-pkcs8-rsa.pem"));
    assert.equal(parseX509SvidDer(chain, key).certificates.length, 1);
    for (const tail of [[0x00], [0x30, 0x00], [0xff, 0xff, 0xff]]) {
      assertSvidError(
        () => parseX509SvidDer(chain, concatDer([key, new Uint8Array(tail)])),
        "malformed-key",
        `private key is not an unencrypted PKCS#8 DER key: its DER SEQUENCE spans ${key.length} bytes but ${key.length + tail.length} were given (RFC 5958 §2, X.690 §10.1)`,
      );
    }
  });

  it("rejects a chain longer than MAX_CHAIN_CERTIFICATES before parsing it (issue 13.15)", () => {
    const { chain, key } = asDer(text("good-leaf-and-intermediate.pem"), text("key-pkcs8-ecdsa.pem"));
    const [leaf = new Uint8Array(), intermediate = new Uint8Array()] = pemBlocksOfType(decodePem(text("good-leaf-and-intermediate.pem")), "CERTIFICATE");
    assert.equal(parseX509SvidDer(chain, key).certificates.length, 2);
    const atBound = concatDer([leaf, ...Array.from({ length: MAX_CHAIN_CERTIFICATES - 1 }, () => intermediate)]);
    assert.equal(parseX509SvidDer(atBound, key).certificates.length, MAX_CHAIN_CERTIFICATES);
    const long = concatDer([leaf, ...Array.from({ length: 1000 }, () => intermediate)]);
    assertSvidError(
      () => parseX509SvidDer(long, key),
      "exceeds-bound",
      "certificate chain holds 1001 certificates; at most 16 are accepted (MAX_CHAIN_CERTIFICATES)",
    );
    assertSvidError(
      () => parseX509SvidPem(text("good-leaf-only.pem").repeat(17), text("key-pkcs8-rsa.pem")),
      "exceeds-bound",
      /^certificate chain holds 17 certificates; at most 16/,
    );
  });

  it("rejects an oversized key and an oversized certificate, naming the bound", () => {
    const { chain } = asDer(text("good-leaf-only.pem"), text("key-pkcs8-rsa.pem"));
    assertSvidError(
      () => parseX509SvidDer(chain, new Uint8Array(MAX_PRIVATE_KEY_BYTES + 1)),
      "exceeds-bound",
      `private key is ${MAX_PRIVATE_KEY_BYTES + 1} bytes; at most ${MAX_PRIVATE_KEY_BYTES} are accepted (MAX_PRIVATE_KEY_BYTES)`,
    );
    // A SEQUENCE header claiming 70,000 content bytes, followed by them.
    const huge = new Uint8Array(5 + 70_000);
    huge.set([0x30, 0x83, 0x01, 0x11, 0x70]);
    assertSvidError(
      () => parseX509SvidDer(huge, new Uint8Array()),
      "malformed-certificate",
      "cannot parse certificate 1 of the chain: certificate is 70005 bytes; at most 65536 are accepted (MAX_CERTIFICATE_BYTES)",
    );
  });

  it("rejects a PKCS#1 key where PKCS#8 is required", () => {
    const { chain } = asDer(text("good-leaf-only.pem"), text("key-pkcs8-rsa.pem"));
    const svid = parseX509SvidPem(text("good-leaf-only.pem"), text("key-pkcs8-rsa.pem"));
    const pkcs1 = svid.privateKey.export({ format: "der", type: "pkcs1" });
    assertSvidError(() => parseX509SvidDer(chain, pkcs1), "malformed-key", /not an unencrypted PKCS#8 DER key/);
  });
});

describe("marshalX509SvidPem", () => {
  it("writes the chain leaf first and the key as PKCS#8, and round-trips", () => {
    const svid = parseX509SvidPem(text("good-leaf-and-intermediate.pem"), text("key-pkcs8-ecdsa.pem"));
    const { certificatesPem, privateKeyPem } = marshalX509SvidPem(svid);
    assert.equal(certificatesPem, text("good-leaf-and-intermediate.pem"));
    assert.match(privateKeyPem, /^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/);
    const again = parseX509SvidPem(certificatesPem, privateKeyPem);
    assert.deepEqual(
      again.certificates.map((c) => c.fingerprintSha256),
      svid.certificates.map((c) => c.fingerprintSha256),
    );
  });
});

describe("secrecy", () => {
  it("never puts key material in an error message", () => {
    const keyPem = text("key-pkcs8-rsa.pem");
    const keyBase64Slice = (keyPem.split("\n")[3] ?? "").slice(0, 32);
    assert.ok(keyBase64Slice.length === 32);
    const attempts: (() => unknown)[] = [
      () => parseX509SvidPem(text("good-leaf-and-intermediate.pem"), keyPem),
      () => parseX509SvidPem(keyPem, keyPem),
      () => parseX509SvidPem(text("wrong-leaf-ca-true.pem"), keyPem),
      () => parseX509SvidPem(text("good-leaf-only.pem"), keyPem.replace(/^(.{70})./ms, "$1*")),
      () => parseX509SvidDer(new Uint8Array([0x30, 0x00]), Buffer.from(keyPem)),
    ];
    for (const attempt of attempts) {
      assert.throws(attempt, (e: unknown) => {
        assert.ok(e instanceof X509SvidError);
        assert.doesNotMatch(e.message, /PRIVATE KEY-----|MII/);
        assert.ok(!e.message.includes(keyBase64Slice), e.message);
        return true;
      });
    }
  });
});
