import assert from "node:assert/strict";
import { status as Status } from "@grpc/grpc-js";
import { afterEach, before, describe, it } from "node:test";
import { createJwtSigningKey, publicJwkSet, signJwtSvid, type JwtSigningKey } from "../../fakeagent/jwt-issuer.js";
import { jwtBundleFromJwkSet, JwtBundleSet } from "../../spiffe/jwt-bundle.js";
import { parseInsecureJwtSvid, type JwtSvid } from "../../spiffe/jwt-svid.js";
import { parseSpiffeId, parseTrustDomain } from "../../spiffe/spiffe-id.js";
import { WorkloadApiError } from "../../workloadapi/errors.js";
import { JwtSvidRefresher, type JwtSvidRefresherOptions } from "./jwt-svid-refresher.js";

const subject = parseSpiffeId("spiffe://example.org/app");
const output = { audience: "db", extraAudiences: [], fileName: "/tmp/db.token" };
/** Only something other than the backoff timer can bring the next fetch. */
const HOUR = { initialMs: 3_600_000, maxMs: 3_600_000 };

function bundlesOf(...keys: JwtSigningKey[]): JwtBundleSet {
  return new JwtBundleSet([jwtBundleFromJwkSet(parseTrustDomain("example.org"), publicJwkSet(keys))]);
}

async function tokenBy(key: JwtSigningKey): Promise<JwtSvid> {
  return parseInsecureJwtSvid(await signJwtSvid(key, { subject, audience: ["db"], ttlSeconds: 3600 }));
}

/** Resolves on the next call of the returned function; a fresh promise after each call. */
function signal<T>(): { next: () => Promise<T>; fire: (value: T) => void } {
  let waiters: ((value: T) => void)[] = [];
  return {
    next: () => new Promise<T>((resolve) => waiters.push(resolve)),
    fire: (value) => {
      const ready = waiters;
      waiters = [];
      for (const resolve of ready) resolve(value);
    },
  };
}

describe("JwtSvidRefresher", () => {
  let oldKey: JwtSigningKey;
  let newKey: JwtSigningKey;
  const refreshers: JwtSvidRefresher[] = [];

  before(async () => {
    oldKey = await createJwtSigningKey({ kid: "old" });
    newKey = await createJwtSigningKey({ kid: "new" });
  });
  afterEach(() => {
    for (const refresher of refreshers.splice(0)) refresher.stop();
  });

  function start(options: Partial<JwtSvidRefresherOptions> & Pick<JwtSvidRefresherOptions, "fetchJwtSvids">) {
    const written = signal<JwtSvid>();
    const failed = signal<{ error: unknown; retryInMs: number }>();
    const refresher = new JwtSvidRefresher({
      output,
      hint: undefined,
      jwtBundles: async () => bundlesOf(oldKey),
      refetchJwtBundles: async () => bundlesOf(oldKey),
      onJwtSvid: async (_output, svid) => written.fire(svid),
      onFailure: (_output, error, retryInMs) => failed.fire({ error, retryInMs }),
      backoff: HOUR,
      ...options,
    });
    refreshers.push(refresher);
    const firstWrite = written.next();
    const firstFailure = failed.next();
    refresher.start();
    return { refresher, written, failed, firstWrite, firstFailure };
  }

  it("fetches the JWT bundles again once for a token signed by a key they do not hold, then accepts it", async () => {
    let refetches = 0;
    const token = await tokenBy(newKey);
    const { firstWrite } = start({
      fetchJwtSvids: async () => [token],
      refetchJwtBundles: async () => {
        refetches += 1;
        return bundlesOf(oldKey, newKey);
      },
    });
    assert.equal((await firstWrite).token, token.token);
    assert.equal(refetches, 1);
  });

  it("rejects the token when the refetched bundles still lack its key, after one refetch", async () => {
    let refetches = 0;
    const { firstFailure } = start({
      fetchJwtSvids: async () => [await tokenBy(newKey)],
      refetchJwtBundles: async () => {
        refetches += 1;
        return bundlesOf(oldKey);
      },
    });
    const { error } = await firstFailure;
    assert.match(String(error), /no JWT authority with key ID "new"/);
    assert.equal(refetches, 1);
  });

  it("retryNow() after a failure fetches at once instead of after the delay", async () => {
    let calls = 0;
    const token = await tokenBy(oldKey);
    const { refresher, written, firstFailure } = start({
      fetchJwtSvids: async () => {
        calls += 1;
        if (calls === 1) throw new WorkloadApiError("agent gone", { code: Status.UNAVAILABLE, details: "gone" });
        return [token];
      },
    });
    await firstFailure;
    const write = written.next();
    refresher.retryNow();
    assert.equal((await write).token, token.token);
    assert.equal(calls, 2);
  });

  it("waits the longest delay after a permanent refusal, and grows the delay with bounded jitter otherwise", async () => {
    const errors = [
      new WorkloadApiError("down", { code: Status.UNAVAILABLE, details: "" }),
      new WorkloadApiError("down", { code: Status.UNAVAILABLE, details: "" }),
      new WorkloadApiError("refused", { code: Status.INVALID_ARGUMENT, details: "" }),
    ];
    const { refresher, failed, firstFailure } = start({
      fetchJwtSvids: async () => {
        throw errors.shift() ?? new Error("no more");
      },
      backoff: { initialMs: 1_000_000, maxMs: 8_000_000, random: () => 1 },
    });
    const delays = [(await firstFailure).retryInMs];
    for (let i = 0; i < 2; i++) {
      const next = failed.next();
      refresher.retryNow();
      delays.push((await next).retryInMs);
    }
    assert.deepEqual(delays, [1_000_000, 2_000_000, 8_000_000]);
  });

  it("fetches a new token at once when new JWT bundles no longer hold the key of the one it has", async () => {
    const tokens = [await tokenBy(oldKey), await tokenBy(newKey)];
    let bundles = bundlesOf(oldKey);
    const { refresher, written, firstWrite } = start({
      fetchJwtSvids: async () => [tokens.shift() ?? (await tokenBy(newKey))],
      jwtBundles: async () => bundles,
    });
    await firstWrite;
    // The write is handed on from inside the fetch; let that fetch finish.
    await new Promise((resolve) => setImmediate(resolve));
    // Bundles that still hold the key change nothing.
    await refresher.onJwtBundles(bundlesOf(oldKey, newKey));
    assert.equal(tokens.length, 1);
    bundles = bundlesOf(newKey);
    const next = written.next();
    await refresher.onJwtBundles(bundles);
    assert.match((await next).token, /./);
    assert.equal(tokens.length, 0);
  });
});
