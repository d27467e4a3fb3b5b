import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { credentials, Metadata, status as Status } from "@grpc/grpc-js";
import { WorkloadApiError } from "../../src/workloadapi/errors.js";
import { SpiffeWorkloadAPIClient } from "../../src/workloadapi/generated/workload.js";
import type { X509SVIDResponse } from "../../src/workloadapi/generated/workload.js";
import type { BackoffOptions } from "../../src/workloadapi/backoff.js";
import { WatchStream } from "../../src/workloadapi/watch-stream.js";
import type { WatchState } from "../../src/workloadapi/watch-stream.js";
import { endStream, MinimalAgent } from "../support/minimal-agent.js";
import { EventLog, FAST_BACKOFF } from "./fixtures.js";

/** A message whose first SVID's spiffe_id is `label`; the test decoder rejects "bad". */
function message(label: string): X509SVIDResponse {
  const empty = Buffer.alloc(0);
  const svid = { spiffeId: label, x509Svid: empty, x509SvidKey: empty, bundle: empty, hint: "" };
  return { svids: [svid], crl: [], federatedBundles: {} };
}

function decode(raw: X509SVIDResponse): string {
  const label = raw.svids[0]?.spiffeId ?? "";
  if (label === "bad") throw new Error("rejected by the test decoder");
  return label;
}

type Event =
  | { kind: "update"; value: string }
  | { kind: "invalid"; error: Error }
  | { kind: "error"; error: WorkloadApiError }
  | { kind: "state"; state: WatchState; retryDelayMs: number | undefined };

