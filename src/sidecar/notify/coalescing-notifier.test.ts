import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CoalescingNotifier } from "./coalescing-notifier.js";
import { CompositeNotifier } from "./composite-notifier.js";
import type { NotifyLogger } from "./composite-notifier.js";
import { NotifyError, notifyFailed, notifySucceeded } from "./notifier.js";
import type { AppNotifier, NotifierKind, NotifyReason, NotifyResult } from "./notifier.js";

/** A notifier whose deliveries finish only when the test releases them. */
class GatedNotifier implements AppNotifier {
  readonly kind = "exec-hook";
  readonly delivered: NotifyReason[] = [];
  #release: (() => void)[] = [];

  notify(reason: NotifyReason): Promise<NotifyResult> {
    this.delivered.push(reason);
    return new Promise((resolve) => {
      this.#release.push(() => resolve(notifySucceeded(this.kind, `delivery ${this.delivered.length}`)));
    });
  }

  releaseAll(): void {
    const release = this.#release;
    this.#release = [];
    for (const fn of release) fn();
  }
}

function changed(...paths: string[]): NotifyReason {
  return { changedPaths: paths };
}

async function settle(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
}

describe("CoalescingNotifier", () => {
  it("turns 10 calls during an in-flight notification into exactly one follow-up", async () => {
    const inner = new GatedNotifier();
    const notifier = new CoalescingNotifier(inner);
    const first = notifier.notify(changed("/a"));
    const rest = Array.from({ length: 10 }, (_, n) => notifier.notify(changed(n % 2 === 0 ? "/b" : "/c")));
    assert.equal(inner.delivered.length, 1);

    inner.releaseAll();
    await first;
    await settle();
    assert.equal(inner.delivered.length, 2);
    assert.deepEqual(inner.delivered[1], changed("/b", "/c"));

    inner.releaseAll();
    const results = await Promise.all(rest);
    assert.equal(inner.delivered.length, 2);
    assert.ok(results.every((result) => result === results[0]), "every coalesced caller gets the follow-up's result");
    assert.equal(notifier.busy, false);
  });

  it("runs calls that do not overlap one by one", async () => {
    const inner = new GatedNotifier();
    const notifier = new CoalescingNotifier(inner);
    for (let n = 1; n <= 3; n += 1) {
      const result = notifier.notify(changed(`/${n}`));
      inner.releaseAll();
      await result;
    }
    assert.deepEqual(inner.delivered, [changed("/1"), changed("/2"), changed("/3")]);
  });

  it("with a minimum interval: the first of a burst goes out at once, the rest as one at the interval's end", async () => {
    const inner = new GatedNotifier();
    const notifier = new CoalescingNotifier(inner, { minIntervalMs: 200 });
    const first = notifier.notify(changed("/a"));
    assert.equal(inner.delivered.length, 1, "no wait for the first");
    inner.releaseAll();
    await first;
    // The first is done, but the interval is not: these wait for it, as one.
    const burst = Array.from({ length: 50 }, (_, n) => notifier.notify(changed(`/${n % 3}`)));
    await settle();
    assert.equal(inner.delivered.length, 1, "the burst waits for the interval");
    const waiting = Promise.all(burst);
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (inner.delivered.length < 2) return;
        clearInterval(poll);
        resolve();
      }, 10);
    });
    inner.releaseAll();
    await waiting;
    assert.equal(inner.delivered.length, 2, "50 calls, one follow-up");
    assert.deepEqual(inner.delivered[1], changed("/0", "/1", "/2"), "for every change, so the newest files");
  });

  it("close() drops a notification still waiting for its interval, and refuses new ones", async () => {
    const inner = new GatedNotifier();
    const notifier = new CoalescingNotifier(inner, { minIntervalMs: 60_000 });
    const first = notifier.notify(changed("/a"));
    inner.releaseAll();
    await first;
    const waiting = notifier.notify(changed("/b"));
    notifier.close();
    assert.deepEqual(await waiting, { ok: true, outcomes: [] }, "settled at once, not after 60 s");
    assert.deepEqual(await notifier.notify(changed("/c")), { ok: true, outcomes: [] });
    assert.equal(inner.delivered.length, 1);
  });

  it("tells the notification in flight that a newer update supersedes it", async () => {
    const aborted: boolean[] = [];
    const inner: AppNotifier = {
      kind: "pid-file",
      notify: (_reason, options) =>
        new Promise((resolve) => {
          const signal = options?.superseded;
          const done = (): void => {
            aborted.push(signal?.aborted === true);
            resolve(notifySucceeded("pid-file", "done"));
          };
          if (signal === undefined || aborted.length > 0) done();
          else signal.addEventListener("abort", done, { once: true });
        }),
    };
    const notifier = new CoalescingNotifier(inner);
    const first = notifier.notify(changed("/a"));
    const second = notifier.notify(changed("/b"));
    await first;
    await second;
    assert.deepEqual(aborted, [true, false], "the first gave way; the follow-up ran to its end");
  });
});

