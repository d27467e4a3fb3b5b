import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import type { TestContext } from "node:test";
import { bearerIdentityOf, jwtSvidBearer, withJwtSvidBearer } from "../../src/http/bearer-middleware.js";
import type { JwtSvidBearerOptions } from "../../src/http/bearer-middleware.js";
import type { PeerAuthenticationError } from "../../src/tls/errors.js";
import { authorizeSpiffeId } from "../../src/tls/peer-authorization.js";
import { BundleSource } from "../../src/workloadapi/bundle-source.js";
import { WorkloadApiClient } from "../../src/workloadapi/client.js";
import { JwtSource } from "../../src/workloadapi/jwt-source.js";
import { workloadApiJwtSvidValidator } from "../../src/workloadapi/jwt-validator.js";
import { startTestAgent } from "../fakeagent/support.js";
import { FAST_BACKOFF, within } from "./fixtures.js";

const READY_MS = 15_000;

interface Answer {
  readonly status: number;
  readonly challenge: string | null;
  readonly body: string;
}

/** Serves `listener` on a loopback port for this test; returns a GET with an optional Authorization header. */
async function serve(t: TestContext, listener: RequestListener): Promise<(authorization?: string) => Promise<Answer>> {
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  return async (authorization) => {
    const response = await fetch(`http://127.0.0.1:${port}/`, {
      headers: authorization === undefined ? {} : { authorization },
      signal: AbortSignal.timeout(READY_MS),
    });
    return { status: response.status, challenge: response.headers.get("www-authenticate"), body: await response.text() };
  };
}

describe("bearer JWT-SVID middleware on a node:http server", () => {
  it("lets a valid token through with its SPIFFE ID, answers 401 without or with a bad token and 403 to a refused ID", async (t) => {
    const agent = await startTestAgent(t, {
      identities: [{ spiffeId: "spiffe://example.org/client" }, { spiffeId: "spiffe://example.org/intruder", hint: "intruder" }],
    });
    const jwt = await within(JwtSource.create({ address: agent.address, backoff: FAST_BACKOFF }), "JwtSource", READY_MS);
    t.after(() => jwt.close());
    const bundles = await within(BundleSource.create({ address: agent.address, backoff: FAST_BACKOFF }), "BundleSource", READY_MS);
    t.after(() => bundles.close());
    const refusals: PeerAuthenticationError[] = [];
    const options: JwtSvidBearerOptions = {
      audience: "api",
      bundles,
      authorize: authorizeSpiffeId(["spiffe://example.org/client"]),
      onRefused: (error) => refusals.push(error),
    };
    const get = await serve(t, withJwtSvidBearer(options, (_request, response, identity) => response.end(`hello ${identity.spiffeId.toString()}`)));

    const good = (await jwt.getJwtSvid({ audience: "api" })).token;
    assert.deepEqual(await get(`Bearer ${good}`), { status: 200, challenge: null, body: "hello spiffe://example.org/client" });

    const missing = await get();
    assert.equal(missing.status, 401);
    assert.equal(missing.challenge, 'Bearer realm="spiffe"', "no error code without credentials (RFC 6750 §3.1)");
    assert.match(missing.body, /no Authorization header/);

    const wrongAudience = (await jwt.fetchJwtSvid({ audience: "billing" })).token;
    const refused = await get(`Bearer ${wrongAudience}`);
    assert.equal(refused.status, 401);
    assert.match(refused.challenge ?? "", /^Bearer realm="spiffe", error="invalid_token", error_description="bearer JWT-SVID refused: audience /);
    assert.match(refused.body, /does not contain any expected audience/);
    for (const text of [refused.body, refused.challenge ?? "", ...refusals.map((error) => error.message)]) {
      assert.ok(!text.includes(wrongAudience) && !text.includes(good), "the answer never echoes a token");
    }

    const garbage = await get("Bearer not.a.jwt");
    assert.equal(garbage.status, 401);
    assert.match(garbage.challenge ?? "", /error="invalid_token"/);
    assert.equal((await get(`Basic ${Buffer.from("u:p").toString("base64")}`)).status, 401);

    const intruder = (await jwt.fetchJwtSvid({ audience: "api", picker: "intruder" })).token;
    const forbidden = await get(`Bearer ${intruder}`);
    assert.equal(forbidden.status, 403);
    assert.match(forbidden.challenge ?? "", /error="insufficient_scope"/);
    assert.match(forbidden.body, /spiffe:\/\/example\.org\/intruder is not allowed by the allow-list \[spiffe:\/\/example\.org\/client\]/);
    assert.deepEqual(refusals.map((error) => error.rule), ["no-bearer-token", "invalid-jwt-svid", "invalid-jwt-svid", "no-bearer-token", "not-authorized"]);
  });

  it("works as Express-shaped middleware over ValidateJWTSVID, and answers 503 when the agent cannot be asked", async (t) => {
    const agent = await startTestAgent(t);
    const jwt = await within(JwtSource.create({ address: agent.address, backoff: FAST_BACKOFF }), "JwtSource", READY_MS);
    t.after(() => jwt.close());
    const client = new WorkloadApiClient({ address: agent.address, backoff: FAST_BACKOFF, rpcTimeoutMs: 5000 });
    t.after(() => client.close());
    const middleware = jwtSvidBearer({ audience: ["api", "admin"], validator: workloadApiJwtSvidValidator(client) });
    const get = await serve(t, (request: IncomingMessage, response: ServerResponse) =>
      middleware(request, response, () => response.end(bearerIdentityOf(request)?.spiffeId.toString())),
    );
    const token = (await jwt.fetchJwtSvid({ audience: "admin" })).token;
    assert.deepEqual(await get(`Bearer ${token}`), { status: 200, challenge: null, body: "spiffe://example.org/app" });
    const other = (await jwt.fetchJwtSvid({ audience: "metrics" })).token;
    assert.equal((await get(`Bearer ${other}`)).status, 401);

    await agent.stop();
    const unavailable = await get(`Bearer ${token}`);
    assert.equal(unavailable.status, 503);
    assert.ok(!unavailable.body.includes(token));
  });
});
