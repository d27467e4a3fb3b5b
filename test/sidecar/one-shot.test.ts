import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { promisify } from "node:util";
import { describe, it } from "node:test";
import type { TestContext } from "node:test";
import type { FakeAgent } from "../../src/fakeagent/server.js";
import { inspectJwtSvid } from "../../src/sidecar/inspect/jwt-report.js";
import { inspectX509Svid } from "../../src/sidecar/inspect/x509-report.js";
import {
  baseConfig,
  inspectX509,
  readX509Files,
  scratch,
  spawnSidecar,
  startAgent,
  writeConfig,
  X509_FILES,
  type Scratch,
} from "./support.js";

async function execFileText(file: string, args: readonly string[]): Promise<string> {
  return (await promisify(execFile)(file, args, { encoding: "utf8" })).stdout;
}

const ALL_OUTPUTS = [
  ...Object.values(X509_FILES),
  "combined.pem",
  "jwt_bundle.json",
  "db.token",
  "federated",
].sort();

function everyOutput(agent: FakeAgent, where: Scratch, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ...baseConfig(agent, where),
    ...X509_FILES,
    combined_pem_file_name: "combined.pem",
    federated_bundle_dir: "federated",
    jwt_bundle_file_name: "jwt_bundle.json",
    jwt_svids: [{ jwt_audience: "db", jwt_svid_file_name: "db.token" }],
    ...extra,
  };
}

async function assertAllValid(where: Scratch): Promise<void> {
  assert.deepEqual((await readdir(where.certDir)).sort(), ALL_OUTPUTS);
  assert.deepEqual(await readdir(where.cert("federated")), ["partner.org.pem"]);
  assert.deepEqual(inspectX509(await readX509Files(where)).verdict, { valid: true });
  const combined = await readFile(where.cert("combined.pem"), "utf8");
  const combinedReport = inspectX509Svid({
    certificatesPem: combined,
    privateKeyPem: combined,
    bundlePem: await readFile(where.cert("svid_bundle.pem"), "utf8"),
    now: new Date(),
  });
  assert.deepEqual(combinedReport.verdict, { valid: true }, "the combined PEM holds the key and the chain");
  const jwt = await inspectJwtSvid({
    token: await readFile(where.cert("db.token"), "utf8"),
    bundleJson: await readFile(where.cert("jwt_bundle.json"), "utf8"),
    audience: ["db"],
    now: new Date(),
  });
  assert.deepEqual(jwt.verdict, { valid: true });
}

async function prepared(t: TestContext): Promise<{ where: Scratch; agent: FakeAgent }> {
  const where = await scratch(t);
  const agent = await startAgent(t, where, { federatesWith: ["partner.org"] });
  await mkdir(where.cert("federated"));
  return { where, agent };
}

