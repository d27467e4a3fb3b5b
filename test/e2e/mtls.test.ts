import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { startFakeAgent, type FakeAgent } from "../../src/fakeagent/server.js";
import type { FakeAgentOptions } from "../../src/fakeagent/options.js";
import { PeerAuthenticationError } from "../../src/index.js";
import { JwtSvidError } from "../../src/spiffe/jwt-svid.js";
import { call, fileExists, LONG_WAIT_MS, scratchDir, startService, startWorkload, tlsContextOf, waitFor, type Service } from "./mtls-support.js";

const SERVER = "spiffe://example.org/server";
const CLIENT = "spiffe://example.org/client";
const INTRUDER = "spiffe://example.org/intruder";
const PARTNER = "spiffe://other.org/partner";

async function startAgent(t: TestContext, dir: string, options: Partial<FakeAgentOptions> = {}): Promise<FakeAgent> {
  const agent = await startFakeAgent({
    socketPath: join(dir, "agent.sock"),
    trustDomain: "example.org",
    identities: [
      { spiffeId: SERVER, hint: "server" },
      { spiffeId: CLIENT, hint: "client" },
      { spiffeId: INTRUDER, hint: "intruder" },
    ],
    x509TtlSeconds: 60,
    ...options,
  });
  t.after(() => agent.stop());
  return agent;
}

function refusalOf(service: Service): Promise<Error> {
  return waitFor("the server's refusal", () => service.refusals[0]);
}

describe("mTLS between two workloads, each with its own real sidecar and fake-agent identity", () => {
  it("serves an allowed SPIFFE ID and refuses a denied one before the application answers", async (t) => {
    const dir = await scratchDir(t);
    const agent = await startAgent(t, dir);
    const [server, client, intruder] = await Promise.all([
      startWorkload(t, dir, agent, "server", { hint: "server" }),
      startWorkload(t, dir, agent, "client", { hint: "client" }),
      startWorkload(t, dir, agent, "intruder", { hint: "intruder" }),
    ]);
    const serverTls = await tlsContextOf(t, server);
    const service = await startService(t, serverTls, { kind: "mtls", allowed: [CLIENT] });

    const allowed = await call(service.port, await tlsContextOf(t, client), SERVER);
    assert.equal(allowed.status, 200, String(allowed.error));
    assert.match(allowed.body ?? "", /^spiffe:\/\/example\.org\/client [0-9a-f]+$/);
    console.log(`mtls: ${CLIENT} allowed: HTTP ${allowed.status} from ${SERVER} serial ${allowed.serverSerial}`);

    const denied = await call(service.port, await tlsContextOf(t, intruder), SERVER);
    assert.equal(denied.status, undefined, `the intruder got an answer: ${denied.body}`);
    const refusal = await refusalOf(service);
    assert.ok(refusal instanceof PeerAuthenticationError);
    assert.equal(refusal.rule, "not-authorized");
    assert.match(refusal.message, /peer spiffe:\/\/example\.org\/intruder is not allowed by the allow-list \[spiffe:\/\/example\.org\/client\]/);
    console.log(`mtls: ${INTRUDER} denied: client saw "${denied.error?.message}", server: ${refusal.message}`);
  });

  it("drops no request across SVID rotations on both sides", async (t) => {
    const dir = await scratchDir(t);
    const agent = await startAgent(t, dir, { x509TtlSeconds: 3 });
    const [server, client] = await Promise.all([
      startWorkload(t, dir, agent, "server", { hint: "server" }),
      startWorkload(t, dir, agent, "client", { hint: "client" }),
    ]);
    const serverTls = await tlsContextOf(t, server);
    const clientTls = await tlsContextOf(t, client);
    const service = await startService(t, serverTls, { kind: "mtls", allowed: [CLIENT] });

    const serverSerials: string[] = [];
    const clientSerials: string[] = [];
    const failures: string[] = [];
    let requests = 0;
    const note = (list: string[], serial: string | undefined): void => {
      if (serial !== undefined && list.at(-1) !== serial) list.push(serial);
    };
    // Each request is a new handshake, so each one exercises the files in force at that moment.
    const deadline = Date.now() + LONG_WAIT_MS;
    while (serverSerials.length < 3 || clientSerials.length < 3) {
      if (Date.now() > deadline) assert.fail(`fewer than 2 rotations seen: server ${serverSerials.join(",")} client ${clientSerials.join(",")}`);
      const result = await call(service.port, clientTls, SERVER);
      requests++;
      if (result.status !== 200) failures.push(result.error?.message ?? `HTTP ${String(result.status)}`);
      note(serverSerials, result.serverSerial);
      note(clientSerials, result.body?.split(" ")[1]);
    }
    console.log(`rotation: ${requests} requests, ${failures.length} failures`);
    console.log(`rotation: server serials ${serverSerials.join(" -> ")}`);
    console.log(`rotation: client serials ${clientSerials.join(" -> ")}`);
    assert.deepEqual(failures, []);
    assert.deepEqual(service.refusals, []);
  });

  it("accepts a JWT-SVID for the server's audience and refuses one for another audience", async (t) => {
    const dir = await scratchDir(t);
    const agent = await startAgent(t, dir);
    const jwtSvids = [
      { jwt_audience: SERVER, jwt_svid_file_name: "server.token" },
      { jwt_audience: "spiffe://example.org/billing", jwt_svid_file_name: "billing.token" },
    ];
    const [server, client] = await Promise.all([
      startWorkload(t, dir, agent, "server", { hint: "server" }),
      startWorkload(t, dir, agent, "client", { hint: "client", extra: { jwt_svids: jwtSvids }, waitForFiles: ["server.token", "billing.token"] }),
    ]);
    const serverTls = await tlsContextOf(t, server);
    const clientTls = await tlsContextOf(t, client);
    const service = await startService(t, serverTls, { kind: "jwt", jwtBundleFile: join(server.certDir, "jwt_bundle.json") });
    const bearer = async (file: string): Promise<Record<string, string>> => ({
      authorization: `Bearer ${(await readFile(join(client.certDir, file), "utf8")).trim()}`,
    });

    const good = await call(service.port, clientTls, SERVER, await bearer("server.token"));
    assert.equal(good.status, 200, good.body ?? String(good.error));
    assert.equal(good.body, `${CLIENT} jwt`);
    console.log(`jwt: token for audience ${SERVER} accepted: HTTP ${good.status} "${good.body}"`);

    const wrong = await call(service.port, clientTls, SERVER, await bearer("billing.token"));
    assert.equal(wrong.status, 401);
    const refusal = await refusalOf(service);
    assert.ok(refusal instanceof PeerAuthenticationError && refusal.cause instanceof JwtSvidError);
    assert.equal(refusal.cause.rule, "audience");
    assert.match(wrong.body ?? "", /audience \["spiffe:\/\/example\.org\/billing"\] does not contain any expected audience \["spiffe:\/\/example\.org\/server"\]/);
    console.log(`jwt: token for audience spiffe://example.org/billing refused: HTTP ${wrong.status} "${wrong.body}"`);
  });
});

