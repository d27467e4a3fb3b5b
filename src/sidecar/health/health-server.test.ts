import assert from "node:assert/strict";
import { Agent, request } from "node:http";
import { after, before, describe, it } from "node:test";
import { parseExposition } from "../../../test/fixtures/prometheus-parser.js";
import { NotifyError, notifyFailed } from "../notify/notifier.js";
import { HealthServerError, startHealthServer } from "./health-server.js";
import type { HealthServer } from "./health-server.js";
import { HealthState, REJECT_REASONS } from "./health-state.js";

const T0 = new Date("2030-01-01T00:00:00Z");
const NOT_AFTER = new Date("2030-01-01T01:00:00Z");

async function get(server: HealthServer, path: string, method = "GET") {
  const response = await fetch(`${server.url}${path}`, { method });
  return { status: response.status, type: response.headers.get("content-type"), body: await response.text() };
}

describe("health server", () => {
  let clock = T0;
  const state = new HealthState({ x509: true, jwtSvidPaths: ["/certs/jwt.token"] });
  let server: HealthServer;
  before(async () => {
    server = await startHealthServer({ state, port: 0, now: () => clock });
  });
  after(async () => {
    await server.close();
  });

  it("binds every interface by default, as spiffe-helper's :8081 does", async () => {
    assert.ok(server.address === "::" || server.address === "0.0.0.0", server.address);
    assert.ok(server.port > 0);
    // The kubelet probes the pod IP: any local address must answer, not only loopback.
    const answered = await fetch(`http://127.0.0.1:${server.port}/live`);
    assert.equal(answered.status, 200);
  });

  it("binds only bind_address when one is given", async () => {
    const narrow = await startHealthServer({ state, port: 0, bindAddress: "127.0.0.1" });
    try {
      assert.equal(narrow.address, "127.0.0.1");
      assert.equal(narrow.url, `http://127.0.0.1:${narrow.port}`);
    } finally {
      await narrow.close();
    }
  });

  it("answers 503 with spiffe-helper's body before anything is written", async () => {
    const ready = await get(server, "/ready");
    assert.equal(ready.status, 503);
    assert.equal(ready.type, "application/json");
    assert.deepEqual(JSON.parse(ready.body), {
      file_write_statuses: { x509_write_status: "unwritten", jwt_write_status: { "/certs/jwt.token": "unwritten" } },
      spiffe_sidecar: {
        live: true,
        ready: false,
        problems: ["x509-unwritten", "jwt-unwritten"],
        reasons: {
          "x509-unwritten": "no X.509-SVID has been written yet",
          "jwt-unwritten": "a configured JWT output has not been written yet",
        },
        agent_connected: false,
        svid_not_after: null,
      },
    });
    assert.equal((await get(server, "/live")).status, 200);
  });

  it("turns ready after the writes, and unready once the SVID expires", async () => {
    state.setAgentConnected(true);
    state.recordX509Written({ serialHex: "0a", notAfter: NOT_AFTER }, T0);
    state.recordJwtSvidWritten("/certs/jwt.token", new Date("2030-01-02T00:00:00Z"), T0);
    const ready = await get(server, "/ready");
    assert.equal(ready.status, 200);
    assert.deepEqual(JSON.parse(ready.body).file_write_statuses, {
      x509_write_status: "written",
      jwt_write_status: { "/certs/jwt.token": "written" },
    });

    state.setAgentConnected(false);
    clock = new Date(NOT_AFTER.getTime() + 1000);
    const expired = await get(server, "/ready");
    assert.equal(expired.status, 503);
    assert.deepEqual(JSON.parse(expired.body).spiffe_sidecar.problems, ["svid-expired"]);
    assert.equal(JSON.parse(expired.body).spiffe_sidecar.svid_not_after, NOT_AFTER.toISOString());
    assert.equal((await get(server, "/live")).status, 200, "agent loss is not a liveness failure");
    clock = T0;
  });

  it("serves /metrics in the Prometheus text format", async () => {
    state.recordRejectedUpdate("key-mismatch");
    state.recordNotifyResult(notifyFailed(new NotifyError("pid-file", "process-missing", "gone")));
    const metrics = await get(server, "/metrics");
    assert.equal(metrics.status, 200);
    assert.equal(metrics.type, "text/plain; version=0.0.4; charset=utf-8");
    const families = parseExposition(metrics.body);
    const value = (name: string, labels: Record<string, string> = {}) =>
      families.get(name)?.samples.find((sample) => JSON.stringify(sample.labels) === JSON.stringify(labels))?.value;

    assert.equal(value("spiffe_sidecar_svid_expiry_timestamp_seconds"), NOT_AFTER.getTime() / 1000);
    assert.equal(value("spiffe_sidecar_rotations_total"), 1);
    assert.equal(value("spiffe_sidecar_last_update_timestamp_seconds"), T0.getTime() / 1000);
    assert.equal(value("spiffe_sidecar_write_errors_total"), 0);
    assert.equal(value("spiffe_sidecar_rejected_updates_total", { reason: "key-mismatch" }), 1);
    assert.equal(families.get("spiffe_sidecar_rejected_updates_total")?.samples.length, REJECT_REASONS.length);
    assert.equal(value("spiffe_sidecar_agent_connected"), 0);
    assert.equal(value("spiffe_sidecar_reconnects_total"), 0);
    assert.equal(value("spiffe_sidecar_notify_failures_total", { notifier: "pid-file" }), 1);
    assert.equal(
      value("spiffe_sidecar_jwt_svid_expiry_timestamp_seconds", { file: "/certs/jwt.token" }),
      Date.parse("2030-01-02T00:00:00Z") / 1000,
    );
    for (const [name, family] of families) {
      assert.equal(family.type, name.endsWith("_total") ? "counter" : "gauge", name);
      assert.ok(family.help !== undefined && family.help.length > 0, name);
    }
  });

  it("answers 404 for other paths, 405 for other methods, and HEAD without a body", async () => {
    assert.equal((await get(server, "/nope")).status, 404);
    const post = await fetch(`${server.url}/ready`, { method: "POST" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
    await post.body?.cancel();
    const head = await get(server, "/live", "HEAD");
    assert.equal(head.status, 200);
    assert.equal(head.body, "");
  });

  it("ignores a query string", async () => {
    assert.equal((await get(server, "/live?verbose=1")).status, 200);
  });
});

describe("health server lifecycle", () => {
  it("uses the configured paths", async () => {
    const server = await startHealthServer({
      state: new HealthState({ x509: false, jwtSvidPaths: [] }),
      port: 0,
      livenessPath: "/healthz",
      readinessPath: "/readyz",
    });
    try {
      assert.equal((await get(server, "/healthz")).status, 200);
      assert.equal((await get(server, "/readyz")).status, 200);
      assert.equal((await get(server, "/live")).status, 404);
    } finally {
      await server.close();
    }
  });

  it("closes while a keep-alive connection is open", async () => {
    const server = await startHealthServer({ state: new HealthState({ x509: true, jwtSvidPaths: [] }), port: 0 });
    const agent = new Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) => {
      const req = request(`${server.url}/live`, { agent }, (res) => {
        res.resume();
        res.on("end", resolve);
      });
      req.on("error", reject);
      req.end();
    });
    // The socket stays in the agent's pool, idle; close() must not wait for it to time out.
    await server.close();
    await assert.rejects(fetch(`${server.url}/live`));
    agent.destroy();
  });

  it("explains a port that is taken", async () => {
    const first = await startHealthServer({ state: new HealthState({ x509: true, jwtSvidPaths: [] }), port: 0 });
    try {
      await assert.rejects(
        startHealthServer({ state: new HealthState({ x509: true, jwtSvidPaths: [] }), port: first.port }),
        (error: unknown) =>
          error instanceof HealthServerError &&
          error.code === "ERR_HEALTH_SERVER" &&
          error.message ===
            `cannot listen on port ${first.port} of every interface for health checks: the address is in use; ` +
              "change health_checks.bind_port or bind_address",
      );
    } finally {
      await first.close();
    }
  });
});
