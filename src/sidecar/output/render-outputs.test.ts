import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { createCertificateAuthority, issueX509Svid, type CertificateAuthority } from "../../fakeagent/ca.js";
import { createJwtSigningKey, signJwtSvid } from "../../fakeagent/jwt-issuer.js";
import { parseCertificate } from "../../spiffe/certificate.js";
import { decodePem } from "../../spiffe/pem.js";
import { parseInsecureJwtSvid } from "../../spiffe/jwt-svid.js";
import { parseSpiffeId, parseTrustDomain } from "../../spiffe/spiffe-id.js";
import { parseX509BundleDer, X509BundleSet, x509BundleFromCertificates, type X509Bundle } from "../../spiffe/x509-bundle.js";
import { parseX509SvidDer } from "../../spiffe/x509-svid.js";
import type { X509IdentityState } from "./identity-state.js";
import { OutputRenderError, type OutputFile, type OutputOptions } from "./output-options.js";
import { renderOutputFiles } from "./render-outputs.js";

const TD = parseTrustDomain("example.org");
const NOW = new Date();

const BASE: OutputOptions = {
  certDir: "/certs",
  svidFileName: "svid.pem",
  svidKeyFileName: "svid_key.pem",
  svidBundleFileName: "svid_bundle.pem",
  certFileMode: 0o644,
  keyFileMode: 0o600,
  jwtBundleFileMode: 0o600,
  jwtSvidFileMode: 0o600,
  addIntermediatesToBundle: false,
  includeFederatedDomains: false,
  omitExpired: false,
};

