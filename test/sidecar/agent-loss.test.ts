import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { describe, it } from "node:test";
import {
  inspectX509,
  isUpdate,
  metricSamples,
  probe,
  readX509Files,
  scratch,
  snapshotFiles,
  startAgent,
  startWithHealth,
  waitFor,
  X509_FILES,
} from "./support.js";

async function gauge(url: string, name: string): Promise<number | undefined> {
  return (await metricSamples(url, name))[0]?.value;
}

interface ProbeBody {
  readonly spiffe_sidecar: { readonly problems: readonly string[]; readonly agent_connected: boolean };
}

describe("agent loss", () => {
  it("keeps the files while the agent is gone, turns not ready past the SVID's expiry, and resumes with a new agent", async (t) => {
    const where = await scratch(t);
    const { agent, sidecar, url } = await startWithHealth(t, where, { x509TtlSeconds: 2 });
    assert.equal(await gauge(url, "spiffe_sidecar_agent_connected"), 1);

    await agent.stop();
    // Taken after the stop: whatever the last push wrote is the state that must survive.
    const before = await snapshotFiles(Object.values(X509_FILES).map((name) => where.cert(name)));
    const updates = sidecar.count(isUpdate);
    await waitFor("the sidecar to see the agent gone", async () =>
      (await gauge(url, "spiffe_sidecar_agent_connected")) === 0 ? true : undefined,
    );
    const notReady = await waitFor("readiness to turn false", async () => {
      const answer = await probe(url, "/ready");
      return answer.status === 503 ? (answer.body as ProbeBody) : undefined;
    });
    assert.deepEqual(notReady.spiffe_sidecar.problems, ["svid-expired"]);
    assert.equal(notReady.spiffe_sidecar.agent_connected, false);
    assert.equal((await probe(url, "/live")).status, 200);
    assert.equal(sidecar.count(isUpdate), updates);
    assert.deepEqual(await snapshotFiles([...before.keys()]), before, "agent loss never deletes or blanks a file");
    assert.deepEqual((await readdir(where.certDir)).sort(), Object.values(X509_FILES).sort());
    const oldBundle = before.get(where.cert("svid_bundle.pem"))?.toString("utf8");

    // A new agent on the same socket: a new CA, so the next SVID chains to a new bundle.
    const second = await startAgent(t, where, { x509TtlSeconds: 3 });
    await sidecar.waitForLog("the first write from the new agent", isUpdate, updates + 1, 30_000);
    const files = await readX509Files(where);
    assert.deepEqual(inspectX509(files).verdict, { valid: true });
    assert.notEqual(files.bundle, oldBundle, "the bundle of the new agent's CA");
    assert.equal(files.bundle.trim(), pemOfRoot(second.snapshot().x509Authorities.get("example.org")?.[0]).trim());
    await waitFor("readiness to come back", async () => ((await probe(url, "/ready")).status === 200 ? true : undefined));
    assert.equal(await gauge(url, "spiffe_sidecar_agent_connected"), 1);
    assert.ok(((await gauge(url, "spiffe_sidecar_reconnects_total")) ?? 0) >= 1, "the reconnect is counted");
    assert.equal(sidecar.hasExited, false);
  });

  it("retries a stream the agent ends with CANCELLED, and keeps writing what the new streams bring", async (t) => {
    const where = await scratch(t);
    const { agent, sidecar, url } = await startWithHealth(t, where, { x509TtlSeconds: 3 });

    // Every stream now ends after its first message, as a server shutting down looks (DESIGN §10).
    await agent.setFault({ kind: "close-stream", afterMessages: 1, status: "cancelled" });
    const updates = sidecar.count(isUpdate);
    await agent.rotateNow();
    const written = await sidecar.waitForLog("two more writes over new streams", isUpdate, updates + 2);
    // Judged when it was written: reconnecting can take longer than this short-lived SVID lives.
    const writtenAt = new Date(String(written.at(-1)?.["time"]));
    assert.deepEqual(inspectX509(await readX509Files(where), writtenAt).verdict, { valid: true });
    assert.ok(((await gauge(url, "spiffe_sidecar_reconnects_total")) ?? 0) >= 1, "the sidecar reconnected");
    assert.ok(sidecar.logs.some((line) => line.method === "FetchX509SVID" && line.status === "CANCELLED"), "the CANCELLED end is logged");
    assert.equal(sidecar.hasExited, false);
  });
});

function pemOfRoot(der: Uint8Array | undefined): string {
  assert.ok(der !== undefined, "the new agent has a CA");
  const base64 = Buffer.from(der).toString("base64").replace(/.{64}/g, "$&\n").replace(/\n$/, "");
  return `-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----`;
}
