import assert from "node:assert/strict";
import { createServer as createHttpsServer } from "node:https";
import { it } from "node:test";
import type { ConnectionOptions, TLSSocket } from "node:tls";
import { authorizeId } from "../../src/tls/authorizers.js";
import { SpiffeHttpsAgent } from "../../src/tls/https-agent.js";
import { createMtlsServer, mtlsClientOptions, peerSpiffeId } from "../../src/tls/source-tls.js";
import { normalSerial } from "./identities.js";
import { agentFor, as, DEADLINE_MS, fetchOnce, listenOn, sourceOf, type Fetched } from "./source-support.js";

const ROTATIONS = 10;

/*
 * The "must show": a Node mTLS server keeps serving across 10 rotations of 1 s SVIDs.
 * One X509Source feeds both the server's and the client's identity, as two workloads on one
 * agent would. Functional assertions only: every request succeeded, every rotation was
 * presented, and a handshake begun after an update never presents an SVID older than it.
 */
it(`an https mTLS server keeps serving across ${ROTATIONS} rotations of 1 s SVIDs, presenting each new SVID`, async (t) => {
  const agent = await agentFor(t, "example.org", ["server", "client"], { x509TtlSeconds: 1 });
  const source = await sourceOf(t, agent);
  const server = as(source, "server");
  const client = as(source, "client");

  /** Each SVID the server was given, in order of arrival. */
  const issued: string[] = [];
  const serialOf = (): string => normalSerial(server.getX509Svid().certificates[0]?.serialHex ?? "");
  issued.push(serialOf());

  const https = createMtlsServer(server, authorizeId("spiffe://example.org/client"), (options) =>
    createHttpsServer(options, (request, response) => response.end(peerSpiffeId(request.socket as TLSSocket)?.toString() ?? "")),
  );
  const port = await listenOn(t, https);
  const fetch = (): Promise<Fetched> => fetchOnce(port, mtlsClientOptions(client, authorizeId("spiffe://example.org/server")));

  /** After each rotation, one handshake: it must present that SVID or a newer one. */
  const afterRotation: { rotation: number; fetched: Fetched }[] = [];
  const probes: Promise<void>[] = [];
  const rotated = new Promise<void>((resolve) => {
    const onUpdate = (): void => {
      const serial = serialOf();
      if (serial === issued[issued.length - 1]) return;
      issued.push(serial);
      const rotation = issued.length - 1;
      probes.push(fetch().then((fetched) => void afterRotation.push({ rotation, fetched })));
      if (rotation >= ROTATIONS) {
        source.off("update", onUpdate);
        resolve();
      }
    };
    source.on("update", onUpdate);
  });

  // A client loop of requests, each on a fresh connection, for the whole run.
  const loop: Fetched[] = [];
  let rotating = true;
  const clientLoop = (async () => {
    while (rotating) loop.push(await fetch());
  })();
  const deadline = setTimeout(() => (rotating = false), DEADLINE_MS * 2);
  await rotated;
  rotating = false;
  clearTimeout(deadline);
  await clientLoop;
  await Promise.all(probes);

  const presentedSerials = new Set(loop.map((fetched) => fetched.serverSerial));
  const failures = [...loop, ...afterRotation.map((probe) => probe.fetched)].filter((fetched) => fetched.error !== undefined);
  t.diagnostic(`requests: ${loop.length} in the loop + ${afterRotation.length} after rotations; rotations: ${issued.length - 1}; server SVIDs seen by the loop: ${presentedSerials.size}; failures: ${failures.length}`);
  assert.equal(issued.length - 1, ROTATIONS, "the source must have seen every rotation");
  assert.deepEqual(failures.map((fetched) => fetched.error?.message), [], "no request may fail");
  for (const fetched of [...loop, ...afterRotation.map((probe) => probe.fetched)]) {
    assert.equal(fetched.body, "spiffe://example.org/client");
  }
  for (const { rotation, fetched } of afterRotation) {
    const presented = issued.indexOf(fetched.serverSerial ?? "");
    assert.ok(presented >= rotation, `after rotation ${rotation} the server presented ${fetched.serverSerial} (SVID #${presented})`);
  }
  assert.ok(presentedSerials.size > 1, "the loop's handshakes must have seen more than one server SVID");
});

it("a SpiffeHttpsAgent presents the client SVID in force on each new connection across 3 rotations", async (t) => {
  const agent = await agentFor(t, "example.org", ["server", "client"], { x509TtlSeconds: 1 });
  const source = await sourceOf(t, agent);
  const client = as(source, "client");
  const https = createMtlsServer(as(source, "server"), authorizeId("spiffe://example.org/client"), (options) =>
    createHttpsServer(options, (request, response) => response.end(normalSerial((request.socket as TLSSocket).getPeerCertificate().serialNumber ?? ""))),
  );
  const port = await listenOn(t, https);
  const httpsAgent = new SpiffeHttpsAgent({ connectionOptions: () => mtlsClientOptions(client, authorizeId("spiffe://example.org/server")) });
  t.after(() => httpsAgent.destroy());
  const serialOf = (): string => normalSerial(client.getX509Svid().certificates[0]?.serialHex ?? "");
  const issued = [serialOf()];
  const onUpdate = (): void => {
    if (serialOf() !== issued[issued.length - 1]) issued.push(serialOf());
  };
  source.on("update", onUpdate);
  t.after(() => source.off("update", onUpdate));
  const results: { rotation: number; fetched: Fetched }[] = [];
  while (results.length < 3) {
    const seen = issued.length;
    while (issued.length === seen) await new Promise<void>((resolve) => source.once("update", () => setImmediate(resolve)));
    const rotation = issued.length - 1;
    results.push({ rotation, fetched: await fetchOnce(port, { agent: httpsAgent } as ConnectionOptions) });
  }
  for (const { rotation, fetched } of results) {
    assert.equal(fetched.error, undefined, `after rotation ${rotation}: ${fetched.error?.message}`);
    assert.ok(issued.indexOf(fetched.body ?? "") >= rotation, `after rotation ${rotation} the client presented ${fetched.body}`);
  }
});
