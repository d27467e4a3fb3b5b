import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { NotifyError, notifyFailed, notifySucceeded } from "../notify/notifier.js";
import { HealthState, WRITE_STUCK_AFTER_MS } from "./health-state.js";
import type { RejectReason } from "./health-state.js";

const T0 = new Date("2030-01-01T00:00:00Z");
const at = (seconds: number): Date => new Date(T0.getTime() + seconds * 1000);
const svid = (serialHex: string, notAfterSeconds: number) => ({ serialHex, notAfter: at(notAfterSeconds) });

const outputs = { x509: true, jwtSvidPaths: ["/certs/jwt.token"], jwtBundlePath: "/certs/jwt_bundle.json" };

function fullyWritten(): HealthState {
  const state = new HealthState(outputs);
  state.recordX509Written(svid("01", 3600), at(0));
  state.recordJwtSvidWritten("/certs/jwt.token", at(300), at(0));
  state.recordJwtBundleWritten(at(0));
  return state;
}

describe("HealthState readiness", () => {
  it("is not ready before every output is written", () => {
    const state = new HealthState(outputs);
    assert.deepEqual(state.readiness(at(0)), { healthy: false, problems: ["x509-unwritten", "jwt-unwritten"] });
    state.recordX509Written(svid("01", 3600), at(0));
    state.recordJwtBundleWritten(at(0));
    assert.deepEqual(state.readiness(at(0)).problems, ["jwt-unwritten"]);
  });

  it("is ready once everything is written and valid", () => {
    assert.deepEqual(fullyWritten().readiness(at(1)), { healthy: true, problems: [] });
  });

  it("after a reload, tracks a new output from unwritten and forgets a dropped one", () => {
    const state = fullyWritten();
    state.setOutputs({ ...outputs, jwtSvidPaths: ["/certs/other.token"] });
    assert.deepEqual(state.readiness(at(1)).problems, ["jwt-unwritten"]);
    assert.deepEqual(Object.keys(state.fileWriteStatuses().jwt_write_status).sort(), ["/certs/jwt_bundle.json", "/certs/other.token"]);
    state.recordJwtSvidWritten("/certs/other.token", at(300), at(1));
    assert.deepEqual(state.readiness(at(2)), { healthy: true, problems: [] });
  });

  it("turns false once the SVID on disk expires, as when the agent stays away", () => {
    const state = fullyWritten();
    state.recordJwtSvidWritten("/certs/jwt.token", at(7200), at(0));
    state.setAgentConnected(false);
    assert.equal(state.readiness(at(3600)).healthy, true, "notAfter itself is still valid");
    assert.deepEqual(state.readiness(at(3601)).problems, ["svid-expired"]);
    state.recordX509Written(svid("02", 7200), at(3602));
    assert.equal(state.readiness(at(3602)).healthy, true);
  });

  it("turns false once a JWT-SVID on disk expires", () => {
    const state = fullyWritten();
    assert.equal(state.readiness(at(299)).healthy, true);
    assert.deepEqual(state.readiness(at(300)).problems, ["jwt-svid-expired"]);
  });

  it("does not wait for X.509 when only JWT outputs are configured", () => {
    const state = new HealthState({ x509: false, jwtSvidPaths: ["/t"] });
    state.recordJwtSvidWritten("/t", at(60), at(0));
    assert.equal(state.readiness(at(0)).healthy, true);
    assert.deepEqual(state.fileWriteStatuses(), { jwt_write_status: { "/t": "written" } });
  });
});