/**
 * Federation needs trust domain other.org's real CA in example.org's agent, so each agent
 * takes the other's bundle from the file the other writes (`federatedBundleFiles`).
 */
describe("federation: a peer from a second trust domain, through the federated bundle files", () => {
  it("accepts the other.org peer only while example.org's agent federates with other.org", async (t) => {
    const dir = await scratchDir(t);
    const otherBundle = join(dir, "other.org.pem");
    const exampleBundle = join(dir, "example.org.pem");
    const other = await startFakeAgent({
      socketPath: join(dir, "other.sock"),
      trustDomain: "other.org",
      identities: [{ spiffeId: PARTNER }],
      writeBundlePath: otherBundle,
    });
    t.after(() => other.stop());
    const exampleOptions: FakeAgentOptions = {
      socketPath: join(dir, "agent.sock"),
      trustDomain: "example.org",
      identities: [{ spiffeId: SERVER }],
      writeBundlePath: exampleBundle,
      federatesWith: ["other.org"],
      federatedBundleFiles: { "other.org": otherBundle },
    };
    const example = await startFakeAgent(exampleOptions);
    t.after(() => example.stop());
    const imported = example.snapshot().x509Authorities.get("other.org")?.map((der) => Buffer.from(der).toString("hex"));
    const real = other.snapshot().x509Authorities.get("other.org")?.map((der) => Buffer.from(der).toString("hex"));
    assert.deepEqual(imported, real, "example.org's agent publishes other.org's real CA");
    const otherUpdate: Partial<FakeAgentOptions> = { federatesWith: ["example.org"], federatedBundleFiles: { "example.org": exampleBundle } };
    await other.update(otherUpdate);

    const [server, partner] = await Promise.all([
      startWorkload(t, dir, example, "server", { waitForFiles: ["federated/other.org.pem"] }),
      startWorkload(t, dir, other, "partner", { waitForFiles: ["federated/example.org.pem"] }),
    ]);
    const serverTls = await tlsContextOf(t, server);
    const partnerTls = await tlsContextOf(t, partner);
    const service = await startService(t, serverTls, { kind: "mtls", allowed: [PARTNER] });

    const accepted = await call(service.port, partnerTls, SERVER);
    assert.equal(accepted.status, 200, String(accepted.error));
    console.log(`federation: ${PARTNER} accepted through federated/other.org.pem: HTTP ${accepted.status} "${accepted.body}"`);

    const federatedFile = join(server.certDir, "federated", "other.org.pem");
    const unfederate: Partial<FakeAgentOptions> = { federatesWith: [], federatedBundleFiles: {} };
    await example.update(unfederate);
    await waitFor("federated/other.org.pem removed", async () => ((await fileExists(federatedFile)) ? undefined : true));
    await waitFor("the server's context without other.org", () => (serverTls.material.bundles.size === 1 ? true : undefined));
    const refused = await call(service.port, partnerTls, SERVER);
    assert.equal(refused.status, undefined, `the partner got an answer: ${refused.body}`);
    const refusal = await refusalOf(service);
    assert.ok(refusal instanceof PeerAuthenticationError);
    assert.equal(refusal.rule, "untrusted-peer");
    console.log(`federation: after example.org stopped federating, ${PARTNER} refused: ${refusal.message}`);

    await example.update(exampleOptions);
    await waitFor("federated/other.org.pem back", async () => ((await fileExists(federatedFile)) ? true : undefined));
    await waitFor("the server's context with other.org", () => (serverTls.material.bundles.size === 2 ? true : undefined));
    const again = await call(service.port, partnerTls, SERVER);
    assert.equal(again.status, 200, String(again.error));
    console.log(`federation: federated again, ${PARTNER} accepted: HTTP ${again.status}`);
  });
});
