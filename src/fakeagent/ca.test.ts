import assert from "node:assert/strict";
import { createPrivateKey } from "node:crypto";
import { before, describe, it } from "node:test";
import { EKU_CLIENT_AUTH, EKU_SERVER_AUTH, parseCertificate, type ParsedCertificate } from "../spiffe/certificate.js";
import { splitDerSequence } from "../spiffe/der.js";
import { parseSpiffeId, parseTrustDomain } from "../spiffe/spiffe-id.js";
import { parseX509BundleDer, X509BundleSet } from "../spiffe/x509-bundle.js";
import { parseX509SvidDer, verifyX509Svid, X509SvidError, type X509SvidRule } from "../spiffe/x509-svid.js";
import { bundleDer, createCertificateAuthority, issueX509Svid, type CertificateAuthority, type IssueX509SvidOptions } from "./ca.js";

const td = parseTrustDomain("example.org");
const spiffeId = parseSpiffeId("spiffe://example.org/service/web");
const now = new Date("2031-06-01T12:00:00Z");
const at = (offsetSeconds: number): Date => new Date(now.getTime() + offsetSeconds * 1000);

function parseChain(der: Uint8Array): ParsedCertificate[] {
  return splitDerSequence(der).map((element) => parseCertificate(element));
}

function sorted(set: ReadonlySet<string> | undefined): string[] {
  return [...(set ?? [])].sort();
}

function assertSerial(serialHex: string): void {
  assert.match(serialHex, /^[0-9a-f]+$/);
  assert.ok(serialHex.length <= 32, `serial ${serialHex} is longer than 128 bits`);
}

