import assert from "node:assert/strict";
import { readFile, rename, stat, writeFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { stringify } from "yaml";
import { parseConfig } from "../../src/sidecar/config/index.js";
import { planConfigReload } from "../../src/sidecar/daemon/config-reload.js";
import { fixtures, processExists, waitForReady } from "../fixtures/fixture-helpers.js";
import { baseConfig, runSidecar, scratch, startAgent, subScratch, waitFor, writeConfig, wrote, X509_FILES, type LogPredicate } from "./support.js";

const reloaded: LogPredicate = (line) => line.msg === "configuration reloaded";
const refused: LogPredicate = (line) => typeof line.msg === "string" && line.msg.startsWith("configuration reload refused");

async function modeOf(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

function configOf(yaml: Record<string, unknown>) {
  return parseConfig(stringify({ agent_address: "unix:///tmp/agent.sock", cert_dir: "/tmp/certs", ...yaml }), "sidecar.yaml", {});
}

describe("planConfigReload", () => {
  it("applies output modes, JWT audiences and the log level live, restarting nothing", () => {
    const current = configOf({ ...X509_FILES, cmd: "nginx", log_level: "info" });
    const next = configOf({
      ...X509_FILES,
      cmd: "nginx",
      log_level: "debug",
      cert_file_mode: "0640",
      jwt_svids: [{ jwt_audience: "db", jwt_svid_file_name: "db.token" }],
    });
    const plan = planConfigReload(current, next);
    assert.deepEqual(
      plan.changes.map((change) => `${change.key}:${change.effect}`).sort(),
      ["certFileMode:live", "jwtSvids:live", "logLevel:live"],
    );
    // The JWT bundle stream is newly needed by the JWT-SVID: that alone reopens the streams.
    assert.equal(plan.restartStreams, true);
    assert.equal(plan.restartChild, false);
    assert.equal(plan.applied.certFileMode, 0o640);
  });

  it("keeps the streams when the streams needed do not change", () => {
    const jwt = (audience: string) => ({ jwt_svids: [{ jwt_audience: audience, jwt_svid_file_name: `${audience}.token` }] });
    const plan = planConfigReload(configOf({ ...X509_FILES, ...jwt("db") }), configOf({ ...X509_FILES, ...jwt("cache") }));
    assert.equal(plan.restartStreams, false);
    assert.equal(plan.rebuildNotifiers, false);
  });

  it("reopens the streams for a new agent address or hint, and restarts the child for a new command", () => {
    const current = configOf({ ...X509_FILES, cmd: "nginx", cmd_args: "-g daemon off;" });
    const plan = planConfigReload(current, configOf({ ...X509_FILES, agent_address: "unix:///tmp/other.sock", hint: "web", cmd: "nginx", cmd_args: "-q" }));
    assert.equal(plan.restartStreams, true);
    assert.equal(plan.restartChild, true);
  });

  it("keeps the running value of what only a sidecar restart applies, and says so", () => {
    const current = configOf({ ...X509_FILES, cmd: "nginx", restart_policy: "never" });
    const plan = planConfigReload(current, configOf({ ...X509_FILES, cmd: "nginx", restart_policy: "always", renew_signal: "SIGHUP" }));
    assert.deepEqual(plan.needsSidecarRestart, ["restartPolicy"]);
    assert.equal(plan.applied.restartPolicy, "never");
    assert.equal(plan.applied.renewSignal, "SIGHUP");
    assert.equal(plan.rebuildNotifiers, true);
    assert.equal(plan.restartChild, false);
  });

  it("does not add or remove the child on a reload", () => {
    const current = configOf({ ...X509_FILES, cmd: "nginx", cmd_args: "-q" });
    const plan = planConfigReload(current, configOf({ ...X509_FILES }));
    assert.ok(plan.needsSidecarRestart.includes("cmd"));
    assert.equal(plan.applied.cmd, "nginx");
    assert.deepEqual(plan.applied.cmdArgs, current.cmdArgs);
    assert.equal(plan.restartChild, false);
  });

  it("finds nothing to do in an unchanged file", () => {
    const plan = planConfigReload(configOf({ ...X509_FILES }), configOf({ ...X509_FILES }));
    assert.deepEqual(plan.changes, []);
  });
});

describe("a live configuration reload", () => {
  it("applies cert_file_mode and a new JWT audience without restarting the child or reopening the agent stream", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where, { x509TtlSeconds: 600, jwtTtlSeconds: 600 });
    const childLog = where.file("child.log");
    const config = {
      ...baseConfig(agent, where),
      ...X509_FILES,
      jwt_bundle_file_name: "jwt_bundle.json",
      jwt_svids: [{ jwt_audience: "db", jwt_svid_file_name: "db.token" }],
      cmd: process.execPath,
      cmd_args: [fixtures.signalLogger, "--log", childLog],
    };
    const configPath = await writeConfig(where, config);
    const sidecar = runSidecar(t, configPath);
    const childPid = await waitForReady(childLog);
    await sidecar.waitForLog("the token write", wrote(where.cert("db.token")));
    assert.equal(await modeOf(where.cert("svid.pem")), 0o644);
    const streamsBefore = agent.streamsOpened();
    const certBefore = await readFile(where.cert("svid.pem"), "utf8");

    // Saved as editors do: a new file renamed over the old one.
    const edited = where.file("sidecar.yaml.tmp");
    const next = { ...config, cert_file_mode: "0600", jwt_svids: [...config.jwt_svids, { jwt_audience: "cache", jwt_svid_file_name: "cache.token" }] };
    await writeFile(edited, stringify(next));
    const savedAtMs = Date.now();
    await rename(edited, configPath);

    const [reload] = await sidecar.waitForLog("the reload", reloaded);
    // A figure for the report, never asserted: the debounce and write-settle wait are most of it.
    t.diagnostic(`save to "configuration reloaded": ${Date.parse(String(reload?.["time"])) - savedAtMs} ms`);
    await sidecar.waitForLog("the new token", wrote(where.cert("cache.token")));
    await waitFor("the new mode on the cert file", async () => ((await modeOf(where.cert("svid.pem"))) === 0o600 ? true : undefined));
    assert.equal(await readFile(where.cert("svid.pem"), "utf8"), certBefore, "the same SVID, only its mode changed");
    assert.equal(await modeOf(where.cert("svid_key.pem")), 0o600);
    assert.equal(processExists(childPid), true, "the child still runs");
    assert.equal(sidecar.count((line) => line.msg === "child started"), 1, "the child was not restarted");
    assert.equal(agent.streamsOpened(), streamsBefore, "no agent stream was reopened");
    assert.equal(agent.streamsOpened("FetchX509SVID"), 1);
    assert.deepEqual([...((reload?.["changed"] as string[] | undefined) ?? [])].sort(), ["cert_file_mode", "jwt_svids"]);
    assert.deepEqual(reload?.["restarted"], []);
  });

  it("restarts only the child when cmd_args change, keeping the agent stream", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where, { x509TtlSeconds: 600 });
    const childLog = (name: string) => where.file(name);
    const config = { ...baseConfig(agent, where), ...X509_FILES, cmd: process.execPath, restart_policy: "never", restart_grace_period: "2s" };
    const configPath = await writeConfig(where, { ...config, cmd_args: [fixtures.signalLogger, "--log", childLog("first.log")] });
    const sidecar = runSidecar(t, configPath);
    const firstPid = await waitForReady(childLog("first.log"));
    const streamsBefore = agent.streamsOpened();

    await writeConfig(where, { ...config, cmd_args: [fixtures.signalLogger, "--log", childLog("second.log")] });
    const secondPid = await waitForReady(childLog("second.log"));
    const [line] = await sidecar.waitForLog("the reload", reloaded);
    assert.notEqual(secondPid, firstPid);
    assert.equal(processExists(firstPid), false, "the old child is gone");
    assert.deepEqual(line?.["restarted"], ["child"]);
    assert.equal(agent.streamsOpened(), streamsBefore, "no agent stream was reopened");
    assert.equal(sidecar.hasExited, false);
  });

  it("reopens the streams on a new agent_address, leaving the child alone", async (t) => {
    const where = await scratch(t);
    const first = await startAgent(t, where, { x509TtlSeconds: 600 });
    const other = await subScratch(where, "other");
    const second = await startAgent(t, other, { x509TtlSeconds: 600 });
    const childLog = where.file("child.log");
    const config = { ...X509_FILES, cert_dir: where.certDir, log_level: "info", cmd: process.execPath, cmd_args: [fixtures.signalLogger, "--log", childLog] };
    const configPath = await writeConfig(where, { ...config, agent_address: first.address });
    const sidecar = runSidecar(t, configPath);
    const childPid = await waitForReady(childLog);
    const certBefore = await readFile(where.cert("svid.pem"), "utf8");

    await writeConfig(where, { ...config, agent_address: second.address });
    const [line] = await sidecar.waitForLog("the reload", reloaded);
    assert.deepEqual(line?.["restarted"], ["agent streams"]);
    await waitFor("the SVID of the second agent", async () => ((await readFile(where.cert("svid.pem"), "utf8")) !== certBefore ? true : undefined));
    assert.equal(second.streamsOpened("FetchX509SVID"), 1);
    assert.equal(processExists(childPid), true);
    assert.equal(sidecar.count((entry) => entry.msg === "child started"), 1, "the child was not restarted");
  });

  it("refuses an invalid edit with file:line:col and keeps the running configuration and files", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where, { x509TtlSeconds: 600 });
    const configPath = await writeConfig(where, { ...baseConfig(agent, where), ...X509_FILES });
    const sidecar = runSidecar(t, configPath);
    await sidecar.waitForLog("the first write", wrote(where.cert("svid.pem")));
    const before = await readFile(where.cert("svid.pem"));

    await writeFile(configPath, `${stringify({ ...baseConfig(agent, where), ...X509_FILES })}cert_file_mode: "rw-r--r--"\n`);
    const [refusal] = await sidecar.waitForLog("the refusal", refused);
    assert.match(String(refusal?.msg), /sidecar\.yaml:\d+:\d+: cert_file_mode: /);
    assert.equal(refusal?.level, "error");

    // A valid edit still reloads afterwards: the refusal left the watch and the old config working.
    await writeConfig(where, { ...baseConfig(agent, where), ...X509_FILES, cert_file_mode: "0640" });
    await sidecar.waitForLog("the reload", reloaded);
    assert.equal(await modeOf(where.cert("svid.pem")), 0o640);
    assert.deepEqual(await readFile(where.cert("svid.pem")), before);
    assert.equal(sidecar.count(reloaded), 1);
  });

  it("refuses a configuration that fails the environment checks", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where, { x509TtlSeconds: 600 });
    const configPath = await writeConfig(where, { ...baseConfig(agent, where), ...X509_FILES });
    const sidecar = runSidecar(t, configPath);
    await sidecar.waitForLog("the first write", wrote(where.cert("svid.pem")));
    // A missing cert_dir is created by default; with create_cert_dir: false it fails the checks.
    await writeConfig(where, { ...baseConfig(agent, where), ...X509_FILES, cert_dir: where.file("missing"), create_cert_dir: false });
    const [refusal] = await sidecar.waitForLog("the refusal", refused);
    assert.match(String(refusal?.msg), /cert_dir: .*does not exist/);
    assert.equal(sidecar.count(reloaded), 0);
  });

  it("reloads on SIGHUP when there is no child", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where, { x509TtlSeconds: 600 });
    const configPath = await writeConfig(where, { ...baseConfig(agent, where), ...X509_FILES });
    const sidecar = runSidecar(t, configPath);
    await sidecar.waitForLog("the first write", wrote(where.cert("svid.pem")));
    const streamsBefore = agent.streamsOpened();

    sidecar.process.kill("SIGHUP");
    await sidecar.waitForLog("the no-op reload", (line) => line.msg === "configuration reloaded: nothing changed" && line["trigger"] === "SIGHUP");
    assert.equal(sidecar.hasExited, false, "SIGHUP did not end the sidecar");

    // The file watch may apply this edit first; the SIGHUP reload then finds nothing to do.
    await writeConfig(where, { ...baseConfig(agent, where), ...X509_FILES, svid_bundle_file_name: "bundle.pem" });
    sidecar.process.kill("SIGHUP");
    await sidecar.waitForLog("the reload", reloaded);
    await sidecar.waitForLog("the second SIGHUP's reload", (line) => line["trigger"] === "SIGHUP", 2);
    await waitFor("the renamed bundle file", async () => (await stat(where.cert("bundle.pem")).catch(() => undefined)) !== undefined || undefined);
    assert.equal(agent.streamsOpened(), streamsBefore);
  });
});
