import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { describe, it } from "node:test";
import { createCertificateAuthority, issueX509Svid } from "../../fakeagent/ca.js";
import { parseBundleMap } from "../../spiffe/bundle-map.js";
import { parseCertificate } from "../../spiffe/certificate.js";
import { parseSpiffeId, parseTrustDomain } from "../../spiffe/spiffe-id.js";
import { X509BundleSet, x509BundleFromCertificates } from "../../spiffe/x509-bundle.js";
import { parseX509SvidDer } from "../../spiffe/x509-svid.js";
import { renderGrpcBundleMap } from "./grpc-bundle-map.js";
import type { X509IdentityState } from "./identity-state.js";
import { renderOutputFiles } from "./render-outputs.js";

const SELECTION = { addIntermediatesToBundle: false, includeFederatedDomains: false, omitExpired: false };
const NOW = new Date();

interface Fixture {
  readonly state: X509IdentityState;
  /** DER of each trust domain's CAs, by name. */
  readonly caDers: ReadonlyMap<string, Uint8Array[]>;
}

/** example.org with two CAs (a rotation's overlap), plus federated trust domains with one each. */
async function mintFixture(federated: readonly string[]): Promise<Fixture> {
  const own = parseTrustDomain("example.org");
  const [root, next] = await Promise.all([createCertificateAuthority({ trustDomain: own }), createCertificateAuthority({ trustDomain: own })]);
  const issued = await issueX509Svid(root, { spiffeId: parseSpiffeId("spiffe://example.org/web"), ttlSeconds: 600 });
  const caDers = new Map<string, Uint8Array[]>([["example.org", [root.rootDer, next.rootDer]]]);
  for (const name of federated) {
    caDers.set(name, [(await createCertificateAuthority({ trustDomain: parseTrustDomain(name) })).rootDer]);
  }
  const bundles = new X509BundleSet(
    [...caDers].map(([name, ders]) => x509BundleFromCertificates(parseTrustDomain(name), ders.map((der) => parseCertificate(der)))),
  );
  return { state: { svid: parseX509SvidDer(issued.chainDer, issued.privateKeyDer), bundles }, caDers };
}

/**
 * gRPC's documented reading of the file (gRFC A87, "Configuring SPIFFE Verification via xDS"):
 * a `trust_domains` object of JWK sets; of each set only `keys` (and `spiffe_sequence`), of each
 * key only `kty`, `use` and `x5c`, and one bad key discards the whole bundle. Checked here
 * without our parser: every key is an `x509-svid` key of a known `kty` with exactly one
 * standard-base64 DER certificate whose public key is the key's.
 */
function checkA87Shape(json: string): Map<string, Uint8Array[]> {
  const document = JSON.parse(json) as { trust_domains?: Record<string, { keys?: unknown[] }> };
  assert.deepEqual(Object.keys(document), ["trust_domains"]);
  const byName = new Map<string, Uint8Array[]>();
  for (const [name, bundle] of Object.entries(document.trust_domains ?? {})) {
    assert.deepEqual(Object.keys(bundle), ["keys"], `${name}: only keys`);
    assert.ok(Array.isArray(bundle.keys));
    byName.set(
      name,
      bundle.keys.map((key) => {
        const jwk = key as { kty?: string; use?: string; x5c?: unknown[] };
        assert.equal(jwk.use, "x509-svid");
        assert.ok(jwk.kty === "EC" || jwk.kty === "RSA", `kty ${String(jwk.kty)}`);
        assert.ok(Array.isArray(jwk.x5c) && jwk.x5c.length === 1, "exactly one x5c certificate");
        const base64 = jwk.x5c[0];
        assert.ok(typeof base64 === "string" && /^[A-Za-z0-9+/]+=*$/.test(base64), "standard base64");
        const der = Buffer.from(base64, "base64");
        const certificate = new X509Certificate(der);
        assert.equal(certificate.ca, true);
        assert.equal(certificate.publicKey.asymmetricKeyType === "ec" ? "EC" : "RSA", jwk.kty);
        return new Uint8Array(der);
      }),
    );
  }
  return byName;
}

describe("SPIFFE bundle map for gRPC (gRFC A87)", () => {
  it("holds every trust domain's CAs, own and federated, as x509-svid keys gRPC reads", async () => {
    const fixture = await mintFixture(["partner.org", "acme.com"]);
    const json = renderGrpcBundleMap(fixture.state, SELECTION, NOW);
    const read = checkA87Shape(json);
    assert.deepEqual([...read.keys()], ["acme.com", "example.org", "partner.org"], "trust domains in name order");
    for (const [name, ders] of fixture.caDers) {
      assert.deepEqual(read.get(name)?.map((der) => Buffer.from(der).toString("hex")), ders.map((der) => Buffer.from(der).toString("hex")));
    }
  });

  it("reads back with our bundle-map parser as the same authorities and no JWT keys", async () => {
    const fixture = await mintFixture(["partner.org"]);
    const parsed = parseBundleMap(renderGrpcBundleMap(fixture.state, SELECTION, NOW));
    assert.deepEqual([...parsed.keys()], ["example.org", "partner.org"]);
    for (const [name, ders] of fixture.caDers) {
      const bundle = parsed.get(name);
      assert.equal(bundle?.jwtAuthorities.size, 0);
      assert.deepEqual(bundle?.x509Authorities.map((der) => Buffer.from(der)), ders.map((der) => Buffer.from(der)));
    }
  });

  it("lists federated trust domains without include_federated_domains, and is byte-stable", async () => {
    const fixture = await mintFixture(["partner.org"]);
    const once = renderGrpcBundleMap(fixture.state, SELECTION, NOW);
    assert.ok(parseBundleMap(once).has("partner.org"));
    assert.equal(renderGrpcBundleMap(fixture.state, SELECTION, NOW), once);
  });

  it("leaves expired CAs out with omit_expired, keeping the trust domain", async () => {
    const fixture = await mintFixture([]);
    const later = new Date(Date.now() + 1000 * 86_400 * 365 * 200);
    const parsed = parseBundleMap(renderGrpcBundleMap(fixture.state, { ...SELECTION, omitExpired: true }, later));
    assert.deepEqual(parsed.get("example.org")?.x509Authorities, []);
  });

  it("is rendered as a bundle file with cert_file_mode when configured", async () => {
    const fixture = await mintFixture([]);
    const files = renderOutputFiles(
      { x509: fixture.state, jwtSvids: new Map() },
      { certDir: "/certs", spiffeBundleMapFileName: "map.json", certFileMode: 0o640, keyFileMode: 0o600, jwtBundleFileMode: 0o600, jwtSvidFileMode: 0o600, ...SELECTION },
      NOW,
    );
    assert.deepEqual(files.map((file) => [file.path, file.mode, file.group]), [["/certs/map.json", 0o640, "x509-bundle"]]);
  });
});
