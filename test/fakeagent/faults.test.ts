import { status as Status } from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { TestContext } from "node:test";
import type { Fault } from "../../src/fakeagent/faults.js";
import type { FakeAgent } from "../../src/fakeagent/server.js";
import type { JwtBundleSet } from "../../src/spiffe/jwt-bundle.js";
import { JwtSvidError, validateJwtSvid } from "../../src/spiffe/jwt-svid.js";
import type { WorkloadApiClient } from "../../src/workloadapi/client.js";
import type { X509Context } from "../../src/workloadapi/decode.js";
import { WorkloadApiError, WorkloadApiResponseError } from "../../src/workloadapi/errors.js";
import { projectClient, rawClient, record, startTestAgent, timeout, unaryError, withHeader } from "./support.js";

type WatchOutcome =
  | { readonly kind: "update"; readonly context: X509Context }
  | { readonly kind: "invalid"; readonly error: Error }
  | { readonly kind: "error"; readonly error: WorkloadApiError };

/** The first thing the project's X.509 watch reports: a valid update, a rejected message, or a status. */
function firstOutcome(t: TestContext, client: WorkloadApiClient): Promise<WatchOutcome> {
  return timeout(
    new Promise<WatchOutcome>((resolve) => {
      const watch = client.watchX509Context({
        onUpdate: (context) => resolve({ kind: "update", context }),
        onInvalid: (error) => resolve({ kind: "invalid", error }),
        onError: (error) => resolve({ kind: "error", error }),
      });
      t.after(() => watch.close());
    }),
    "the first watch outcome",
  );
}

function ruleOf(outcome: WatchOutcome): string {
  assert.equal(outcome.kind, "invalid", `expected a rejected message, got ${outcome.kind}`);
  assert.ok(outcome.kind === "invalid" && outcome.error instanceof WorkloadApiResponseError);
  return outcome.error.rule;
}

function statusOf(outcome: WatchOutcome): string {
  assert.equal(outcome.kind, "error", `expected a status, got ${outcome.kind}`);
  assert.ok(outcome.kind === "error");
  return outcome.error.statusName;
}

async function agentWithFault(t: TestContext, fault: Fault): Promise<FakeAgent> {
  const agent = await startTestAgent(t);
  await agent.setFault(fault);
  return agent;
}

describe("fake agent X.509 faults, as the project's client rejects them", () => {
  const cases: [Fault, string][] = [
    [{ kind: "malformed-der" }, "malformed-certificate"],
    [{ kind: "mismatched-key" }, "key-mismatch"],
    [{ kind: "ca-leaf" }, "leaf-is-ca"],
    [{ kind: "expired-leaf" }, "expired"],
    [{ kind: "foreign-leaf" }, "spiffe-id-mismatch"],
    [{ kind: "empty-svids" }, "no-svids"],
  ];
  for (const [fault, rule] of cases) {
    it(`${fault.kind} -> ${rule}`, async (t) => {
      const agent = await agentWithFault(t, fault);
      assert.equal(ruleOf(await firstOutcome(t, projectClient(t, agent))), rule);
    });
  }

  it("limits an SVID fault to the named identity, and clearing it restores valid SVIDs", async (t) => {
    const agent = await startTestAgent(t, { identities: [{ spiffeId: "spiffe://example.org/a" }, { spiffeId: "spiffe://example.org/b" }] });
    await agent.setFault({ kind: "ca-leaf", spiffeId: "spiffe://example.org/b" });
    const stream = record(t, rawClient(t, agent).fetchX509Svid({}, withHeader()));
    const [faulty] = await stream.waitForCount(1);
    assert.deepEqual(agent.snapshot().svids.map((svid) => svid.faults), [[], ["ca-leaf"]]);
    await agent.clearFaults();
    const [, clean] = await stream.waitForCount(2);
    assert.notDeepEqual(clean?.svids[1]?.x509Svid, faulty?.svids[1]?.x509Svid);
    assert.equal((await firstOutcome(t, projectClient(t, agent))).kind, "update");
  });
});

