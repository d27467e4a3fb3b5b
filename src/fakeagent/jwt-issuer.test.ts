import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeJwt, decodeProtectedHeader, errors, importJWK, jwtVerify } from "jose";
import { parseSpiffeId } from "../spiffe/spiffe-id.js";
import { createJwtSigningKey, publicJwkSet, signJwtSvid, type JwtSigningKey } from "./jwt-issuer.js";

const SUBJECT = parseSpiffeId("spiffe://example.org/db");
const NOW = new Date("2030-02-03T04:05:06.789Z");
const NOW_SECONDS = Math.floor(NOW.getTime() / 1000);

async function verifyWith(key: JwtSigningKey, token: string): Promise<void> {
  const publicKey = await importJWK(key.publicJwk, key.alg);
  await jwtVerify(token, publicKey, { algorithms: [key.alg], currentDate: NOW });
}

describe("createJwtSigningKey", () => {
  for (const alg of ["ES256", "RS256", "PS256"] as const) {
    it(`makes a ${alg} key whose public JWK verifies what it signs`, async () => {
      const key = await createJwtSigningKey({ alg, kid: `kid-${alg}` });
      assert.equal(key.alg, alg);
      assert.equal(key.kid, `kid-${alg}`);
      assert.equal(key.publicJwk["kid"], `kid-${alg}`);
      assert.equal(key.publicJwk.kty, alg === "ES256" ? "EC" : "RSA");
      const token = await signJwtSvid(key, { subject: SUBJECT, audience: ["x"], ttlSeconds: 60, now: NOW });
      await verifyWith(key, token);
    });
  }

  it("defaults to ES256 with a random kid, and publishes no private or SPIFFE members", async () => {
    const [a, b] = await Promise.all([createJwtSigningKey(), createJwtSigningKey()]);
    assert.equal(a.alg, "ES256");
    assert.match(a.kid, /^[A-Za-z0-9_-]{32}$/);
    assert.notEqual(a.kid, b.kid);
    assert.deepEqual(Object.keys(a.publicJwk), ["kty", "crv", "x", "y", "kid"]);
  });
});

describe("signJwtSvid", () => {
  it("writes the header and claims SPIRE writes", async () => {
    const key = await createJwtSigningKey({ kid: "k1" });
    const token = await signJwtSvid(key, { subject: SUBJECT, audience: ["spiffe://example.org/web"], ttlSeconds: 300, now: NOW });
    assert.deepEqual(decodeProtectedHeader(token), { alg: "ES256", kid: "k1", typ: "JWT" });
    assert.deepEqual(decodeJwt(token), {
      sub: "spiffe://example.org/db",
      aud: "spiffe://example.org/web",
      exp: NOW_SECONDS + 300,
      iat: NOW_SECONDS,
    });
  });

  it("writes several audiences, or one forced into a list, as a list", async () => {
    const key = await createJwtSigningKey();
    const several = await signJwtSvid(key, { subject: SUBJECT, audience: ["a", "b"], ttlSeconds: 1, now: NOW });
    assert.deepEqual(decodeJwt(several).aud, ["a", "b"]);
    const forced = await signJwtSvid(key, { subject: SUBJECT, audience: ["a"], ttlSeconds: 1, audienceAsList: true });
    assert.deepEqual(decodeJwt(forced).aud, ["a"]);
  });

  it("mints faults: no kid, no typ, another typ, removed and extra claims, extra header", async () => {
    const key = await createJwtSigningKey();
    const base = { subject: SUBJECT, audience: ["a"], ttlSeconds: 60, now: NOW };
    assert.equal(decodeProtectedHeader(await signJwtSvid(key, { ...base, omitKid: true })).kid, undefined);
    assert.equal(decodeProtectedHeader(await signJwtSvid(key, { ...base, typ: null })).typ, undefined);
    assert.equal(decodeProtectedHeader(await signJwtSvid(key, { ...base, typ: "JOSE" })).typ, "JOSE");
    const claims = decodeJwt(await signJwtSvid(key, { ...base, extraClaims: { exp: undefined, role: "admin" } }));
    assert.equal(claims.exp, undefined);
    assert.equal(claims["role"], "admin");
    assert.equal(decodeProtectedHeader(await signJwtSvid(key, { ...base, extraHeader: { cty: "x" } })).cty, "x");
  });

  it("mints an already expired token from a negative TTL", async () => {
    const key = await createJwtSigningKey();
    const token = await signJwtSvid(key, { subject: SUBJECT, audience: ["a"], ttlSeconds: -10, now: NOW });
    assert.equal(decodeJwt(token).exp, NOW_SECONDS - 10);
    await assert.rejects(verifyWith(key, token), errors.JWTExpired);
  });

  it("signs with another key under the issuing key's kid, so the signature fails", async () => {
    const [key, other] = await Promise.all([createJwtSigningKey({ kid: "real" }), createJwtSigningKey()]);
    const token = await signJwtSvid(key, { subject: SUBJECT, audience: ["a"], ttlSeconds: 60, now: NOW, signWith: other });
    assert.equal(decodeProtectedHeader(token).kid, "real");
    await assert.rejects(verifyWith(key, token), errors.JWSSignatureVerificationFailed);
    await verifyWith({ ...other, kid: "real" }, token);
  });
});

describe("publicJwkSet", () => {
  it("lists every public key once, as a plain JWK set", async () => {
    const keys = await Promise.all([createJwtSigningKey({ kid: "a" }), createJwtSigningKey({ alg: "RS256", kid: "b" })]);
    const set = publicJwkSet(keys);
    assert.deepEqual(
      set.keys.map((jwk) => jwk["kid"]),
      ["a", "b"],
    );
    for (const jwk of set.keys) {
      for (const member of ["d", "p", "q", "dp", "dq", "qi", "use"]) assert.equal(jwk[member], undefined, member);
    }
    const [first] = set.keys;
    assert.ok(first);
    first["kid"] = "changed";
    assert.equal(keys[0]?.publicJwk["kid"], "a", "the set holds copies");
  });
});