describe("CompositeNotifier", () => {
  function fixed(kind: NotifierKind, result: NotifyResult | Error): AppNotifier & { calls: number } {
    return {
      kind,
      calls: 0,
      notify() {
        this.calls += 1;
        return result instanceof Error ? Promise.reject(result) : Promise.resolve(result);
      },
    };
  }

  it("runs every notifier even when one fails, and logs each outcome", async () => {
    const lines: { level: string; fields: object; message: string }[] = [];
    const logger: NotifyLogger = {
      info: (fields, message) => lines.push({ level: "info", fields, message }),
      warn: (fields, message) => lines.push({ level: "warn", fields, message }),
    };
    const failing = fixed("pid-file", notifyFailed(new NotifyError("pid-file", "process-missing", "pid gone")));
    const broken = fixed("exec-hook", new Error("bug"));
    const working = fixed("signal-child", notifySucceeded("signal-child", "sent SIGHUP to child 42"));
    const composite = new CompositeNotifier([failing, broken, working], { logger });

    const result = await composite.notify(changed("/certs/svid.pem", "/certs/key.pem"));
    assert.equal(result.ok, false);
    assert.deepEqual(
      result.outcomes.map((outcome) => [outcome.notifier, outcome.ok]),
      [
        ["pid-file", false],
        ["exec-hook", false],
        ["signal-child", true],
      ],
    );
    const unexpected = result.outcomes[1];
    assert.ok(unexpected !== undefined && !unexpected.ok);
    assert.equal(unexpected.error.failure, "unexpected");
    assert.equal(working.calls, 1);
    assert.deepEqual(
      lines.map(({ level, message }) => [level, message]),
      [
        ["warn", "pid gone"],
        ["warn", "exec-hook notifier failed unexpectedly: bug"],
        ["info", "told the app: sent SIGHUP to child 42"],
      ],
    );
    assert.deepEqual(lines[0]?.fields, { notifier: "pid-file", changedFiles: 2, failure: "process-missing" });
  });

  it("runs notifiers side by side: a slow one does not hold back the others", async () => {
    const slow = new GatedNotifier();
    const fast = fixed("signal-child", notifySucceeded("signal-child", "sent SIGHUP to child 42"));
    const lines: string[] = [];
    const logger: NotifyLogger = { info: (_fields, message) => lines.push(message), warn: (_fields, message) => lines.push(message) };
    const result = new CompositeNotifier([slow, fast], { logger }).notify(changed("/a"));
    await settle();
    assert.equal(fast.calls, 1);
    assert.deepEqual(lines, ["told the app: sent SIGHUP to child 42"], "logged while the slow one still runs");
    slow.releaseAll();
    assert.deepEqual((await result).outcomes.map((outcome) => outcome.notifier), ["exec-hook", "signal-child"]);
  });

  it("is ok with no notifiers configured", async () => {
    assert.deepEqual(await new CompositeNotifier([]).notify(changed()), { ok: true, outcomes: [] });
  });
});
