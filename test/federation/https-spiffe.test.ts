import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import type { Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startFakeAgent, type FakeAgent } from "../../src/fakeagent/index.js";
import {
  BundleWatcher,
  bundleEndpointTlsOptions,
  bundleFromSources,
  combineBundleSources,
  createBundleEndpointServer,
  fetchBundle,
  FederationError,
  type FederationRule,
} from "../../src/federation/index.js";
import { parseTrustDomain } from "../../src/spiffe/spiffe-id.js";
import type { SpiffeBundle } from "../../src/spiffe/spiffe-bundle.js";
import { X509BundleSet } from "../../src/spiffe/x509-bundle.js";
import { verifyX509Svid } from "../../src/spiffe/x509-svid.js";
import { JwtSource } from "../../src/workloadapi/jwt-source.js";
import { X509Source } from "../../src/workloadapi/x509-source.js";

const OTHER = parseTrustDomain("other.org");
const EXAMPLE = parseTrustDomain("example.org");
const ENDPOINT_ID = "spiffe://other.org/bundle-endpoint";
const WORKLOAD_ID = "spiffe://example.org/workload";
/** Deadline for things that happen on timers of a few seconds; never asserted on. */
const WAIT_MS = 60_000;

function base64(ders: readonly Uint8Array[]): string[] {
  return ders.map((der) => Buffer.from(der).toString("base64")).sort();
}

