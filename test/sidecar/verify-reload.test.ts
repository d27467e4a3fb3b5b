import assert from "node:assert/strict";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import { baseConfig, metricSamples, probe, runSidecar, scratch, startAgent, waitFor, writeConfig, X509_FILES, type LogLine } from "./support.js";

const tlsApp = join(import.meta.dirname, "../fixtures/tls-app.mjs");

/** A port free a moment ago; the app binds it after the sidecar's first write. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const verified = (line: LogLine): boolean => line.msg === "app serves the current SVID";
// "serves serial": an app still starting up (connection refused) on a slow machine is not the case under test.
const stale = (line: LogLine): boolean => typeof line.msg === "string" && /^app not serving current SVID: .* serves serial /.test(line.msg);

interface ReadyBody {
  readonly spiffe_sidecar: { readonly problems: readonly string[]; readonly reasons: Readonly<Record<string, string>> };
}

async function gauge(url: string): Promise<number | undefined> {
  return (await metricSamples(url, "spiffe_sidecar_app_serving_current_svid"))[0]?.value;
}

async function startWithApp(t: Parameters<typeof scratch>[0], appArgs: readonly string[], verifyExtra: Record<string, unknown> = {}, ttlSeconds = 4) {
  const where = await scratch(t);
  // Rotations every ttlSeconds / 2, so a 1 s window ends before the next one supersedes it.
  const agent = await startAgent(t, where, { x509TtlSeconds: ttlSeconds });
  const port = await freePort();
  const config = await writeConfig(where, {
    ...baseConfig(agent, where),
    ...X509_FILES,
    cmd: process.execPath,
    cmd_args: [tlsApp, "--cert", where.cert("svid.pem"), "--key", where.cert("svid_key.pem"), "--port", String(port), ...appArgs],
    renew_signal: "SIGHUP",
    cmd_start_grace: "100ms",
    notify_min_interval: "1ms",
    health_checks: { listener_enabled: true, bind_port: 0 },
    verify_reload: { address: `127.0.0.1:${port}`, window: "1s", ...verifyExtra },
  });
  const sidecar = runSidecar(t, config);
  return { sidecar, url: await sidecar.healthUrl(), port };
}

describe("verify_reload", () => {
  it("verifies each rotation of an app that reloads on SIGHUP", async (t) => {
    const { sidecar, url } = await startWithApp(t, []);
    await sidecar.waitForLog("three verified rotations", verified, 3, 30_000);
    assert.equal(sidecar.count(stale), 0, sidecar.tail());
    assert.equal(await gauge(url), 1);
    assert.equal((await probe(url, "/ready")).status, 200);
  });

  it("reports an app that ignores SIGHUP: the log, the gauge, the counter and /ready say what it serves", async (t) => {
    const { sidecar, url, port } = await startWithApp(t, ["--ignore-reload"]);
    // The first SVID is what the app loaded at start; the next it never loads.
    const [line] = await sidecar.waitForLog("a stale app reported", stale, 1, 30_000);
    assert.match(String(line?.msg), new RegExp(`app at 127\\.0\\.0\\.1:${port} serves serial [0-9A-F]+ \\(spiffe://example\\.org/app, notAfter \\S+\\), not the current [0-9A-F]+`));
    const ready = await waitFor("/ready to say why", async () => {
      const answer = await probe(url, "/ready");
      const body = answer.body as ReadyBody;
      return answer.status === 503 && /serves serial/.test(body.spiffe_sidecar.reasons["app-serving-stale"] ?? "") ? body : undefined;
    });
    assert.ok(ready.spiffe_sidecar.problems.includes("app-serving-stale"), JSON.stringify(ready));
    assert.match(ready.spiffe_sidecar.reasons["app-serving-stale"] ?? "", /^not serving current SVID: app at 127\.0\.0\.1:\d+ serves serial /);
    assert.equal(await gauge(url), 0);
    const failures = (await metricSamples(url, "spiffe_sidecar_reload_verify_failures_total"))[0]?.value ?? 0;
    assert.ok(failures >= 1, `failures counted: ${failures}`);
  });

  it("escalate: restart signals again, then restarts an app that ignores SIGHUP, which then serves the current SVID", async (t) => {
    // Rotations 5 s apart leave room for two windows and both escalation steps.
    const { sidecar, url } = await startWithApp(t, ["--ignore-reload"], { escalate: "restart" }, 10);
    const restarted = (line: LogLine): boolean => line.msg === "app not serving current SVID; escalating" && line["escalation"] === "restarted the child";
    await sidecar.waitForLog("a restart of the stale app", restarted, 1, 30_000);
    const after = sidecar.logs.findIndex(restarted);
    await sidecar.waitForLogAfter("the restarted app verified", after, verified);
    assert.ok(sidecar.logs.some((line) => line["escalation"] === "notified the app again"), "signalled again before the restart");
    assert.equal(sidecar.count(stale), 0, "the restart fixed it within the window");
    assert.equal(await gauge(url), 1);
  });
});
