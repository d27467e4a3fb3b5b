import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { TestContext } from "node:test";
import type { FakeAgent } from "../../src/fakeagent/index.js";
import { JwtSvidError } from "../../src/spiffe/jwt-svid.js";
import type { JwtSvid } from "../../src/spiffe/jwt-svid.js";
import type { JwtBundleSet } from "../../src/spiffe/jwt-bundle.js";
import { parseTrustDomain } from "../../src/spiffe/spiffe-id.js";
import { BundleSource } from "../../src/workloadapi/bundle-source.js";
import { WorkloadApiClient } from "../../src/workloadapi/client.js";
import { WorkloadApiError, WorkloadSourceError } from "../../src/workloadapi/errors.js";
import { JwtSource } from "../../src/workloadapi/jwt-source.js";
import type { FetchJwtSvidOptions, JwtSourceOptions } from "../../src/workloadapi/jwt-source.js";
import { JwtSvidCache } from "../../src/workloadapi/jwt-svid-cache.js";
import { isJwtSvidRefusal, localJwtSvidValidator, workloadApiJwtSvidValidator } from "../../src/workloadapi/jwt-validator.js";
import { startTestAgent } from "../fakeagent/support.js";
import { EventLog, FAST_BACKOFF, within } from "./fixtures.js";

const READY_MS = 15_000;
const IDENTITIES = [{ spiffeId: "spiffe://example.org/front" }, { spiffeId: "spiffe://example.org/back", hint: "back" }];

async function jwtSource(t: TestContext, agent: FakeAgent, options: Partial<JwtSourceOptions> = {}): Promise<JwtSource> {
  const source = await within(JwtSource.create({ address: agent.address, backoff: FAST_BACKOFF, ...options }), "JwtSource.create", READY_MS);
  t.after(() => source.close());
  return source;
}

/** Counts the fetches that reach the real source. */
function counting(source: JwtSource): { fetches: FetchJwtSvidOptions[]; fetchJwtSvid: (options: FetchJwtSvidOptions) => Promise<JwtSvid> } {
  const fetches: FetchJwtSvidOptions[] = [];
  return {
    fetches,
    fetchJwtSvid: (options) => {
      fetches.push(options);
      return source.fetchJwtSvid(options);
    },
  };
}