describe("WatchStream over a real Unix socket", () => {
  let agent: MinimalAgent;
  let grpc: SpiffeWorkloadAPIClient;
  const watches: WatchStream<X509SVIDResponse, string>[] = [];

  beforeEach(async () => {
    agent = await MinimalAgent.start();
    grpc = new SpiffeWorkloadAPIClient(agent.address, credentials.createInsecure(), {
      "grpc.initial_reconnect_backoff_ms": FAST_BACKOFF.initialMs,
      "grpc.max_reconnect_backoff_ms": FAST_BACKOFF.maxMs,
    });
  });

  afterEach(async () => {
    for (const watch of watches.splice(0)) watch.close();
    grpc.close();
    await agent.stop();
  });

  type TestWatch = { events: EventLog<Event>; stream: WatchStream<X509SVIDResponse, string> };

  function watch(backoff: BackoffOptions = FAST_BACKOFF, firstResponseTimeoutMs?: number): TestWatch {
    const events = new EventLog<Event>();
    const stream = new WatchStream<X509SVIDResponse, string>({
      method: "FetchX509SVID",
      target: agent.address,
      open: () => grpc.fetchX509Svid({}, new Metadata()),
      decode,
      backoff,
      ...(firstResponseTimeoutMs === undefined ? {} : { firstResponseTimeoutMs }),
      handlers: {
        onUpdate: (value) => events.push({ kind: "update", value }),
        onInvalid: (error) => events.push({ kind: "invalid", error }),
        onError: (error) => events.push({ kind: "error", error }),
        onStateChange: (state) => events.push({ kind: "state", state, retryDelayMs: stream.retryDelayMs }),
      },
    });
    watches.push(stream);
    return { events, stream: stream.start() };
  }

  const update = (value: string) => (e: Event) => e.kind === "update" && e.value === value;
  const state = (s: WatchState) => (e: Event) => e.kind === "state" && e.state === s;
  const errorWith = (name: string) => (e: Event) => e.kind === "error" && e.error.statusName === name;

  it("goes connecting -> open and delivers each decoded message", async () => {
    agent.handlers.fetchX509Svid = (call) => {
      call.write(message("one"));
      call.write(message("two"));
    };
    const { events, stream } = watch();
    await events.waitFor(update("two"), "second update");
    assert.deepEqual(
      events.entries.map((e) => (e.kind === "state" ? e.state : e.kind === "update" ? e.value : e.kind)),
      ["connecting", "open", "one", "two"],
    );
    assert.equal(stream.state, "open");
  });

  it("reports an undecodable message as invalid, never as an update, and keeps the stream", async () => {
    agent.handlers.fetchX509Svid = (call) => {
      call.write(message("bad"));
      call.write(message("good"));
    };
    const { events } = watch();
    await events.waitFor(update("good"), "the good message after the bad one");
    const invalid = events.entries.filter((e) => e.kind === "invalid");
    assert.equal(invalid.length, 1);
    assert.match(invalid[0]?.kind === "invalid" ? invalid[0].error.message : "", /rejected by the test decoder/);
    assert.equal(events.count((e) => e.kind === "update"), 1);
    assert.equal(agent.callsTo("fetchX509Svid").length, 1, "an invalid message does not reconnect");
  });

  it("reconnects after the agent is killed and restarted on the same socket, then delivers the new state", async () => {
    agent.handlers.fetchX509Svid = (call) => call.write(message("before"));
    const { events } = watch();
    await events.waitFor(update("before"), "first state");
    agent.handlers.fetchX509Svid = (call) => call.write(message("after"));
    agent.kill();
    const from = events.entries.length;
    await events.waitFor(state("backoff"), "backoff after the kill", { from });
    // The shutdown shows up as CANCELLED (not asked for by us) or UNAVAILABLE; both are retried.
    await events.waitFor(errorWith("UNAVAILABLE"), "a failed reconnect while the socket is gone", { from });
    await agent.listen();
    await events.waitFor(update("after"), "the restarted agent's state");
  });

  it("retries a CANCELLED it did not ask for", async () => {
    let calls = 0;
    agent.handlers.fetchX509Svid = (call) => {
      calls += 1;
      if (calls === 1) endStream(call, Status.CANCELLED, "agent going away");
      else call.write(message("second"));
    };
    const { events } = watch();
    await events.waitFor(update("second"), "update on the second call");
    const cancelled = await events.waitFor(errorWith("CANCELLED"), "the cancellation");
    assert.ok(cancelled.kind === "error" && cancelled.error.retryable);
  });

  it("retries PermissionDenied and Unavailable with backoff", async () => {
    let calls = 0;
    agent.handlers.fetchX509Svid = (call) => {
      calls += 1;
      if (calls === 1) endStream(call, Status.PERMISSION_DENIED, "no identity issued");
      else if (calls === 2) endStream(call, Status.UNAVAILABLE, "workload attestation failed");
      else call.write(message("granted"));
    };
    const { events } = watch();
    await events.waitFor(update("granted"), "update after two refusals");
    const denied = await events.waitFor(errorWith("PERMISSION_DENIED"), "permission denied");
    assert.ok(denied.kind === "error");
    assert.match(denied.error.message, /issued no identity to this workload \(FetchX509SVID\): no identity issued/);
    assert.equal(events.count(state("backoff")), 2);
  });

  it("reconnects when the server ends the stream", async () => {
    let calls = 0;
    agent.handlers.fetchX509Svid = (call) => {
      calls += 1;
      call.write(message(`call-${calls}`));
      if (calls === 1) call.end();
    };
    const { events } = watch();
    await events.waitFor(update("call-2"), "update on the second call");
    const ended = await events.waitFor(errorWith("OK"), "end of stream");
    assert.ok(ended.kind === "error" && /ended the FetchX509SVID stream; reconnecting/.test(ended.error.message));
  });

  it("stops on InvalidArgument without another attempt, while a retrying watch keeps trying", async () => {
    // The control watch (second call on) is refused with PermissionDenied and retries with the
    // same backoff; once it has made five attempts, a retrying InvalidArgument watch would have too.
    agent.handlers.fetchX509Svid = (call) => {
      if (agent.callsTo("fetchX509Svid").length === 1) {
        endStream(call, Status.INVALID_ARGUMENT, "security header missing from request");
      } else {
        endStream(call, Status.PERMISSION_DENIED, "no identity issued");
      }
    };
    const failing = watch();
    await failing.events.waitFor(state("failed"), "failed state");
    const control = watch();
    const attempts = () => control.events.count(errorWith("PERMISSION_DENIED"));
    await control.events.waitFor(() => attempts() >= 5, "five control attempts");
    assert.equal(failing.events.count((e) => e.kind === "error"), 1);
    assert.equal(failing.events.count(state("connecting")), 1);
    assert.equal(agent.callsTo("fetchX509Svid").length, 1 + control.events.count(state("connecting")));
    const error = failing.stream.lastError;
    assert.ok(error instanceof WorkloadApiError);
    assert.equal(error.statusName, "INVALID_ARGUMENT");
    assert.equal(error.retryable, false);
    assert.match(error.message, /rejected FetchX509SVID as invalid: security header missing from request; not retry/);
  });

  describe("backoff resets only after a good message", () => {
    // With random 1 each delay is the full exponential step: 5, 10, 20 ms.
    const growing: BackoffOptions = { initialMs: 5, maxMs: 1000, random: () => 1 };
    const delays = (events: EventLog<Event>) =>
      events.entries.flatMap((e) => (e.kind === "state" && e.state === "backoff" ? [e.retryDelayMs] : []));
    const scripted = (first: "good" | "bad" | "none") => {
      agent.handlers.fetchX509Svid = (call) => {
        if (first !== "none") call.write(message(first));
        call.end();
      };
    };

    it("grows while every call fails", async () => {
      scripted("none");
      const { events } = watch(growing);
      await events.waitFor(() => events.count(state("backoff")) >= 3, "three backoffs");
      assert.deepEqual(delays(events).slice(0, 3), [5, 10, 20]);
    });

    it("grows when the calls deliver only invalid messages", async () => {
      scripted("bad");
      const { events } = watch(growing);
      await events.waitFor(() => events.count(state("backoff")) >= 3, "three backoffs");
      assert.deepEqual(delays(events).slice(0, 3), [5, 10, 20]);
      assert.equal(events.count((e) => e.kind === "invalid"), 3);
    });

    it("starts over after each good message", async () => {
      scripted("good");
      const { events } = watch(growing);
      await events.waitFor(() => events.count(state("backoff")) >= 3, "three backoffs");
      assert.deepEqual(delays(events).slice(0, 3), [5, 5, 5]);
    });
  });

  it("cancels a call that sends nothing within the first-response timeout, says so, and retries", async () => {
    // The first call is accepted and left silent, as a stuck agent does; the second answers.
    agent.handlers.fetchX509Svid = (call) => {
      if (agent.callsTo("fetchX509Svid").length > 1) call.write(message("answered"));
    };
    const { events, stream } = watch(FAST_BACKOFF, 100);
    await events.waitFor(update("answered"), "the update on the retried call");
    const timedOut = await events.waitFor(errorWith("DEADLINE_EXCEEDED"), "the timeout");
    assert.ok(timedOut.kind === "error" && timedOut.error.retryable);
    assert.match(timedOut.error.message, /FetchX509SVID on the Workload API at .* sent nothing within 0\.1 s \(first-response timeout\)/);
    assert.equal(agent.callsTo("fetchX509Svid").length, 2);
    assert.equal(stream.state, "open");
  });

  it("keeps a watch that has delivered through InvalidArgument and Unimplemented, retrying at the longest delay", async () => {
    const backoff: BackoffOptions = { initialMs: 5, maxMs: 60, random: () => 1 };
    agent.handlers.fetchX509Svid = (call) => {
      const calls = agent.callsTo("fetchX509Svid").length;
      if (calls === 1) {
        call.write(message("one"));
        setTimeout(() => endStream(call, Status.INVALID_ARGUMENT, "agent reconfigured"), 20);
      } else if (calls === 2) {
        endStream(call, Status.UNIMPLEMENTED, "not any more");
      } else {
        call.write(message("back"));
      }
    };
    const { events, stream } = watch(backoff);
    await events.waitFor(update("back"), "the update after two permanent refusals");
    assert.equal(events.count(state("failed")), 0);
    const delays = events.entries.flatMap((e) => (e.kind === "state" && e.state === "backoff" ? [e.retryDelayMs] : []));
    assert.deepEqual(delays, [60, 60], "permanent refusals wait the longest delay");
    assert.deepEqual(
      events.entries.flatMap((e) => (e.kind === "error" ? [e.error.statusName] : [])),
      ["INVALID_ARGUMENT", "UNIMPLEMENTED"],
    );
    assert.equal(stream.delivered, true);
  });

  it("retryNow() opens the next call at once instead of after the delay", async () => {
    agent.handlers.fetchX509Svid = (call) => {
      if (agent.callsTo("fetchX509Svid").length === 1) endStream(call, Status.UNAVAILABLE, "down");
      else call.write(message("now"));
    };
    const { events, stream } = watch({ initialMs: 3_600_000, maxMs: 3_600_000 });
    await events.waitFor(state("backoff"), "the hour-long backoff");
    stream.retryNow();
    await events.waitFor(update("now"), "the update of the call retryNow() opened");
  });

  it("restart() replaces an open call with a new one for the full state, without leaving `open`", async () => {
    agent.handlers.fetchX509Svid = (call) => call.write(message(`call-${agent.callsTo("fetchX509Svid").length}`));
    const { events, stream } = watch();
    await events.waitFor(update("call-1"), "the first call's state");
    const from = events.entries.length;
    stream.restart();
    await events.waitFor(update("call-2"), "the second call's state", { from });
    assert.deepEqual(
      events.entries.slice(from).map((e) => e.kind),
      ["update"],
      "no state change and no error: the cancelled call was ours",
    );
    assert.equal(stream.state, "open");
  });

  it("stops on Unimplemented", async () => {
    agent.handlers.fetchX509Svid = (call) => endStream(call, Status.UNIMPLEMENTED, "not here");
    const { events, stream } = watch();
    await events.waitFor(state("failed"), "failed state");
    assert.equal(stream.lastError?.statusName, "UNIMPLEMENTED");
  });

  it("ends quietly on close(): no error event, state stopped, no reconnect", async () => {
    agent.handlers.fetchX509Svid = (call) => call.write(message("one"));
    const { events, stream } = watch();
    await events.waitFor(update("one"), "first update");
    stream.close();
    assert.equal(stream.state, "stopped");
    stream.close();
    assert.equal(events.count(state("stopped")), 1);
    assert.equal(events.count((e) => e.kind === "error"), 0);
  });

  it("clears its backoff timer on close(), so nothing reconnects afterwards", async () => {
    agent.handlers.fetchX509Svid = (call) => endStream(call, Status.UNAVAILABLE, "down");
    const { events, stream } = watch();
    await events.waitFor(state("backoff"), "backoff");
    stream.close();
    const control = watch();
    agent.handlers.fetchX509Svid = (call) => endStream(call, Status.UNAVAILABLE, "down");
    await control.events.waitFor(() => control.events.count(state("backoff")) >= 3, "three control attempts");
    assert.equal(events.count(state("connecting")), 1);
  });
});
