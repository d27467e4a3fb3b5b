import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { TestContext } from "node:test";
import { parseTrustDomain } from "../../src/spiffe/spiffe-id.js";
import { BundleSource } from "../../src/workloadapi/bundle-source.js";
import type { WorkloadBundles } from "../../src/workloadapi/bundle-source.js";
import type { X509Context } from "../../src/workloadapi/decode.js";
import { WorkloadSourceError } from "../../src/workloadapi/errors.js";
import { JwtSource } from "../../src/workloadapi/jwt-source.js";
import { SourceNotReadyError } from "../../src/workloadapi/source-base.js";
import type { SourceOptions } from "../../src/workloadapi/source-base.js";
import { X509Source } from "../../src/workloadapi/x509-source.js";
import type { X509SourceOptions } from "../../src/workloadapi/x509-source.js";
import { startTestAgent, tempDir } from "../fakeagent/support.js";
import { startFakeAgent } from "../../src/fakeagent/index.js";
import type { FakeAgent } from "../../src/fakeagent/index.js";
import type { WorkloadApiError } from "../../src/workloadapi/errors.js";
import { EventLog, FAST_BACKOFF, within } from "./fixtures.js";

const READY_MS = 15_000;

async function x509Source(t: TestContext, agent: FakeAgent, options: Partial<X509SourceOptions> = {}): Promise<X509Source> {
  const source = await within(X509Source.create({ address: agent.address, backoff: FAST_BACKOFF, ...options }), "X509Source.create", READY_MS);
  t.after(() => source.close());
  return source;
}

async function bundleSource(t: TestContext, agent: FakeAgent): Promise<BundleSource> {
  const source = await within(BundleSource.create({ address: agent.address, backoff: FAST_BACKOFF }), "BundleSource.create", READY_MS);
  t.after(() => source.close());
  return source;
}

