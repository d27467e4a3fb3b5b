import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it, type TestContext } from "node:test";
import { identityDir } from "../../test/tls/identities.js";
import { createJwtSigningKey, signJwtSvid, type JwtSigningKey } from "../fakeagent/jwt-issuer.js";
import { renderJwks, renderSpiffeHelperJwtBundle } from "../sidecar/output/jwt-bundle-formats.js";
import { JwtBundleSet, type JwtBundle } from "../spiffe/jwt-bundle.js";
import { JwtSvidError } from "../spiffe/jwt-svid.js";
import { parseSpiffeId, parseTrustDomain } from "../spiffe/spiffe-id.js";
import { bearerToken, validateBearerJwtSvid } from "./bearer-jwt.js";
import { PeerAuthenticationError } from "./errors.js";

const AUDIENCE = "spiffe://example.org/server";

function refusedFor(rule: PeerAuthenticationError["rule"], pattern: RegExp, token?: string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof PeerAuthenticationError, `expected PeerAuthenticationError, got ${String(error)}`);
    assert.equal(error.rule, rule);
    assert.match(error.message, pattern);
    if (token !== undefined) assert.equal(error.message.includes(token), false, "the message must not carry the token");
    return true;
  };
}

describe("bearerToken", () => {
  it("takes the token of a Bearer header, whatever the scheme's case", () => {
    assert.equal(bearerToken("Bearer abc.def.ghi"), "abc.def.ghi");
    assert.equal(bearerToken("bearer  abc.def.ghi "), "abc.def.ghi");
  });

  it("refuses a missing header, other schemes and a bare token, quoting none of it", () => {
    assert.throws(() => bearerToken(undefined), refusedFor("no-bearer-token", /no Authorization header/));
    assert.throws(() => bearerToken("Basic dXNlcjpwYXNz"), refusedFor("no-bearer-token", /is not `Bearer <token>`/, "dXNlcjpwYXNz"));
    assert.throws(() => bearerToken("Bearer"), refusedFor("no-bearer-token", /is not `Bearer <token>`/));
    assert.throws(() => bearerToken("s3cr3t-token"), refusedFor("no-bearer-token", /is not `Bearer <token>`/, "s3cr3t"));
  });
});

describe("validateBearerJwtSvid against the sidecar's JWT bundle file", () => {
  let exampleKey: JwtSigningKey;
  let strangerKey: JwtSigningKey;

  before(async () => {
    [exampleKey, strangerKey] = await Promise.all([createJwtSigningKey(), createJwtSigningKey()]);
  });

  const exampleBundle = (): JwtBundle => ({
    trustDomain: parseTrustDomain("example.org"),
    authorities: new Map([[exampleKey.kid, exampleKey.publicJwk]]),
  });

  async function bundleFile(t: TestContext, text: string): Promise<string> {
    const { dir } = await identityDir(t);
    const path = join(dir, "jwt_bundle.json");
    await writeFile(path, text);
    return path;
  }

  const token = (key: JwtSigningKey, subject: string, audience: string): Promise<string> =>
    signJwtSvid(key, { subject: parseSpiffeId(subject), audience: [audience], ttlSeconds: 300 });

  it("accepts a token for our audience from a trust domain in the file (spiffe-helper format)", async (t) => {
    const jwtBundleFile = await bundleFile(t, renderSpiffeHelperJwtBundle(new JwtBundleSet([exampleBundle()])));
    const header = `Bearer ${await token(exampleKey, "spiffe://example.org/client", AUDIENCE)}`;
    const svid = await validateBearerJwtSvid(header, { jwtBundleFile, audience: AUDIENCE });
    assert.equal(svid.id.toString(), "spiffe://example.org/client");
  });

  it("refuses a token for another audience, with the JWT-SVID rule as the cause", async (t) => {
    const jwtBundleFile = await bundleFile(t, renderSpiffeHelperJwtBundle(new JwtBundleSet([exampleBundle()])));
    const jwt = await token(exampleKey, "spiffe://example.org/client", "spiffe://example.org/billing");
    await assert.rejects(validateBearerJwtSvid(`Bearer ${jwt}`, { jwtBundleFile, audience: AUDIENCE }), (error: unknown) => {
      refusedFor("invalid-jwt-svid", /does not contain any expected audience/, jwt)(error);
      assert.ok(error instanceof Error && error.cause instanceof JwtSvidError);
      assert.equal(error.cause.rule, "audience");
      return true;
    });
  });

  it("refuses a token of a trust domain the file does not hold", async (t) => {
    const jwtBundleFile = await bundleFile(t, renderSpiffeHelperJwtBundle(new JwtBundleSet([exampleBundle()])));
    const jwt = await token(strangerKey, "spiffe://stranger.org/client", AUDIENCE);
    await assert.rejects(
      validateBearerJwtSvid(`Bearer ${jwt}`, { jwtBundleFile, audience: AUDIENCE }),
      refusedFor("invalid-jwt-svid", /no JWT bundle for trust domain "stranger\.org"/, jwt),
    );
  });

  it("reads a plain JWKS file only when told whose trust domain it is", async (t) => {
    const jwtBundleFile = await bundleFile(t, renderJwks([exampleBundle()]));
    const header = `Bearer ${await token(exampleKey, "spiffe://example.org/client", AUDIENCE)}`;
    await assert.rejects(
      validateBearerJwtSvid(header, { jwtBundleFile, audience: AUDIENCE }),
      refusedFor("jwt-bundle-unavailable", /plain JWKS, which names no trust domain; pass jwksTrustDomain/),
    );
    const svid = await validateBearerJwtSvid(header, { jwtBundleFile, audience: AUDIENCE, jwksTrustDomain: "example.org" });
    assert.equal(svid.id.toString(), "spiffe://example.org/client");
  });

  it("reports a missing bundle file as unavailable", async (t) => {
    const { dir } = await identityDir(t);
    const header = `Bearer ${await token(exampleKey, "spiffe://example.org/client", AUDIENCE)}`;
    await assert.rejects(
      validateBearerJwtSvid(header, { jwtBundleFile: join(dir, "missing.json"), audience: AUDIENCE }),
      refusedFor("jwt-bundle-unavailable", /missing\.json: ENOENT/),
    );
  });
});
