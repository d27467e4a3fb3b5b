import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import type { JsonWebKey } from "node:crypto";
import { describe, it } from "node:test";
import { marshalBundleMap } from "./bundle-map.js";
import { JwtBundleError, marshalJwtBundle } from "./jwt-bundle.js";
import { parseJwtBundleFile } from "./jwt-bundle-file.js";
import type { JwtBundleFile } from "./jwt-bundle-file.js";
import { SpiffeBundleError } from "./spiffe-bundle.js";
import { parseTrustDomain } from "./spiffe-id.js";
import type { TrustDomain } from "./spiffe-id.js";
import { StrictJsonError } from "./strict-json.js";

const EXAMPLE = parseTrustDomain("example.org");
const OTHER = parseTrustDomain("other.org");

function publicJwk(): JsonWebKey {
  const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return publicKey.export({ format: "jwk" });
}

const EXAMPLE_KEY = publicJwk();
const OTHER_KEY = publicJwk();

/** A JWKS as the Workload API sends it: every key with a `kid`. */
function jwksOf(trustDomain: TrustDomain, kid: string, jwk: JsonWebKey): string {
  return marshalJwtBundle({ trustDomain, authorities: new Map([[kid, jwk]]) });
}

function kidsByTrustDomain(file: JwtBundleFile): Record<string, string[]> {
  return Object.fromEntries(
    [EXAMPLE, OTHER].flatMap((trustDomain) => {
      const bundle = file.bundles.getJwtBundle(trustDomain);
      return bundle === undefined ? [] : [[trustDomain.name, [...bundle.authorities.keys()]]];
    }),
  );
}

describe("parseJwtBundleFile", () => {
  it("reads spiffe-helper's map of trust domain to base64 JWKS", () => {
    const text = JSON.stringify({
      "example.org": Buffer.from(jwksOf(EXAMPLE, "e1", EXAMPLE_KEY)).toString("base64"),
      "other.org": Buffer.from(jwksOf(OTHER, "o1", OTHER_KEY)).toString("base64"),
    });
    const file = parseJwtBundleFile(text, EXAMPLE);
    assert.equal(file.format, "spiffe-helper");
    assert.deepEqual(kidsByTrustDomain(file), { "example.org": ["e1"], "other.org": ["o1"] });
  });

  it("takes a plain JWKS as the bundle of the given trust domain", () => {
    const file = parseJwtBundleFile(jwksOf(OTHER, "o1", OTHER_KEY), OTHER);
    assert.equal(file.format, "jwks");
    assert.deepEqual(kidsByTrustDomain(file), { "other.org": ["o1"] });
  });

  it("reads a SPIFFE bundle map, each trust domain under its own name", () => {
    const text = marshalBundleMap([
      { trustDomain: EXAMPLE, x509Authorities: [], jwtAuthorities: new Map([["e1", EXAMPLE_KEY]]) },
      { trustDomain: OTHER, x509Authorities: [], jwtAuthorities: new Map([["o1", OTHER_KEY]]) },
    ]);
    const file = parseJwtBundleFile(text, EXAMPLE);
    assert.equal(file.format, "spiffe-bundle-map");
    assert.deepEqual(kidsByTrustDomain(file), { "example.org": ["e1"], "other.org": ["o1"] });
  });

  const bad: [string, string, (error: unknown) => boolean][] = [
    ["text that is not JSON", "{keys", (error) => error instanceof StrictJsonError && /^invalid JSON: .* at offset \d+$/.test(error.message)],
    ["a JSON array", "[]", (error) => error instanceof JwtBundleError && error.message === "JWT bundle file is not a JSON object"],
    [
      "a spiffe-helper value that is not a string",
      JSON.stringify({ "example.org": { keys: [] } }),
      (error) => error instanceof JwtBundleError && /^JWT bundle file: the value for "example\.org" is not a base64 string; expected spiffe-helper's map/.test(error.message),
    ],
    [
      "a JWKS key without a kid",
      JSON.stringify({ keys: [EXAMPLE_KEY] }),
      (error) => error instanceof JwtBundleError && /has no key ID: "kid" must be set \(JWT-SVID §6\.1\)/.test(error.message),
    ],
    [
      "a bundle map keyed by a SPIFFE ID",
      JSON.stringify({ trust_domains: { "spiffe://example.org": { keys: [] } } }),
      (error) => error instanceof SpiffeBundleError && /key "spiffe:\/\/example\.org" is not a trust domain name|must be a bare trust domain name/.test(error.message),
    ],
  ];
  for (const [name, text, check] of bad) {
    it(`refuses ${name}, saying why`, () => {
      assert.throws(() => parseJwtBundleFile(text, EXAMPLE), check);
    });
  }
});
