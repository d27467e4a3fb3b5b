import assert from "node:assert/strict";
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { TestContext } from "node:test";
import { parse } from "yaml";
import { startFakeAgent } from "../../src/fakeagent/server.js";
import type { FakeAgent } from "../../src/fakeagent/server.js";
import type { FakeAgentOptions } from "../../src/fakeagent/options.js";
import { inspectJwtFiles, inspectX509Files, requireTools, runCommand, runSidecarOnce, tempDir, writeSidecarConfig } from "./support.js";

const tools = requireTools(["spiffe-helper"]);

const AUDIENCE = "https://api.example.org";
const COMPARED = ["svid.pem", "svid_key.pem", "svid_bundle.pem", "jwt_bundle.json"] as const;

type Config = Record<string, unknown>;

/** spiffe-helper's HCL for the same keys: it reads HCL v1, where a leading-zero number is octal. */
function toHcl(config: Config): string {
  const value = (key: string, item: unknown): string => {
    if (typeof item === "string") return key.endsWith("_file_mode") ? item : JSON.stringify(item);
    if (typeof item === "boolean" || typeof item === "number") return String(item);
    if (Array.isArray(item)) return `[${item.map((element: unknown) => value("", element)).join(", ")}]`;
    if (typeof item === "object" && item !== null) {
      return `{ ${Object.entries(item).map(([name, inner]) => `${name} = ${value(name, inner)}`).join(", ")} }`;
    }
    throw new Error(`no HCL form for ${key}`);
  };
  return Object.entries(config).map(([key, item]) => `${key} = ${value(key, item)}\n`).join("");
}

/** config.example.yaml's active keys, pointed at `agentSocket` and `certDir`, plus `extra`. */
async function exampleConfig(agentSocket: string, certDir: string, extra: Config): Promise<Config> {
  const example = parse(await readFile(new URL("../../config.example.yaml", import.meta.url), "utf8")) as Config;
  return {
    ...example,
    agent_address: agentSocket,
    cert_dir: certDir,
    jwt_svids: [{ jwt_audience: AUDIENCE, jwt_svid_file_name: "api.token" }],
    daemon_mode: false,
    ...extra,
  };
}

interface Outputs {
  readonly helperDir: string;
  readonly sidecarDir: string;
}

