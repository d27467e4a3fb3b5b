import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import type { CertificateAuthority } from "../fakeagent/ca.js";
import { createCertificateAuthority } from "../fakeagent/ca.js";
import { createJwtSigningKey, publicJwkSet } from "../fakeagent/jwt-issuer.js";
import { parseTrustDomain } from "../spiffe/spiffe-id.js";
import { caFor, x509Response, x509Svid } from "../../test/workloadapi/fixtures.js";
import { decodeJwtBundles, decodeX509Bundles, decodeX509Context } from "./decode.js";
import { WorkloadApiResponseError } from "./errors.js";

const td = parseTrustDomain("example.org");
const other = parseTrustDomain("other.org");

const svidId = (path: string) => `spiffe://example.org/${path}`;

function rejected(fn: () => unknown, rule: string, message: RegExp): void {
  assert.throws(
    fn,
    (e: unknown) => e instanceof WorkloadApiResponseError && e.rule === rule && message.test(e.message),
    `expected rule ${rule} and ${message}`,
  );
}

describe("decodeX509Context", () => {
  let ca: CertificateAuthority;
  let otherCa: CertificateAuthority;
  before(async () => {
    ca = await caFor("example.org");
    otherCa = await caFor("other.org");
  });

  it("keeps the SVIDs in order with their hints and collects own and federated bundles", async () => {
    const context = decodeX509Context(
      x509Response(
        [await x509Svid(ca, svidId("a"), { hint: "internal" }), await x509Svid(ca, svidId("b"))],
        { "spiffe://other.org": otherCa.rootDer, "third.org": otherCa.rootDer },
      ),
    );
    assert.deepEqual(
      context.svids.map((svid) => [svid.id.toString(), svid.hint]),
      [
        [svidId("a"), "internal"],
        [svidId("b"), ""],
      ],
    );
    assert.deepEqual(
      context.bundles.trustDomains().map((d) => d.name),
      ["example.org", "other.org", "third.org"],
    );
    assert.equal(context.bundles.get(td)?.authorities[0]?.der.length, ca.rootDer.length);
  });

  it("drops later SVIDs that repeat a non-empty hint (Workload API §5.2.1)", async () => {
    const context = decodeX509Context(
      x509Response([
        await x509Svid(ca, svidId("first"), { hint: "db" }),
        await x509Svid(ca, svidId("second"), { hint: "db" }),
        await x509Svid(ca, svidId("third")),
        await x509Svid(ca, svidId("fourth")),
      ]),
    );
    assert.deepEqual(
      context.svids.map((svid) => svid.id.path),
      ["/first", "/third", "/fourth"],
    );
  });

  it("verifies a chain through an intermediate", async () => {
    const intermediate = await createCertificateAuthority({ trustDomain: td, parent: ca });
    const raw = await x509Svid(intermediate, svidId("deep"));
    const context = decodeX509Context(x509Response([raw]));
    assert.equal(context.svids[0]?.certificates.length, 2);
  });

  it("rejects a message without SVIDs", () => {
    rejected(
      () => decodeX509Context(x509Response([])),
      "no-svids",
      /MUST contain one or more \(Workload API §5\.2\.1\)/,
    );
  });

  it("rejects malformed DER, naming the SVID", async () => {
    const raw = await x509Svid(ca, svidId("a"), { chain: Buffer.from([0x30, 0x82, 0x01]) });
    rejected(
      () => decodeX509Context(x509Response([raw])),
      "malformed-certificate",
      /^X509SVIDResponse\.svids\[0\] \(spiffe:\/\/example\.org\/a\)/,
    );
  });

  it("rejects a key that does not match the leaf", async () => {
    const other = await x509Svid(ca, svidId("other"));
    const raw = await x509Svid(ca, svidId("a"), { key: other.x509SvidKey });
    rejected(() => decodeX509Context(x509Response([raw])), "key-mismatch", /svids\[0\]/);
  });

  it("rejects an expired leaf and one not yet valid", async () => {
    const expired = await x509Svid(ca, svidId("a"), {
      issue: { notBefore: new Date(Date.now() - 7200_000), notAfter: new Date(Date.now() - 3600_000) },
    });
    rejected(() => decodeX509Context(x509Response([expired])), "expired", /svids\[0\]/);
    const future = await x509Svid(ca, svidId("a"), { issue: { notBefore: new Date(Date.now() + 3600_000) } });
    rejected(() => decodeX509Context(x509Response([future])), "not-yet-valid", /svids\[0\]/);
  });

  it("judges validity at the injected time", async () => {
    const raw = await x509Svid(ca, svidId("a"), { issue: { ttlSeconds: 60 } });
    assert.doesNotThrow(() => decodeX509Context(x509Response([raw])));
    const later = new Date(Date.now() + 3600_000);
    rejected(() => decodeX509Context(x509Response([raw]), { now: later }), "expired", /svids\[0\]/);
  });

  it("rejects a leaf that does not chain to the bundle of its own trust domain", async () => {
    // Issued by other.org's CA for an example.org ID, sent with example.org's bundle.
    const wrongCa = await x509Svid(otherCa, svidId("a"), { bundle: ca.rootDer });
    rejected(() => decodeX509Context(x509Response([wrongCa])), "chain-unverified", /svids\[0\]/);
    // A second SVID of other.org whose bundle field carries example.org's CA.
    const good = await x509Svid(ca, svidId("a"));
    const wrongTd = await x509Svid(otherCa, "spiffe://other.org/b", { bundle: ca.rootDer });
    rejected(
      () => decodeX509Context(x509Response([good, wrongTd])),
      "chain-unverified",
      /svids\[1\] \(spiffe:\/\/other\.org\/b\)/,
    );
  });

  it("rejects a spiffe_id that differs from the leaf's URI SAN", async () => {
    const raw = await x509Svid(ca, svidId("a"), { spiffeId: svidId("b") });
    rejected(
      () => decodeX509Context(x509Response([raw])),
      "spiffe-id-mismatch",
      /spiffe_id "spiffe:\/\/example\.org\/b" does not match the leaf certificate's URI SAN "[^"]+\/a"/,
    );
  });

  it("rejects a malformed spiffe_id, a CA leaf and an empty bundle", async () => {
    const badId = await x509Svid(ca, svidId("a"), { spiffeId: "not an id" });
    rejected(() => decodeX509Context(x509Response([badId])), "ERR_SPIFFE_ID", /svids\[0\]\.spiffe_id/);
    const caLeaf = await x509Svid(ca, svidId("a"), { issue: { isCa: true } });
    rejected(() => decodeX509Context(x509Response([caLeaf])), "leaf-is-ca", /svids\[0\]/);
    const noBundle = await x509Svid(ca, svidId("a"), { bundle: new Uint8Array(0) });
    rejected(() => decodeX509Context(x509Response([noBundle])), "empty-bundle", /svids\[0\]\.bundle.*is empty/);
  });

  it("rejects one bad SVID among good ones: the message is the full state", async () => {
    const good = await x509Svid(ca, svidId("a"));
    const bad = await x509Svid(ca, svidId("b"), { issue: { isCa: true } });
    rejected(() => decodeX509Context(x509Response([good, bad])), "leaf-is-ca", /svids\[1\]/);
  });

  it("rejects bad federated bundles", async () => {
    const good = await x509Svid(ca, svidId("a"));
    const withFederated = (bundles: Record<string, Uint8Array>) => () =>
      decodeX509Context(x509Response([good], bundles));
    rejected(
      withFederated({ "spiffe://other.org": new Uint8Array([1, 2, 3]) }),
      "ERR_X509_BUNDLE",
      /federated_bundles\["spiffe:\/\/other\.org"\]/,
    );
    rejected(withFederated({ "spiffe://other.org": new Uint8Array(0) }), "empty-bundle", /is empty/);
    rejected(withFederated({ "Not A TD": otherCa.rootDer }), "ERR_SPIFFE_ID", /key "Not A TD" is not a trust domain/);
    rejected(
      withFederated({ "spiffe://other.org": otherCa.rootDer, "other.org": otherCa.rootDer }),
      "duplicate-trust-domain",
      /"other\.org" already has a bundle/,
    );
    rejected(withFederated({ "example.org": otherCa.rootDer }), "duplicate-trust-domain", /"example\.org"/);
  });
});

