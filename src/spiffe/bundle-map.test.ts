import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readVector } from "../../test/support/vectors.js";
import { marshalBundleMap, parseBundleMap } from "./bundle-map.js";
import { parseSpiffeBundle, SpiffeBundleError, type SpiffeBundle } from "./spiffe-bundle.js";
import { parseTrustDomain } from "./spiffe-id.js";

const mapJson = readVector("generated/spiffe-bundle-map.json").toString("utf8");
const exampleJson = readVector("generated/spiffe-bundle-example.org.json").toString("utf8");
const otherJson = readVector("generated/spiffe-bundle-other.org.json").toString("utf8");

function assertMapError(json: string, message: RegExp): void {
  assert.throws(
    () => parseBundleMap(json),
    (error: unknown) => error instanceof SpiffeBundleError && message.test(error.message),
    String(message),
  );
}

function emptyBundle(name: string): SpiffeBundle {
  return { trustDomain: parseTrustDomain(name), x509Authorities: [], jwtAuthorities: new Map() };
}

describe("parseBundleMap", () => {
  it("reads generated/spiffe-bundle-map.json and marshals it back byte for byte", () => {
    const bundles = parseBundleMap(mapJson);
    assert.deepEqual([...bundles.keys()], ["example.org", "other.org"]);
    assert.equal(bundles.get("example.org")?.trustDomain.name, "example.org");
    assert.equal(bundles.get("example.org")?.sequence, 1n);
    assert.equal(bundles.get("other.org")?.sequence, 7n);
    assert.deepEqual([...(bundles.get("other.org")?.jwtAuthorities.keys() ?? [])], ["kid-other-1"]);
    assert.equal(marshalBundleMap(bundles), mapJson);
  });

  it("holds the same authorities as the single-bundle files", () => {
    const fromMap = parseBundleMap(mapJson).get("other.org");
    const single = parseSpiffeBundle(parseTrustDomain("other.org"), otherJson);
    assert.deepEqual(fromMap?.x509Authorities, single.x509Authorities);
    assert.deepEqual(fromMap?.jwtAuthorities, single.jwtAuthorities);
  });

  it("rejects a trust domain listed twice, which JSON.parse would silently collapse (§5.1.1)", () => {
    const json = `{"trust_domains": {"example.org": ${exampleJson}, "other.org": ${otherJson}, "example.org": {"keys": []}}}`;
    assert.equal(Object.keys((JSON.parse(json) as { trust_domains: object }).trust_domains).length, 2);
    assertMapError(json, /trust domain "example.org" appears more than once \(Trust Domain & Bundle §5\.1\.1\)/);
  });

  it("reports other duplicate members as invalid JSON, not as a duplicate trust domain", () => {
    assertMapError('{"trust_domains": {"a.org": {"keys": [], "keys": []}}}', /not valid JSON: duplicate member name "keys" in the object at "\/trust_domains\/a.org"/);
    assertMapError('{"trust_domains": {}, "trust_domains": {}}', /not valid JSON: duplicate member name "trust_domains"/);
  });

  it("requires trust_domains to be an object", () => {
    assertMapError("{}", /the "trust_domains" member must be set to an object \(Trust Domain & Bundle §5\.1\)/);
    assertMapError('{"trust_domains": []}', /"trust_domains" member must be set/);
    assertMapError("[]", /must be a JSON object/);
    assertMapError("{", /not valid JSON/);
  });

  it("accepts an empty map", () => {
    assert.equal(parseBundleMap('{"trust_domains": {}}').size, 0);
  });

  it("rejects keys that are not bare trust domain names", () => {
    assertMapError('{"trust_domains": {"Example.org": {"keys": []}}}', /key "Example.org" is not a trust domain name: trust domain characters/);
    assertMapError('{"trust_domains": {"spiffe://example.org": {"keys": []}}}', /must be a bare trust domain name/);
  });

  it("rejects a broken bundle, naming its trust domain", () => {
    assertMapError('{"trust_domains": {"a.org": {}}}', /SPIFFE bundle for trust domain "a.org": the "keys" member must be present/);
  });
});

describe("marshalBundleMap", () => {
  it("sorts trust domains by name whatever the input order", () => {
    const text = marshalBundleMap([emptyBundle("b.org"), emptyBundle("a.org")]);
    assert.deepEqual(Object.keys((JSON.parse(text) as { trust_domains: object }).trust_domains), ["a.org", "b.org"]);
    assert.equal(marshalBundleMap(parseBundleMap(text)), text);
  });

  it("writes an empty map", () => {
    assert.equal(marshalBundleMap([]), '{\n  "trust_domains": {}\n}');
  });

  it("refuses two bundles for one trust domain and a key that names another trust domain", () => {
    assert.throws(() => marshalBundleMap([emptyBundle("a.org"), emptyBundle("a.org")]), /"a.org" appears more than once/);
    const mismatched = new Map([["b.org", emptyBundle("a.org")]]);
    assert.throws(() => marshalBundleMap(mismatched), /key "b.org" holds the bundle of trust domain "a.org"/);
  });
});
