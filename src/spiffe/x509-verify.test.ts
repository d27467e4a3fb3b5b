import "reflect-metadata";
import {
  BasicConstraintsExtension,
  Extension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  X509CertificateGenerator,
} from "@peculiar/x509";
import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";
import { before, describe, it } from "node:test";
import { readVector } from "../../test/support/vectors.js";
import { createCertificateAuthority, issueX509Svid, type CertificateAuthority, type IssueX509SvidOptions } from "../fakeagent/ca.js";
import { parseCertificate, type ParsedCertificate } from "./certificate.js";
import { splitDerSequence } from "./der.js";
import { decodePem } from "./pem.js";
import { parseSpiffeId, parseTrustDomain } from "./spiffe-id.js";
import { parseX509BundleDer, x509BundleFromCertificates, X509BundleSet } from "./x509-bundle.js";
import { parseX509SvidDer, validateX509Svid, verifyX509Svid, X509SvidError, type X509SvidRule } from "./x509-svid.js";

const exampleOrg = parseTrustDomain("example.org");
const otherOrg = parseTrustDomain("other.org");
const workload = parseSpiffeId("spiffe://example.org/workload");
const now = new Date("2030-01-01T00:00:00Z");
const hoursFrom = (date: Date, hours: number): Date => new Date(date.getTime() + hours * 3_600_000);

function chainOf(chainDer: Uint8Array): ParsedCertificate[] {
  return splitDerSequence(chainDer).map((der) => parseCertificate(der));
}

function bundlesOf(...cas: CertificateAuthority[]): X509BundleSet {
  return new X509BundleSet(cas.map((ca) => parseX509BundleDer(ca.trustDomain, ca.rootDer)));
}

async function leafChain(ca: CertificateAuthority, options: Partial<IssueX509SvidOptions> = {}): Promise<ParsedCertificate[]> {
  const issued = await issueX509Svid(ca, { spiffeId: workload, ttlSeconds: 3600, now, ...options });
  return chainOf(issued.chainDer);
}

function assertRejected(fn: () => unknown, rule: X509SvidRule, message: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof X509SvidError, `expected X509SvidError, got ${String(e)}`);
    assert.equal(e.rule, rule, e.message);
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

/** Signs a certificate with exactly the given extensions, for shapes our CA refuses to make. */
async function mint(options: { issuer?: CertificateAuthority; subject: string; extensions: Extension[] }): Promise<{
  der: Uint8Array;
  keys: webcrypto.CryptoKeyPair;
}> {
  const keys = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  const common = { notBefore: hoursFrom(now, -24), notAfter: hoursFrom(now, 24), signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } };
  const certificate =
    options.issuer === undefined
      ? await X509CertificateGenerator.createSelfSigned({ ...common, name: options.subject, keys, extensions: options.extensions })
      : await X509CertificateGenerator.create({
          ...common,
          subject: options.subject,
          issuer: options.issuer.subject,
          publicKey: keys.publicKey,
          signingKey: options.issuer.signingKey,
          extensions: options.extensions,
        });
  return { der: new Uint8Array(certificate.rawData), keys };
}

/** Wraps a minted root certificate so `issueX509Svid` can sign with it. */
function asAuthority(minted: { der: Uint8Array; keys: webcrypto.CryptoKeyPair }): CertificateAuthority {
  const parsed = parseCertificate(minted.der);
  return {
    trustDomain: exampleOrg,
    keyType: "ec-p256",
    subject: parsed.subject,
    serialHex: parsed.serialHex,
    notBefore: parsed.notBefore,
    notAfter: parsed.notAfter,
    certificateDer: minted.der,
    chainDer: new Uint8Array(),
    rootDer: minted.der,
    signingKey: minted.keys.privateKey,
    publicKey: minted.keys.publicKey,
  };
}

const caExtensions = (pathLength?: number): Extension[] => [
  new BasicConstraintsExtension(true, pathLength, true),
  new KeyUsagesExtension(KeyUsageFlags.keyCertSign, true),
];

