import assert from "node:assert/strict";
import { constants, generateKeyPairSync, KeyObject, sign, type JsonWebKey } from "node:crypto";
import { before, describe, it } from "node:test";
import { inspect } from "node:util";
import { SignJWT } from "jose";
import {
  createJwtSigningKey,
  publicJwkSet,
  signJwtSvid,
  type JwtSigningKey,
  type SignJwtSvidOptions,
} from "../fakeagent/jwt-issuer.js";
import { JwtBundleSet, jwtBundleFromJwkSet } from "./jwt-bundle.js";
import {
  JwtSvidError,
  parseInsecureJwtSvid,
  validateJwtSvid,
  type JwtSvidRule,
  type ValidateJwtSvidOptions,
} from "./jwt-svid.js";
import { parseSpiffeId, parseTrustDomain } from "./spiffe-id.js";

const NOW = new Date("2031-05-01T12:00:00Z");
const NOW_SECONDS = NOW.getTime() / 1000;
const WORKLOAD = parseSpiffeId("spiffe://example.org/workload");
const PARTNER = parseSpiffeId("spiffe://other.org/partner");

let es256: JwtSigningKey;
let rs256: JwtSigningKey;
let ps256: JwtSigningKey;
let partnerKey: JwtSigningKey;
let strangerKey: JwtSigningKey;
let bundles: JwtBundleSet;

before(async () => {
  [es256, rs256, ps256, partnerKey, strangerKey] = await Promise.all([
    createJwtSigningKey(),
    createJwtSigningKey({ alg: "RS256" }),
    createJwtSigningKey({ alg: "PS256" }),
    createJwtSigningKey({ kid: "partner-1" }),
    createJwtSigningKey({ kid: "stranger" }),
  ]);
  bundles = new JwtBundleSet([
    jwtBundleFromJwkSet(parseTrustDomain("example.org"), publicJwkSet([es256, rs256, ps256])),
    jwtBundleFromJwkSet(parseTrustDomain("other.org"), publicJwkSet([partnerKey])),
  ]);
});

function mint(key: JwtSigningKey, overrides: Partial<SignJwtSvidOptions> = {}): Promise<string> {
  return signJwtSvid(key, { subject: WORKLOAD, audience: ["service-a"], ttlSeconds: 300, now: NOW, ...overrides });
}

function validate(token: string, options: Partial<ValidateJwtSvidOptions> = {}): ReturnType<typeof validateJwtSvid> {
  return validateJwtSvid(token, bundles, { audience: "service-a", now: NOW, ...options });
}