async function waitUntil<T>(what: string, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function listen(server: Server): Promise<string> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

function isFederationError(rule: FederationRule, message: RegExp): (error: unknown) => true {
  return (error) => {
    assert.ok(error instanceof FederationError, `expected a FederationError, got ${String(error)}`);
    assert.equal(error.rule, rule, error.message);
    assert.match(error.message, message);
    return true;
  };
}

/**
 * Two trust domains from two fake agents. other.org's agent issues the endpoint's SVID and
 * writes its bundle to a file that example.org's agent federates from, so an example.org
 * workload starts out holding other.org's bundle, as an operator bootstraps https_spiffe.
 */
describe("https_spiffe between two trust domains, from our bundle endpoint", () => {
  let dir: string;
  let otherAgent: FakeAgent;
  let exampleAgent: FakeAgent;
  let endpointSource: X509Source;
  let endpointJwt: JwtSource;
  let workload: X509Source;
  let server: Server;
  let url: string;
  const closers: (() => unknown)[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "federation-"));
    const otherBundleFile = join(dir, "other.org.pem");
    otherAgent = await startFakeAgent({
      socketPath: join(dir, "other.sock"),
      trustDomain: "other.org",
      identities: [{ spiffeId: ENDPOINT_ID }],
      // Short SVIDs and a CA overlap long enough for several refreshes: a CA rotation ends in seconds.
      x509TtlSeconds: 4,
      rotationOverlapMs: 5_000,
      writeBundlePath: otherBundleFile,
    });
    exampleAgent = await startFakeAgent({
      socketPath: join(dir, "example.sock"),
      trustDomain: "example.org",
      identities: [{ spiffeId: WORKLOAD_ID }],
      federatesWith: ["other.org"],
      federatedBundleFiles: { "other.org": otherBundleFile },
    });
    endpointSource = await X509Source.create({ address: otherAgent.address, signal: AbortSignal.timeout(WAIT_MS) });
    endpointJwt = await JwtSource.create({ address: otherAgent.address, signal: AbortSignal.timeout(WAIT_MS) });
    workload = await X509Source.create({ address: exampleAgent.address, signal: AbortSignal.timeout(WAIT_MS) });
    server = createBundleEndpointServer(endpointSource.getX509Svid(), bundleFromSources(OTHER, { x509: endpointSource, jwt: endpointJwt }, { refreshHintSeconds: 1 }));
    endpointSource.on("update", () => server.setSecureContext(bundleEndpointTlsOptions(endpointSource.getX509Svid())));
    url = await listen(server);
    await waitUntil("other.org's bundle at the example.org workload", () => workload.getX509Bundle(OTHER));
  });

  after(async () => {
    for (const close of closers) await close();
    server?.closeAllConnections();
    server?.close();
    workload?.close();
    endpointJwt?.close();
    endpointSource?.close();
    await exampleAgent?.stop();
    await otherAgent?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("fetches other.org's bundle, authenticating the endpoint by its SPIFFE ID with the bundle the workload holds", async (t) => {
    const fetched = await fetchBundle("other.org", url, { profile: { type: "https_spiffe", endpointSpiffeId: ENDPOINT_ID, bundles: workload } });
    assert.deepEqual(base64(fetched.x509Authorities), base64(otherAgent.snapshot().x509Authorities.get("other.org") ?? []));
    assert.deepEqual([...fetched.jwtAuthorities.keys()].sort(), [...(endpointJwt.getJwtBundle(OTHER)?.authorities.keys() ?? [])].sort());
    assert.ok(fetched.jwtAuthorities.size > 0, "other.org publishes a JWT authority");
    assert.equal(fetched.refreshHintSeconds, 1);
    assert.ok(fetched.sequence !== undefined && fetched.sequence >= 1n);
    t.diagnostic(`fetched ${fetched.x509Authorities.length} X.509 and ${fetched.jwtAuthorities.size} JWT authorities, sequence ${String(fetched.sequence)}`);
  });

  it("refuses an endpoint that presents another SPIFFE ID than the expected one", async () => {
    await assert.rejects(
      fetchBundle("other.org", url, { profile: { type: "https_spiffe", endpointSpiffeId: "spiffe://other.org/spire/server", bundles: workload } }),
      isFederationError("endpoint-not-authenticated", /bundle endpoint is not spiffe:\/\/other\.org\/spire\/server: .*spiffe:\/\/other\.org\/bundle-endpoint is not allowed/),
    );
  });

  it("refuses an endpoint whose SVID is of another trust domain than the expected ID's", async () => {
    const impostor = createBundleEndpointServer(workload.getX509Svid(), bundleFromSources(OTHER, { x509: workload }));
    const impostorUrl = await listen(impostor);
    closers.push(() => {
      impostor.closeAllConnections();
      impostor.close();
    });
    // The workload holds example.org's bundle too, but only other.org's may vouch for ENDPOINT_ID.
    await assert.rejects(
      fetchBundle("other.org", impostorUrl, { profile: { type: "https_spiffe", endpointSpiffeId: ENDPOINT_ID, bundles: workload } }),
      isFederationError("endpoint-not-authenticated", /not authenticated|is not spiffe:\/\/other\.org\/bundle-endpoint/),
    );
    assert.ok(workload.getX509Bundle(EXAMPLE) !== undefined);
  });

  it("a watcher follows a CA rotation, each fetched bundle authenticating the next fetch", async (t) => {
    const initial = workload.getX509Bundle(OTHER);
    assert.ok(initial !== undefined);
    const updates: SpiffeBundle[] = [];
    const watcher = await BundleWatcher.start({
      trustDomain: "other.org",
      url,
      // A fixed snapshot, not the live source: only the fetched bundles can carry the new CA.
      profile: { type: "https_spiffe", endpointSpiffeId: ENDPOINT_ID, bundles: initial },
      minRefreshMs: 200,
      readyTimeoutMs: WAIT_MS,
    });
    closers.push(() => watcher.close());
    watcher.on("update", (bundle) => updates.push(bundle));
    const before = base64(watcher.bundle.x509Authorities);
    assert.deepEqual(before, base64(initial.authorities.map((authority) => authority.der)));

    await otherAgent.rotateCa();
    const rotated = base64(otherAgent.snapshot().x509Authorities.get("other.org") ?? []);
    assert.equal(rotated.filter((ca) => before.includes(ca)).length, 0, "the rotation retired every CA the watcher started with");
    await waitUntil("the rotated bundle at the watcher", () => (JSON.stringify(base64(watcher.bundle.x509Authorities)) === JSON.stringify(rotated) ? true : undefined));
    assert.deepEqual(base64(watcher.getX509Bundle(OTHER)?.authorities.map((authority) => authority.der) ?? []), rotated);
    assert.equal(watcher.getX509Bundle(EXAMPLE), undefined);
    assert.ok(updates.length >= 2, `updates: published new CA, then retired old (${updates.length})`);

    // The first anchor alone no longer authenticates the endpoint: the watcher got there by chaining.
    await assert.rejects(
      fetchBundle("other.org", url, { profile: { type: "https_spiffe", endpointSpiffeId: ENDPOINT_ID, bundles: initial } }),
      isFederationError("endpoint-not-authenticated", /not authenticated|bundle endpoint is not/),
    );

    // Fed beside the workload's own trust domain, the watcher verifies other.org's current SVIDs.
    const own = workload.getX509Bundle(EXAMPLE);
    assert.ok(own !== undefined);
    const bundles = combineBundleSources(new X509BundleSet([own]), watcher);
    assert.equal(verifyX509Svid(endpointSource.getX509Svid().certificates, bundles).id.toString(), ENDPOINT_ID);
    assert.equal(verifyX509Svid(workload.getX509Svid().certificates, bundles).id.toString(), WORKLOAD_ID);
    assert.deepEqual([...(bundles.getJwtBundle(OTHER)?.authorities.keys() ?? [])].sort(), [...(endpointJwt.getJwtBundle(OTHER)?.authorities.keys() ?? [])].sort());
    t.diagnostic(`watcher saw ${updates.length} updates; other.org replaced its ${before.length} CA(s) with ${rotated.length} new one(s)`);
  });
});
