import assert from "node:assert/strict";
import { open, readFile, rename, writeFile } from "node:fs/promises";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { TestContext } from "node:test";
import { startFakeAgent } from "../../src/fakeagent/server.js";
import type { FakeAgent } from "../../src/fakeagent/server.js";
import {
  currentSvidPem,
  e2eDir,
  examplePath,
  exitOf,
  findProgram,
  freePort,
  httpsGet,
  makeDir,
  metricValue,
  normalizeSerial,
  render,
  renderExample,
  runProgram,
  runSidecar,
  waitFor,
  writeExampleConfig,
} from "./support.js";
import type { HttpsResult, LogLine } from "./support.js";

const NGINX_ID = "spiffe://example.org/nginx";
const CLIENT_ID = "spiffe://example.org/web-client";
const NGINX = await findProgram("nginx");
const skip = NGINX === undefined ? "nginx is not installed; install the test peers with \"bash scripts/install-test-peers.sh\"" : false;

/** One nginx under test: its own agent, cert_dir, runtime dir and port. */
interface Setup {
  readonly nginx: string;
  readonly dir: string;
  readonly certDir: string;
  readonly runDir: string;
  readonly conf: string;
  readonly port: number;
  readonly agent: FakeAgent;
}

async function setUp(t: TestContext): Promise<Setup> {
  assert.ok(NGINX !== undefined);
  const dir = await e2eDir(t, "nginx");
  const certDir = await makeDir(join(dir, "certs"));
  const runDir = await makeDir(join(dir, "run"));
  const port = await freePort();
  const agent = await startFakeAgent({
    socketPath: join(dir, "agent.sock"),
    trustDomain: "example.org",
    identities: [
      { spiffeId: NGINX_ID, hint: "nginx" },
      { spiffeId: CLIENT_ID, hint: "client" },
    ],
    x509TtlSeconds: 3,
  });
  t.after(() => agent.stop());
  const conf = await renderExample(examplePath("nginx", "nginx.conf"), join(dir, "nginx.conf"), {
    "/run/spiffe/nginx": certDir,
    "/run/nginx-spiffe": runDir,
    "127.0.0.1:8443": `127.0.0.1:${port}`,
  });
  return { nginx: NGINX, dir, certDir, runDir, conf, port, agent };
}

/** An example sidecar config pointed at this setup; the sidecar picks nginx's SVID by hint. */
function sidecarConfig(
  setup: Setup,
  example: "sidecar-child.yaml" | "sidecar-pid-file.yaml" | "sidecar-exec-hook.yaml",
  extra: Record<string, unknown> = {},
): Promise<string> {
  const paths =
    example === "sidecar-pid-file.yaml"
      ? { "/run/nginx-spiffe": setup.runDir }
      : { "/usr/sbin/nginx": setup.nginx, "/etc/nginx/spiffe/nginx.conf": setup.conf };
  return writeExampleConfig(examplePath("nginx", example), join(setup.dir, example), { "/run/spiffe/nginx": setup.certDir, ...paths }, {
    agent_address: setup.agent.address,
    hint: "nginx",
    log_level: "info",
    health_checks: { listener_enabled: true, bind_port: 0 },
    ...extra,
  });
}

/** A GET as the client workload, with its current SVID: what a well-behaved peer does. */
async function getAsClient(setup: Setup): Promise<HttpsResult & { clientSerial: string }> {
  const client = currentSvidPem(setup.agent, CLIENT_ID);
  const ca = await readFile(join(setup.certDir, "svid_bundle.pem"), "utf8");
  return { ...(await httpsGet({ port: setup.port, ca, cert: client.cert, key: client.key })), clientSerial: client.serial };
}

