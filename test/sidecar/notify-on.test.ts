import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { readLines, waitFor, waitForLine } from "../fixtures/fixture-helpers.js";
import { baseConfig, runSidecar, scratch, startAgent, writeConfig, wrote, X509_FILES, type Scratch, type SidecarProcess } from "./support.js";

type HookRun = Readonly<Record<string, string>>;

/** An exec hook that appends its SPIFFE_SIDECAR_* variables, and whether it saw a secret, as one JSON line. */
function recordingHook(runsFile: string, where: Scratch): Record<string, unknown> {
  const script = [
    "const fs = require('node:fs');",
    "const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith('SPIFFE_SIDECAR_')));",
    `const token = fs.existsSync(${JSON.stringify(where.cert("db.token"))}) ? fs.readFileSync(${JSON.stringify(where.cert("db.token"))}, 'utf8') : '\\0';`,
    "const all = Object.values(process.env).join('\\n');",
    "env.SECRET_SEEN = String(all.includes('PRIVATE KEY') || all.includes(token));",
    `fs.appendFileSync(${JSON.stringify(runsFile)}, JSON.stringify(env) + '\\n');`,
  ].join("\n");
  return { cmd: process.execPath, args: ["-e", script] };
}

async function hookRuns(runsFile: string): Promise<HookRun[]> {
  return (await readLines(runsFile)).map((line) => JSON.parse(line) as HookRun);
}

function waitForRuns(runsFile: string, count: number): Promise<HookRun[]> {
  return waitFor(`${count} exec hook runs`, async () => {
    const runs = await hookRuns(runsFile).catch(() => []);
    return runs.length >= count ? runs : undefined;
  });
}

/** A cmd that logs its start and every SIGHUP, as nginx would reload on each. */
function sighupCounter(appLog: string): Record<string, unknown> {
  const script = [
    "const fs = require('node:fs');",
    `process.on('SIGHUP', () => fs.appendFileSync(${JSON.stringify(appLog)}, 'HUP\\n'));`,
    `fs.appendFileSync(${JSON.stringify(appLog)}, 'start\\n');`,
    "setInterval(() => {}, 60_000);",
  ].join("\n");
  return { cmd: process.execPath, cmd_args: ["-e", script], renew_signal: "SIGHUP" };
}

async function svidFacts(where: Scratch): Promise<{ serial: string; notAfter: string }> {
  const leaf = new X509Certificate(await readFile(where.cert("svid.pem")));
  return { serial: leaf.serialNumber.toLowerCase().replace(/^0+(?=.)/, ""), notAfter: new Date(leaf.validTo).toISOString() };
}

async function tokenWrites(sidecar: SidecarProcess, where: Scratch, count: number): Promise<void> {
  await sidecar.waitForLog(`${count} token writes`, wrote(where.cert("db.token")), count);
}

