import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { notifyTargetFrom, reloadingMessage, statusAssignment, svidStatusText } from "./notify-protocol.js";

describe("notifyTargetFrom", () => {
  it("is absent without NOTIFY_SOCKET and refuses a relative one", () => {
    assert.deepEqual(notifyTargetFrom({}, 42), { kind: "absent" });
    assert.deepEqual(notifyTargetFrom({ NOTIFY_SOCKET: "" }, 42), { kind: "absent" });
    assert.equal(notifyTargetFrom({ NOTIFY_SOCKET: "run/notify" }, 42).kind, "invalid");
  });

  it("takes a path or an abstract name, and pings the watchdog at half WATCHDOG_USEC", () => {
    assert.deepEqual(notifyTargetFrom({ NOTIFY_SOCKET: "@/org/freedesktop/systemd1/notify/1" }, 42), {
      kind: "target",
      socket: "@/org/freedesktop/systemd1/notify/1",
      watchdogPingIntervalMs: undefined,
    });
    const target = notifyTargetFrom({ NOTIFY_SOCKET: "/run/systemd/notify", WATCHDOG_USEC: "30000000" }, 42);
    assert.deepEqual(target, { kind: "target", socket: "/run/systemd/notify", watchdogPingIntervalMs: 15_000 });
  });

  it("leaves a watchdog that belongs to another process, or a malformed one, off (sd_watchdog_enabled(3))", () => {
    const env = { NOTIFY_SOCKET: "/run/systemd/notify", WATCHDOG_USEC: "1000000" };
    const interval = (extra: NodeJS.ProcessEnv) => {
      const target = notifyTargetFrom({ ...env, ...extra }, 42);
      return target.kind === "target" ? target.watchdogPingIntervalMs : "no target";
    };
    assert.equal(interval({ WATCHDOG_PID: "42" }), 500);
    assert.equal(interval({ WATCHDOG_PID: "7" }), undefined);
    assert.equal(interval({ WATCHDOG_USEC: "0" }), undefined);
    assert.equal(interval({ WATCHDOG_USEC: "1e6" }), undefined);
  });
});

describe("messages", () => {
  it("stamps RELOADING=1 with CLOCK_MONOTONIC microseconds, as Type=notify-reload requires", () => {
    assert.deepEqual(reloadingMessage(123_456_789n), ["RELOADING=1", "MONOTONIC_USEC=123456789"]);
  });

  it("keeps a status on one line: a newline would start another assignment", () => {
    assert.equal(statusAssignment("a\nREADY=1"), "STATUS=a READY=1");
    assert.equal(
      svidStatusText({ spiffeId: "spiffe://example.org/app", notAfter: new Date("2030-01-02T03:04:05Z") }),
      "serving spiffe://example.org/app, X.509-SVID valid until 2030-01-02T03:04:05.000Z",
    );
  });
});