/** Checks what every accepted request must show: nginx's SPIFFE ID, a verified client, 200. */
function assertServedAsNginx(result: HttpsResult & { clientSerial: string }): void {
  assert.deepEqual(result.uriSans, [NGINX_ID], "the server certificate names nginx's SPIFFE ID");
  assert.equal(result.status, 200, result.body);
  assert.match(result.body, /verify=SUCCESS/);
  assert.equal(normalizeSerial(/serial=([0-9A-Fa-f]+)/.exec(result.body)?.[1] ?? ""), result.clientSerial, "nginx saw our client SVID");
}

function waitForNginx(setup: Setup): Promise<HttpsResult> {
  return waitFor("nginx to answer over TLS", async () => {
    try {
      return await getAsClient(setup);
    } catch {
      return undefined;
    }
  });
}

/**
 * Polls until nginx serves a certificate not in `seen`; returns it. Right after a reload the
 * old worker may still accept a connection or two with the previous certificate, so "not
 * seen before" rather than "not the last one". With `retry`, a failed request is tried again
 * (an nginx that could not reload serves an expired certificate).
 */
function waitForNewServedSerial(setup: Setup, seen: readonly string[], retry = false): Promise<HttpsResult & { clientSerial: string }> {
  return waitFor(`nginx to serve a certificate other than ${seen.join(", ")}`, async () => {
    try {
      const result = await getAsClient(setup);
      return seen.includes(result.serial) ? undefined : result;
    } catch (error: unknown) {
      if (retry) return undefined;
      throw error;
    }
  });
}

function processGone(pid: number): true | undefined {
  try {
    process.kill(pid, 0);
    return undefined;
  } catch {
    return true;
  }
}

/** Starts nginx on its own (it daemonizes) and stops its master, found by pid file, after the test. */
async function startDetachedNginx(t: TestContext, setup: Setup): Promise<void> {
  const logPath = join(setup.dir, "nginx.log");
  const log = await open(logPath, "a");
  // Not pipes: the daemon keeps stderr open, and a pipe would keep us waiting for it.
  const starter = spawn(setup.nginx, ["-c", setup.conf, "-e", "stderr"], { stdio: ["ignore", log.fd, log.fd] });
  const started = await exitOf(starter);
  await log.close();
  assert.equal(started.code, 0, `nginx failed to start:\n${await readFile(logPath, "utf8")}`);
  const pidText = await waitFor("nginx's pid file", () => readFile(join(setup.runDir, "nginx.pid"), "utf8").catch(() => undefined));
  const pid = Number(pidText.trim());
  t.after(async () => {
    if (processGone(pid) === true) return;
    process.kill(pid, "SIGTERM");
    await waitFor(`nginx ${pid} to stop`, () => processGone(pid));
  });
}

/** Whole-file replacement: a hook running at that moment must read the old or the new config, never half of one. */
async function replaceFile(path: string, text: string): Promise<void> {
  await writeFile(`${path}.new`, text);
  await rename(`${path}.new`, path);
}

const isUpdate = (line: LogLine): boolean => line.msg === "identity files updated";
const isVerified = (line: LogLine): boolean => line.msg === "app serves the current SVID";
const isStale = (line: LogLine): boolean => typeof line.msg === "string" && line.msg.startsWith("app not serving current SVID:");
const toldBy =
  (notifier: string) =>
  (line: LogLine): boolean =>
    line["notifier"] === notifier && typeof line.msg === "string" && line.msg.startsWith("told the app");