describe("fake agent call faults", () => {
  it("deny: PermissionDenied for new calls, and open streams end with it", async (t) => {
    const agent = await startTestAgent(t);
    const client = projectClient(t, agent);
    const open = record(t, rawClient(t, agent).fetchX509Bundles({}, withHeader()));
    await open.waitForCount(1);
    await agent.setFault({ kind: "deny" });
    assert.equal((await open.status()).code, Status.PERMISSION_DENIED);
    assert.equal(statusOf(await firstOutcome(t, client)), "PERMISSION_DENIED");
    await assert.rejects(client.fetchJwtSvids({ audience: ["a"] }), (error: unknown) => error instanceof WorkloadApiError && error.statusName === "PERMISSION_DENIED");
  });

  it("unavailable, limited to FetchJWTSVID: only that RPC fails", async (t) => {
    const agent = await agentWithFault(t, { kind: "unavailable", rpcs: ["FetchJWTSVID"] });
    const client = projectClient(t, agent);
    await assert.rejects(client.fetchJwtSvids({ audience: ["a"] }), (error: unknown) => error instanceof WorkloadApiError && error.statusName === "UNAVAILABLE");
    assert.equal((await firstOutcome(t, client)).kind, "update");
    await agent.clearFaults("unavailable");
    assert.equal((await client.fetchJwtSvids({ audience: ["a"] })).length, 1);
  });

  it("delay: each response waits at least the delay", async (t) => {
    const agent = await agentWithFault(t, { kind: "delay", delayMs: 300 });
    const client = projectClient(t, agent);
    const started = performance.now();
    await client.fetchJwtSvids({ audience: ["a"] });
    assert.ok(performance.now() - started >= 290, "the response came before the delay");
    const streamStarted = performance.now();
    assert.equal((await firstOutcome(t, client)).kind, "update");
    assert.ok(performance.now() - streamStarted >= 290, "the stream message came before the delay");
  });

  it("hang: a covered call is accepted and never answered, others answer, and a cleared fault frees new calls", async (t) => {
    const agent = await agentWithFault(t, { kind: "hang", rpcs: ["FetchJWTSVID", "FetchX509SVID"] });
    const client = projectClient(t, agent);
    await assert.rejects(client.fetchJwtSvids({ audience: ["a"], signal: AbortSignal.timeout(300) }), { name: "TimeoutError" });
    const stream = record(t, rawClient(t, agent).fetchX509Svid({}, withHeader()));
    const bundles = record(t, rawClient(t, agent).fetchJwtBundles({}, withHeader()));
    await bundles.waitForCount(1);
    await agent.rotateNow();
    await bundles.waitForCount(1);
    assert.equal(stream.messages.length, 0, "the hung stream never got a message");
    await agent.clearFaults("hang");
    assert.equal((await client.fetchJwtSvids({ audience: ["a"] })).length, 1);
    assert.equal((await firstOutcome(t, client)).kind, "update");
  });

  for (const status of ["ok", "unavailable", "cancelled", "invalid-argument", "unimplemented"] as const) {
    it(`close-stream after 2 messages with status ${status}`, async (t) => {
      const agent = await agentWithFault(t, { kind: "close-stream", afterMessages: 2, status, rpcs: ["FetchX509SVID"] });
      const stream = record(t, rawClient(t, agent).fetchX509Svid({}, withHeader()));
      await stream.waitForCount(1);
      await agent.rotateNow();
      const final = await stream.status();
      assert.equal(stream.messages.length, 2);
      assert.equal(final.code, {
        ok: Status.OK,
        unavailable: Status.UNAVAILABLE,
        cancelled: Status.CANCELLED,
        "invalid-argument": Status.INVALID_ARGUMENT,
        unimplemented: Status.UNIMPLEMENTED,
      }[status]);
    });
  }
});

describe("fake agent JWT faults", () => {
  async function tokenAndBundles(t: TestContext, fault: Fault): Promise<{ agent: FakeAgent; token: string; bundles: JwtBundleSet }> {
    const agent = await agentWithFault(t, fault);
    const client = projectClient(t, agent);
    const bundles = await timeout(
      new Promise<JwtBundleSet>((resolve) => {
        const watch = client.watchJwtBundles({ onUpdate: resolve });
        t.after(() => watch.close());
      }),
      "JWT bundles",
    );
    const [svid] = await client.fetchJwtSvids({ audience: ["aud"] });
    assert.ok(svid);
    return { agent, token: svid.token, bundles };
  }

  const cases: [Fault, string][] = [
    [{ kind: "jwt-bad-signature" }, "signature"],
    [{ kind: "jwt-expired" }, "expired"],
  ];
  for (const [fault, rule] of cases) {
    it(`${fault.kind}: the token fails validation with rule ${rule}, locally and at the agent`, async (t) => {
      const { agent, token, bundles } = await tokenAndBundles(t, fault);
      await assert.rejects(validateJwtSvid(token, bundles, { audience: "aud" }), (error: unknown) => error instanceof JwtSvidError && error.rule === rule);
      const error = await unaryError((callback) => rawClient(t, agent).validateJwtsvid({ audience: "aud", svid: token }, withHeader(), callback));
      assert.equal(error.code, Status.INVALID_ARGUMENT);
    });
  }

  it("jwt-wrong-audience: the client refuses the token it did not ask for", async (t) => {
    const agent = await agentWithFault(t, { kind: "jwt-wrong-audience" });
    await assert.rejects(
      projectClient(t, agent).fetchJwtSvids({ audience: ["aud"] }),
      (error: unknown) => error instanceof WorkloadApiResponseError && error.rule === "audience-mismatch",
    );
  });
});