async function assertRejects(
  token: string,
  rule: JwtSvidRule,
  message: RegExp,
  options: Partial<ValidateJwtSvidOptions> = {},
): Promise<void> {
  await assert.rejects(validate(token, options), (error: unknown) => {
    assert.ok(error instanceof JwtSvidError, `expected JwtSvidError, got ${String(error)}`);
    assert.equal(error.code, "ERR_JWT_SVID");
    assert.equal(error.rule, rule, error.message);
    assert.match(error.message, message);
    assert.ok(token === "" || !error.message.includes(token), "the message must not contain the token");
    return true;
  });
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");

/** Signs arbitrary header/claims with Node's crypto, for tokens the issuer refuses to make. */
function craft(header: Record<string, unknown>, claims: Record<string, unknown>, key: JwtSigningKey): string {
  const input = `${b64(header)}.${b64(claims)}`;
  const signature = sign("sha256", Buffer.from(input), {
    key: KeyObject.from(key.privateKey as Parameters<typeof KeyObject.from>[0]),
    dsaEncoding: "ieee-p1363",
  });
  return `${input}.${signature.toString("base64url")}`;
}

function standardClaims(): Record<string, unknown> {
  return { sub: WORKLOAD.toString(), aud: "service-a", exp: NOW_SECONDS + 300, iat: NOW_SECONDS };
}

describe("validateJwtSvid: valid tokens", () => {
  for (const name of ["ES256", "RS256", "PS256"] as const) {
    it(`accepts a ${name} token and returns its identity and claims`, async () => {
      const key = { ES256: es256, RS256: rs256, PS256: ps256 }[name];
      const svid = await validate(await mint(key));
      assert.equal(svid.id.toString(), "spiffe://example.org/workload");
      assert.deepEqual(svid.audience, ["service-a"]);
      assert.equal(svid.expiry.toISOString(), "2031-05-01T12:05:00.000Z");
      assert.equal(svid.issuedAt?.toISOString(), NOW.toISOString());
      assert.equal(svid.claims["sub"], "spiffe://example.org/workload");
    });
  }

  it('accepts typ "JOSE" and an absent typ', async () => {
    await validate(await mint(es256, { typ: "JOSE" }));
    await validate(await mint(es256, { typ: null }));
  });

  it("accepts aud as a string and as a list containing one expected value", async () => {
    const listed = await validate(await mint(es256, { audience: ["service-a"], audienceAsList: true }));
    assert.deepEqual(listed.audience, ["service-a"]);
    const several = await validate(await mint(es256, { audience: ["x", "service-b"] }), { audience: ["service-b"] });
    assert.deepEqual(several.audience, ["x", "service-b"]);
  });

  it("accepts a federated token against its own trust domain's bundle", async () => {
    const svid = await validate(await mint(partnerKey, { subject: PARTNER }));
    assert.equal(svid.id.trustDomain.name, "other.org");
  });

  it("tolerates clock skew up to the 60 s default leeway, and no more", async () => {
    const token = await mint(es256, { ttlSeconds: -30 });
    await validate(token);
    await assertRejects(token, "expired", /expired at .*0s leeway/, { leewaySeconds: 0 });
  });

  it("tolerates header members JWT-SVID §2 tells issuers not to add, as go-spiffe does", async () => {
    await validate(await mint(es256, { extraHeader: { cty: "JWT" } }));
  });
});

/** A key pair made with Node's crypto, for algorithms and sizes the fake agent does not issue. */
function nodeKey(kid: string, spec: { namedCurve: string } | { modulusLength: number }): { kid: string; privateKey: KeyObject; jwk: JsonWebKey } {
  const { privateKey, publicKey } = "namedCurve" in spec ? generateKeyPairSync("ec", spec) : generateKeyPairSync("rsa", spec);
  return { kid, privateKey, jwk: { ...publicKey.export({ format: "jwk" }), kid } };
}

/** A token signed over its own header with `sign` options as RFC 7518 §3 asks for `alg`. */
function signWithNode(alg: string, key: { kid: string; privateKey: KeyObject }, signature?: Buffer): string {
  const input = `${b64({ alg, kid: key.kid, typ: "JWT" })}.${b64(standardClaims())}`;
  const hash = `sha${alg.slice(2)}`;
  const options =
    alg.startsWith("ES") ? { key: key.privateKey, dsaEncoding: "ieee-p1363" as const }
    : alg.startsWith("PS") ? { key: key.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(alg.slice(2)) / 8 }
    : key.privateKey;
  return `${input}.${(signature ?? sign(hash, Buffer.from(input), options)).toString("base64url")}`;
}

describe("validateJwtSvid: every JWT-SVID algorithm", () => {
  const rsa = nodeKey("rsa", { modulusLength: 2048 });
  const keys = {
    ES384: nodeKey("p384", { namedCurve: "P-384" }),
    ES512: nodeKey("p521", { namedCurve: "P-521" }),
    RS384: rsa,
    RS512: rsa,
    PS384: rsa,
    PS512: rsa,
  };
  const small = nodeKey("rsa-1024", { modulusLength: 1024 });
  const nodeBundles = new JwtBundleSet([
    jwtBundleFromJwkSet(parseTrustDomain("example.org"), { keys: [...new Set(Object.values(keys))].map((key) => key.jwk).concat(small.jwk) }),
  ]);
  const check = (token: string) => validateJwtSvid(token, nodeBundles, { audience: "service-a", now: NOW });

  for (const [alg, key] of Object.entries(keys)) {
    it(`accepts ${alg} and refuses the same token with a changed signature`, async () => {
      const token = signWithNode(alg, key);
      assert.equal((await check(token)).id.toString(), WORKLOAD.toString());
      const signature = Buffer.from(token.split(".")[2] ?? "", "base64url");
      signature[signature.length - 1] = (signature.at(-1) ?? 0) ^ 1;
      await assert.rejects(check(signWithNode(alg, key, signature)), (error: unknown) => error instanceof JwtSvidError && error.rule === "signature");
    });
  }

  it("refuses an EC key on another curve than the algorithm's, an RSA key under 2048 bits, an ES signature of the wrong length", async () => {
    const rule = async (token: string): Promise<string> => check(token).then(() => "accepted", (error: unknown) => (error instanceof JwtSvidError ? error.rule : String(error)));
    assert.equal(await rule(signWithNode("ES256", keys.ES384)), "key-unusable");
    assert.equal(await rule(signWithNode("RS256", small)), "key-unusable");
    assert.equal(await rule(signWithNode("PS256", keys.ES512)), "key-unusable");
    const p384 = Buffer.from(signWithNode("ES384", keys.ES384).split(".")[2] ?? "", "base64url");
    assert.equal(await rule(signWithNode("ES384", keys.ES384, Buffer.concat([Buffer.alloc(1), p384]))), "signature");
    assert.equal(await rule(signWithNode("ES384", keys.ES384, p384.subarray(1))), "signature");
  });
});

describe("validateJwtSvid: a token parseInsecureJwtSvid read", () => {
  it("is validated without decoding it again and comes back with its hint", async () => {
    const parsed = parseInsecureJwtSvid(await mint(es256), { hint: "internal" });
    const svid = await validateJwtSvid(parsed, bundles, { audience: "service-a", now: NOW });
    assert.equal(svid, parsed);
    assert.equal(svid.hint, "internal");
  });

  it("still has its signature, times and audience checked", async () => {
    const forged = parseInsecureJwtSvid(await mint(es256, { signWith: await createJwtSigningKey() }));
    await assert.rejects(validateJwtSvid(forged, bundles, { audience: "service-a", now: NOW }), (error: unknown) => error instanceof JwtSvidError && error.rule === "signature");
    const token = parseInsecureJwtSvid(await mint(es256));
    await assert.rejects(validateJwtSvid(token, bundles, { audience: "service-b", now: NOW }), (error: unknown) => error instanceof JwtSvidError && error.rule === "audience");
    await assert.rejects(validateJwtSvid(token, bundles, { audience: "service-a", now: new Date(NOW.getTime() + 3_600_000) }), (error: unknown) => error instanceof JwtSvidError && error.rule === "expired");
  });
});

describe("validateJwtSvid: rejections name the rule", () => {
  it("wrong audience", async () => {
    await assertRejects(await mint(es256, { audience: ["service-b"] }), "audience", /"service-a".*§3\.2/);
  });

  it("expired", async () => {
    await assertRejects(await mint(es256, { ttlSeconds: -120 }), "expired", /expired at 2031-05-01T11:58:00\.000Z/);
  });

  it("missing exp, aud, sub", async () => {
    await assertRejects(await mint(es256, { extraClaims: { exp: undefined } }), "exp-missing", /"exp" must be set/);
    await assertRejects(await mint(es256, { extraClaims: { aud: undefined } }), "aud-missing", /"aud" must be present/);
    await assertRejects(await mint(es256, { audience: [] }), "aud-missing", /one or more values/);
    await assertRejects(await mint(es256, { extraClaims: { sub: undefined } }), "sub-missing", /"sub" must be set/);
  });

  it("a sub that is not a SPIFFE ID", async () => {
    const token = await mint(es256, { extraClaims: { sub: "https://example.org/workload" } });
    await assertRejects(token, "sub-invalid", /not a valid SPIFFE ID: scheme is missing or invalid/);
  });

  it("HS256 and alg none, before anything else is looked at", async () => {
    const hs256 = await new SignJWT({ ...standardClaims(), sub: "not even an ID" })
      .setProtectedHeader({ alg: "HS256", kid: es256.kid })
      .sign(new Uint8Array(32).fill(7));
    await assertRejects(hs256, "alg-not-allowed", /algorithm "HS256" is not allowed.*§2\.1/);
    const none = `${b64({ alg: "none", kid: es256.kid })}.${b64(standardClaims())}.`;
    await assertRejects(none, "alg-not-allowed", /algorithm "none" is not allowed/);
    const missing = craft({ kid: es256.kid }, standardClaims(), es256);
    await assertRejects(missing, "alg-not-allowed", /\(none given\)/);
  });

  it("a typ other than JWT or JOSE", async () => {
    await assertRejects(await mint(es256, { typ: "at+jwt" }), "typ", /"typ" must be "JWT" or "JOSE", not "at\+jwt"/);
  });

  it("a missing kid (stricter than JWT-SVID §2.2, like go-spiffe)", async () => {
    await assertRejects(await mint(es256, { omitKid: true }), "kid-missing", /no key ID.*go-spiffe and SPIRE/);
  });

  it("a kid the bundle does not have", async () => {
    await assertRejects(await mint(strangerKey), "unknown-kid", /no JWT authority with key ID "stranger" in trust domain "example.org"/);
  });

  it("a signature made with another key under a known kid", async () => {
    const other = await createJwtSigningKey();
    await assertRejects(await mint(es256, { signWith: other }), "signature", /signature does not verify/);
  });

  it("a trust domain with no bundle", async () => {
    const token = await mint(es256, { subject: parseSpiffeId("spiffe://unknown.org/w") });
    await assertRejects(token, "no-bundle", /no JWT bundle for trust domain "unknown.org"/);
  });

  it("a tampered payload", async () => {
    const [header, , signature] = (await mint(es256)).split(".");
    const forged = `${header}.${b64({ ...standardClaims(), sub: "spiffe://example.org/admin" })}.${signature}`;
    await assertRejects(forged, "signature", /signature does not verify/);
  });

  it("a key of the wrong type for the header's alg", async () => {
    const impostor = await createJwtSigningKey({ alg: "RS256", kid: es256.kid });
    await assertRejects(await mint(impostor), "key-unusable", /cannot verify RS256 signatures/);
  });

  it("malformed tokens and the JSON serialization", async () => {
    const token = await mint(es256);
    await assertRejects("", "malformed", /empty/);
    await assertRejects("a.b", "malformed", /three base64url parts.*has 2/);
    await assertRejects(`${token}.x`, "malformed", /has 4/);
    const [header, payload, signature] = token.split(".");
    const json = JSON.stringify({ protected: header, payload, signature });
    await assertRejects(json, "malformed", /JSON Serialization must not be used/);
    await assertRejects(`${header}.${payload}.`, "malformed", /signature is missing/);
    await assertRejects(`${header}.pay+load.${signature}`, "malformed", /payload is not base64url/);
    await assertRejects(`${Buffer.from("{").toString("base64url")}.${payload}.${signature}`, "malformed", /header is not valid JSON/);
    await assertRejects(`${header}.${b64([1])}.${signature}`, "malformed", /payload must be a JSON object/);
  });

  it("duplicate claims, rather than silently taking one", async () => {
    const payload = Buffer.from('{"sub":"spiffe://example.org/a","sub":"spiffe://example.org/b"}').toString("base64url");
    await assertRejects(`${b64({ alg: "ES256", kid: es256.kid })}.${payload}.AAAA`, "malformed", /duplicate member name "sub"/);
  });

  it("crit extensions", async () => {
    const token = craft({ alg: "ES256", kid: es256.kid, crit: ["exp"], exp: 1 }, standardClaims(), es256);
    await assertRejects(token, "header", /"crit"/);
  });

  it("nbf and iat in the future beyond the leeway", async () => {
    const later = NOW_SECONDS + 120;
    await assertRejects(await mint(es256, { extraClaims: { nbf: later } }), "not-yet-valid", /not valid before/);
    await assertRejects(await mint(es256, { extraClaims: { iat: later } }), "issued-in-future", /issued in the future/);
    await validate(await mint(es256, { extraClaims: { nbf: NOW_SECONDS + 30, iat: NOW_SECONDS + 30 } }));
  });

  it("claims of the wrong type", async () => {
    await assertRejects(await mint(es256, { extraClaims: { exp: "tomorrow" } }), "claim-invalid", /"exp" must be a NumericDate/);
    await assertRejects(await mint(es256, { extraClaims: { exp: 1e20 } }), "claim-invalid", /"exp" must be a NumericDate/);
    await assertRejects(await mint(es256, { extraClaims: { iat: null } }), "claim-invalid", /"iat" must be a NumericDate/);
    await assertRejects(await mint(es256, { extraClaims: { aud: ["ok", 7] } }), "claim-invalid", /"aud" must be a string or a list/);
  });

  it("an empty expected audience, which would otherwise accept any token", async () => {
    await assertRejects(await mint(es256), "audience-required", /at least one/, { audience: [] });
  });
});

describe("parseInsecureJwtSvid", () => {
  it("reads identity, audience, expiry and hint without a bundle or a valid signature", async () => {
    const other = await createJwtSigningKey();
    const token = await mint(es256, { signWith: other, audience: ["a", "b"], now: new Date("2001-01-01T00:00:00Z") });
    const svid = parseInsecureJwtSvid(token, { hint: "internal" });
    assert.equal(svid.id.toString(), "spiffe://example.org/workload");
    assert.deepEqual(svid.audience, ["a", "b"]);
    assert.equal(svid.expiry.toISOString(), "2001-01-01T00:05:00.000Z");
    assert.equal(svid.hint, "internal");
    assert.equal(svid.token, token);
    assert.equal(parseInsecureJwtSvid(token).hint, "");
  });

  it("applies the same header and claim shape rules", async () => {
    const cases: [Partial<SignJwtSvidOptions>, JwtSvidRule][] = [
      [{ extraClaims: { sub: undefined } }, "sub-missing"],
      [{ extraClaims: { aud: undefined } }, "aud-missing"],
      [{ extraClaims: { exp: undefined } }, "exp-missing"],
      [{ typ: "JWS" }, "typ"],
      [{ omitKid: true }, "kid-missing"],
    ];
    for (const [overrides, rule] of cases) {
      const token = await mint(es256, overrides);
      assert.throws(
        () => parseInsecureJwtSvid(token),
        (error: unknown) => error instanceof JwtSvidError && error.rule === rule,
        rule,
      );
    }
    assert.throws(() => parseInsecureJwtSvid("x.y"), /three base64url parts/);
  });

  it("returns claims that cannot be changed afterwards", async () => {
    const svid = parseInsecureJwtSvid(await mint(es256, { audience: ["a", "b"] }));
    assert.ok(Object.isFrozen(svid.claims));
    assert.ok(Object.isFrozen(svid.claims["aud"]));
    assert.ok(Object.isFrozen(svid.audience));
  });
});

describe("JwtSvid never shows its token", () => {
  it("in util.inspect, JSON.stringify, template strings and object spread", async () => {
    const token = await mint(es256);
    const svid = await validate(token);
    const renderings = [
      inspect(svid),
      inspect(svid, { showHidden: true, depth: Infinity }),
      inspect(svid, { customInspect: false, showHidden: true }),
      inspect({ nested: [svid] }, { depth: 5 }),
      JSON.stringify(svid),
      JSON.stringify({ svid }),
      `${svid}`,
      String(svid),
      JSON.stringify({ ...svid }),
    ];
    const [header, payload, signature] = token.split(".") as [string, string, string];
    for (const text of renderings) {
      for (const secret of [token, signature, `${header}.${payload}`]) {
        assert.ok(!text.includes(secret), `leaked in: ${text.slice(0, 120)}`);
      }
    }
    assert.match(inspect(svid), /spiffe:\/\/example\.org\/workload[\s\S]*\[REDACTED\]/);
    assert.equal(JSON.parse(JSON.stringify(svid)).token, "[REDACTED]");
    assert.match(`${svid}`, /^JwtSvid\(spiffe:\/\/example\.org\/workload, exp 2031-05-01T12:05:00\.000Z/);
    assert.equal(svid.token, token);
  });
});
