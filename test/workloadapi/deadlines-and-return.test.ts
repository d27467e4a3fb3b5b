import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import type { TestContext } from "node:test";
import { createJwtSigningKey, signJwtSvid } from "../../src/fakeagent/jwt-issuer.js";
import { parseSpiffeId } from "../../src/spiffe/spiffe-id.js";
import { WorkloadApiClient } from "../../src/workloadapi/client.js";
import type { X509Context } from "../../src/workloadapi/decode.js";
import { WorkloadApiError } from "../../src/workloadapi/errors.js";
import type { WatchState } from "../../src/workloadapi/watch-stream.js";
import { MinimalAgent } from "../support/minimal-agent.js";
import { caFor, EventLog, x509Response, x509Svid } from "./fixtures.js";

const workload = parseSpiffeId("spiffe://example.org/workload");
/** Long enough that only something other than the backoff timer can bring the next call. */
const HOUR_BACKOFF = { initialMs: 3_600_000, maxMs: 3_600_000 } as const;

type Event =
  | { kind: "update"; value: X509Context }
  | { kind: "error"; error: WorkloadApiError }
  | { kind: "state"; state: WatchState };

function watchX509(t: TestContext, client: WorkloadApiClient): EventLog<Event> {
  const events = new EventLog<Event>();
  const watch = client.watchX509Context({
    onUpdate: (value) => events.push({ kind: "update", value }),
    onError: (error) => events.push({ kind: "error", error }),
    onStateChange: (state) => events.push({ kind: "state", state }),
  });
  t.after(() => watch.close());
  return events;
}

describe("Workload API deadlines and agent return, over real Unix sockets", () => {
  let agent: MinimalAgent;
  const clients: WorkloadApiClient[] = [];

  beforeEach(async () => {
    agent = await MinimalAgent.start();
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await agent.stop();
  });

  function client(options: ConstructorParameters<typeof WorkloadApiClient>[0] = {}): WorkloadApiClient {
    const created = new WorkloadApiClient({ address: agent.address, ...options });
    clients.push(created);
    return created;
  }

  it("fails a FetchJWTSVID the agent never answers at its deadline, naming it; the next call gets the token", async () => {
    const key = await createJwtSigningKey({ kid: "k1" });
    const token = await signJwtSvid(key, { subject: workload, audience: ["db"], ttlSeconds: 300 });
    // The first call is accepted and never answered; later ones are.
    agent.handlers.fetchJwtsvid = () =>
      agent.callsTo("fetchJwtsvid").length === 1
        ? new Promise(() => {})
        : { svids: [{ spiffeId: workload.toString(), svid: token, hint: "" }] };
    const jwtClient = client({ rpcTimeoutMs: 200 });
    await assert.rejects(jwtClient.fetchJwtSvids({ audience: ["db"] }), (error: unknown) => {
      assert.ok(error instanceof WorkloadApiError);
      assert.equal(error.statusName, "DEADLINE_EXCEEDED");
      assert.equal(error.retryable, true);
      assert.match(error.message, /FetchJWTSVID on the Workload API at .* timed out: no answer within the 0\.2 s deadline/);
      return true;
    });
    const [svid] = await jwtClient.fetchJwtSvids({ audience: ["db"] });
    assert.equal(svid?.token, token);
  });

  it("reconnects as soon as the agent's socket reappears, though its backoff says an hour", async (t) => {
    const ca = await caFor("example.org");
    const response = x509Response([await x509Svid(ca, workload.toString())]);
    agent.handlers.fetchX509Svid = (call) => call.write(response);
    agent.kill();
    // The first call finds no socket: grpc-js's channel goes to TRANSIENT_FAILURE and the watch
    // waits an hour. Only the socket watch (and a fresh channel) can bring the update.
    const events = watchX509(t, client({ backoff: HOUR_BACKOFF }));
    await events.waitFor((e) => e.kind === "state" && e.state === "backoff", "the hour-long backoff");
    await agent.listen();
    await events.waitFor((e) => e.kind === "update", "the update from the returned agent");
    assert.equal(agent.callsTo("fetchX509Svid").length, 1);
  });

  it("does the same after an agent that was serving dies and comes back", async (t) => {
    const ca = await caFor("example.org");
    const response = x509Response([await x509Svid(ca, workload.toString())]);
    agent.handlers.fetchX509Svid = (call) => call.write(response);
    const events = watchX509(t, client({ backoff: HOUR_BACKOFF }));
    await events.waitFor((e) => e.kind === "update", "the first update");
    agent.kill();
    const from = events.entries.length;
    await events.waitFor((e) => e.kind === "state" && e.state === "backoff", "the backoff after the kill", { from });
    await agent.listen();
    await events.waitFor((e) => e.kind === "update", "the update from the returned agent", { from });
  });

  it("tells unary callers when the socket reappears after a failed call", async () => {
    agent.kill();
    const unaryClient = client();
    const appeared = new EventLog<string>();
    unaryClient.onAgentSocketAppeared(() => appeared.push("appeared"));
    await assert.rejects(unaryClient.fetchJwtSvids({ audience: ["db"] }), /no Workload API at/);
    assert.equal(appeared.entries.length, 0);
    await agent.listen();
    await appeared.waitFor(() => true, "the listener to hear of the new socket");
  });
});

describe("a socket that accepts and never speaks", () => {
  it("gets a first-response timeout naming the stream, and a retry", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "mute-agent-"));
    const sockets = new Set<Socket>();
    const server = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => server.listen(join(dir, "agent.sock"), resolve));
    t.after(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    });
    const client = new WorkloadApiClient({
      address: `unix://${join(dir, "agent.sock")}`,
      backoff: { initialMs: 20, maxMs: 40 },
      firstResponseTimeoutMs: 200,
    });
    t.after(() => client.close());
    const events = watchX509(t, client);
    const timeouts = (e: Event) => e.kind === "error" && e.error.statusName === "DEADLINE_EXCEEDED";
    await events.waitFor(() => events.count(timeouts) >= 2, "two timed-out attempts");
    const first = events.entries.find(timeouts);
    assert.ok(first?.kind === "error");
    assert.match(first.error.message, /FetchX509SVID on the Workload API at unix:\/\/.* sent nothing within 0\.2 s/);
  });
});