describe("sources against the fake agent", () => {
  for (const [name, create] of [
    ["X509Source", (options: SourceOptions) => X509Source.create(options)],
    ["JwtSource", (options: SourceOptions) => JwtSource.create(options)],
    ["BundleSource", (options: SourceOptions) => BundleSource.create(options)],
  ] as const) {
    it(`${name}: create({ timeoutMs }) on a missing socket rejects naming the socket and the last problem`, async (t) => {
      const socketPath = join(await tempDir(t), "nobody.sock");
      const pending: Promise<unknown> = create({ address: `unix://${socketPath}`, backoff: FAST_BACKOFF, timeoutMs: 500 });
      await assert.rejects(within(pending, "the deadline", READY_MS), (error: unknown) => {
        assert.ok(error instanceof SourceNotReadyError, String(error));
        assert.equal(error.code, "ERR_SOURCE_NOT_READY");
        assert.equal(error.address, `unix://${socketPath}`);
        assert.ok(error.message.startsWith(`${name} had no valid update from the Workload API at unix://${socketPath} within 0.5 s`), error.message);
        assert.match(error.message, /last problem: no Workload API at .* \(is the agent running\?\)/);
        return true;
      });
    });
  }

  it("X509Source: an update per rotation, health follows it, close() is idempotent", async (t) => {
    const agent = await startTestAgent(t, { x509TtlSeconds: 2 });
    const source = await x509Source(t, agent);
    const first = source.getX509Svid();
    const firstHealth = source.health();
    assert.equal(firstHealth.connected, true);
    assert.ok(firstHealth.lastUpdate instanceof Date);
    assert.equal(firstHealth.expiresAt?.getTime(), first.certificates[0]?.notAfter.getTime());

    const updates = new EventLog<X509Context>();
    source.on("update", updates.push);
    const serials = new Set([first.certificates[0]?.serialHex]);
    for (let rotation = 1; rotation <= 2; rotation += 1) {
      const context = await updates.waitFor(
        (update) => !serials.has(update.svids[0]?.certificates[0]?.serialHex),
        `rotation ${rotation}`,
        { timeoutMs: READY_MS },
      );
      serials.add(context.svids[0]?.certificates[0]?.serialHex);
    }
    const rotated = source.getX509Svid();
    assert.notEqual(rotated.certificates[0]?.serialHex, first.certificates[0]?.serialHex);
    const health = source.health();
    assert.ok((health.lastUpdate?.getTime() ?? 0) >= (firstHealth.lastUpdate?.getTime() ?? Infinity));
    assert.equal(health.expiresAt?.getTime(), rotated.certificates[0]?.notAfter.getTime());

    source.close();
    source.close();
    assert.equal(source.closed, true);
    assert.equal(source.health().connected, false);
    assert.throws(() => source.getX509Svid(), /X509Source is closed/);
    await assert.rejects(source.waitUntilReady(1000), /X509Source is closed/);
  });

  it("X509Source: picks the default SVID by hint or by function, and getX509Svid(pick) overrides it", async (t) => {
    const agent = await startTestAgent(t, {
      identities: [{ spiffeId: "spiffe://example.org/front" }, { spiffeId: "spiffe://example.org/back", hint: "back" }],
    });
    const byHint = await x509Source(t, agent, { picker: "back" });
    assert.equal(byHint.getX509Svid().id.toString(), "spiffe://example.org/back");
    assert.equal(byHint.getX509Svids().length, 2);
    const byFunction = await x509Source(t, agent, { picker: (svids) => svids.find((svid) => svid.id.path === "/front") });
    assert.equal(byFunction.getX509Svid().id.toString(), "spiffe://example.org/front");
    assert.equal(byFunction.getX509Svid("back").id.toString(), "spiffe://example.org/back");
    assert.throws(
      () => byFunction.getX509Svid(() => undefined),
      (error: unknown) => error instanceof WorkloadSourceError && /picker chose none of the 2 SVIDs/.test(error.message),
    );
    assert.throws(() => byHint.getX509Svid("gone"), /no X\.509-SVID with hint "gone"; the agent sent hints "back"/);
    const plain = await x509Source(t, agent);
    assert.equal(plain.getX509Svid().id.toString(), "spiffe://example.org/front");
  });

  it("BundleSource: serves X.509 and JWT bundles and follows federated trust domains appearing and disappearing", async (t) => {
    const agent = await startTestAgent(t, { federatesWith: ["partner.org"] });
    const source = await bundleSource(t, agent);
    const own = parseTrustDomain("example.org");
    const partner = parseTrustDomain("partner.org");
    const third = parseTrustDomain("third.org");
    assert.ok(source.getX509Bundle(own) && source.getJwtBundle(own), "own trust domain, both kinds");
    assert.ok(source.getX509Bundle(partner) && source.getJwtBundle(partner), "federated trust domain, both kinds");
    assert.deepEqual(source.trustDomains().map((td) => td.name), ["example.org", "partner.org"]);
    assert.equal(source.health().connected, true);
    assert.ok(source.health().expiresAt instanceof Date);
    const combined = source.getSpiffeBundle(partner);
    assert.deepEqual(combined?.x509Authorities, source.getX509Bundle(partner)?.authorities.map((ca) => ca.der));
    assert.equal(combined?.jwtAuthorities, source.getJwtBundle(partner)?.authorities);
    assert.equal(source.getSpiffeBundle(parseTrustDomain("nowhere.org")), undefined);

    const updates = new EventLog<WorkloadBundles>();
    source.on("update", updates.push);
    const names = (bundles: WorkloadBundles) => ({
      x509: bundles.x509.trustDomains().map((td) => td.name).join(","),
      jwt: bundles.jwt.trustDomains().map((td) => td.name).join(","),
    });
    await agent.update({ federatesWith: ["partner.org", "third.org"] });
    await updates.waitFor((b) => names(b).x509 === "example.org,partner.org,third.org" && names(b).jwt === names(b).x509, "third.org appearing", { timeoutMs: READY_MS });
    assert.ok(source.getX509Bundle(third) && source.getJwtBundle(third));

    const from = updates.entries.length;
    await agent.update({ federatesWith: [] });
    await updates.waitFor((b) => names(b).x509 === "example.org" && names(b).jwt === "example.org", "federation ending", { from, timeoutMs: READY_MS });
    assert.equal(source.getX509Bundle(partner), undefined);
    assert.equal(source.getJwtBundle(partner), undefined);
    assert.deepEqual(source.trustDomains().map((td) => td.name), ["example.org"]);
  });

  it("BundleSource: keeps its bundles while the agent is gone and takes the new agent's once it is back", async (t) => {
    const socketPath = join(await tempDir(t), "agent.sock");
    const start = () => startFakeAgent({ socketPath, trustDomain: "example.org", identities: [{ spiffeId: "spiffe://example.org/app" }] });
    const first = await start();
    t.after(() => first.stop());
    const source = await bundleSource(t, first);
    const own = parseTrustDomain("example.org");
    const fingerprint = (bundles: WorkloadBundles) => bundles.x509.get(own)?.authorities[0]?.fingerprintSha256;
    const before = fingerprint(source.getBundles());
    const errors = new EventLog<WorkloadApiError>();
    const updates = new EventLog<WorkloadBundles>();
    source.on("error", errors.push);
    source.on("update", updates.push);

    await first.stop();
    await errors.waitFor(() => true, "the agent going away", { timeoutMs: READY_MS });
    assert.equal(source.health().connected, false);
    assert.equal(fingerprint(source.getBundles()), before, "the last bundles stay in force");

    const second = await start();
    t.after(() => second.stop());
    // A new agent has a new CA: both halves must come back for the update to show it.
    await updates.waitFor((bundles) => fingerprint(bundles) !== before, "the new agent's bundles", { timeoutMs: READY_MS });
    assert.ok(source.getJwtBundle(own));
    await within(source.waitUntilReady(1000), "waitUntilReady on a ready source");
  });
});
