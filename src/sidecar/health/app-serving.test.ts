import assert from "node:assert/strict";
import { test } from "node:test";
import { HealthState } from "./health-state.js";
import { renderSidecarMetrics } from "./sidecar-metrics.js";

const written = { serialHex: "0a", notAfter: new Date("2030-01-01T00:00:00Z") };

test("a stale app turns readiness false with the reason; a later verification clears it and the failure stays counted", () => {
  const state = new HealthState({ x509: true, jwtSvidPaths: [] });
  state.recordX509Written(written);
  assert.doesNotMatch(renderSidecarMetrics(state.snapshot()), /^spiffe_sidecar_app_serving_current_svid /m, "absent before any verification");
  state.recordAppServingStale("app at 127.0.0.1:8443 serves serial 1, not the current A");
  const verdict = state.readiness();
  assert.deepEqual(verdict.problems, ["app-serving-stale"]);
  assert.equal(state.reasons(verdict.problems)["app-serving-stale"], "not serving current SVID: app at 127.0.0.1:8443 serves serial 1, not the current A");
  assert.match(renderSidecarMetrics(state.snapshot()), /^spiffe_sidecar_app_serving_current_svid 0$/m);
  state.recordAppServingCurrent();
  assert.deepEqual(state.readiness(), { healthy: true, problems: [] });
  const metrics = renderSidecarMetrics(state.snapshot());
  assert.match(metrics, /^spiffe_sidecar_app_serving_current_svid 1$/m);
  assert.match(metrics, /^spiffe_sidecar_reload_verify_failures_total 1$/m);
});
