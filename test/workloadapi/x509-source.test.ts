import assert from "node:assert/strict";
import { afterEach, before, beforeEach, describe, it } from "node:test";
import type { ServerWritableStream } from "@grpc/grpc-js";
import { status as Status } from "@grpc/grpc-js";
import type { CertificateAuthority } from "../../src/fakeagent/ca.js";
import { parseTrustDomain } from "../../src/spiffe/spiffe-id.js";
import { verifyX509Svid } from "../../src/spiffe/x509-svid.js";
import { WorkloadApiError, WorkloadApiResponseError, WorkloadSourceError } from "../../src/workloadapi/errors.js";
import type { X509SVIDRequest, X509SVIDResponse } from "../../src/workloadapi/generated/workload.js";
import { X509Source } from "../../src/workloadapi/x509-source.js";
import { endStream, MinimalAgent } from "../support/minimal-agent.js";
import { caFor, EventLog, FAST_BACKOFF, within, x509Response, x509Svid } from "./fixtures.js";
import type { SvidFixture } from "./fixtures.js";

type Stream = ServerWritableStream<X509SVIDRequest, X509SVIDResponse>;

describe("X509Source", () => {
  let agent: MinimalAgent;
  let ca: CertificateAuthority;
  let otherCa: CertificateAuthority;
  const sources: X509Source[] = [];

  before(async () => {
    ca = await caFor("example.org");
    otherCa = await caFor("other.org");
  });
  beforeEach(async () => {
    agent = await MinimalAgent.start();
  });
  afterEach(async () => {
    for (const source of sources.splice(0)) source.close();
    await agent.stop();
  });

  async function create(signal?: AbortSignal): Promise<X509Source> {
    const source = await within(
      X509Source.create({ address: agent.address, backoff: FAST_BACKOFF, ...(signal ? { signal } : {}) }),
      "X509Source.create",
    );
    sources.push(source);
    return source;
  }

  /** Hands each new FetchX509SVID stream to the test. */
  function streams(): EventLog<Stream> {
    const log = new EventLog<Stream>();
    agent.handlers.fetchX509Svid = log.push;
    return log;
  }

  it("selects the SVID by hint, else the first, and serves the bundles", async () => {
    const response = x509Response(
      [
        await x509Svid(ca, "spiffe://example.org/default", { hint: "" }),
        await x509Svid(ca, "spiffe://example.org/internal", { hint: "internal" }),
        await x509Svid(ca, "spiffe://example.org/external", { hint: "external" }),
      ],
      { "spiffe://other.org": otherCa.rootDer },
    );
    agent.handlers.fetchX509Svid = (call) => call.write(response);
    const source = await create();
    assert.equal(source.getX509Svid().id.toString(), "spiffe://example.org/default");
    assert.equal(source.getX509Svid("external").id.toString(), "spiffe://example.org/external");
    assert.equal(source.getX509Svid("internal").id.toString(), "spiffe://example.org/internal");
    assert.throws(
      () => source.getX509Svid("missing"),
      (e: unknown) =>
        e instanceof WorkloadSourceError &&
        /no X\.509-SVID with hint "missing"; the agent sent hints "internal", "external"/.test(e.message),
    );
    assert.equal(source.getX509Bundle(parseTrustDomain("other.org"))?.authorities.length, 1);
    assert.equal(source.getX509Bundle(parseTrustDomain("nowhere.org")), undefined);
    // The source is an X509BundleSource: its own SVID verifies against it.
    const verified = verifyX509Svid(source.getX509Svid().certificates, source);
    assert.equal(verified.id.toString(), "spiffe://example.org/default");
  });

  it("reports invalid messages with the reason, keeps the last good state, then takes the next good one", async () => {
    const log = streams();
    const pending = create();
    const stream = await log.waitFor(() => true, "first stream");
    stream.write(x509Response([await x509Svid(ca, "spiffe://example.org/v1")]));
    const source = await pending;
    const invalid = new EventLog<Error>();
    const updates = new EventLog<string>();
    source.on("invalid", invalid.push);
    source.on("update", (context) => updates.push(context.svids[0]?.id.toString() ?? ""));

    const keyOfAnother = (await x509Svid(ca, "spiffe://example.org/another")).x509SvidKey;
    const v2 = async (fixture: SvidFixture, issuer = ca, id = "spiffe://example.org/v2") =>
      x509Response([await x509Svid(issuer, id, fixture)]);
    const lapsed = { notBefore: new Date(Date.now() - 7_200_000), notAfter: new Date(Date.now() - 3_600_000) };
    const bad: [string, X509SVIDResponse][] = [
      ["no-svids", x509Response([])],
      ["malformed-certificate", await v2({ chain: Buffer.from([0x30, 0x03, 0x02, 0x01]) })],
      ["key-mismatch", await v2({ key: keyOfAnother })],
      ["expired", await v2({ issue: lapsed })],
      // Signed by another trust domain's CA; then an other.org leaf sent with example.org's bundle.
      ["chain-unverified", await v2({ bundle: ca.rootDer }, otherCa)],
      ["chain-unverified", await v2({ bundle: ca.rootDer }, otherCa, "spiffe://other.org/v2")],
      ["spiffe-id-mismatch", await v2({ spiffeId: "spiffe://example.org/v3" })],
    ];
    for (const [index, [rule, message]] of bad.entries()) {
      stream.write(message);
      const error = await invalid.waitFor(() => true, `invalid #${index} (${rule})`, { from: index });
      assert.ok(error instanceof WorkloadApiResponseError, rule);
      assert.equal(error.rule, rule);
      assert.equal(source.getX509Svid().id.toString(), "spiffe://example.org/v1", `still v1 after ${rule}`);
    }
    assert.equal(updates.entries.length, 0, "no invalid message was delivered");

    stream.write(x509Response([await x509Svid(ca, "spiffe://example.org/v2")]));
    await updates.waitFor((id) => id === "spiffe://example.org/v2", "the good message");
    assert.equal(source.getX509Svid().id.toString(), "spiffe://example.org/v2");
    assert.equal(agent.callsTo("fetchX509Svid").length, 1, "invalid messages do not reconnect");
  });

  it("waits through a PermissionDenied and an invalid first message, with no error listener attached", async () => {
    let calls = 0;
    const good = x509Response([await x509Svid(ca, "spiffe://example.org/w")]);
    agent.handlers.fetchX509Svid = (call) => {
      calls += 1;
      if (calls === 1) endStream(call, Status.PERMISSION_DENIED, "no identity issued");
      else {
        call.write(x509Response([]));
        call.write(good);
      }
    };
    const source = await create();
    assert.equal(source.getX509Svid().id.toString(), "spiffe://example.org/w");
    assert.equal(agent.callsTo("fetchX509Svid").length, 2);
  });

  it("emits error events for failed calls and survives an agent restart", async () => {
    const before = x509Response([await x509Svid(ca, "spiffe://example.org/before")]);
    agent.handlers.fetchX509Svid = (call) => call.write(before);
    const source = await create();
    const errors = new EventLog<WorkloadApiError>();
    const updates = new EventLog<string>();
    source.on("error", errors.push);
    source.on("update", (context) => updates.push(context.svids[0]?.id.toString() ?? ""));
    const after = x509Response([await x509Svid(ca, "spiffe://example.org/after")]);
    agent.handlers.fetchX509Svid = (call) => call.write(after);
    agent.kill();
    await errors.waitFor((e) => e.statusName === "UNAVAILABLE", "an UNAVAILABLE while the agent is down");
    await agent.listen();
    await updates.waitFor((id) => id === "spiffe://example.org/after", "the state after the restart");
    assert.equal(source.getX509Svid().id.toString(), "spiffe://example.org/after");
  });

  it("rejects create() when the agent refuses with InvalidArgument", async () => {
    agent.handlers.fetchX509Svid = (call) =>
      endStream(call, Status.INVALID_ARGUMENT, "security header missing from request");
    await assert.rejects(
      within(X509Source.create({ address: agent.address, backoff: FAST_BACKOFF }), "create"),
      (e: unknown) => e instanceof WorkloadApiError && e.statusName === "INVALID_ARGUMENT",
    );
  });

  it("rejects create() on abort with the last error, and a closed source refuses to answer", async () => {
    agent.handlers.fetchX509Svid = (call) => endStream(call, Status.UNAVAILABLE, "workload attestation failed");
    const controller = new AbortController();
    const pending = X509Source.create({ address: agent.address, backoff: FAST_BACKOFF, signal: controller.signal });
    // The second call proves the first one's failure has been seen by the source.
    await within(agent.waitForCalls("fetchX509Svid", 2), "a retry");
    controller.abort();
    await assert.rejects(pending, (e: unknown) => {
      assert.ok(e instanceof WorkloadSourceError);
      assert.match(e.message, /^X509Source gave up waiting for its first valid update \(last error: /);
      assert.match(e.message, /is unavailable \(FetchX509SVID\): workload attestation failed\)$/);
      return true;
    });
    const calls = agent.callsTo("fetchX509Svid").length;
    const good = x509Response([await x509Svid(ca, "spiffe://example.org/w")]);
    agent.handlers.fetchX509Svid = (call) => call.write(good);
    const source = await create();
    assert.equal(agent.callsTo("fetchX509Svid").length, calls + 1, "the aborted source stopped its watch");
    source.close();
    assert.throws(() => source.getX509Svid(), /X509Source is closed/);
  });
});
