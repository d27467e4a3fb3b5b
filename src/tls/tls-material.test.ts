import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import type { CertificateAuthority } from "../fakeagent/ca.js";
import { bundlePemOf, identityDir, mintCa, mintSvid, writeIdentity, type MintedSvid } from "../../test/tls/identities.js";
import { SpiffeTlsFilesError } from "./errors.js";
import { loadSpiffeTlsFiles } from "./tls-files.js";
import { spiffeTlsMaterialFromPem } from "./tls-material.js";

describe("spiffeTlsMaterialFromPem", () => {
  let exampleCa: CertificateAuthority;
  let otherCa: CertificateAuthority;
  let svid: MintedSvid;
  let otherSvid: MintedSvid;

  before(async () => {
    exampleCa = await mintCa("example.org");
    otherCa = await mintCa("other.org");
    svid = await mintSvid(exampleCa, "spiffe://example.org/server", { ttlSeconds: 600 });
    otherSvid = await mintSvid(exampleCa, "spiffe://example.org/other");
  });

  const refusal = (rule: string, pattern: RegExp) => (error: unknown) => {
    assert.ok(error instanceof SpiffeTlsFilesError, `expected SpiffeTlsFilesError, got ${String(error)}`);
    assert.equal(error.rule, rule);
    assert.match(error.message, pattern);
    return true;
  };

  it("keeps the own and federated bundles apart, by trust domain", () => {
    const material = spiffeTlsMaterialFromPem({
      certificatePem: svid.certificatePem,
      privateKeyPem: svid.privateKeyPem,
      bundlePem: bundlePemOf(exampleCa),
      federatedBundlePems: new Map([["other.org", bundlePemOf(otherCa)]]),
    });
    assert.equal(material.svid.id.toString(), "spiffe://example.org/server");
    assert.deepEqual(material.bundles.trustDomains().map((td) => td.name), ["example.org", "other.org"]);
    assert.equal(material.authoritiesPem.length, 2);
    assert.match(material.privateKeyPem, /^-----BEGIN PRIVATE KEY-----/);
  });

  it("refuses a certificate beside another SVID's key: the torn read of a rotation", () => {
    const torn = { certificatePem: svid.certificatePem, privateKeyPem: otherSvid.privateKeyPem, bundlePem: bundlePemOf(exampleCa) };
    assert.throws(() => spiffeTlsMaterialFromPem(torn), refusal("invalid-svid", /does not match private key/));
  });

  it("refuses an SVID that does not chain to its own trust domain's bundle", () => {
    const pem = { certificatePem: svid.certificatePem, privateKeyPem: svid.privateKeyPem, bundlePem: bundlePemOf(otherCa) };
    assert.throws(() => spiffeTlsMaterialFromPem(pem), refusal("untrusted-svid", /does not verify to the bundle of trust domain "example.org"/));
  });

  it("refuses an expired SVID, judged at the injected time", () => {
    const pem = { certificatePem: svid.certificatePem, privateKeyPem: svid.privateKeyPem, bundlePem: bundlePemOf(exampleCa) };
    const later = new Date(Date.now() + 3_600_000);
    assert.throws(() => spiffeTlsMaterialFromPem(pem, { now: later }), refusal("untrusted-svid", /expired/));
  });

  it("refuses an empty bundle and federated files that name the own or no trust domain", () => {
    const base = { certificatePem: svid.certificatePem, privateKeyPem: svid.privateKeyPem, bundlePem: bundlePemOf(exampleCa) };
    assert.throws(() => spiffeTlsMaterialFromPem({ ...base, bundlePem: "" }), refusal("invalid-bundle", /holds no CA certificate/));
    const own = new Map([["example.org", bundlePemOf(exampleCa)]]);
    assert.throws(() => spiffeTlsMaterialFromPem({ ...base, federatedBundlePems: own }), refusal("invalid-bundle", /names the workload's own trust domain/));
    const badName = new Map([["Other.ORG", bundlePemOf(otherCa)]]);
    assert.throws(() => spiffeTlsMaterialFromPem({ ...base, federatedBundlePems: badName }), refusal("invalid-bundle", /Other\.ORG\.pem: the file name is not a trust domain/));
  });
});

describe("loadSpiffeTlsFiles", () => {
  it("reads the files and the federated directory, skipping the sidecar's hidden temp files", async (t) => {
    const exampleCa = await mintCa("example.org");
    const otherCa = await mintCa("other.org");
    const files = await identityDir(t);
    await writeIdentity(files, await mintSvid(exampleCa, "spiffe://example.org/server"), bundlePemOf(exampleCa), { "other.org": bundlePemOf(otherCa) });
    await writeFile(join(files.federatedBundleDir, ".third.org.pem.tmp-0123"), "half-written");
    const material = await loadSpiffeTlsFiles(files);
    assert.deepEqual(material.bundles.trustDomains().map((td) => td.name), ["example.org", "other.org"]);
  });

  it("treats a missing federated directory as no federation, and a missing file as unreadable", async (t) => {
    const exampleCa = await mintCa("example.org");
    const files = await identityDir(t);
    await writeIdentity(files, await mintSvid(exampleCa, "spiffe://example.org/server"), bundlePemOf(exampleCa));
    assert.equal((await loadSpiffeTlsFiles(files)).bundles.size, 1);
    await mkdir(join(files.dir, "empty"));
    await assert.rejects(loadSpiffeTlsFiles({ ...files, keyFile: join(files.dir, "empty", "nope.pem") }), (error: unknown) => {
      assert.ok(error instanceof SpiffeTlsFilesError);
      assert.equal(error.rule, "unreadable");
      assert.match(error.message, /cannot read the SVID key file .*nope\.pem/);
      return true;
    });
  });
});
