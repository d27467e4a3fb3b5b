import assert from "node:assert/strict";
import type { JsonWebKey } from "node:crypto";
import { describe, it } from "node:test";
import { readVector } from "../../test/support/vectors.js";
import { JwtBundleError, JwtBundleSet, jwtBundleFromJwkSet, marshalJwtBundle, parseJwtBundle } from "./jwt-bundle.js";
import { parseTrustDomain } from "./spiffe-id.js";

const EXAMPLE = parseTrustDomain("example.org");
const OTHER = parseTrustDomain("other.org");
const EC_KEY = {
  kty: "EC",
  crv: "P-256",
  x: "2AN5qHbOE6BCau6f2MdylnX-H2lKD2w6J5oXGqatfsk",
  y: "ze8-hXIB7yW1BNnemW5eX_xYE7kfoomSxrfI7Pp9l10",
};

function jwks(...keys: Record<string, unknown>[]): string {
  return JSON.stringify({ keys });
}

function assertBundleError(json: string, message: RegExp): void {
  assert.throws(
    () => parseJwtBundle(EXAMPLE, json),
    (error: unknown) => error instanceof JwtBundleError && error.code === "ERR_JWT_BUNDLE" && message.test(error.message),
    String(message),
  );
}

describe("parseJwtBundle against go-spiffe jwtbundle testdata", () => {
  it("jwks_valid_1.json: one authority by kid", () => {
    const bundle = parseJwtBundle(EXAMPLE, readVector("go-spiffe/bundle/jwtbundle/testdata/jwks_valid_1.json"));
    assert.equal(bundle.trustDomain, EXAMPLE);
    assert.deepEqual([...bundle.authorities.keys()], ["C6vs25welZOx6WksNYfbMfiw9l96pMnD"]);
  });

  it("jwks_valid_2.json: two authorities", () => {
    const bundle = parseJwtBundle(EXAMPLE, readVector("go-spiffe/bundle/jwtbundle/testdata/jwks_valid_2.json"));
    assert.deepEqual([...bundle.authorities.keys()], ["C6vs25welZOx6WksNYfbMfiw9l96pMnD", "gHTCunJbefYtnZnTctd84xeRWyMrEsWD"]);
  });

  it("jwks_missing_kid.json: rejected, naming the key without a kid", () => {
    const json = readVector("go-spiffe/bundle/jwtbundle/testdata/jwks_missing_kid.json").toString("utf8");
    assertBundleError(json, /JWT authority at index 1 has no key ID: "kid" must be set \(JWT-SVID §6\.1\)/);
  });
});

describe("parseJwtBundle against the generated SPIRE-shaped JWKS", () => {
  it("reads jwks-example.org.json and marshals it back byte for byte", () => {
    const text = readVector("generated/jwt/jwks-example.org.json").toString("utf8");
    const bundle = parseJwtBundle(EXAMPLE, text);
    assert.deepEqual([...bundle.authorities.keys()], ["kid-es256-1", "kid-rs256-1"]);
    assert.equal(bundle.authorities.get("kid-rs256-1")?.kty, "RSA");
    assert.equal(marshalJwtBundle(bundle), text);
  });

  it("reads jwks-other.org.json", () => {
    const bundle = parseJwtBundle(OTHER, readVector("generated/jwt/jwks-other.org.json"));
    assert.deepEqual([...bundle.authorities.keys()], ["kid-other-1"]);
  });
});

