import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { createCertificateAuthority } from "../fakeagent/ca.js";
import { readVector } from "../../test/support/vectors.js";
import { concatDer } from "./der.js";
import { decodePem } from "./pem.js";
import { parseTrustDomain } from "./spiffe-id.js";
import {
  checkX509BundleAuthorities,
  marshalX509BundleDer,
  MAX_BUNDLE_AUTHORITIES,
  marshalX509BundlePem,
  parseX509BundleDer,
  parseX509BundlePem,
  x509BundleFromCertificates,
  X509BundleError,
  X509BundleSet,
} from "./x509-bundle.js";

const X509BUNDLE = "go-spiffe/bundle/x509bundle/testdata/";
const td = parseTrustDomain("example.org");
const other = parseTrustDomain("other.org");

const fixture = (name: string): string => readVector(X509BUNDLE + name).toString("utf8");

function assertBundleError(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    if (!(e instanceof X509BundleError) || e.code !== "ERR_X509_BUNDLE") return false;
    return typeof message === "string" ? e.message === message : message.test(e.message);
  });
}

describe("parseX509BundlePem on go-spiffe fixtures", () => {
  it("parses cert.pem: one authority, need not be a SPIFFE certificate", () => {
    const bundle = parseX509BundlePem(td, fixture("cert.pem"));
    assert.equal(bundle.trustDomain, td);
    assert.deepEqual(
      bundle.authorities.map((a) => a.subject),
      ["CN=PEMUTILTEST1"],
    );
  });

  it("parses certs.pem and marshals it back byte for byte", () => {
    const text = fixture("certs.pem");
    const bundle = parseX509BundlePem(td, text);
    assert.equal(bundle.authorities.length, 2);
    assert.equal(marshalX509BundlePem(bundle), text);
  });

  it("reads empty.pem as an empty bundle", () => {
    assert.deepEqual(parseX509BundlePem(td, fixture("empty.pem")).authorities, []);
  });

  it("rejects not-pem.pem: no PEM blocks found", () => {
    assertBundleError(
      () => parseX509BundlePem(td, fixture("not-pem.pem")),
      'cannot parse X.509 bundle of trust domain "example.org": no PEM blocks found',
    );
  });

  it("rejects corrupted.pem (duplicated base64 line) by its DER length", () => {
    assertBundleError(
      () => parseX509BundlePem(td, fixture("corrupted.pem")),
      /^cannot parse X\.509 bundle of trust domain "example\.org": certificate 1: malformed certificate: its DER SEQUENCE spans 355 bytes but 403 were given/,
    );
  });

  it("rejects key.pem as not a certificate, without echoing the key", () => {
    const text = fixture("key.pem");
    assert.throws(
      () => parseX509BundlePem(td, text),
      (e: unknown) =>
        e instanceof X509BundleError &&
        e.message === 'cannot parse X.509 bundle of trust domain "example.org": found a "PRIVATE KEY" PEM block; a bundle holds only CERTIFICATE blocks' &&
        !e.message.includes(text.split("\n")[1] ?? "-"),
    );
  });

  it("rejects a bundle whose certificate is followed by a key", () => {
    assertBundleError(() => parseX509BundlePem(td, fixture("cert.pem") + fixture("key.pem")), /found a "PRIVATE KEY" PEM block/);
  });
});

