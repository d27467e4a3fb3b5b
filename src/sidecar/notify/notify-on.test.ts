import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_NOTIFY_ON } from "../config/sidecar-config.js";
import { mergeReasons, type Notifier, type NotifyReason, type NotifyResult } from "./notifier.js";
import { changedKindsOf, NotifyOnFilter } from "./notify-on.js";

class RecordingNotifier implements Notifier {
  readonly told: NotifyReason[] = [];

  notify(reason: NotifyReason): Promise<NotifyResult> {
    this.told.push(reason);
    return Promise.resolve({ ok: true, outcomes: [{ notifier: "exec-hook", ok: true, detail: "told" }] });
  }
}

const jwtOnly: NotifyReason = { changedPaths: ["/certs/db.token"], changedKinds: ["jwt_svid"] };
const jwtBundleOnly: NotifyReason = { changedPaths: ["/certs/jwt_bundle.json"], changedKinds: ["jwt_bundle"] };
const bundleOnly: NotifyReason = { changedPaths: ["/certs/bundle.pem"], changedKinds: ["bundles"] };
const newSvid: NotifyReason = { changedPaths: ["/certs/svid.pem", "/certs/key.pem"], changedKinds: ["x509"] };

describe("notify_on", () => {
  it("by default, as spiffe-helper, tells the app of X.509 changes only", async () => {
    const inner = new RecordingNotifier();
    const filter = new NotifyOnFilter(inner, DEFAULT_NOTIFY_ON);
    for (const reason of [jwtOnly, jwtBundleOnly, bundleOnly, newSvid]) await filter.notify(reason);
    assert.deepEqual(inner.told, [bundleOnly, newSvid]);
  });

  it("skips an update with an empty result, so nothing is counted as told", async () => {
    const result = await new NotifyOnFilter(new RecordingNotifier(), DEFAULT_NOTIFY_ON).notify(jwtOnly);
    assert.deepEqual(result, { ok: true, outcomes: [] });
  });

  it("tells the app of JWT-SVIDs only when asked, and of nothing with an empty list", async () => {
    const jwtApp = new RecordingNotifier();
    const silent = new RecordingNotifier();
    for (const reason of [jwtOnly, newSvid]) {
      await new NotifyOnFilter(jwtApp, ["jwt_svid"]).notify(reason);
      await new NotifyOnFilter(silent, []).notify(reason);
    }
    assert.deepEqual(jwtApp.told, [jwtOnly]);
    assert.deepEqual(silent.told, []);
  });

  it("always passes a reason whose kinds are unknown (a re-notification)", async () => {
    const inner = new RecordingNotifier();
    await new NotifyOnFilter(inner, []).notify({ changedPaths: ["/certs/svid.pem"] });
    assert.equal(inner.told.length, 1);
  });

  it("maps output groups to kinds once each, in a fixed order", () => {
    assert.deepEqual(changedKindsOf(["jwt-svid", "x509-bundle", "x509", "x509-bundle", "jwt-bundle"]), [
      "x509",
      "bundles",
      "jwt_svid",
      "jwt_bundle",
    ]);
    assert.deepEqual(changedKindsOf([]), []);
  });

  it("merges coalesced reasons: kinds and paths united, the newer SVID kept", () => {
    const older = { spiffeId: "spiffe://example.org/web", serialHex: "01", notAfter: new Date(1_000) };
    const newer = { ...older, serialHex: "02", notAfter: new Date(2_000) };
    const merged = mergeReasons({ ...jwtOnly, svid: older }, { ...newSvid, svid: newer });
    assert.deepEqual(merged, {
      changedPaths: ["/certs/db.token", "/certs/svid.pem", "/certs/key.pem"],
      changedKinds: ["x509", "jwt_svid"],
      svid: newer,
    });
    assert.equal(mergeReasons(jwtOnly, { changedPaths: [] }).changedKinds, undefined);
  });
});
