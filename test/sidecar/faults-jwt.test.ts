import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Fault } from "../../src/fakeagent/faults.js";
import { inspectJwtSvid } from "../../src/sidecar/inspect/jwt-report.js";
import {
  baseConfig,
  isUpdate,
  metricSamples,
  probe,
  runSidecar,
  scratch,
  snapshotFiles,
  startAgent,
  waitFor,
  writeConfig,
  wrote,
  type LogLine,
} from "./support.js";

const faults: readonly Fault[] = [{ kind: "jwt-bad-signature" }, { kind: "jwt-wrong-audience" }, { kind: "jwt-expired" }];

const isRejection = (line: LogLine): boolean =>
  line.level === "warn" && line.msg === "JWT-SVID for db rejected; the files on disk are kept";

function expiryOf(token: string): Date {
  const payload = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as { exp: number };
  return new Date(payload.exp * 1000);
}

describe("malformed JWT-SVIDs are rejected and the last good token kept", { concurrency: 3 }, () => {
  for (const fault of faults) {
    it(`${fault.kind}: token file untouched, counted as "invalid-jwt-svid", not ready once the token on disk expires`, async (t) => {
      const where = await scratch(t);
      const agent = await startAgent(t, where, { jwtTtlSeconds: 3 });
      const config = await writeConfig(where, {
        ...baseConfig(agent, where),
        jwt_bundle_file_name: "jwt_bundle.json",
        jwt_svids: [{ jwt_audience: "db", jwt_svid_file_name: "db.token" }],
        health_checks: { listener_enabled: true, bind_port: 0 },
      });
      const sidecar = runSidecar(t, config);
      const url = await sidecar.healthUrl();
      // The JWT bundle may be written first; ready needs the token too.
      await sidecar.waitForLog("the first token", wrote(where.cert("db.token")));
      assert.equal((await probe(url, "/ready")).status, 200);

      await agent.setFault(fault);
      const [rejection] = await sidecar.waitForLog("the rejection", isRejection);
      assert.equal(rejection?.reason, "invalid-jwt-svid", JSON.stringify(rejection));
      // What was on disk when the first bad token came is the last good state.
      const lastGood = await snapshotFiles([where.cert("db.token"), where.cert("jwt_bundle.json")]);
      const updates = sidecar.count(isUpdate);
      const samples = await metricSamples(url, "spiffe_sidecar_rejected_updates_total");
      for (const { labels, value } of samples) {
        if (labels["reason"] === "invalid-jwt-svid") assert.ok(value >= 1, `the rejection is counted: ${JSON.stringify(samples)}`);
        else assert.equal(value, 0, `nothing counted under ${labels["reason"]}`);
      }

      const notReady = await waitFor("readiness to turn false", async () => {
        const answer = await probe(url, "/ready");
        return answer.status === 503 ? answer : undefined;
      });
      assert.deepEqual((notReady.body as { spiffe_sidecar: { problems: string[] } }).spiffe_sidecar.problems, ["jwt-svid-expired"]);
      assert.equal(sidecar.count(isUpdate), updates, "no write while the agent sends bad tokens");
      assert.deepEqual(await snapshotFiles([...lastGood.keys()]), lastGood, "the files are byte-identical");

      // The token kept is a good one that has simply run out.
      const token = lastGood.get(where.cert("db.token"))?.toString("utf8") ?? "";
      const bundleJson = lastGood.get(where.cert("jwt_bundle.json"))?.toString("utf8") ?? "";
      const expiry = expiryOf(token);
      const report = await inspectJwtSvid({ token, bundleJson, audience: ["db"], now: new Date(expiry.getTime() - 1000) });
      assert.deepEqual(report.verdict, { valid: true });
      assert.ok(expiry.getTime() <= Date.now(), "readiness fell when the token on disk expired");
      assert.ok(!JSON.stringify(sidecar.logs).includes(token.split(".")[2] ?? "unreachable"), "no token in the log");
    });
  }
});