describe("JWT-SVIDs from the library against the fake agent", () => {
  it("caches a token per audience set and hint until half its lifetime has passed", async (t) => {
    const agent = await startTestAgent(t, { identities: IDENTITIES, jwtTtlSeconds: 300 });
    const source = await jwtSource(t, agent);
    const first = await source.getJwtSvid({ audience: "db" });
    const again = await source.getJwtSvid({ audience: "db" });
    assert.equal(again.token, first.token, "the source's own cache answers a second ask with the same token");

    const fetcher = counting(source);
    let now = new Date();
    const cache = new JwtSvidCache(fetcher, { now: () => now });
    const [a, b] = await Promise.all([cache.get({ audience: "db", extraAudiences: ["cache"] }), cache.get({ audience: "db", extraAudiences: ["cache"] })]);
    assert.equal(fetcher.fetches.length, 1, "concurrent asks share one fetch");
    assert.equal(a.token, b.token);
    const issuedAt = a.issuedAt?.getTime() ?? assert.fail("the fake agent sets iat");
    const halfLife = (a.expiry.getTime() - issuedAt) / 2;

    // Fetched within a second or two of its iat, so renewal is due just after the half-life.
    now = new Date(issuedAt + halfLife - 1000);
    assert.equal((await cache.get({ audience: "cache", extraAudiences: ["db"] })).token, a.token, "same audience set in another order: a hit");
    assert.equal(fetcher.fetches.length, 1);
    await cache.get({ audience: "db" });
    await cache.get({ audience: "db", extraAudiences: ["cache"], picker: "back" });
    assert.equal(fetcher.fetches.length, 3, "another audience set and another hint are misses");

    now = new Date(issuedAt + halfLife + 5000);
    await cache.get({ audience: "db", extraAudiences: ["cache"] });
    assert.equal(fetcher.fetches.length, 4, "past half-life the token is fetched again");
    await cache.get({ audience: "db", extraAudiences: ["cache"] });
    assert.equal(fetcher.fetches.length, 4, "and the new one is cached");

    const controller = new AbortController();
    now = new Date(issuedAt + 3 * halfLife);
    const shared = cache.get({ audience: "late" });
    const aborted = cache.get({ audience: "late", signal: controller.signal });
    controller.abort(new Error("caller gave up"));
    await assert.rejects(aborted, /caller gave up/);
    assert.equal((await shared).audience[0], "late", "one caller's abort does not end the shared fetch");

    const failing = new JwtSvidCache({ fetchJwtSvid: () => Promise.reject(new Error("agent down")) });
    await assert.rejects(failing.get({ audience: "db" }), /agent down/);
    assert.equal(failing.size, 0, "a failed fetch is not cached");
  });

  it("emits an update when the agent rotates its JWT key, and a closed source hands out no token", async (t) => {
    // Short overlap and TTL: rotateJwtKey resolves once the old key is retired.
    const agent = await startTestAgent(t, { jwtTtlSeconds: 2, rotationOverlapMs: 200 });
    const source = await jwtSource(t, agent);
    const kids = () => [...(source.getJwtBundle(parseTrustDomain("example.org"))?.authorities.keys() ?? [])];
    const before = kids();
    const updates = new EventLog<JwtBundleSet>();
    source.on("update", updates.push);
    await within(agent.rotateJwtKey(), "the JWT key rotation", READY_MS);
    await updates.waitFor((set) => [...(set.get(parseTrustDomain("example.org"))?.authorities.keys() ?? [])].some((kid) => !before.includes(kid)), "a new JWT key", { timeoutMs: READY_MS });
    await source.getJwtSvid({ audience: "db" });
    source.close();
    await assert.rejects(source.getJwtSvid({ audience: "db" }), /JwtSource is closed/);
  });

  it("picks the token by hint or function, from the call or the source's option", async (t) => {
    const agent = await startTestAgent(t, { identities: IDENTITIES });
    const source = await jwtSource(t, agent, { picker: "back" });
    assert.equal((await source.fetchJwtSvid({ audience: "db" })).id.path, "/back");
    assert.equal((await source.fetchJwtSvid({ audience: "db", picker: (svids) => svids.find((svid) => svid.id.path === "/front") })).id.path, "/front");
    assert.equal((await source.fetchJwtSvid({ audience: "db", spiffeId: "spiffe://example.org/front" })).id.path, "/front");
    await assert.rejects(
      source.fetchJwtSvid({ audience: "db", picker: "gone" }),
      (error: unknown) => error instanceof WorkloadSourceError && /no JWT-SVID with hint "gone"; the agent sent hints "back"/.test(error.message),
    );
    const plain = await jwtSource(t, agent);
    assert.equal((await plain.fetchJwtSvid({ audience: "db" })).id.path, "/front");
    assert.deepEqual((await plain.fetchJwtSvids({ audience: "db" })).map((svid) => [svid.id.path, svid.hint]), [["/front", ""], ["/back", "back"]]);
  });

  it("validates locally against a BundleSource and through ValidateJWTSVID: a good token passes, a wrong audience is refused", async (t) => {
    const agent = await startTestAgent(t);
    const source = await jwtSource(t, agent);
    const bundles = await within(BundleSource.create({ address: agent.address, backoff: FAST_BACKOFF }), "BundleSource.create", READY_MS);
    t.after(() => bundles.close());
    const client = new WorkloadApiClient({ address: agent.address, backoff: FAST_BACKOFF });
    t.after(() => client.close());
    const { token } = await source.fetchJwtSvid({ audience: "api" });

    for (const [name, validate] of [
      ["local", localJwtSvidValidator(bundles)],
      ["ValidateJWTSVID", workloadApiJwtSvidValidator(client)],
    ] as const) {
      const accepted = await validate(token, "api");
      assert.equal(accepted.spiffeId.toString(), "spiffe://example.org/app", name);
      assert.equal(accepted.claims["sub"], "spiffe://example.org/app", name);
      assert.equal((await validate(token, ["other", "api"])).spiffeId.path, "/app", `${name}: any one expected audience`);
      await assert.rejects(validate(token, "billing"), (error: unknown) => {
        assert.ok(isJwtSvidRefusal(error), `${name}: ${String(error)}`);
        assert.ok(!String(error).includes(token), `${name}: the error never holds the token`);
        if (name === "local") assert.ok(error instanceof JwtSvidError && error.rule === "audience");
        else assert.ok(error instanceof WorkloadApiError && error.statusName === "INVALID_ARGUMENT" && /audience/.test(error.message));
        return true;
      });
    }
  });
});