describe("parseJwtBundle rules", () => {
  it("keeps keys with use jwt-svid or no use, and skips other uses", () => {
    const bundle = parseJwtBundle(
      EXAMPLE,
      jwks({ ...EC_KEY, kid: "a" }, { ...EC_KEY, kid: "b", use: "jwt-svid" }, { ...EC_KEY, kid: "c", use: "x509-svid" }),
    );
    assert.deepEqual([...bundle.authorities.keys()], ["a", "b"]);
  });

  it("ignores key types and curves no JWT-SVID algorithm can use (Trust Domain & Bundle §4.2.1)", () => {
    const bundle = parseJwtBundle(
      EXAMPLE,
      jwks(
        { kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", kid: "ed" },
        { kty: "oct", k: "c2VjcmV0", kid: "hmac" },
        { kty: "EC", crv: "secp256k1", x: "AA", y: "AA", kid: "k1" },
        { kty: "no-such-type", kid: "z" },
        { ...EC_KEY, kid: "ok" },
      ),
    );
    assert.deepEqual([...bundle.authorities.keys()], ["ok"]);
  });

  it("stores keys in canonical public form, dropping unrelated members", () => {
    const bundle = parseJwtBundle(EXAMPLE, jwks({ kid: "a", alg: "ES256", key_ops: ["verify"], ...EC_KEY }));
    const expected: JsonWebKey = { ...EC_KEY, kid: "a" };
    assert.deepEqual(bundle.authorities.get("a"), expected);
    assert.deepEqual(Object.keys(bundle.authorities.get("a") ?? {}), ["kty", "crv", "x", "y", "kid"]);
  });

  it("rejects a duplicate key ID", () => {
    assertBundleError(jwks({ ...EC_KEY, kid: "a" }, { ...EC_KEY, kid: "a" }), /key ID "a" appears more than once/);
  });

  it("rejects an empty kid", () => {
    assertBundleError(jwks({ ...EC_KEY, kid: "" }), /index 0 has no key ID/);
  });

  it("rejects private key material", () => {
    assertBundleError(jwks({ ...EC_KEY, kid: "a", d: "AAAA" }), /"a" contains private key material/);
  });

  it("rejects an EC key with a missing coordinate or a point off the curve", () => {
    assertBundleError(jwks({ ...EC_KEY, y: undefined, kid: "a" }), /"a" lacks the "y" parameter of a EC key/);
    assertBundleError(jwks({ ...EC_KEY, x: EC_KEY.y, kid: "a" }), /"a" is not a valid EC public key/);
  });

  it("rejects a document that is not a JWK set", () => {
    assertBundleError("[]", /must be a JSON object \(RFC 7517 §5\)/);
    assertBundleError("{}", /must have a "keys" array/);
    assertBundleError('{"keys": [1]}', /key at index 0 is not a JSON object/);
    assertBundleError('{"keys": [', /is not valid JSON/);
    assertBundleError('{"keys": [], "keys": []}', /duplicate member name "keys"/);
  });

  it("names the trust domain in every error", () => {
    assertBundleError("{}", /^JWT bundle for trust domain "example.org"/);
  });

  it("parses bytes as well as text", () => {
    const bundle = parseJwtBundle(EXAMPLE, new TextEncoder().encode(jwks({ ...EC_KEY, kid: "a" })));
    assert.equal(bundle.authorities.size, 1);
  });
});

describe("marshalJwtBundle", () => {
  it("writes a plain JWK set without use, members in a fixed order", () => {
    const bundle = jwtBundleFromJwkSet(EXAMPLE, { keys: [{ kid: "b", y: EC_KEY.y, x: EC_KEY.x, crv: "P-256", kty: "EC" }] });
    const written = JSON.parse(marshalJwtBundle(bundle)) as { keys: JsonWebKey[] };
    assert.deepEqual(written, { keys: [{ ...EC_KEY, kid: "b" }] });
    assert.deepEqual(Object.keys(written.keys[0] ?? {}), ["kty", "crv", "x", "y", "kid"]);
  });

  it("writes an empty set for a bundle with no authorities", () => {
    assert.deepEqual(JSON.parse(marshalJwtBundle(jwtBundleFromJwkSet(EXAMPLE, { keys: [] }))), { keys: [] });
  });
});

describe("JwtBundleSet", () => {
  it("finds bundles by trust domain and lists them in name order", () => {
    const other = jwtBundleFromJwkSet(OTHER, { keys: [] });
    const example = jwtBundleFromJwkSet(EXAMPLE, { keys: [] });
    const set = new JwtBundleSet([other, example]);
    assert.equal(set.size, 2);
    assert.equal(set.getJwtBundle(parseTrustDomain("example.org")), example);
    assert.equal(set.get(parseTrustDomain("spiffe://other.org")), other);
    assert.equal(set.getJwtBundle(parseTrustDomain("third.org")), undefined);
    assert.deepEqual(set.trustDomains().map((td) => td.name), ["example.org", "other.org"]);
    assert.deepEqual(set.bundles(), [example, other]);
  });

  it("replaces a trust domain's bundle on set and forgets it on delete", () => {
    const set = new JwtBundleSet([jwtBundleFromJwkSet(EXAMPLE, { keys: [] })]);
    const replacement = jwtBundleFromJwkSet(EXAMPLE, { keys: [{ ...EC_KEY, kid: "n" }] });
    set.set(replacement);
    assert.equal(set.get(EXAMPLE), replacement);
    assert.equal(set.delete(EXAMPLE), true);
    assert.equal(set.get(EXAMPLE), undefined);
    assert.equal(set.size, 0);
  });
});
