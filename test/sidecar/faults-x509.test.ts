import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Fault } from "../../src/fakeagent/faults.js";
import {
  isUpdate,
  metricSamples,
  probe,
  scratch,
  snapshotFiles,
  startWithHealth,
  waitFor,
  X509_FILES,
  type LogLine,
} from "./support.js";

interface FaultCase {
  readonly fault: Fault;
  /** The `reason` label of spiffe_sidecar_rejected_updates_total. */
  readonly reason: string;
}

const cases: readonly FaultCase[] = [
  { fault: { kind: "malformed-der" }, reason: "malformed-response" },
  { fault: { kind: "mismatched-key" }, reason: "key-mismatch" },
  { fault: { kind: "ca-leaf" }, reason: "invalid-svid" },
  { fault: { kind: "expired-leaf" }, reason: "expired" },
  // The leaf names another trust domain than the response's spiffe_id: the first rule it breaks.
  { fault: { kind: "foreign-leaf" }, reason: "invalid-spiffe-id" },
  { fault: { kind: "empty-svids" }, reason: "empty-response" },
];

async function rejectedByReason(url: string): Promise<Record<string, number>> {
  const samples = await metricSamples(url, "spiffe_sidecar_rejected_updates_total");
  return Object.fromEntries(samples.map((sample) => [sample.labels["reason"] ?? "", sample.value]));
}

const isRejection = (line: LogLine): boolean => line.level === "warn" && line.msg === "X.509 update rejected; the files on disk are kept";

describe("malformed X.509 updates are rejected and the last good files kept", { concurrency: 2 }, () => {
  for (const { fault, reason } of cases) {
    it(`${fault.kind}: files byte-identical, counted as "${reason}", not ready once the SVID on disk expires`, async (t) => {
      const where = await scratch(t);
      // Long at first, so that no rotation comes between the setup steps below.
      const { agent, sidecar, url } = await startWithHealth(t, where, { x509TtlSeconds: 60 });
      assert.equal((await probe(url, "/ready")).status, 200);
      const countsBefore = await rejectedByReason(url);
      const beforeFault = sidecar.logs.length;

      // Back to back inside the agent: a good SVID that lives 3 s is the last good state, and
      // every SVID after it (the next rotation comes in 1.5 s) is broken.
      await agent.update({ x509TtlSeconds: 3 });
      const serial = agent.snapshot().svids[0]?.serialHex ?? "";
      await agent.setFault(fault);
      await sidecar.waitForLog("the last good SVID", (line) => isUpdate(line) && line.cause === `X.509-SVID ${serial}`);
      const lastGood = await snapshotFiles(Object.values(X509_FILES).map((name) => where.cert(name)));
      const updatesBefore = sidecar.count(isUpdate);
      await sidecar.waitForLog(`a rejection for ${reason}`, (line) => isRejection(line) && line.reason === reason);
      const counts = await rejectedByReason(url);
      for (const [label, count] of Object.entries(counts)) {
        const added = count - (countsBefore[label] ?? 0);
        if (label === reason) assert.ok(added >= 1, `counted under ${reason}: ${JSON.stringify(counts)}`);
        else assert.equal(added, 0, `nothing new counted under ${label}`);
      }

      // The agent keeps sending the broken SVID at each rotation; the old one runs out.
      const notReady = await waitFor("readiness to turn false", async () => {
        const answer = await probe(url, "/ready");
        return answer.status === 503 ? answer : undefined;
      });
      assert.deepEqual((notReady.body as { spiffe_sidecar: { problems: string[] } }).spiffe_sidecar.problems, ["svid-expired"]);
      assert.equal((await probe(url, "/live")).status, 200, "liveness is not about the agent");
      assert.equal(sidecar.count(isUpdate), updatesBefore, "no write while the agent sends broken SVIDs");
      assert.deepEqual(await snapshotFiles([...lastGood.keys()]), lastGood, "the files are byte-identical to the last good state");
      // Each broken SVID the agent sent meanwhile was refused for the same reason.
      const later = sidecar.logs.slice(beforeFault).filter(isRejection);
      assert.ok(later.length >= 1);
      for (const line of later) assert.equal(line.reason, reason, JSON.stringify(line));

      // Once the agent is fixed, the next SVID is written and the sidecar is ready again.
      await agent.clearFaults();
      await sidecar.waitForLog("the write after the fault", isUpdate, updatesBefore + 1);
      await waitFor("readiness to come back", async () => ((await probe(url, "/ready")).status === 200 ? true : undefined));
    });
  }
});