describe("nginx beside spiffe-sidecar (real nginx, fake agent, 3 s SVIDs)", { skip }, () => {
  it("as the sidecar's child: presents its SPIFFE ID, a new serial after every rotation, and no handshake fails across them", async (t) => {
    const setup = await setUp(t);
    const sidecar = runSidecar(t, ["run", "-c", await sidecarConfig(setup, "sidecar-child.yaml")]);
    await sidecar.waitForLog("the first write", isUpdate);
    await waitForNginx(setup);

    const rotations = 3;
    const served: string[] = [];
    const failures: string[] = [];
    let handshakes = 0;
    const deadline = Date.now() + 20_000;
    while (served.length < rotations + 1 && Date.now() < deadline) {
      handshakes += 1;
      try {
        const result = await getAsClient(setup);
        assertServedAsNginx(result);
        if (!served.includes(result.serial)) served.push(result.serial);
      } catch (error: unknown) {
        failures.push(error instanceof Error ? error.message : String(error));
      }
    }
    const written = sidecar.writtenSerials();
    t.diagnostic(`nginx child: ${handshakes} mTLS handshakes, ${failures.length} failures, ${served.length - 1} rotations seen`);
    t.diagnostic(`served serials: ${served.join(" -> ")}`);
    assert.deepEqual(failures, [], "no handshake fails while nginx reloads");
    assert.ok(served.length >= rotations + 1, `saw ${served.length} serials; written: ${written.join(", ")}`);
    // Every served certificate is one the sidecar wrote, each newer than the one before it.
    const order = served.map((serial) => written.indexOf(serial));
    assert.ok(order.every((index) => index >= 0), `served ${served.join(", ")}; written ${written.join(", ")}`);
    assert.deepEqual([...order].sort((a, b) => a - b), order, "serials appear in the order they were written");
    assert.ok(sidecar.logs.filter(toldBy("signal-child")).length >= rotations, "each rotation sent SIGHUP to nginx");
  });

  it("answers the README's `Check it` commands, run as written with the paths and port of this setup", async (t) => {
    const setup = await setUp(t);
    const sidecar = runSidecar(t, ["run", "-c", await sidecarConfig(setup, "sidecar-child.yaml")]);
    await sidecar.waitForLog("the first write", isUpdate);
    await waitForNginx(setup);
    const readme = await readFile(examplePath("nginx", "README.md"), "utf8");
    const block = /## Check it\n\n```sh\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(block !== undefined, "the README has no `Check it` block");
    const script = render(block, { "/run/spiffe/nginx": setup.certDir, "127.0.0.1:8443": `127.0.0.1:${setup.port}` });
    // openssl reads -cert and -key one after the other: a rotation (every ~1.5 s here) between
    // the two reads pairs a new certificate with the old key, so a mismatch is tried again.
    let result = await runProgram("bash", ["-o", "pipefail", "-c", script]);
    for (let attempt = 1; attempt < 3 && /key values mismatch/.test(result.stderr); attempt++) result = await runProgram("bash", ["-o", "pipefail", "-c", script]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^hello client serial=[0-9A-F]+ verify=SUCCESS$/m);
    assert.match(result.stdout, /^serial=[0-9A-F]+$/m);
    assert.match(result.stdout, /URI:spiffe:\/\/example\.org\/nginx/);
    t.diagnostic(`README "Check it": ${result.stdout.trim().split("\n").map((line) => line.trim()).join(" / ")}`);
  });

  it("with mTLS on, refuses a client without a certificate or with one from another trust domain, and admits a valid SVID", async (t) => {
    const setup = await setUp(t);
    const sidecar = runSidecar(t, ["run", "-c", await sidecarConfig(setup, "sidecar-child.yaml")]);
    await sidecar.waitForLog("the first write", isUpdate);
    await waitForNginx(setup);
    const ca = await readFile(join(setup.certDir, "svid_bundle.pem"), "utf8");

    // nginx completes the handshake and answers 400 with the reason, rather than a TLS alert.
    const anonymous = await httpsGet({ port: setup.port, ca });
    assert.equal(anonymous.status, 400);
    assert.match(anonymous.body, /No required SSL certificate was sent/);

    const foreignAgent = await startFakeAgent({
      socketPath: join(setup.dir, "other.sock"),
      trustDomain: "other.org",
      identities: [{ spiffeId: "spiffe://other.org/web-client" }],
    });
    t.after(() => foreignAgent.stop());
    const foreign = currentSvidPem(foreignAgent, "spiffe://other.org/web-client");
    const stranger = await httpsGet({ port: setup.port, ca, cert: foreign.cert, key: foreign.key });
    assert.equal(stranger.status, 400);
    assert.match(stranger.body, /The SSL certificate error/);

    const admitted = await getAsClient(setup);
    assertServedAsNginx(admitted);
    t.diagnostic(`no certificate: ${anonymous.status} "No required SSL certificate was sent"`);
    t.diagnostic(`SVID of spiffe://other.org/web-client: ${stranger.status} "The SSL certificate error"`);
    t.diagnostic(`SVID of ${CLIENT_ID} (serial ${admitted.clientSerial}): ${admitted.status} ${admitted.body.trim()}`);
  });

  it("run separately: the sidecar signals nginx through its pid file and nginx serves each new certificate", async (t) => {
    const setup = await setUp(t);
    const sidecar = runSidecar(t, ["run", "-c", await sidecarConfig(setup, "sidecar-pid-file.yaml")]);
    await sidecar.waitForLog("the first write", isUpdate);
    await startDetachedNginx(t, setup);
    const seen = [(await waitForNginx(setup)).serial];
    for (let rotation = 1; rotation <= 2; rotation += 1) {
      const next = await waitForNewServedSerial(setup, seen);
      assertServedAsNginx(next);
      seen.push(next.serial);
    }
    const written = sidecar.writtenSerials();
    t.diagnostic(`nginx via pid file: served serials ${seen.join(" -> ")}`);
    assert.ok(seen.every((serial) => written.includes(serial)), `served ${seen.join(", ")}; written ${written.join(", ")}`);
    const signalled = sidecar.logs.filter(toldBy("pid-file"));
    assert.ok(signalled.length >= 2, "the pid-file notifier sent SIGHUP on the rotations");
    assert.match(String(signalled.at(-1)?.msg), /sent SIGHUP to PID \d+ from .*nginx\.pid/);
  });

  it("a failing reload (nginx rejects its config) is logged, counted, survived and retried on the next update", async (t) => {
    const setup = await setUp(t);
    const sidecar = runSidecar(t, ["run", "-c", await sidecarConfig(setup, "sidecar-exec-hook.yaml")]);
    await sidecar.waitForLog("the first write", isUpdate);
    await startDetachedNginx(t, setup);
    const before = (await waitForNginx(setup)).serial;
    await sidecar.waitForLog("a successful `nginx -s reload`", toldBy("exec-hook"));
    const health = await sidecar.healthUrl();

    const failuresBefore = await metricValue(health, "spiffe_sidecar_notify_failures_total", { notifier: "exec-hook" });
    const logsBefore = sidecar.logs.length;
    const good = await readFile(setup.conf, "utf8");
    await replaceFile(setup.conf, `${good}\nthis_is_not_a_directive on;\n`);
    const isHookFailure = (line: LogLine): boolean =>
      sidecar.logs.indexOf(line) >= logsBefore && line["notifier"] === "exec-hook" && line["failure"] === "hook-failed";
    const [first] = await sidecar.waitForLog("two failed reloads", isHookFailure, 2);
    assert.match(String(first?.msg), /exited with code 1; stderr: .*unknown directive "this_is_not_a_directive"/);
    assert.equal(first?.["level"], "warn", "logged as a warning");
    const failuresAfter = await metricValue(health, "spiffe_sidecar_notify_failures_total", { notifier: "exec-hook" });
    assert.ok(failuresAfter >= failuresBefore + 2, `counted: ${failuresBefore} -> ${failuresAfter}`);
    assert.ok(sidecar.running, "the sidecar keeps running");
    assert.equal((await fetch(`${health}/live`)).status, 200);

    const writtenWhileBroken = sidecar.writtenSerials();
    await replaceFile(setup.conf, good);
    const logsFixed = sidecar.logs.length;
    await sidecar.waitForLog("a reload after the fix", (line) => sidecar.logs.indexOf(line) >= logsFixed && toldBy("exec-hook")(line));
    const after = await waitForNewServedSerial(setup, writtenWhileBroken, true);
    assertServedAsNginx(after);
    t.diagnostic(`broken nginx.conf: the reload failed on 2 consecutive updates, each logged as a warning`);
    t.diagnostic(`  ${String(first?.msg).replace(/^.*?(exited)/, "$1").slice(0, 140)}`);
    t.diagnostic(`  spiffe_sidecar_notify_failures_total{notifier="exec-hook"} ${failuresBefore} -> ${failuresAfter}; /live still 200`);
    t.diagnostic(`config fixed: the next update reloaded nginx, which serves ${after.serial} (before the break: ${before})`);
  });

  it("with verify_reload on: the sidecar itself sees nginx serve each rotated SVID", async (t) => {
    const setup = await setUp(t);
    const verifyReload = { address: `127.0.0.1:${setup.port}`, window: "5s" };
    const sidecar = runSidecar(t, ["run", "-c", await sidecarConfig(setup, "sidecar-child.yaml", { verify_reload: verifyReload })]);
    const verified = await sidecar.waitForLog("three verified rotations", isVerified, 3);
    const health = await sidecar.healthUrl();
    assert.equal(sidecar.logs.filter(isStale).length, 0);
    assert.equal(await metricValue(health, "spiffe_sidecar_app_serving_current_svid"), 1);
    const serials = verified.map((line) => normalizeSerial(String(line["serial"])));
    assert.ok(serials.every((serial) => sidecar.writtenSerials().includes(serial)), `verified ${serials.join(", ")}`);
    // Reported, never asserted: from SIGHUP to the first probe that saw the new certificate.
    const lags = verified.map((line) => {
      const signalled = sidecar.logs.slice(0, sidecar.logs.indexOf(line)).filter(toldBy("signal-child")).at(-1);
      return signalled === undefined ? "first" : `${Date.parse(String(line["time"])) - Date.parse(String(signalled["time"]))} ms`;
    });
    t.diagnostic(`verified serials: ${serials.join(" -> ")}; SIGHUP to verified: ${lags.join(", ")}`);
  });

  it("with verify_reload on and nginx's reload broken: reported as not serving the current SVID, and /ready says why", async (t) => {
    const setup = await setUp(t);
    // Under the ~1.5 s rotation interval, so a verification ends before the next supersedes it.
    const verifyReload = { address: `127.0.0.1:${setup.port}`, window: "1s" };
    const sidecar = runSidecar(t, ["run", "-c", await sidecarConfig(setup, "sidecar-child.yaml", { verify_reload: verifyReload })]);
    await sidecar.waitForLog("the first verification", isVerified);
    const health = await sidecar.healthUrl();
    // SIGHUP makes nginx re-read its config; an invalid one leaves the old workers, and cert, serving.
    await replaceFile(setup.conf, `${await readFile(setup.conf, "utf8")}\nthis_is_not_a_directive on;\n`);
    const [stale] = await sidecar.waitForLog("a stale nginx reported", isStale);
    assert.match(String(stale?.msg), new RegExp(`app at 127\\.0\\.0\\.1:${setup.port} serves serial [0-9A-F]+ \\(${NGINX_ID}, notAfter \\S+\\), not the current [0-9A-F]+`));
    const ready = await waitFor("/ready to turn false", async () => {
      const response = await fetch(`${health}/ready`);
      return response.status === 503 ? ((await response.json()) as { spiffe_sidecar: { reasons: Record<string, string> } }) : undefined;
    });
    assert.match(ready.spiffe_sidecar.reasons["app-serving-stale"] ?? "", /^not serving current SVID: app at /);
    assert.equal(await metricValue(health, "spiffe_sidecar_app_serving_current_svid"), 0);
    assert.ok((await metricValue(health, "spiffe_sidecar_reload_verify_failures_total")) >= 1);
    t.diagnostic(`broken reload: ${String(stale?.msg).slice(0, 200)}`);
  });
});