describe("notify_on: the app is told only of the outputs it reads", () => {
  it("by default (spiffe-helper's) a JWT-SVID refresh neither signals cmd nor runs the hook; an X.509 rotation does both", async (t) => {
    const where = await scratch(t);
    const appLog = where.file("app.log");
    const runsFile = where.file("hook-runs");
    const agent = await startAgent(t, where, { x509TtlSeconds: 3_600, jwtTtlSeconds: 2 });
    const config = await writeConfig(where, {
      ...baseConfig(agent, where),
      ...X509_FILES,
      jwt_svids: [{ jwt_audience: "db", jwt_svid_file_name: "db.token" }],
      ...sighupCounter(appLog),
      exec_hook: recordingHook(runsFile, where),
      notify_min_interval: "1ms",
      cmd_start_grace: "100ms",
    });
    const sidecar = runSidecar(t, config);
    await waitForLine(appLog, "start");
    const [firstRun] = await waitForRuns(runsFile, 1);
    // The token is refreshed at half its 2 s life: three more writes, none of them told.
    await tokenWrites(sidecar, where, 4);
    assert.deepEqual((await readLines(appLog)).filter((line) => line === "HUP"), [], "no SIGHUP for JWT-SVID refreshes");
    assert.equal((await hookRuns(runsFile)).length, 1, "no hook run for JWT-SVID refreshes");

    await agent.rotateNow();
    await waitForLine(appLog, "HUP");
    const runs = await waitForRuns(runsFile, 2);
    await tokenWrites(sidecar, where, 7);
    await sidecar.stop();

    assert.equal((await readLines(appLog)).filter((line) => line === "HUP").length, 1, "one SIGHUP, for the rotation");
    assert.equal((await hookRuns(runsFile)).length, 2, "one hook run at the first write, one for the rotation");
    const facts = await svidFacts(where);
    assert.equal(firstRun?.["SPIFFE_SIDECAR_CHANGED"], "x509,bundles,jwt_svid", "the first write is new to the app in full");
    assert.deepEqual(runs[1], {
      SPIFFE_SIDECAR_CHANGED: "x509",
      SPIFFE_SIDECAR_CHANGED_FILES: [where.cert("svid.pem"), where.cert("svid_key.pem")].join(":"),
      SPIFFE_SIDECAR_SPIFFE_ID: "spiffe://example.org/app",
      SPIFFE_SIDECAR_SVID_SERIAL: facts.serial,
      SPIFFE_SIDECAR_SVID_NOT_AFTER: facts.notAfter,
      SECRET_SEEN: "false",
    });
    assert.notEqual(firstRun?.["SPIFFE_SIDECAR_SVID_SERIAL"], facts.serial, "the first run named the SVID before the rotation");
  });

  it("notify_on: [jwt_svid] runs the hook for each token refresh, naming the token file", async (t) => {
    const where = await scratch(t);
    const runsFile = where.file("hook-runs");
    const agent = await startAgent(t, where, { x509TtlSeconds: 3_600, jwtTtlSeconds: 2 });
    const config = await writeConfig(where, {
      ...baseConfig(agent, where),
      ...X509_FILES,
      jwt_svids: [{ jwt_audience: "db", jwt_svid_file_name: "db.token" }],
      exec_hook: recordingHook(runsFile, where),
      notify_on: ["jwt_svid"],
      notify_min_interval: "1ms",
    });
    const sidecar = runSidecar(t, config);
    const runs = await waitForRuns(runsFile, 3);
    await sidecar.stop();
    for (const run of runs.slice(1)) {
      assert.equal(run["SPIFFE_SIDECAR_CHANGED"], "jwt_svid");
      assert.equal(run["SPIFFE_SIDECAR_CHANGED_FILES"], where.cert("db.token"));
      assert.equal(run["SECRET_SEEN"], "false", "the token itself is never in the hook's environment");
      assert.equal(run["SPIFFE_SIDECAR_SPIFFE_ID"], "spiffe://example.org/app", "the X.509-SVID on disk is still named");
    }
  });

  it("a federated trust domain the agent drops is a bundles change: its file is removed and the hook told", async (t) => {
    const where = await scratch(t);
    const runsFile = where.file("hook-runs");
    const agent = await startAgent(t, where, { x509TtlSeconds: 3_600, federatesWith: ["partner.org"] });
    const config = await writeConfig(where, {
      ...baseConfig(agent, where),
      ...X509_FILES,
      federated_bundle_dir: "federated",
      exec_hook: recordingHook(runsFile, where),
      notify_min_interval: "1ms",
    });
    const sidecar = runSidecar(t, config);
    const [firstRun] = await waitForRuns(runsFile, 1);
    assert.ok(firstRun?.["SPIFFE_SIDECAR_CHANGED_FILES"]?.split(":").includes(where.cert("federated/partner.org.pem")));

    await agent.update({ federatesWith: [] });
    const runs = await waitForRuns(runsFile, 2);
    await sidecar.stop();
    assert.equal(runs[1]?.["SPIFFE_SIDECAR_CHANGED"], "bundles");
    assert.equal(runs[1]?.["SPIFFE_SIDECAR_CHANGED_FILES"], where.cert("federated/partner.org.pem"));
  });
});