describe("verifyX509Svid with minted certificates", () => {
  let root: CertificateAuthority;
  let intermediate: CertificateAuthority;
  before(async () => {
    root = await createCertificateAuthority({ trustDomain: exampleOrg, notBefore: hoursFrom(now, -24), notAfter: hoursFrom(now, 24) });
    intermediate = await createCertificateAuthority({ trustDomain: exampleOrg, parent: root, notBefore: hoursFrom(now, -1), notAfter: hoursFrom(now, 12) });
  });

  it("accepts a leaf signed by the root, and returns the path", async () => {
    const chain = await leafChain(root);
    const verified = verifyX509Svid(chain, bundlesOf(root), { now });
    assert.equal(verified.id.toString(), "spiffe://example.org/workload");
    assert.deepEqual(
      verified.chain.map((c) => c.fingerprintSha256),
      [chain[0]?.fingerprintSha256, parseCertificate(root.rootDer).fingerprintSha256],
    );
  });

  it("accepts leaf + intermediate delivered leaf first, and a chain that repeats the root", async () => {
    const chain = await leafChain(intermediate);
    assert.equal(chain.length, 2);
    assert.equal(verifyX509Svid(chain, bundlesOf(root), { now }).chain.length, 3);
    const withRoot = [...chain, parseCertificate(root.rootDer)];
    assert.equal(verifyX509Svid(withRoot, bundlesOf(root), { now }).chain.length, 3);
  });

  it("trusts a bundle authority that is an intermediate, not self-signed", async () => {
    const [leaf] = await leafChain(intermediate);
    assert.ok(leaf);
    const bundles = new X509BundleSet([parseX509BundleDer(exampleOrg, intermediate.certificateDer)]);
    assert.equal(verifyX509Svid([leaf], bundles, { now }).chain.length, 2);
  });

  it("accepts RSA keys, and an RSA root over an EC intermediate", async () => {
    const rsaRoot = await createCertificateAuthority({ trustDomain: exampleOrg, keyType: "rsa-2048", notBefore: hoursFrom(now, -1), notAfter: hoursFrom(now, 2) });
    const ecIntermediate = await createCertificateAuthority({ trustDomain: exampleOrg, parent: rsaRoot, notBefore: hoursFrom(now, -1), notAfter: hoursFrom(now, 2) });
    const rsaLeaf = await leafChain(rsaRoot, { keyType: "rsa-2048" });
    assert.equal(rsaLeaf[0]?.publicKey.asymmetricKeyType, "rsa");
    assert.equal(verifyX509Svid(rsaLeaf, bundlesOf(rsaRoot), { now }).chain.length, 2);
    assert.equal(verifyX509Svid(await leafChain(ecIntermediate), bundlesOf(rsaRoot), { now }).chain.length, 3);
  });

  it("rejects an expired leaf, naming serial, expiry and the time checked", async () => {
    const chain = await leafChain(root, { notBefore: hoursFrom(now, -2), notAfter: hoursFrom(now, -1) });
    const serial = chain[0]?.serialHex ?? "";
    assertRejected(
      () => verifyX509Svid(chain, bundlesOf(root), { now }),
      "expired",
      `certificate ${serial} expired at 2029-12-31T23:00:00.000Z (checked at 2030-01-01T00:00:00.000Z; X509-SVID §5.1)`,
    );
  });

  it("rejects a leaf that is not yet valid", async () => {
    const chain = await leafChain(root, { notBefore: hoursFrom(now, 1), notAfter: hoursFrom(now, 2) });
    assertRejected(() => verifyX509Svid(chain, bundlesOf(root), { now }), "not-yet-valid", /^certificate [0-9a-f]+ is not valid before 2030-01-01T01:00:00\.000Z \(checked at 2030-01-01T00:00:00\.000Z; X509-SVID §5\.1\)$/);
  });

  it("rejects a chain whose intermediate has expired", async () => {
    const stale = await createCertificateAuthority({ trustDomain: exampleOrg, parent: root, notBefore: hoursFrom(now, -3), notAfter: hoursFrom(now, -1) });
    const chain = await leafChain(stale, { notBefore: hoursFrom(now, -1), notAfter: hoursFrom(now, 1) });
    assertRejected(
      () => verifyX509Svid(chain, bundlesOf(root), { now }),
      "expired",
      `certificate chain does not verify to the bundle of trust domain "example.org": certificate ${stale.serialHex} expired at 2029-12-31T23:00:00.000Z (checked at 2030-01-01T00:00:00.000Z; X509-SVID §5.1)`,
    );
  });

  it("skips an expired old root in the bundle when the new one signed the SVID (CA rotation)", async () => {
    const oldRoot = await createCertificateAuthority({ trustDomain: exampleOrg, notBefore: hoursFrom(now, -48), notAfter: hoursFrom(now, -24) });
    const bundles = new X509BundleSet([
      x509BundleFromCertificates(exampleOrg, [parseCertificate(oldRoot.rootDer), parseCertificate(root.rootDer)]),
    ]);
    assert.equal(verifyX509Svid(await leafChain(root), bundles, { now }).chain.length, 2);
    const fromOldRoot = await leafChain(oldRoot, { notAfter: hoursFrom(now, 1) });
    assertRejected(
      () => verifyX509Svid(fromOldRoot, bundles, { now }),
      "expired",
      `certificate chain does not verify to the bundle of trust domain "example.org": certificate ${oldRoot.serialHex} expired at 2029-12-31T00:00:00.000Z (checked at 2030-01-01T00:00:00.000Z; X509-SVID §5.1)`,
    );
  });

  it("rejects an SVID of a trust domain with no bundle", async () => {
    const otherCa = await createCertificateAuthority({ trustDomain: otherOrg, notBefore: hoursFrom(now, -1), notAfter: hoursFrom(now, 1) });
    const chain = await leafChain(otherCa, { spiffeId: parseSpiffeId("spiffe://other.org/workload") });
    assertRejected(
      () => verifyX509Svid(chain, bundlesOf(root), { now }),
      "no-bundle",
      'no X.509 bundle for trust domain "other.org": the SVID is untrusted (SPIFFE Workload API §4.6)',
    );
  });

  it("never pools bundles: the right root filed under another trust domain does not count", async () => {
    const stranger = await createCertificateAuthority({ trustDomain: exampleOrg, notBefore: hoursFrom(now, -1), notAfter: hoursFrom(now, 1) });
    const bundles = new X509BundleSet([parseX509BundleDer(exampleOrg, stranger.rootDer), parseX509BundleDer(otherOrg, root.rootDer)]);
    const chain = await leafChain(root);
    assertRejected(
      () => verifyX509Svid(chain, bundles, { now }),
      "chain-unverified",
      'certificate chain does not verify to the bundle of trust domain "example.org": no certificate in the chain or the bundle signed it (certificate signed by unknown authority) (X509-SVID §5.1)',
    );
  });

  it("refuses a bundle labelled with the leaf's trust domain whose CA names another (issue 13.14)", async () => {
    // An agent of example.org hands out spiffe://other.org/... signed by its own CA, and the
    // response files that CA as other.org's bundle: the signature checks out, the domain does not.
    const chain = await leafChain(root, { spiffeId: parseSpiffeId("spiffe://other.org/workload") });
    const relabelled = new X509BundleSet([parseX509BundleDer(otherOrg, root.rootDer)]);
    assertRejected(
      () => verifyX509Svid(chain, relabelled, { now }),
      "signing-cert-foreign-trust-domain",
      `certificate chain does not verify to the bundle of trust domain "other.org": issuer certificate ${root.serialHex} belongs to trust domain ` +
        '"example.org", not to "other.org" of the leaf; an SVID must chain to its own trust domain\'s authorities (X509-SVID §3.2, SPIFFE Federation §4.2)',
    );
    const federated = await createCertificateAuthority({ trustDomain: otherOrg, notBefore: hoursFrom(now, -1), notAfter: hoursFrom(now, 1) });
    const ownChain = await leafChain(federated, { spiffeId: parseSpiffeId("spiffe://other.org/workload") });
    assert.equal(verifyX509Svid(ownChain, bundlesOf(root, federated), { now }).id.toString(), "spiffe://other.org/workload");
  });

  it("rejects an SVID signed by another CA of the same trust domain", async () => {
    const rogue = await createCertificateAuthority({ trustDomain: exampleOrg, notBefore: hoursFrom(now, -1), notAfter: hoursFrom(now, 1) });
    const chain = await leafChain(rogue);
    assertRejected(() => verifyX509Svid(chain, bundlesOf(root), { now }), "chain-unverified", /signed by unknown authority/);
  });

  it("rejects everything against an empty bundle", async () => {
    const chain = await leafChain(root);
    const empty = new X509BundleSet([parseX509BundleDer(exampleOrg, new Uint8Array())]);
    assertRejected(
      () => verifyX509Svid(chain, empty, { now }),
      "chain-unverified",
      'certificate chain does not verify to the bundle of trust domain "example.org": the bundle has no authorities (X509-SVID §5.1)',
    );
  });

  it("rejects an empty chain", () => {
    assertRejected(() => verifyX509Svid([], bundlesOf(root), { now }), "no-certificates", "X509-SVID chain contains no certificates (X509-SVID §5.1)");
  });

  it("applies the leaf rules before looking for a bundle", async () => {
    const cases: [Partial<IssueX509SvidOptions>, X509SvidRule, RegExp][] = [
      [{ isCa: true }, "leaf-is-ca", /^leaf certificate must not have CA flag set to true/],
      [{ keyUsage: ["keyEncipherment"] }, "leaf-missing-digital-signature", /^leaf certificate must have 'digitalSignature'/],
      [{ keyUsage: [] }, "leaf-missing-digital-signature", /^leaf certificate must have 'digitalSignature'/],
      [{ keyUsage: ["digitalSignature", "keyCertSign"] }, "leaf-key-cert-sign", /must not have 'keyCertSign'/],
      [{ extraUriSans: ["spiffe://example.org/second"] }, "multiple-uri-sans", /^certificate contains more than one URI SAN: found 2/],
      [{ omitUriSan: true }, "no-uri-san", /^certificate contains no URI SAN \(X509-SVID §2\)$/],
      [{ omitUriSan: true, extraUriSans: ["https://example.org/x"] }, "invalid-spiffe-id", /^certificate URI SAN "https:\/\/example\.org\/x" is not a valid SPIFFE ID: scheme is missing or invalid/],
      [{ spiffeId: parseSpiffeId("spiffe://example.org") }, "leaf-id-without-path", /^leaf certificate SPIFFE ID "spiffe:\/\/example\.org" must have a non-root path \(X509-SVID §3\.1\)$/],
    ];
    for (const [fault, rule, message] of cases) {
      const chain = await leafChain(root, fault);
      assertRejected(() => verifyX509Svid(chain, new X509BundleSet(), { now }), rule, message);
    }
  });

  it("rejects a leaf whose keyUsage is not critical or whose EKU lacks clientAuth", async () => {
    const san = new SubjectAlternativeNameExtension([{ type: "url", value: workload.toString() }]);
    const nonCritical = await mint({ issuer: root, subject: "O=SPIFFE", extensions: [san, new KeyUsagesExtension(KeyUsageFlags.digitalSignature, false)] });
    assertRejected(
      () => verifyX509Svid([parseCertificate(nonCritical.der)], bundlesOf(root), { now }),
      "leaf-key-usage-not-critical",
      "leaf certificate keyUsage extension must be marked critical (X509-SVID §4.3)",
    );
    const serverOnly = await mint({
      issuer: root,
      subject: "O=SPIFFE",
      extensions: [san, new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true), new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth])],
    });
    assertRejected(
      () => verifyX509Svid([parseCertificate(serverOnly.der)], bundlesOf(root), { now }),
      "leaf-eku-incomplete",
      "leaf certificate extended key usage lacks clientAuth; when present it must include both serverAuth and clientAuth (X509-SVID §4.4)",
    );
    const noEku = await mint({ issuer: root, subject: "O=SPIFFE", extensions: [san, new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true)] });
    assert.equal(verifyX509Svid([parseCertificate(noEku.der)], bundlesOf(root), { now }).id.toString(), workload.toString());
  });

  it("rejects a certificate with a critical extension it does not process", async () => {
    const nameConstraints = new Extension("2.5.29.30", true, new Uint8Array([0x30, 0x00]));
    const leaf = await mint({
      issuer: root,
      subject: "O=SPIFFE",
      extensions: [new SubjectAlternativeNameExtension([{ type: "url", value: workload.toString() }]), new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true), nameConstraints],
    });
    assertRejected(
      () => verifyX509Svid([parseCertificate(leaf.der)], bundlesOf(root), { now }),
      "unhandled-critical-extension",
      /^certificate [0-9a-f]+ has critical extension 2\.5\.29\.30 that this verifier does not process \(RFC 5280 §4\.2\)$/,
    );
  });

  it("enforces pathLenConstraint on issuers", async () => {
    const strictRoot = asAuthority(await mint({ subject: "CN=strict root", extensions: caExtensions(0) }));
    const below = await createCertificateAuthority({ trustDomain: exampleOrg, parent: strictRoot, notBefore: hoursFrom(now, -1), notAfter: hoursFrom(now, 1) });
    const chain = await leafChain(below);
    assertRejected(
      () => verifyX509Svid(chain, bundlesOf(strictRoot), { now }),
      "path-length-exceeded",
      /: issuer certificate [0-9a-f]+ allows 0 intermediates below it, the path has 1 \(RFC 5280 §4\.2\.1\.9\)$/,
    );
    assert.equal(verifyX509Svid(await leafChain(strictRoot), bundlesOf(strictRoot), { now }).chain.length, 2);
  });

  it("ends the search on a signing loop", async () => {
    const x = asAuthority(await mint({ subject: "CN=loop x", extensions: caExtensions() }));
    const y = asAuthority(await mint({ issuer: x, subject: "CN=loop y", extensions: caExtensions() }));
    // x again, now signed by y: x -> y -> x ... never reaches the bundle.
    const xByY = asAuthority({ der: (await mint({ issuer: y, subject: "CN=loop x", extensions: caExtensions() })).der, keys: { privateKey: x.signingKey, publicKey: x.publicKey } });
    const chain = [...(await leafChain(x)), parseCertificate(y.certificateDer), parseCertificate(xByY.certificateDer)];
    assertRejected(() => verifyX509Svid(chain, bundlesOf(root), { now }), "chain-unverified", /signed by unknown authority/);
  });

  it("validateX509Svid checks a parsed SVID the same way", async () => {
    const issued = await issueX509Svid(intermediate, { spiffeId: workload, ttlSeconds: 600, now });
    const svid = parseX509SvidDer(issued.chainDer, issued.privateKeyDer);
    assert.equal(validateX509Svid(svid, bundlesOf(root), { now }).chain.length, 3);
    assertRejected(() => validateX509Svid(svid, bundlesOf(root), { now: hoursFrom(now, 1) }), "expired", /^certificate [0-9a-f]+ expired at/);
  });
});