describe("one-shot mode", () => {
  const invocations: readonly [string, (config: string) => string[], Record<string, unknown>][] = [
    ["once -c", (config) => ["once", "-c", config], {}],
    ["run -c with daemon_mode: false", (config) => ["run", "-c", config], { daemon_mode: false }],
    ["spiffe-helper's -config FILE -daemon-mode=false", (config) => ["-config", config, "-daemon-mode=false"], {}],
  ];
  for (const [name, args, extra] of invocations) {
    it(`${name}: writes every output once, valid, then exits 0`, async (t) => {
      const { where, agent } = await prepared(t);
      const config = await writeConfig(where, everyOutput(agent, where, extra));
      const sidecar = spawnSidecar(t, args(config));
      assert.deepEqual(await sidecar.exited, { code: 0, signal: null }, sidecar.tail());
      assert.ok(sidecar.logs.some((line) => line.msg === "spiffe-sidecar exiting: every output is written"));
      // Closing our own streams at exit is not agent loss, and must not read as one.
      assert.ok(!sidecar.logs.some((line) => typeof line.msg === "string" && line.msg.startsWith("lost the Workload API agent")), sidecar.tail());
      await assertAllValid(where);
    });
  }

  it("writes a PKCS#12 keystore and truststore that openssl opens with the password from pkcs12_password_file", async (t) => {
    const { where, agent } = await prepared(t);
    await writeFile(where.file("p12.pass"), "s3cret-pass\n");
    const config = await writeConfig(where, {
      ...baseConfig(agent, where),
      ...X509_FILES,
      pkcs12_keystore_file_name: "keystore.p12",
      pkcs12_truststore_file_name: "truststore.p12",
      pkcs12_password_file: where.file("p12.pass"),
    });
    const sidecar = spawnSidecar(t, ["once", "-c", config]);
    assert.deepEqual(await sidecar.exited, { code: 0, signal: null }, sidecar.tail());
    const openssl = (store: string, ...args: string[]): Promise<string> =>
      execFileText("openssl", ["pkcs12", "-in", where.cert(store), "-passin", "pass:s3cret-pass", ...args]);
    const files = await readX509Files(where);
    const keystoreCerts = await openssl("keystore.p12", "-nokeys");
    assert.ok(keystoreCerts.includes(files.cert.split("-----END CERTIFICATE-----")[0] ?? "unreachable"), "the keystore holds the leaf");
    assert.match(await openssl("keystore.p12", "-nocerts", "-nodes"), /-----BEGIN PRIVATE KEY-----/);
    const truststore = await openssl("truststore.p12", "-nokeys");
    assert.ok(truststore.includes(files.bundle.split("-----END CERTIFICATE-----")[0] ?? "unreachable"), "the truststore holds the CA");
    await assert.rejects(execFileText("openssl", ["pkcs12", "-in", where.cert("keystore.p12"), "-passin", "pass:wrong", "-nokeys"]));
    assert.ok(!JSON.stringify(sidecar.logs).includes("s3cret-pass"), "the password is never logged");
  });

  it("retries PermissionDenied until the agent gives an identity", async (t) => {
    const { where, agent } = await prepared(t);
    await agent.setFault({ kind: "deny" });
    const config = await writeConfig(where, everyOutput(agent, where, { one_shot_timeout: "20s" }));
    const sidecar = spawnSidecar(t, ["once", "-c", config]);
    await sidecar.waitForLog("a PermissionDenied", (line) => line.status === "PERMISSION_DENIED");
    await agent.clearFaults();
    assert.deepEqual(await sidecar.exited, { code: 0, signal: null }, sidecar.tail());
    await assertAllValid(where);
  });

  it("exits 1 naming the timeout and the last problem when the agent is missing at one_shot_timeout", async (t) => {
    const where = await scratch(t);
    const config = await writeConfig(where, {
      agent_address: `unix://${where.file("no-agent.sock")}`,
      cert_dir: where.certDir,
      ...X509_FILES,
      one_shot_timeout: "2s",
    });
    const sidecar = spawnSidecar(t, ["once", "-c", config]);
    assert.deepEqual(await sidecar.exited, { code: 1, signal: null });
    const [exitLine] = sidecar.logs.filter((line) => typeof line.msg === "string" && line.msg.startsWith("spiffe-sidecar exiting"));
    assert.equal(exitLine?.level, "error");
    assert.match(
      String(exitLine?.msg),
      /one-shot timed out after 2s before every output was written; last problem: FetchX509SVID: no Workload API at unix:\/\/\S+no-agent\.sock \(is the agent running\?\).* \(raise one_shot_timeout in \S+sidecar\.yaml if the agent is slow\)$/,
    );
    assert.deepEqual(await readdir(where.certDir), [], "nothing was written");
  });

  it("stops at once on SIGTERM, exiting 128 + 15", async (t) => {
    const where = await scratch(t);
    const config = await writeConfig(where, {
      agent_address: `unix://${where.file("no-agent.sock")}`,
      cert_dir: where.certDir,
      ...X509_FILES,
      one_shot_timeout: "60s",
    });
    const sidecar = spawnSidecar(t, ["once", "-c", config]);
    await sidecar.waitForLog("a failed connection attempt", (line) => line.method === "FetchX509SVID");
    assert.deepEqual(await sidecar.stop("SIGTERM"), { code: 143, signal: null });
  });
});
