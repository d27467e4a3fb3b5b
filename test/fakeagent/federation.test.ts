import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { TestContext } from "node:test";
import { FakeAgentConfigError } from "../../src/fakeagent/errors.js";
import { parseCertificate } from "../../src/spiffe/certificate.js";
import { splitDerSequence } from "../../src/spiffe/der.js";
import type { X509Context } from "../../src/workloadapi/decode.js";
import type { X509SVIDResponse } from "../../src/workloadapi/generated/workload.js";
import { projectClient, rawClient, record, startTestAgent, timeout, withHeader } from "./support.js";

/** Every X.509 context the project's client delivers, with a way to wait for the next matching one. */
function watchContexts(t: TestContext, client: ReturnType<typeof projectClient>) {
  const contexts: X509Context[] = [];
  let waiter: (() => void) | undefined;
  const watch = client.watchX509Context({
    onUpdate(context) {
      contexts.push(context);
      waiter?.();
    },
  });
  t.after(() => watch.close());
  /** The first context from index `from` on that matches. */
  const waitFor = (predicate: (context: X509Context) => boolean, what: string, from = 0): Promise<X509Context> =>
    timeout(
      new Promise<X509Context>((resolve) => {
        const check = (): void => {
          const found = contexts.slice(from).find(predicate);
          if (found === undefined) waiter = check;
          else resolve(found);
        };
        check();
      }),
      what,
    );
  return { contexts, waitFor };
}

const names = (context: X509Context): string[] => context.bundles.trustDomains().map((td) => td.name);

function federatedKeys(message: X509SVIDResponse): string[] {
  return Object.keys(message.federatedBundles).sort();
}

describe("fake agent federation", () => {
  it("adds and removes federated bundles in every stream, keyed spiffe://<td>", async (t) => {
    const agent = await startTestAgent(t);
    const { contexts, waitFor } = watchContexts(t, projectClient(t, agent));
    const raw = rawClient(t, agent);
    const svids = record(t, raw.fetchX509Svid({}, withHeader()));
    const x509Bundles = record(t, raw.fetchX509Bundles({}, withHeader()));
    const jwtBundles = record(t, raw.fetchJwtBundles({}, withHeader()));
    await waitFor((context) => names(context).join() === "example.org", "the initial context");
    await Promise.all([svids.waitForCount(1), x509Bundles.waitForCount(1), jwtBundles.waitForCount(1)]);

    let mark = contexts.length;
    await agent.update({ federatesWith: ["other.org", "third.org"] });
    await waitFor((context) => names(context).join() === "example.org,other.org,third.org", "federation added", mark);
    const added = await svids.waitFor((message) => federatedKeys(message).length === 2, "federated bundles in FetchX509SVID");
    assert.deepEqual(federatedKeys(added), ["spiffe://other.org", "spiffe://third.org"]);
    const [, addedBundles] = await x509Bundles.waitForCount(2);
    assert.deepEqual(Object.keys(addedBundles?.bundles ?? {}), ["spiffe://example.org", "spiffe://other.org", "spiffe://third.org"]);
    const [, addedJwt] = await jwtBundles.waitForCount(2);
    assert.deepEqual(Object.keys(addedJwt?.bundles ?? {}), ["spiffe://example.org", "spiffe://other.org", "spiffe://third.org"]);
    // Each federated trust domain has its own CA.
    const otherRoot = parseCertificate(splitDerSequence(added.federatedBundles["spiffe://other.org"] ?? Buffer.alloc(0))[0] ?? new Uint8Array());
    assert.deepEqual(otherRoot.uriSans, ["spiffe://other.org"]);

    mark = contexts.length;
    await agent.update({ federatesWith: ["third.org"] });
    await waitFor((context) => names(context).join() === "example.org,third.org", "other.org removed", mark);
    mark = contexts.length;
    await agent.update({ federatesWith: [] });
    // Absent from the full state means removed (Workload API §4.4).
    await waitFor((context) => names(context).join() === "example.org", "federation removed", mark);
    const [, , , lastBundles] = await x509Bundles.waitForCount(4);
    assert.deepEqual(Object.keys(lastBundles?.bundles ?? {}), ["spiffe://example.org"]);
  });

  it("skips bundle sends that did not change, while FetchX509SVID gets every rotation", async (t) => {
    const agent = await startTestAgent(t);
    const raw = rawClient(t, agent);
    const svids = record(t, raw.fetchX509Svid({}, withHeader()));
    const x509Bundles = record(t, raw.fetchX509Bundles({}, withHeader()));
    const jwtBundles = record(t, raw.fetchJwtBundles({}, withHeader()));
    await Promise.all([svids.waitForCount(1), x509Bundles.waitForCount(1), jwtBundles.waitForCount(1)]);
    await agent.rotateNow();
    await agent.rotateNow();
    await svids.waitForCount(3);
    await agent.update({ federatesWith: ["other.org"] });
    // The next bundle messages are the federation change: the rotations sent nothing here.
    const [, second] = await x509Bundles.waitForCount(2);
    assert.ok(second?.bundles["spiffe://other.org"] !== undefined);
    const [, secondJwt] = await jwtBundles.waitForCount(2);
    assert.ok(secondJwt?.bundles["spiffe://other.org"] !== undefined);
  });

  it("rotates a federated trust domain's CA on its own, and refuses an unknown trust domain", async (t) => {
    const agent = await startTestAgent(t, { federatesWith: ["other.org"], x509TtlSeconds: 1, rotationOverlapMs: 100 });
    const x509Bundles = record(t, rawClient(t, agent).fetchX509Bundles({}, withHeader()));
    const [first] = await x509Bundles.waitForCount(1);
    await timeout(agent.rotateCa("other.org"), "the federated CA rotation");
    const count = (message: typeof first, key: string): number => splitDerSequence(message?.bundles[key] ?? Buffer.alloc(0)).length;
    const overlap = await x509Bundles.waitFor((message) => count(message, "spiffe://other.org") === 2, "both other.org CAs");
    assert.deepEqual(overlap.bundles["spiffe://example.org"], first?.bundles["spiffe://example.org"]);
    await assert.rejects(agent.rotateCa("unknown.org"), (error: unknown) => error instanceof FakeAgentConfigError && /neither the agent's own .* nor federated/.test(error.message));
  });
});