describe("decodeX509Bundles", () => {
  it("keys bundles by trust domain, with or without spiffe://", async () => {
    const ca = await caFor("example.org");
    const otherCa = await caFor("other.org");
    const set = decodeX509Bundles({
      crl: [],
      bundles: { "spiffe://example.org": Buffer.from(ca.rootDer), "other.org": Buffer.from(otherCa.rootDer) },
    });
    assert.deepEqual(set.trustDomains().map((d) => d.name), ["example.org", "other.org"]);
    assert.equal(set.get(other)?.authorities.length, 1);
  });

  it("rejects an empty map, an empty bundle and garbage", () => {
    const decode = (bundles: Record<string, Buffer>) => () => decodeX509Bundles({ crl: [], bundles });
    rejected(decode({}), "no-bundles", /MUST contain at least the bundle/);
    rejected(decode({ "spiffe://example.org": Buffer.alloc(0) }), "empty-bundle", /is empty/);
    rejected(decode({ "example.org": Buffer.from("nope") }), "ERR_X509_BUNDLE", /bundles\["example\.org"\]/);
  });
});

describe("decodeJwtBundles", () => {
  it("parses each plain JWK set by trust domain", async () => {
    const key = await createJwtSigningKey({ kid: "k1" });
    const jwks = Buffer.from(JSON.stringify(publicJwkSet([key])));
    const set = decodeJwtBundles({ bundles: { "spiffe://example.org": jwks } });
    assert.deepEqual([...(set.get(td)?.authorities.keys() ?? [])], ["k1"]);
  });

  it("keeps a trust domain with no JWT keys", () => {
    const set = decodeJwtBundles({ bundles: { "spiffe://example.org": Buffer.from('{"keys":[]}') } });
    assert.equal(set.get(td)?.authorities.size, 0);
  });

  it("rejects an empty map, bad JSON and duplicate trust domains", () => {
    const empty = Buffer.from('{"keys":[]}');
    const decode = (bundles: Record<string, Buffer>) => () => decodeJwtBundles({ bundles });
    rejected(decode({}), "no-bundles", /JWTBundlesResponse\.bundles is empty/);
    rejected(decode({ "spiffe://example.org": Buffer.from("{") }), "ERR_JWT_BUNDLE", /not valid JSON/);
    rejected(decode({ "spiffe://example.org": empty, "example.org": empty }), "duplicate-trust-domain", /two keys/);
  });
});