describe("createCertificateAuthority", () => {
  let root: CertificateAuthority;
  let intermediate: CertificateAuthority;
  before(async () => {
    root = await createCertificateAuthority({ trustDomain: td, notBefore: at(-3600), notAfter: at(86_400) });
    intermediate = await createCertificateAuthority({ trustDomain: td, parent: root, notBefore: at(-60), notAfter: at(3600) });
  });

  it("makes a self-signed root with the X509-SVID signing-certificate profile", () => {
    const certificate = parseCertificate(root.certificateDer);
    assert.ok(certificate.x509.checkIssued(certificate.x509));
    assert.ok(certificate.x509.verify(certificate.publicKey));
    assert.equal(certificate.isCa, true);
    assert.ok(certificate.criticalExtensions.includes("2.5.29.19"));
    assert.deepEqual(sorted(certificate.keyUsage), ["cRLSign", "keyCertSign"]);
    assert.equal(certificate.keyUsageCritical, true);
    assert.deepEqual(certificate.uriSans, ["spiffe://example.org"]);
    assert.equal(certificate.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
    assert.deepEqual([certificate.notBefore, certificate.notAfter], [at(-3600), at(86_400)]);
    assertSerial(root.serialHex);
    assert.equal(certificate.serialHex, root.serialHex);
  });

  it("makes the root its own bundle, with nothing to append to a leaf", () => {
    assert.deepEqual(root.rootDer, root.certificateDer);
    assert.deepEqual(bundleDer(root), root.certificateDer);
    assert.equal(root.chainDer.length, 0);
  });

  it("makes an intermediate signed by its parent, chained up to but excluding the root", () => {
    const certificate = parseCertificate(intermediate.certificateDer);
    const rootCertificate = parseCertificate(root.certificateDer);
    assert.ok(certificate.x509.verify(rootCertificate.publicKey));
    assert.equal(certificate.issuer, rootCertificate.subject);
    assert.notEqual(certificate.subject, rootCertificate.subject);
    assert.deepEqual(intermediate.chainDer, intermediate.certificateDer);
    assert.deepEqual(intermediate.rootDer, root.rootDer);
  });

  it("chains a second intermediate below the first", async () => {
    const second = await createCertificateAuthority({ trustDomain: td, parent: intermediate, notBefore: at(-60), notAfter: at(600) });
    assert.deepEqual(
      parseChain(second.chainDer).map((c) => c.serialHex),
      [second.serialHex, intermediate.serialHex],
    );
  });

  it("defaults to one day of validity starting a minute ago", async () => {
    const ca = await createCertificateAuthority({ trustDomain: td });
    assert.equal(ca.notAfter.getTime() - ca.notBefore.getTime(), 86_400_000);
    assert.ok(ca.notBefore.getTime() < Date.now());
  });

  it("makes RSA-2048 CAs on request", async () => {
    const rsa = await createCertificateAuthority({ trustDomain: td, keyType: "rsa-2048" });
    const certificate = parseCertificate(rsa.certificateDer);
    assert.equal(certificate.publicKey.asymmetricKeyType, "rsa");
    assert.equal(certificate.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  });
});

describe("issueX509Svid", () => {
  let root: CertificateAuthority;
  let intermediate: CertificateAuthority;
  before(async () => {
    root = await createCertificateAuthority({ trustDomain: td, notBefore: at(-3600), notAfter: at(86_400) });
    intermediate = await createCertificateAuthority({ trustDomain: td, parent: root, notBefore: at(-60), notAfter: at(3600) });
  });

  const issue = (ca: CertificateAuthority, options: Partial<IssueX509SvidOptions> = {}) =>
    issueX509Svid(ca, { spiffeId, ttlSeconds: 600, now, ...options });

  it("issues a leaf with the X509-SVID leaf profile", async () => {
    const issued = await issue(root);
    const [leaf, ...rest] = parseChain(issued.chainDer);
    assert.ok(leaf);
    assert.equal(rest.length, 0);
    assert.deepEqual(leaf.uriSans, ["spiffe://example.org/service/web"]);
    assert.equal(leaf.isCa, false);
    assert.deepEqual(sorted(leaf.keyUsage), ["digitalSignature"]);
    assert.equal(leaf.keyUsageCritical, true);
    assert.deepEqual(leaf.extKeyUsage, [EKU_SERVER_AUTH, EKU_CLIENT_AUTH]);
    assert.equal(leaf.serialHex, issued.serialHex);
    assertSerial(issued.serialHex);
    assert.deepEqual(issued.spiffeId, spiffeId);
  });

  it("backdates notBefore by 5 s by default and ends ttlSeconds after now", async () => {
    const issued = await issue(root);
    assert.deepEqual([issued.notBefore, issued.notAfter], [at(-5), at(600)]);
    const custom = await issue(root, { backdateSeconds: 30, ttlSeconds: 1 });
    assert.deepEqual([custom.notBefore, custom.notAfter], [at(-30), at(1)]);
  });

  it("never lets a leaf outlive its CA", async () => {
    const issued = await issue(intermediate, { ttlSeconds: 7200 });
    assert.deepEqual(issued.notAfter, intermediate.notAfter);
  });

  it("delivers leaf then intermediates, and a PKCS#8 key that parses and matches", async () => {
    const issued = await issue(intermediate);
    const svid = parseX509SvidDer(issued.chainDer, issued.privateKeyDer);
    assert.equal(svid.id.toString(), spiffeId.toString());
    assert.equal(svid.certificates[1]?.serialHex, intermediate.serialHex);
    const bundles = new X509BundleSet([parseX509BundleDer(td, bundleDer(root))]);
    assert.equal(verifyX509Svid(svid.certificates, bundles, { now }).chain.length, 3);
    assert.equal(createPrivateKey({ key: Buffer.from(issued.privateKeyDer), format: "der", type: "pkcs8" }).asymmetricKeyType, "ec");
  });

  it("uses a fresh key and serial for every SVID", async () => {
    const [a, b] = await Promise.all([issue(root), issue(root)]);
    assert.ok(a && b);
    assert.notEqual(a.serialHex, b.serialHex);
    assert.notDeepEqual(a.privateKeyDer, b.privateKeyDer);
  });

  it("issues RSA leaves on request", async () => {
    const issued = await issue(root, { keyType: "rsa-2048" });
    const svid = parseX509SvidDer(issued.chainDer, issued.privateKeyDer);
    assert.equal(svid.privateKey.asymmetricKeyType, "rsa");
  });

  it("breaks exactly the rule each fault knob names", async () => {
    const faults: [Partial<IssueX509SvidOptions>, X509SvidRule][] = [
      [{ isCa: true }, "leaf-is-ca"],
      [{ keyUsage: ["keyAgreement"] }, "leaf-missing-digital-signature"],
      [{ keyUsage: [] }, "leaf-missing-digital-signature"],
      [{ keyUsage: ["digitalSignature", "cRLSign"] }, "leaf-crl-sign"],
      [{ extraUriSans: ["spiffe://example.org/other"] }, "multiple-uri-sans"],
      [{ omitUriSan: true }, "no-uri-san"],
    ];
    for (const [fault, rule] of faults) {
      const issued = await issue(root, fault);
      assert.throws(
        () => parseX509SvidDer(issued.chainDer, issued.privateKeyDer),
        (e: unknown) => e instanceof X509SvidError && e.rule === rule,
        JSON.stringify(fault),
      );
    }
  });

  it("omits the keyUsage extension for an empty list, and sets exact validity on request", async () => {
    const issued = await issue(root, { keyUsage: [], notBefore: at(-7200), notAfter: at(-3600) });
    const [leaf] = parseChain(issued.chainDer);
    assert.equal(leaf?.keyUsage, undefined);
    assert.deepEqual([leaf?.notBefore, leaf?.notAfter], [at(-7200), at(-3600)]);
  });
});
