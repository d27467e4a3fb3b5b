import assert from "node:assert/strict";
import { afterEach, before, beforeEach, describe, it } from "node:test";
import { createJwtSigningKey, publicJwkSet, signJwtSvid } from "../../src/fakeagent/jwt-issuer.js";
import type { JwtSigningKey, SignJwtSvidOptions } from "../../src/fakeagent/jwt-issuer.js";
import { JwtSvidError } from "../../src/spiffe/jwt-svid.js";
import { parseSpiffeId, parseTrustDomain } from "../../src/spiffe/spiffe-id.js";
import type { SpiffeId } from "../../src/spiffe/spiffe-id.js";
import { SECURITY_HEADER } from "../../src/workloadapi/client.js";
import { WorkloadApiResponseError } from "../../src/workloadapi/errors.js";
import type { JWTBundlesResponse, JWTSVIDRequest } from "../../src/workloadapi/generated/workload.js";
import { JwtSource } from "../../src/workloadapi/jwt-source.js";
import { MinimalAgent } from "../support/minimal-agent.js";
import { EventLog, FAST_BACKOFF, within } from "./fixtures.js";

const workload = parseSpiffeId("spiffe://example.org/workload");
const foreign = parseSpiffeId("spiffe://other.org/workload");

function jwtBundles(byTrustDomain: Record<string, JwtSigningKey[]>): JWTBundlesResponse {
  const bundles: Record<string, Buffer> = {};
  for (const [key, keys] of Object.entries(byTrustDomain)) {
    bundles[key] = Buffer.from(JSON.stringify(publicJwkSet(keys)));
  }
  return { bundles };
}

describe("JwtSource", () => {
  let agent: MinimalAgent;
  let key: JwtSigningKey;
  let rogue: JwtSigningKey;
  const sources: JwtSource[] = [];

  before(async () => {
    key = await createJwtSigningKey({ kid: "k1" });
    rogue = await createJwtSigningKey({ kid: "rogue" });
  });
  beforeEach(async () => {
    agent = await MinimalAgent.start();
    agent.handlers.fetchJwtBundles = (call) => call.write(jwtBundles({ "spiffe://example.org": [key] }));
  });
  afterEach(async () => {
    for (const source of sources.splice(0)) source.close();
    await agent.stop();
  });

  async function create(): Promise<JwtSource> {
    const source = await within(JwtSource.create({ address: agent.address, backoff: FAST_BACKOFF }), "create");
    sources.push(source);
    return source;
  }

  /** Makes the agent answer FetchJWTSVID with one token signed as `sign` says. */
  function issue(subject: SpiffeId, sign: Partial<SignJwtSvidOptions> = {}, hint = ""): void {
    agent.handlers.fetchJwtsvid = async (request) => ({
      svids: [
        {
          spiffeId: subject.toString(),
          svid: await signJwtSvid(key, { subject, audience: request.audience, ttlSeconds: 300, ...sign }),
          hint,
        },
      ],
    });
  }

  const failsWith = (rule: string, message?: RegExp) => (e: unknown) =>
    e instanceof JwtSvidError && e.rule === rule && (message?.test(e.message) ?? true);

  it("waits for the JWT bundles and serves them by trust domain", async () => {
    const source = await create();
    assert.deepEqual([...(source.getJwtBundle(parseTrustDomain("example.org"))?.authorities.keys() ?? [])], ["k1"]);
    assert.equal(source.getJwtBundle(parseTrustDomain("other.org")), undefined);
    assert.deepEqual(agent.callsTo("fetchJwtBundles")[0]?.metadata.get(SECURITY_HEADER), ["true"]);
  });

  it("fetches a JWT-SVID for audience + extra audiences and returns it once it validates", async () => {
    issue(workload, {}, "main");
    const source = await create();
    const svid = await source.fetchJwtSvid({ audience: "db", extraAudiences: ["cache"], spiffeId: workload });
    const request = agent.callsTo("fetchJwtsvid")[0]?.request as JWTSVIDRequest;
    assert.deepEqual(request.audience, ["db", "cache"]);
    assert.equal(request.spiffeId, workload.toString());
    assert.equal(svid.id.toString(), workload.toString());
    assert.deepEqual(svid.audience, ["db", "cache"]);
    assert.equal(svid.hint, "main");
  });

  it("rejects a token whose signature does not verify against the JWT bundle", async () => {
    issue(workload, { signWith: rogue });
    const source = await create();
    await assert.rejects(source.fetchJwtSvid({ audience: "db" }), failsWith("signature", /signature does not verify/));
  });

  it("rejects a token from a trust domain it has no bundle for, and an expired token", async () => {
    const source = await create();
    issue(foreign);
    await assert.rejects(source.fetchJwtSvid({ audience: "db" }), failsWith("no-bundle", /"other\.org"/));
    issue(workload, { ttlSeconds: -3600 });
    await assert.rejects(source.fetchJwtSvid({ audience: "db" }), failsWith("expired"));
  });

  it("follows bundle updates and keeps the last good bundles when a message is invalid", async () => {
    const writes = new EventLog<(message: JWTBundlesResponse) => void>();
    agent.handlers.fetchJwtBundles = (call) => {
      call.write(jwtBundles({ "spiffe://example.org": [key] }));
      writes.push((message) => call.write(message));
    };
    const source = await create();
    const write = await writes.waitFor(() => true, "the bundle stream");
    const invalid = new EventLog<Error>();
    const updates = new EventLog<number>();
    source.on("invalid", invalid.push);
    source.on("update", (set) => updates.push(set.size));

    write({ bundles: { "spiffe://example.org": Buffer.from("{not json") } });
    const error = await invalid.waitFor(() => true, "invalid bundle message");
    assert.ok(error instanceof WorkloadApiResponseError && error.rule === "ERR_JWT_BUNDLE");
    assert.ok(source.getJwtBundle(parseTrustDomain("example.org")), "the last good bundle stays");

    write(jwtBundles({ "spiffe://example.org": [key], "spiffe://other.org": [rogue] }));
    await updates.waitFor((size) => size === 2, "the federated bundle");
    assert.ok(source.getJwtBundle(parseTrustDomain("other.org")));
  });
});