describe("parseX509BundleDer", () => {
  // The wire form must hold CAs; go-spiffe's PEM fixtures are plain certificates.
  let ders: Uint8Array[] = [];
  before(async () => {
    const cas = await Promise.all([createCertificateAuthority({ trustDomain: td }), createCertificateAuthority({ trustDomain: td })]);
    ders = cas.map((ca) => ca.certificateDer);
  });

  it("splits the Workload API's concatenated DER", () => {
    const bundle = parseX509BundleDer(td, concatDer(ders));
    assert.equal(bundle.authorities.length, 2);
    assert.deepEqual(marshalX509BundleDer(bundle), concatDer(ders));
  });

  it("reads empty input as an empty bundle", () => {
    assert.deepEqual(parseX509BundleDer(td, new Uint8Array()).authorities, []);
  });

  it("hands out a trust domain's bundle again for the same bytes, and parses changed bytes", () => {
    const first = parseX509BundleDer(td, concatDer(ders));
    assert.equal(parseX509BundleDer(td, new Uint8Array(concatDer(ders))), first);
    const changed = parseX509BundleDer(td, concatDer(ders.slice(1)));
    assert.notEqual(changed, first);
    assert.deepEqual(marshalX509BundleDer(changed), concatDer(ders.slice(1)));
    assert.equal(parseX509BundleDer(td, concatDer(ders.slice(1))), changed, "one authority, compared whole");
    assert.notEqual(parseX509BundleDer(td, concatDer(ders.slice(0, 1))), changed, "another one");
    assert.equal(parseX509BundleDer(other, concatDer(ders)).trustDomain.name, "other.org");
    assert.equal(parseX509BundleDer(td, concatDer([...ders, new Uint8Array(ders[0] ?? [])])).authorities.length, 2, "a repeat is dropped, not reused");
  });

  it("gives authorities whose OpenSSL objects, made on demand, still verify", () => {
    const [authority] = parseX509BundleDer(td, concatDer(ders)).authorities;
    assert.ok(authority !== undefined);
    assert.equal(authority.x509, authority.x509, "made once, then kept");
    assert.ok(authority.x509.verify(authority.publicKey), "a self-signed CA verifies with its own key");
    assert.equal(authority.x509.fingerprint256.replaceAll(":", "").toLowerCase(), authority.fingerprintSha256);
  });

  it("rejects trailing bytes and says which trust domain", () => {
    const corrupt = concatDer([...ders, new Uint8Array([0x30, 0x05, 0x00])]);
    assertBundleError(
      () => parseX509BundleDer(other, corrupt),
      /^cannot parse X\.509 bundle of trust domain "other\.org": DER SEQUENCE at byte \d+ declares 5 content bytes but only 1 remain$/,
    );
  });

  it("names the certificate that does not parse", () => {
    const notCertificate = new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]);
    assertBundleError(() => parseX509BundleDer(td, concatDer([...ders, notCertificate])), /: certificate 3: malformed certificate: /);
  });

  it("keeps one copy of a repeated authority", () => {
    const bundle = parseX509BundleDer(td, concatDer([...ders, ...ders]));
    assert.equal(bundle.authorities.length, 2);
  });

  it("refuses the whole bundle when one certificate is not a CA (issue 13.8)", () => {
    const [leafLike] = decodePem(fixture("cert.pem")).map((block) => block.der);
    assert.ok(leafLike !== undefined);
    const serial = parseX509BundlePem(td, fixture("cert.pem")).authorities[0]?.serialHex ?? "";
    assertBundleError(
      () => parseX509BundleDer(td, concatDer([...ders, leafLike])),
      `cannot parse X.509 bundle of trust domain "example.org": certificate 3 (serial ${serial}) is not a CA: ` +
        "basicConstraints cA must be true for a bundle authority (X509-SVID §4.1)",
    );
  });

  it("refuses more than MAX_BUNDLE_AUTHORITIES certificates, naming the bound", () => {
    const many = concatDer(Array.from({ length: MAX_BUNDLE_AUTHORITIES + 1 }, () => ders[0] ?? new Uint8Array()));
    assertBundleError(
      () => parseX509BundleDer(td, many),
      `cannot parse X.509 bundle of trust domain "example.org": 513 certificates; at most 512 are accepted (MAX_BUNDLE_AUTHORITIES)`,
    );
  });
});

describe("checkX509BundleAuthorities", () => {
  it("finds the non-CA certificates that go-spiffe's PEM fixtures hold", () => {
    const bundle = parseX509BundlePem(td, fixture("certs.pem"));
    assertBundleError(() => checkX509BundleAuthorities(bundle), /certificate 1 \(serial [0-9a-f]+\) is not a CA/);
  });
});

describe("x509BundleFromCertificates", () => {
  it("keeps first-seen order and drops duplicates", () => {
    const [a, b] = parseX509BundlePem(td, fixture("certs.pem")).authorities;
    assert.ok(a && b);
    const bundle = x509BundleFromCertificates(td, [b, a, b]);
    assert.deepEqual(bundle.authorities, [b, a]);
  });
});

describe("X509BundleSet", () => {
  const mine = parseX509BundlePem(td, fixture("cert.pem"));
  const theirs = parseX509BundlePem(other, fixture("certs.pem"));

  it("finds bundles by trust domain name, not by object identity", () => {
    const set = new X509BundleSet([theirs, mine]);
    assert.equal(set.get(parseTrustDomain("example.org")), mine);
    assert.equal(set.getX509Bundle(parseTrustDomain("spiffe://other.org/x")), theirs);
    assert.equal(set.get(parseTrustDomain("third.org")), undefined);
    assert.equal(set.size, 2);
  });

  it("lists trust domains and bundles sorted by name", () => {
    const set = new X509BundleSet([theirs, mine]);
    assert.deepEqual(
      set.trustDomains().map((t) => t.name),
      ["example.org", "other.org"],
    );
    assert.deepEqual(set.bundles(), [mine, theirs]);
  });

  it("replaces a trust domain's bundle on set", () => {
    const set = new X509BundleSet([mine]);
    const replacement = parseX509BundlePem(td, fixture("certs.pem"));
    set.set(replacement);
    assert.equal(set.get(td), replacement);
    assert.equal(set.size, 1);
  });
});