describe("HealthState liveness and write failures", () => {
  it("stays live when a write fails, as on a full disk; readiness says why (issue 13 item 9)", () => {
    const state = fullyWritten();
    assert.deepEqual(state.liveness(at(1)), { healthy: true, problems: [] });
    state.recordX509WriteFailed("writing /certs/svid.pem failed: ENOSPC: no space left on device");
    state.recordJwtWriteFailed("/certs/jwt_bundle.json", "writing /certs/jwt_bundle.json failed: ENOSPC");
    assert.deepEqual(state.liveness(at(1)), { healthy: true, problems: [] }, "a restart cannot free the disk");
    const verdict = state.readiness(at(1));
    assert.deepEqual(verdict, { healthy: false, problems: ["x509-write-failed", "jwt-write-failed"] });
    assert.match(state.reasons(verdict.problems, at(1))["x509-write-failed"] ?? "", /retried: writing \/certs\/jwt_bundle\.json failed: ENOSPC$/);
    state.recordX509Written(svid("01", 3600), at(2));
    state.recordJwtBundleWritten(at(2));
    assert.equal(state.readiness(at(2)).healthy, true);
    assert.equal(state.snapshot().writeErrors, 2);
  });

  it("is live before anything is written: starting up is not a failure", () => {
    assert.equal(new HealthState(outputs).liveness(at(0)).healthy, true);
  });

  it("fails liveness and readiness only when a write stays unsettled past WRITE_STUCK_AFTER_MS", () => {
    const state = fullyWritten();
    state.recordWriteStarted(at(10));
    const limit = WRITE_STUCK_AFTER_MS / 1000;
    assert.equal(state.liveness(at(10 + limit)).healthy, true);
    assert.deepEqual(state.liveness(at(11 + limit)).problems, ["write-stuck"]);
    assert.deepEqual(state.readiness(at(11 + limit)).problems, ["write-stuck"]);
    assert.match(state.reasons(["write-stuck"], at(11 + limit))["write-stuck"] ?? "", /in progress since 2030-01-01T00:00:10\.000Z/);
    state.recordWriteSettled();
    assert.equal(state.liveness(at(12 + limit)).healthy, true);
  });

  it("is not ready while a stream is stuck, naming it, and ready again once it delivers", () => {
    const state = fullyWritten();
    state.setStreamStuck("FetchX509SVID", "FetchX509SVID sent nothing within 30 s");
    const verdict = state.readiness(at(1));
    assert.deepEqual(verdict.problems, ["stream-stuck"]);
    assert.deepEqual(state.reasons(verdict.problems, at(1)), { "stream-stuck": "FetchX509SVID sent nothing within 30 s" });
    assert.equal(state.liveness(at(1)).healthy, true);
    state.setStreamStuck("FetchX509SVID", undefined);
    assert.equal(state.readiness(at(1)).healthy, true);
  });
});

describe("HealthState statuses and counters", () => {
  it("reports spiffe-helper's file_write_statuses", () => {
    const state = new HealthState(outputs);
    state.recordX509WriteFailed("ENOSPC");
    state.recordJwtSvidWritten("/certs/jwt.token", at(60), at(0));
    assert.deepEqual(state.fileWriteStatuses(), {
      x509_write_status: "failed",
      jwt_write_status: { "/certs/jwt.token": "written", "/certs/jwt_bundle.json": "unwritten" },
    });
  });

  it("counts rotations by serial number, reconnects, rejections and notify failures", () => {
    const state = fullyWritten();
    state.recordX509Written(svid("01", 3600), at(10));
    state.recordX509Written(svid("02", 7200), at(20));
    state.setAgentConnected(true);
    state.setAgentConnected(false);
    state.setAgentConnected(true);
    state.setAgentConnected(true);
    state.recordRejectedUpdate("untrusted-chain");
    state.recordRejectedUpdate("free text from an error" as RejectReason);
    state.recordNotifyResult(notifyFailed(new NotifyError("exec-hook", "hook-failed", "exit 1")));
    state.recordNotifyResult(notifySucceeded("pid-file", "sent"));
    const snapshot = state.snapshot();
    assert.equal(snapshot.rotations, 2);
    assert.equal(snapshot.reconnects, 1);
    assert.equal(snapshot.agentConnected, true);
    assert.deepEqual(snapshot.lastUpdate, at(20));
    assert.equal(snapshot.rejectedUpdates.get("untrusted-chain"), 1);
    assert.equal(snapshot.rejectedUpdates.get("other"), 1);
    assert.equal(snapshot.rejectedUpdates.has("free text from an error" as RejectReason), false);
    assert.equal(snapshot.notifyFailures.get("exec-hook"), 1);
    assert.equal(snapshot.notifyFailures.get("pid-file"), 0);
  });

  it("refuses a JWT path that is not configured", () => {
    assert.throws(
      () => new HealthState(outputs).recordJwtWriteFailed("/elsewhere", "EROFS"),
      /\/elsewhere is not a configured JWT output/,
    );
  });
});