describe("the Go spiffe-helper and spiffe-sidecar against the same fake agent", { skip: tools.skip }, () => {
  let scratch: Awaited<ReturnType<typeof tempDir>>;
  let runs = 0;

  before(async () => {
    scratch = await tempDir("helper-");
  });

  after(async () => {
    await scratch?.remove();
  });

  async function startAgent(t: TestContext, options: Partial<FakeAgentOptions>): Promise<FakeAgent> {
    runs += 1;
    const agent = await startFakeAgent({
      socketPath: join(scratch.path, `agent-${runs}.sock`),
      trustDomain: "example.org",
      identities: [{ spiffeId: "spiffe://example.org/app" }, { spiffeId: "spiffe://example.org/db", hint: "db" }],
      // One SVID and one JWT key for the whole test: both programs see the same agent state.
      x509TtlSeconds: 3600,
      jwtTtlSeconds: 3600,
      ...options,
    });
    t.after(() => agent.stop());
    return agent;
  }

  /** Runs spiffe-helper (HCL) and `spiffe-sidecar once` (YAML) with the same keys. */
  async function runBoth(agent: FakeAgent, extra: Config, prepare?: (dir: string) => Promise<void>): Promise<Outputs> {
    const helperDir = join(scratch.path, `helper-${runs}`);
    const sidecarDir = join(scratch.path, `sidecar-${runs}`);
    await mkdir(helperDir);
    await mkdir(sidecarDir);
    await prepare?.(helperDir);
    await prepare?.(sidecarDir);
    const helperConf = join(scratch.path, `helper-${runs}.conf`);
    await writeFile(helperConf, toHcl(await exampleConfig(agent.socketPath, helperDir, extra)));
    const helper = await runCommand(tools.path("spiffe-helper"), ["-config", helperConf]);
    assert.equal(helper.code, 0, `spiffe-helper failed:\n${helper.stderr}`);
    const sidecarConf = join(scratch.path, `sidecar-${runs}.yaml`);
    await writeSidecarConfig(sidecarConf, await exampleConfig(agent.socketPath, sidecarDir, extra));
    await runSidecarOnce(sidecarConf);
    return { helperDir, sidecarDir };
  }

  async function assertSameBytes(t: TestContext, { helperDir, sidecarDir }: Outputs): Promise<void> {
    for (const name of COMPARED) {
      const [helper, ours] = await Promise.all([readFile(join(helperDir, name)), readFile(join(sidecarDir, name))]);
      t.diagnostic(`${name}: ${helper.equals(ours) ? "byte-identical" : "DIFFERENT"} (spiffe-helper ${helper.length} B, spiffe-sidecar ${ours.length} B)`);
      assert.ok(helper.equals(ours), `${name} differs between spiffe-helper and spiffe-sidecar`);
    }
  }

  async function assertHelperFilesPassInspect(t: TestContext, helperDir: string, expectedId: string): Promise<void> {
    const x509 = await inspectX509Files(join(helperDir, "svid.pem"), join(helperDir, "svid_key.pem"), join(helperDir, "svid_bundle.pem"));
    assert.ok(x509.verdict.valid, JSON.stringify(x509.verdict));
    assert.equal(x509.spiffeId, expectedId);
    const jwt = await inspectJwtFiles(join(helperDir, "api.token"), join(helperDir, "jwt_bundle.json"), AUDIENCE);
    assert.ok(jwt.verdict.valid, JSON.stringify(jwt.verdict));
    assert.equal(jwt.spiffeId, expectedId);
    t.diagnostic(`spiffe-helper's files pass inspect: ${expectedId} serial ${x509.serialHex ?? ""}, and its JWT-SVID`);
  }

  it("config.example.yaml as HCL: the helper's files pass inspect and ours are byte-identical", async (t) => {
    const agent = await startAgent(t, {});
    const outputs = await runBoth(agent, {});
    await assertHelperFilesPassInspect(t, outputs.helperDir, "spiffe://example.org/app");
    await assertSameBytes(t, outputs);
  });

  it("with an intermediate CA, federation, a hint and RSA keys: still byte-identical", async (t) => {
    const agent = await startAgent(t, { intermediate: true, keyType: "rsa-2048", federatesWith: ["other.org", "partner.example"] });
    const outputs = await runBoth(agent, { hint: "db", add_intermediates_to_bundle: true, include_federated_domains: true });
    await assertHelperFilesPassInspect(t, outputs.helperDir, "spiffe://example.org/db");
    await assertSameBytes(t, outputs);
    const bundle = await readFile(join(outputs.sidecarDir, "svid_bundle.pem"), "utf8");
    assert.equal(bundle.match(/BEGIN CERTIFICATE/g)?.length, 4, "own root, the intermediate, two federated roots");
    const jwtBundle = JSON.parse(await readFile(join(outputs.sidecarDir, "jwt_bundle.json"), "utf8")) as Record<string, string>;
    assert.deepEqual(Object.keys(jwtBundle), ["example.org", "other.org", "partner.example"]);
  });

  it("differs where documented: a drifted mode is repaired and files are replaced, not rewritten in place", async (t) => {
    const agent = await startAgent(t, {});
    const inodes = new Map<string, number>();
    // A key file left world-readable by an earlier deployment or an operator's chmod.
    const outputs = await runBoth(agent, {}, async (dir) => {
      await writeFile(join(dir, "svid_key.pem"), "stale\n", { mode: 0o600 });
      await chmod(join(dir, "svid_key.pem"), 0o644);
      inodes.set(dir, (await stat(join(dir, "svid_key.pem"))).ino);
    });
    const helperKey = await stat(join(outputs.helperDir, "svid_key.pem"));
    const ourKey = await stat(join(outputs.sidecarDir, "svid_key.pem"));
    const mode = (info: { mode: number }): string => (info.mode & 0o777).toString(8).padStart(4, "0");
    t.diagnostic(`existing svid_key.pem at 0644, key_file_mode 0600: spiffe-helper leaves ${mode(helperKey)}, spiffe-sidecar writes ${mode(ourKey)}`);
    assert.equal(mode(helperKey), "0644");
    assert.equal(mode(ourKey), "0600");
    const helperInPlace = helperKey.ino === inodes.get(outputs.helperDir);
    const ourInPlace = ourKey.ino === inodes.get(outputs.sidecarDir);
    t.diagnostic(`svid_key.pem inode: spiffe-helper ${helperInPlace ? "kept (truncated and rewritten in place)" : "replaced"}, spiffe-sidecar ${ourInPlace ? "kept" : "replaced (temp file + rename)"}`);
    assert.ok(helperInPlace);
    assert.ok(!ourInPlace);
    await assertSameBytes(t, outputs);
  });
});