describe("verifyX509Svid with go-spiffe fixtures and an injected clock", () => {
  const X509SVID = "go-spiffe/svid/x509svid/testdata/";
  const certificates = (name: string): ParsedCertificate[] =>
    decodePem(readVector(X509SVID + name).toString("utf8")).map((block) => parseCertificate(block.der));

  it("verifies good-leaf-and-intermediate.pem against its intermediate while both were valid", () => {
    const [leaf, intermediate] = certificates("good-leaf-and-intermediate.pem");
    assert.ok(leaf && intermediate);
    const bundles = new X509BundleSet([x509BundleFromCertificates(exampleOrg, [intermediate])]);
    const verified = verifyX509Svid([leaf], bundles, { now: new Date("2020-03-24T14:10:00Z") });
    assert.equal(verified.id.toString(), "spiffe://example.org/workload-1");
    assertRejected(
      () => verifyX509Svid([leaf], bundles, { now: new Date("2024-01-01T00:00:00Z") }),
      "expired",
      "certificate 9e1363cf3700a4335b8804cf14cfe5e9 expired at 2020-03-24T15:07:40.000Z (checked at 2024-01-01T00:00:00.000Z; X509-SVID §5.1)",
    );
  });

  it("refuses an issuer without the CA flag (wrong-intermediate-no-ca.pem)", () => {
    const [leaf, issuer] = certificates("wrong-intermediate-no-ca.pem");
    assert.ok(leaf && issuer);
    const bundles = new X509BundleSet([x509BundleFromCertificates(exampleOrg, [issuer])]);
    assertRejected(() => verifyX509Svid([leaf], bundles, { now: new Date("2024-01-01T00:00:00Z") }), "issuer-not-ca", /: issuer certificate [0-9a-f]+ is not a CA \(RFC 5280 §6\.1\.4 \(k\)\)$/);
  });

  it("refuses an issuer without keyCertSign (wrong-intermediate-no-key-cert-sign.pem)", () => {
    const [leaf, issuer] = certificates("wrong-intermediate-no-key-cert-sign.pem");
    assert.ok(leaf && issuer);
    const bundles = new X509BundleSet([x509BundleFromCertificates(exampleOrg, [issuer])]);
    assertRejected(
      () => verifyX509Svid([leaf], bundles, { now: new Date("2024-01-01T00:00:00Z") }),
      "issuer-missing-key-cert-sign",
      /: issuer certificate [0-9a-f]+ lacks 'keyCertSign' key usage \(RFC 5280 §6\.1\.4 \(n\)\)$/,
    );
  });
});
