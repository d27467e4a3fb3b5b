import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { fixtures, processExists, readLines, waitForReady } from "../fixtures/fixture-helpers.js";
import { QUICK, runInProcess } from "./in-process.js";
import {
  baseConfig,
  metricSamples,
  probe,
  readX509Files,
  scratch,
  snapshotFiles,
  startAgent,
  waitFor,
  wrote,
  writeConfig,
  X509_FILES,
  type LogLine,
} from "./support.js";

interface ProbeBody {
  readonly spiffe_sidecar: { readonly problems: readonly string[]; readonly reasons?: Readonly<Record<string, string>> };
}

const JWT_OUTPUTS = {
  jwt_bundle_file_name: "jwt_bundle.json",
  jwt_svids: [{ jwt_audience: "db", jwt_svid_file_name: "db.token" }],
} as const;

const deadlineSeconds = QUICK.agentTimeoutMs / 1000;

describe("Workload API deadlines, in the sidecar", () => {
  it("retries a FetchJWTSVID the agent never answers after its deadline, warns naming it, and writes the token once the agent answers", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where);
    await agent.setFault({ kind: "hang", rpcs: ["FetchJWTSVID"] });
    const config = await writeConfig(where, { ...baseConfig(agent, where), ...JWT_OUTPUTS });
    const sidecar = await runInProcess(t, config);

    const timedOut = (line: LogLine) =>
      line.msg === "JWT-SVID refresh failed" &&
      typeof line["err"] === "string" &&
      line["err"].includes(`FetchJWTSVID on the Workload API at ${agent.address} timed out: no answer within the ${deadlineSeconds} s deadline`);
    await sidecar.waitForLog("two timed-out FetchJWTSVID calls", timedOut, 2);
    assert.equal(sidecar.count(wrote(where.cert("db.token"))), 0);

    await agent.clearFaults("hang");
    await sidecar.waitForLog("the token write", wrote(where.cert("db.token")));
    const token = await readFile(where.cert("db.token"), "utf8");
    assert.equal(token.split(".").length, 3, "a compact JWS");
    assert.ok(sidecar.logs.filter(timedOut).every((line) => line.level === "warn"));
  });

  it("warns about a JWT bundle stream that never sends, says in readiness which stream is stuck, and starts the child after the retry", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where);
    await agent.setFault({ kind: "hang", rpcs: ["FetchJWTBundles"] });
    const childLog = where.file("child.log");
    const config = await writeConfig(where, {
      ...baseConfig(agent, where),
      ...JWT_OUTPUTS,
      cmd: process.execPath,
      cmd_args: [fixtures.signalLogger, "--log", childLog],
      health_checks: { listener_enabled: true, bind_port: 0 },
    });
    const sidecar = await runInProcess(t, config);
    const url = await sidecar.healthUrl();

    const silent = (line: LogLine) => line.method === "FetchJWTBundles" && line.status === "DEADLINE_EXCEEDED";
    const [warning] = await sidecar.waitForLog("the first-response timeout of FetchJWTBundles", silent);
    assert.equal(warning?.level, "warn");
    assert.match(String(warning?.msg), new RegExp(`FetchJWTBundles on the Workload API at .* sent nothing within ${deadlineSeconds} s \\(first-response timeout\\)`));
    const notReady = (await probe(url, "/ready")) as { status: number; body: ProbeBody };
    assert.equal(notReady.status, 503);
    assert.ok(notReady.body.spiffe_sidecar.problems.includes("stream-stuck"), JSON.stringify(notReady.body));
    assert.match(notReady.body.spiffe_sidecar.reasons?.["stream-stuck"] ?? "", /FetchJWTBundles/);
    assert.equal(sidecar.count((line) => line.msg === "child started"), 0, "no child before the JWT outputs exist");

    await agent.clearFaults("hang");
    await sidecar.waitForLog("the child's start", (line) => line.msg === "child started");
    await waitForReady(childLog);
    await waitFor("readiness", async () => ((await probe(url, "/ready")).status === 200 ? true : undefined));
  });
});

describe("a permanent refusal after good service", () => {
  for (const status of ["invalid-argument", "unimplemented"] as const) {
    it(`${status} on the X.509 stream keeps the child and the files, turns readiness false, counts it, and recovers`, async (t) => {
      const where = await scratch(t);
      // Long-lived SVIDs: only rotateNow() sends an update.
      const agent = await startAgent(t, where, { x509TtlSeconds: 600 });
      const childLog = where.file("child.log");
      const config = await writeConfig(where, {
        ...baseConfig(agent, where),
        ...X509_FILES,
        cmd: process.execPath,
        cmd_args: [fixtures.signalLogger, "--log", childLog],
        health_checks: { listener_enabled: true, bind_port: 0 },
      });
      const sidecar = await runInProcess(t, config);
      const url = await sidecar.healthUrl();
      const childPid = await waitForReady(childLog);
      await readX509Files(where);
      await waitFor("readiness", async () => ((await probe(url, "/ready")).status === 200 ? true : undefined));

      await agent.setFault({ kind: "close-stream", afterMessages: 0, status, rpcs: ["FetchX509SVID"] });
      const before = await snapshotFiles(Object.values(X509_FILES).map((name) => where.cert(name)));
      await agent.rotateNow();
      const refusal = (line: LogLine) => line.method === "FetchX509SVID" && line.level === "error";
      const [logged] = await sidecar.waitForLog("the refusal", refusal);
      assert.match(String(logged?.msg), /the app keeps running on the files on disk until they expire/);
      // A few retries at the longest delay, each refused again: still running, nothing touched.
      await sidecar.waitForLog("three refusals", refusal, 3);
      assert.equal(logged?.["retryInMs"], QUICK.backoff.maxMs);
      const answer = (await probe(url, "/ready")) as { status: number; body: ProbeBody };
      assert.equal(answer.status, 503);
      assert.ok(answer.body.spiffe_sidecar.problems.includes("agent-refused"), JSON.stringify(answer.body));
      assert.equal((await probe(url, "/live")).status, 200);
      const refusals = (await metricSamples(url, "spiffe_sidecar_agent_refusals_total"))[0]?.value ?? 0;
      assert.ok(refusals >= 3, `refusals counted: ${refusals}`);
      assert.equal(sidecar.hasExited, false);
      assert.ok(processExists(childPid), "the child still runs");
      assert.deepEqual(await readLines(childLog), [`ready ${childPid}`], "the child got no signal");
      assert.deepEqual(await snapshotFiles([...before.keys()]), before, "the files are untouched");

      await agent.clearFaults("close-stream");
      await agent.rotateNow();
      await sidecar.waitForLog("the stream serving again", (line) => line.msg === "the Workload API serves FetchX509SVID again");
      await waitFor("readiness back", async () => ((await probe(url, "/ready")).status === 200 ? true : undefined));
    });
  }

  it("at start-up, before any good update, stays a configuration error that ends the sidecar with 1", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where);
    await agent.setFault({ kind: "close-stream", afterMessages: 0, status: "invalid-argument", rpcs: ["FetchX509SVID"] });
    const config = await writeConfig(where, { ...baseConfig(agent, where), ...X509_FILES });
    const sidecar = await runInProcess(t, config);
    assert.equal(await sidecar.exitCode, 1);
    assert.ok(sidecar.logs.some((line) => line.status === "INVALID_ARGUMENT" && line.level === "error"));
  });
});