/** PEM written independently of src/spiffe/pem.ts: 64-column base64 and "\n", like Go's pem.Encode. */
function pemOf(der: Uint8Array, type = "CERTIFICATE"): string {
  const lines = Buffer.from(der).toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${type}-----\n${lines.join("\n")}\n-----END ${type}-----\n`;
}

interface Fixture {
  readonly state: X509IdentityState;
  readonly root: CertificateAuthority;
  readonly intermediate: CertificateAuthority;
  readonly federated: ReadonlyMap<string, X509Bundle>;
  readonly leafDer: Uint8Array;
}

/** An SVID of example.org issued by an intermediate, plus federated trust domains in the given order. */
async function mintFixture(federatedNames: readonly string[] = [], extraOwnCa?: CertificateAuthority): Promise<Fixture> {
  const root = await createCertificateAuthority({ trustDomain: TD });
  const intermediate = await createCertificateAuthority({ trustDomain: TD, parent: root });
  const issued = await issueX509Svid(intermediate, { spiffeId: parseSpiffeId("spiffe://example.org/web"), ttlSeconds: 3600 });
  const svid = parseX509SvidDer(issued.chainDer, issued.privateKeyDer);
  const ownCas = [root, ...(extraOwnCa === undefined ? [] : [extraOwnCa])].map((ca) => parseCertificate(ca.rootDer));
  const federated = new Map<string, X509Bundle>();
  for (const name of federatedNames) {
    const ca = await createCertificateAuthority({ trustDomain: parseTrustDomain(name) });
    federated.set(name, parseX509BundleDer(parseTrustDomain(name), ca.rootDer));
  }
  const bundles = new X509BundleSet([x509BundleFromCertificates(TD, ownCas), ...federated.values()]);
  const leafDer = svid.certificates[0]?.der ?? new Uint8Array();
  return { state: { svid, bundles }, root, intermediate, federated, leafDer };
}

const render = (fixture: Fixture, options: Partial<OutputOptions> = {}, now = NOW): OutputFile[] =>
  renderOutputFiles({ x509: fixture.state, jwtSvids: new Map() }, { ...BASE, ...options }, now);

function text(files: readonly OutputFile[], path: string): string {
  const found = files.find((file) => file.path === path);
  assert.ok(found, `${path} was not rendered`);
  return Buffer.from(found.contents).toString("utf8");
}

const federatedPem = (fixture: Fixture, name: string): string =>
  (fixture.federated.get(name)?.authorities ?? []).map((certificate) => pemOf(certificate.der)).join("");

describe("renderOutputFiles: X.509 files as spiffe-helper writes them", () => {
  it("writes leaf then intermediates, the PKCS#8 key and the own bundle, byte for byte", async () => {
    const fixture = await mintFixture(["alpha.org"]);
    const files = render(fixture);
    assert.deepEqual(
      files.map((file) => [file.path, file.mode.toString(8), file.group]),
      [
        ["/certs/svid_bundle.pem", "644", "x509-bundle"],
        ["/certs/svid.pem", "644", "x509"],
        ["/certs/svid_key.pem", "600", "x509"],
      ],
    );
    assert.equal(text(files, "/certs/svid.pem"), pemOf(fixture.leafDer) + pemOf(fixture.intermediate.certificateDer));
    assert.equal(text(files, "/certs/svid_key.pem"), fixture.state.svid.privateKey.export({ type: "pkcs8", format: "pem" }));
    assert.equal(text(files, "/certs/svid_bundle.pem"), pemOf(fixture.root.rootDer));
  });

  it("moves intermediates into the bundle, after the own CAs, with addIntermediatesToBundle", async () => {
    const fixture = await mintFixture();
    const files = render(fixture, { addIntermediatesToBundle: true });
    assert.equal(text(files, "/certs/svid.pem"), pemOf(fixture.leafDer));
    assert.equal(text(files, "/certs/svid_bundle.pem"), pemOf(fixture.root.rootDer) + pemOf(fixture.intermediate.certificateDer));
  });

  it("appends federated CAs sorted by trust domain, only with includeFederatedDomains", async () => {
    const fixture = await mintFixture(["zeta.org", "alpha.org"]);
    const own = pemOf(fixture.root.rootDer);
    assert.equal(text(render(fixture), "/certs/svid_bundle.pem"), own);
    assert.equal(
      text(render(fixture, { includeFederatedDomains: true }), "/certs/svid_bundle.pem"),
      own + federatedPem(fixture, "alpha.org") + federatedPem(fixture, "zeta.org"),
    );
    assert.equal(
      text(render(fixture, { includeFederatedDomains: true, addIntermediatesToBundle: true }), "/certs/svid_bundle.pem"),
      own + pemOf(fixture.intermediate.certificateDer) + federatedPem(fixture, "alpha.org") + federatedPem(fixture, "zeta.org"),
    );
  });

  it("hands out the same bundle bytes for unchanged bundles, and new ones when a bundle comes", async () => {
    const fixture = await mintFixture(["alpha.org"]);
    const bundleOf = (files: readonly OutputFile[]): Uint8Array | undefined => files.find((file) => file.path === "/certs/svid_bundle.pem")?.contents;
    const first = bundleOf(render(fixture, { includeFederatedDomains: true }));
    assert.equal(bundleOf(render(fixture, { includeFederatedDomains: true })), first);
    const beta = await createCertificateAuthority({ trustDomain: parseTrustDomain("beta.org") });
    const more = new X509BundleSet([...fixture.state.bundles.bundles(), parseX509BundleDer(parseTrustDomain("beta.org"), beta.rootDer)]);
    const changed = renderOutputFiles({ x509: { svid: fixture.state.svid, bundles: more }, jwtSvids: new Map() }, { ...BASE, includeFederatedDomains: true }, NOW);
    assert.notEqual(bundleOf(changed), first);
    assert.equal(text(changed, "/certs/svid_bundle.pem"), pemOf(fixture.root.rootDer) + federatedPem(fixture, "alpha.org") + pemOf(beta.rootDer));
  });

  it("writes one file per federated trust domain, and none for one that left", async () => {
    const fixture = await mintFixture(["zeta.org", "alpha.org"]);
    const files = render(fixture, { federatedBundleDir: "federated" });
    assert.equal(text(files, "/certs/federated/alpha.org.pem"), federatedPem(fixture, "alpha.org"));
    assert.equal(text(files, "/certs/federated/zeta.org.pem"), federatedPem(fixture, "zeta.org"));
    assert.ok(!files.some((file) => file.path.endsWith("example.org.pem")), "the own trust domain has the bundle file");

    const withoutZeta = new X509BundleSet(fixture.state.bundles.bundles().filter((bundle) => bundle.trustDomain.name !== "zeta.org"));
    const later = renderOutputFiles(
      { x509: { svid: fixture.state.svid, bundles: withoutZeta }, jwtSvids: new Map() },
      { ...BASE, federatedBundleDir: "federated" },
      NOW,
    );
    const laterPaths = later.map((file) => file.path).filter((path) => path.includes("/federated/"));
    assert.deepEqual(laterPaths, ["/certs/federated/alpha.org.pem"]);
  });

  it("omits expired CAs only with omitExpired, keeping one that expires exactly now", async () => {
    const hourAgo = new Date(NOW.getTime() - 3600_000);
    const notBefore = new Date(hourAgo.getTime() - 3600_000);
    const expired = await createCertificateAuthority({ trustDomain: TD, notBefore, notAfter: hourAgo });
    const fixture = await mintFixture([], expired);
    const both = pemOf(fixture.root.rootDer) + pemOf(expired.rootDer);
    assert.equal(text(render(fixture), "/certs/svid_bundle.pem"), both);
    assert.equal(text(render(fixture, { omitExpired: true }), "/certs/svid_bundle.pem"), pemOf(fixture.root.rootDer));
    const expiry = parseCertificate(expired.rootDer).notAfter;
    assert.equal(text(render(fixture, { omitExpired: true }, expiry), "/certs/svid_bundle.pem"), both);
  });

  it("refuses to render an SVID without its own trust domain's bundle", async () => {
    const fixture = await mintFixture(["alpha.org"]);
    const onlyFederated = new X509BundleSet([...fixture.federated.values()]);
    assert.throws(
      () => renderOutputFiles({ x509: { svid: fixture.state.svid, bundles: onlyFederated }, jwtSvids: new Map() }, BASE, NOW),
      (e: unknown) =>
        e instanceof OutputRenderError &&
        e.code === "ERR_OUTPUT_RENDER" &&
        /trust domain "example\.org", the SVID's own/.test(e.message),
    );
  });
});

describe("renderOutputFiles: extensions and JWT-SVIDs", () => {
  it("writes the combined PEM as key then the full chain, with the key's mode", async () => {
    const fixture = await mintFixture();
    const files = render(fixture, { combinedPemFileName: "combined.pem", addIntermediatesToBundle: true });
    const combined = files.find((file) => file.path === "/certs/combined.pem");
    assert.equal(combined?.mode, 0o600);
    assert.deepEqual(
      decodePem(text(files, "/certs/combined.pem")).map((block) => block.type),
      ["PRIVATE KEY", "CERTIFICATE", "CERTIFICATE"],
    );
    assert.ok(text(files, "/certs/combined.pem").endsWith(pemOf(fixture.leafDer) + pemOf(fixture.intermediate.certificateDer)));
  });

  it("keeps absolute names, passes the owner through and puts the key last", async () => {
    const fixture = await mintFixture();
    const files = render(fixture, { svidKeyFileName: "/secrets/key.pem", uid: 1000, gid: 2000, combinedPemFileName: "c.pem" });
    assert.equal(files.at(-1)?.path, "/secrets/key.pem");
    assert.ok(files.every((file) => file.uid === 1000 && file.gid === 2000));
  });

  it("names truststore entries by trust domain and writes the keystore with the key's mode", async () => {
    const fixture = await mintFixture(["alpha.org"]);
    const password = { reveal: () => "changeit" };
    const files = render(fixture, {
      includeFederatedDomains: true,
      pkcs12: { keystoreFileName: "keystore.p12", truststoreFileName: "truststore.p12", password },
    });
    const truststore = files.find((file) => file.path === "/certs/truststore.p12");
    assert.equal(truststore?.mode, 0o644);
    assert.equal(files.find((file) => file.path === "/certs/keystore.p12")?.mode, 0o600);
    const bytes = Buffer.from(truststore?.contents ?? []);
    const aliasAt = (alias: string): number => bytes.indexOf(Buffer.from(alias, "utf16le").swap16());
    assert.ok(aliasAt("example.org-1") > 0 && aliasAt("alpha.org-1") > aliasAt("example.org-1"));
    const keystoreOnly = { pkcs12: { keystoreFileName: "keystore.p12", password } };
    const contents = (): Uint8Array[] => render(fixture, keystoreOnly).map((file) => file.contents);
    assert.deepEqual(contents(), contents(), "the same state renders the same bytes");
  });

  it("writes each JWT-SVID as the bare token with its own mode", async () => {
    const key = await createJwtSigningKey();
    const token = await signJwtSvid(key, { subject: parseSpiffeId("spiffe://example.org/web"), audience: ["db"], ttlSeconds: 300 });
    const jwtSvids = new Map([
      ["db.token", parseInsecureJwtSvid(token)],
      ["/abs/api.token", parseInsecureJwtSvid(token)],
    ]);
    const files = renderOutputFiles({ jwtSvids }, { ...BASE, jwtSvidFileMode: 0o640 }, NOW);
    assert.deepEqual(
      files.map((file) => [file.path, file.mode, file.group]),
      [
        ["/certs/db.token", 0o640, "jwt-svid"],
        ["/abs/api.token", 0o640, "jwt-svid"],
      ],
    );
    assert.equal(text(files, "/certs/db.token"), token);
  });

  it("renders nothing for state that has not arrived", () => {
    assert.deepEqual(renderOutputFiles({ jwtSvids: new Map() }, { ...BASE, jwtBundleFileName: "jwt.json" }, NOW), []);
  });
});

const run = promisify(execFile);
const opensslMissing = await run("openssl", ["version"]).then(
  () => false,
  () => "openssl is not installed",
);

describe("rendered PEM files read back by openssl", { skip: opensslMissing }, () => {
  it("verifies the SVID against the bundle and pairs it with the key", async () => {
    const fixture = await mintFixture();
    const dir = await mkdtemp(join(tmpdir(), "render-openssl-"));
    try {
      for (const file of render(fixture, { certDir: dir })) await writeFile(file.path, file.contents);
      const [svid, key, bundle] = [join(dir, "svid.pem"), join(dir, "svid_key.pem"), join(dir, "svid_bundle.pem")];
      const verified = await run("openssl", ["verify", "-CAfile", bundle, "-untrusted", svid, svid]);
      assert.equal(verified.stdout, `${svid}: OK\n`);
      const certKey = await run("openssl", ["x509", "-in", svid, "-noout", "-pubkey"]);
      const privateKey = await run("openssl", ["pkey", "-in", key, "-pubout"]);
      assert.equal(privateKey.stdout, certKey.stdout);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
