import assert from "node:assert/strict";
import { once } from "node:events";
import type { Server } from "node:https";
import type { AddressInfo } from "node:net";
import { describe, it, type TestContext } from "node:test";
import { bundleDer, createCertificateAuthority, issueX509Svid } from "../fakeagent/ca.js";
import { parseCertificate } from "../spiffe/certificate.js";
import type { SpiffeBundle } from "../spiffe/spiffe-bundle.js";
import { parseSpiffeId, parseTrustDomain } from "../spiffe/spiffe-id.js";
import { x509BundleFromCertificates, type X509Bundle } from "../spiffe/x509-bundle.js";
import { parseX509SvidDer } from "../spiffe/x509-svid.js";
import { createBundleEndpointServer } from "./bundle-handler.js";
import { BundleWatcher } from "./bundle-watcher.js";
import { FederationError } from "./errors.js";

const OTHER = parseTrustDomain("other.org");
const ENDPOINT_ID = "spiffe://other.org/bundle-endpoint";
const WAIT_MS = 30_000;

interface Endpoint {
  url: string;
  readonly anchor: X509Bundle;
  /** What it serves; a test may replace it. */
  bundle: SpiffeBundle;
  /** While true the endpoint answers 500. */
  failing: boolean;
}

/** An https_spiffe endpoint of other.org serving its own bundle, with a 1 s refresh hint. */
async function startEndpoint(t: TestContext): Promise<Endpoint> {
  const ca = await createCertificateAuthority({ trustDomain: OTHER });
  const issued = await issueX509Svid(ca, { spiffeId: parseSpiffeId(ENDPOINT_ID), ttlSeconds: 3600 });
  const bundle: SpiffeBundle = { trustDomain: OTHER, x509Authorities: [bundleDer(ca)], jwtAuthorities: new Map(), sequence: 1n, refreshHintSeconds: 1 };
  const endpoint: Endpoint = {
    url: "",
    anchor: x509BundleFromCertificates(OTHER, [parseCertificate(bundleDer(ca))]),
    bundle,
    failing: false,
  };
  const server: Server = createBundleEndpointServer(parseX509SvidDer(issued.chainDer, issued.privateKeyDer), () => {
    if (endpoint.failing) throw new Error("store unavailable");
    return endpoint.bundle;
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  endpoint.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return endpoint;
}

async function nextEvent<T>(watcher: BundleWatcher, event: "update" | "error"): Promise<T> {
  const [value] = (await once(watcher, event, { signal: AbortSignal.timeout(WAIT_MS) })) as [T];
  return value;
}

describe("BundleWatcher", () => {
  it("keeps the last bundle through failed fetches, reports them, and recovers", async (t) => {
    const endpoint = await startEndpoint(t);
    const watcher = await BundleWatcher.start({
      trustDomain: "other.org",
      url: endpoint.url,
      profile: { type: "https_spiffe", endpointSpiffeId: ENDPOINT_ID, bundles: endpoint.anchor },
      minRefreshMs: 100,
      backoff: { initialMs: 100, maxMs: 400 },
    });
    t.after(() => watcher.close());
    assert.equal(watcher.bundle.sequence, 1n);
    assert.equal(watcher.status().lastError, undefined);
    assert.ok(watcher.status().nextRefreshAt !== undefined);

    endpoint.failing = true;
    const failure = await nextEvent<FederationError>(watcher, "error");
    assert.equal(failure.rule, "http-status");
    assert.equal(watcher.bundle.sequence, 1n, "the last good bundle stays in force");
    assert.equal(watcher.getX509Bundle(OTHER)?.authorities.length, 1);
    await nextEvent<FederationError>(watcher, "error");
    assert.ok(watcher.status().consecutiveFailures >= 2);
    assert.equal(watcher.status().lastError?.rule, "http-status");

    endpoint.failing = false;
    endpoint.bundle = { ...endpoint.bundle, sequence: 3n };
    assert.equal((await nextEvent<SpiffeBundle>(watcher, "update")).sequence, 3n);
    assert.equal(watcher.status().lastError, undefined);

    // A lagging replica serving an older sequence must not roll the keys back.
    endpoint.bundle = { ...endpoint.bundle, sequence: 2n, x509Authorities: [] };
    const stale = await nextEvent<FederationError>(watcher, "error");
    assert.equal(stale.rule, "stale-bundle");
    assert.match(stale.message, /spiffe_sequence 2, older than 3/);
    assert.equal(watcher.bundle.sequence, 3n);
    assert.equal(watcher.getX509Bundle(OTHER)?.authorities.length, 1);

    endpoint.bundle = { ...endpoint.bundle, sequence: 4n };
    const update = await nextEvent<SpiffeBundle>(watcher, "update");
    assert.equal(update.sequence, 4n);
    assert.equal(update.x509Authorities.length, 0, "an empty key list is a valid bundle (Trust Domain & Bundle §4.1.3)");
    assert.equal(watcher.status().lastError, undefined);
    assert.equal(watcher.status().consecutiveFailures, 0);
  });

  it("start() gives up at its deadline with the last fetch's error, and close() stops refreshing", async (t) => {
    const endpoint = await startEndpoint(t);
    endpoint.failing = true;
    await assert.rejects(
      BundleWatcher.start({
        trustDomain: "other.org",
        url: endpoint.url,
        profile: { type: "https_spiffe", endpointSpiffeId: ENDPOINT_ID, bundles: endpoint.anchor },
        backoff: { initialMs: 50, maxMs: 100 },
        readyTimeoutMs: 2_000,
      }),
      (error: unknown) => error instanceof FederationError && error.rule === "http-status" && /no bundle for "other\.org" .* within 2000 ms: .*HTTP 500/.test(error.message),
    );
    endpoint.failing = false;
    const watcher = await BundleWatcher.start({
      trustDomain: "other.org",
      url: endpoint.url,
      profile: { type: "https_spiffe", endpointSpiffeId: ENDPOINT_ID, bundles: endpoint.anchor },
    });
    watcher.close();
    assert.equal(watcher.status().nextRefreshAt, undefined);
    await assert.rejects(watcher.refresh(), (error: unknown) => error instanceof FederationError && error.rule === "closed");
    assert.equal(watcher.bundle.sequence, 1n, "a closed watcher still answers with its last bundle");
  });

  it("refuses refresh bounds that cannot hold", async () => {
    await assert.rejects(
      BundleWatcher.start({ trustDomain: "other.org", url: "https://127.0.0.1:1/", profile: { type: "https_web" }, minRefreshMs: 10, maxRefreshMs: 5 }),
      (error: unknown) => error instanceof FederationError && error.rule === "invalid-options",
    );
  });
});
