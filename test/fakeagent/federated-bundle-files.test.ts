import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { TestContext } from "node:test";
import { pino } from "pino";
import { parseConfigText, resolveLayer } from "../../src/fakeagent/config-file.js";
import { startConfiguredAgent } from "../../src/fakeagent/configured-agent.js";
import { FakeAgentConfigError } from "../../src/fakeagent/errors.js";
import { resolveOptions } from "../../src/fakeagent/options.js";
import type { FakeAgentOptions } from "../../src/fakeagent/options.js";
import type { FakeAgent } from "../../src/fakeagent/server.js";
import { parseTrustDomain } from "../../src/spiffe/spiffe-id.js";
import { parseX509BundleDer, X509BundleSet } from "../../src/spiffe/x509-bundle.js";
import { parseX509SvidDer } from "../../src/spiffe/x509-svid.js";
import { verifyX509Svid } from "../../src/spiffe/x509-verify.js";
import type { X509BundlesResponse, X509SVIDResponse } from "../../src/workloadapi/generated/workload.js";
import { repoRoot } from "../support/vectors.js";
import { rawClient, record, startTestAgent, tempDir, timeout, withHeader } from "./support.js";

const OTHER = "spiffe://other.org";
const OTHER_TD = parseTrustDomain("other.org");

/** Agent B: trust domain other.org with its own CA, keeping `bundlePath` holding that CA. */
async function startOtherAgent(t: TestContext, bundlePath: string): Promise<FakeAgent> {
  return startTestAgent(t, { trustDomain: "other.org", identities: [{ spiffeId: "spiffe://other.org/partner" }], writeBundlePath: bundlePath });
}

function ownBundleHex(agent: FakeAgent): string {
  return Buffer.concat((agent.snapshot().x509Authorities.get(agent.snapshot().trustDomain.name) ?? []).map((der) => Buffer.from(der))).toString("hex");
}

const federatedHex = (message: X509SVIDResponse): string | undefined => message.federatedBundles[OTHER]?.toString("hex");
const bundlesHex = (message: X509BundlesResponse): string | undefined => message.bundles[OTHER]?.toString("hex");

/** Every stream of agent A, recorded from now on. */
function recordStreams(t: TestContext, agent: FakeAgent) {
  const raw = rawClient(t, agent);
  return {
    svids: record(t, raw.fetchX509Svid({}, withHeader())),
    x509Bundles: record(t, raw.fetchX509Bundles({}, withHeader())),
    jwtBundles: record(t, raw.fetchJwtBundles({}, withHeader())),
  };
}

/** Replaces a file as the bundle writer does: a new file renamed over the old one. */
async function replaceFile(path: string, text: string): Promise<void> {
  await writeFile(`${path}.new`, text);
  await rename(`${path}.new`, path);
}

/** The message of the FakeAgentConfigError that `step` throws. */
function configError(step: () => unknown): string {
  try {
    step();
  } catch (error: unknown) {
    assert.ok(error instanceof FakeAgentConfigError, String(error));
    return error.message;
  }
  throw new Error("the configuration was accepted");
}

function optionsError(options: Partial<FakeAgentOptions>): string {
  return configError(() => resolveOptions({ socketPath: "/tmp/a.sock", trustDomain: "example.org", ...options }));
}

describe("fake agent federating with another agent's CA through its bundle file", () => {
  it("publishes B's CA as other.org's bundle in every stream, and a B-issued SVID verifies against it", async (t) => {
    const dir = await tempDir(t);
    const bundlePath = join(dir, "other.org.pem");
    const other = await startOtherAgent(t, bundlePath);
    const agent = await startTestAgent(t, { federatesWith: ["other.org"], federatedBundleFiles: { "other.org": bundlePath } });
    const { svids, x509Bundles, jwtBundles } = recordStreams(t, agent);

    const [svidMessage] = await svids.waitForCount(1);
    assert.ok(svidMessage !== undefined);
    assert.equal(federatedHex(svidMessage), ownBundleHex(other));
    const [bundleMessage] = await x509Bundles.waitForCount(1);
    assert.equal(bundleMessage !== undefined && bundlesHex(bundleMessage), ownBundleHex(other));
    const [jwtMessage] = await jwtBundles.waitForCount(1);
    assert.deepEqual(JSON.parse(jwtMessage?.bundles[OTHER]?.toString("utf8") ?? "null"), { keys: [] });

    const issuedByOther = other.snapshot().svids[0];
    assert.ok(issuedByOther !== undefined);
    const partner = parseX509SvidDer(issuedByOther.chainDer, issuedByOther.privateKeyDer);
    const federated = parseX509BundleDer(OTHER_TD, svidMessage.federatedBundles[OTHER] ?? Buffer.alloc(0));
    const verified = verifyX509Svid(partner.certificates, new X509BundleSet([federated]));
    assert.equal(verified.id.toString(), "spiffe://other.org/partner");
  });

  it("follows the file: a new bundle is pushed, and a deleted or emptied file leaves other.org out", async (t) => {
    const dir = await tempDir(t);
    const bundlePath = join(dir, "other.org.pem");
    const other = await startOtherAgent(t, bundlePath);
    const third = await startOtherAgent(t, join(dir, "third.pem"));
    const agent = await startTestAgent(t, { federatesWith: ["other.org"], federatedBundleFiles: { "other.org": bundlePath } });
    const { svids, x509Bundles, jwtBundles } = recordStreams(t, agent);
    await svids.waitFor((message) => federatedHex(message) === ownBundleHex(other), "B's CA");

    await replaceFile(bundlePath, (await readFile(bundlePath, "utf8")) + (await readFile(join(dir, "third.pem"), "utf8")));
    const both = ownBundleHex(other) + ownBundleHex(third);
    await svids.waitFor((message) => federatedHex(message) === both, "both CAs after the file changed");
    await x509Bundles.waitFor((message) => bundlesHex(message) === both, "both CAs in FetchX509Bundles");

    await rm(bundlePath);
    const removed = await svids.waitFor((message) => federatedHex(message) === undefined, "other.org left out after the delete");
    assert.deepEqual(Object.keys(removed.federatedBundles), []);
    const bundlesAfterDelete = await x509Bundles.waitFor((message) => bundlesHex(message) === undefined, "other.org out of FetchX509Bundles");
    assert.deepEqual(Object.keys(bundlesAfterDelete.bundles), ["spiffe://example.org"]);
    await jwtBundles.waitFor((message) => Object.keys(message.bundles).join() === "spiffe://example.org", "other.org out of FetchJWTBundles");
    assert.equal(agent.snapshot().x509Authorities.has("other.org"), false);

    await replaceFile(bundlePath, await readFile(join(dir, "third.pem"), "utf8"));
    let mark = svids.messages.length;
    await svids.waitFor((message) => federatedHex(message) === ownBundleHex(third), "other.org back after the file came back", mark);
    mark = svids.messages.length;
    await writeFile(bundlePath, "");
    await svids.waitFor((message) => federatedHex(message) === undefined, "other.org left out of an empty file", mark);
  });

  it("starts without the trust domain while the file is missing, and adds it once written", async (t) => {
    const dir = await tempDir(t);
    const bundlePath = join(dir, "later", "other.org.pem");
    const agent = await startTestAgent(t, { federatesWith: ["other.org"], federatedBundleFiles: { "other.org": bundlePath } });
    assert.equal(agent.snapshot().x509Authorities.has("other.org"), false);
    const { svids } = recordStreams(t, agent);
    const [first] = await svids.waitForCount(1);
    assert.deepEqual(Object.keys(first?.federatedBundles ?? {}), []);
    // The agent made the missing directory, so the writer can start after it.
    const other = await startOtherAgent(t, bundlePath);
    await svids.waitFor((message) => federatedHex(message) === ownBundleHex(other), "B's CA once B wrote it");
  });

  it("keeps the last certificates when the file does not parse, and says why", async (t) => {
    const dir = await tempDir(t);
    const bundlePath = join(dir, "other.org.pem");
    const other = await startOtherAgent(t, bundlePath);
    const warnings: string[] = [];
    let onWarning: (() => void) | undefined;
    const logger = pino({ level: "warn" }, {
      write(line: string) {
        warnings.push(String((JSON.parse(line) as { msg?: unknown }).msg));
        onWarning?.();
      },
    });
    const agent = await startTestAgent(t, { federatesWith: ["other.org"], federatedBundleFiles: { "other.org": bundlePath }, logger });
    const seen = new Promise<void>((resolve) => {
      onWarning = () => {
        if (warnings.some((message) => message.includes("PEM block"))) resolve();
      };
    });
    await replaceFile(bundlePath, "-----BEGIN CERTIFICATE-----\nAAAA\n");
    await timeout(seen, "the parse warning");
    assert.match(warnings.find((message) => message.includes("PEM block")) ?? "", /^federated bundle of other\.org: .*other\.org\.pem: .*has no END line.*; its last certificates stay$/);
    assert.equal(Buffer.concat((agent.snapshot().x509Authorities.get("other.org") ?? []).map((der) => Buffer.from(der))).toString("hex"), ownBundleHex(other));
  });

  it("refuses to rotate a CA or JWT key it does not hold", async (t) => {
    const dir = await tempDir(t);
    const bundlePath = join(dir, "other.org.pem");
    await startOtherAgent(t, bundlePath);
    const agent = await startTestAgent(t, { federatesWith: ["other.org"], federatedBundleFiles: { "other.org": bundlePath } });
    const expected = /^trust domain other\.org's bundle is read from .*other\.org\.pem \(federatedBundleFiles\), so this agent holds no CA or JWT key for it; rotate them in the agent that writes that file$/;
    await assert.rejects(agent.rotateCa("other.org"), (error: unknown) => error instanceof FakeAgentConfigError && expected.test(error.message));
    await assert.rejects(agent.rotateJwtKey("other.org"), (error: unknown) => error instanceof FakeAgentConfigError && expected.test(error.message));
  });
});

describe("federatedBundleFiles applied live", () => {
  it("update() adds and removes a file-backed trust domain, and refuses a file without federation", async (t) => {
    const dir = await tempDir(t);
    const bundlePath = join(dir, "other.org.pem");
    const other = await startOtherAgent(t, bundlePath);
    const agent = await startTestAgent(t);
    const { svids } = recordStreams(t, agent);
    await svids.waitForCount(1);

    await agent.update({ federatesWith: ["other.org"], federatedBundleFiles: { "other.org": bundlePath } });
    await svids.waitFor((message) => federatedHex(message) === ownBundleHex(other), "B's CA after update");
    await assert.rejects(agent.update({ federatesWith: [] }), (error: unknown) =>
      error instanceof FakeAgentConfigError && /^federatedBundleFiles: other\.org is not a federated trust domain; add it to federatesWith \(federates_with: in a config file, --federate as a flag\), or remove its file$/.test(error.message),
    );

    // Back to a CA of the agent's own: other.org stays, with a different CA.
    await agent.update({ federatedBundleFiles: {} });
    const own = await svids.waitFor((message) => federatedHex(message) !== undefined && federatedHex(message) !== ownBundleHex(other), "an own other.org CA");
    assert.ok(own.federatedBundles[OTHER] !== undefined);

    await agent.update({ federatesWith: [], federatedBundleFiles: {} });
    await svids.waitFor((message) => Object.keys(message.federatedBundles).length === 0, "federation removed");
  });

  it("a config file edit adds federated_bundle_files", async (t) => {
    const dir = await tempDir(t);
    const bundlePath = join(dir, "other.org.pem");
    const other = await startOtherAgent(t, bundlePath);
    const file = join(dir, "agent.yaml");
    const base = "trust_domain: example.org\nidentities: [spiffe://example.org/a]\n";
    await writeFile(file, base);
    const agent = await startConfiguredAgent({
      configFile: file,
      overrides: { values: { socketPath: join(dir, "a.sock") }, labels: { socketPath: "--socket" } },
      logger: pino({ level: "silent" }),
      debounceMs: 20,
    });
    t.after(() => agent.stop());
    const { svids } = recordStreams(t, agent);
    await svids.waitForCount(1);
    await replaceFile(file, `${base}federates_with: [other.org]\nfederated_bundle_files:\n  other.org: ${bundlePath}\n`);
    await svids.waitFor((message) => federatedHex(message) === ownBundleHex(other), "B's CA after the edit");
  });
});

describe("federatedBundleFiles options", () => {
  const cases: [string, Partial<FakeAgentOptions>, RegExp][] = [
    ["a file for a trust domain not federated with", { federatedBundleFiles: { "other.org": "/tmp/o.pem" } }, /^federatedBundleFiles: other\.org is not a federated trust domain; add it to federatesWith \(federates_with: in a config file, --federate as a flag\), or remove its file$/],
    ["a key that is not a trust domain", { federatesWith: ["other.org"], federatedBundleFiles: { "Other.org": "/tmp/o.pem" } }, /^federatedBundleFiles: "Other\.org" is not a trust domain: .*write it like example\.org$/],
    ["an empty path", { federatesWith: ["other.org"], federatedBundleFiles: { "other.org": "" } }, /^federatedBundleFiles: other\.org: a PEM file path is required, e\.g\. \/tmp\/other\.org\.pem$/],
    [
      "the agent's own bundle file",
      { federatesWith: ["other.org"], writeBundlePath: "/tmp/mine.pem", federatedBundleFiles: { "other.org": "/tmp/mine.pem" } },
      /^federatedBundleFiles: other\.org: \/tmp\/mine\.pem is this agent's own writeBundlePath; use the file the other\.org agent writes$/,
    ],
  ];
  for (const [name, options, expected] of cases) {
    it(`refuses ${name}`, () => {
      assert.match(optionsError(options), expected);
    });
  }

  it("names the config file keys and lines", () => {
    const layer = parseConfigText("trust_domain: example.org\nsocket: /tmp/a.sock\nfederated_bundle_files:\n  other.org: /tmp/o.pem\n", "agent.yaml");
    const withFederation = parseConfigText("trust_domain: example.org\nsocket: /tmp/a.sock\nfederates_with: [third.org]\nfederated_bundle_files:\n  other.org: /tmp/o.pem\n", "agent.yaml");
    assert.match(configError(() => resolveLayer(layer)), /^federated_bundle_files \(agent\.yaml:3\): other\.org is not a federated trust domain; add it to federatesWith \(federates_with: in a config file/);
    assert.match(configError(() => resolveLayer(withFederation)), /^federated_bundle_files \(agent\.yaml:4\): other\.org is not a federated trust domain; add it to federates_with \(agent\.yaml:3\), or remove its file$/);
    assert.match(
      configError(() => parseConfigText("trust_domain: example.org\nfederated_bundle_files: [other.org]\n", "agent.yaml")),
      /^agent\.yaml:2: federated_bundle_files: expected a map, e\.g\. \{other\.org: \/tmp\/other\.org\.pem\}$/,
    );
    assert.match(
      configError(() => parseConfigText("trust_domain: example.org\nfederated_bundle_files:\n  other.org: 3\n", "agent.yaml")),
      /^agent\.yaml:3: federated_bundle_files: other\.org: expected a non-empty string$/,
    );
  });

  it("reads the mTLS federation examples", async () => {
    for (const [name, peer] of [["federated-agent.yaml", "other.org"], ["other-agent.yaml", "example.org"]] as const) {
      const path = join(repoRoot, "examples/mtls", name);
      const resolved = resolveLayer(parseConfigText(await readFile(path, "utf8"), path));
      assert.deepEqual(resolved.federatedBundleFiles.map((file) => [file.trustDomain.name, file.path]), [[peer, `/tmp/spiffe-mtls-example/${peer}.pem`]]);
    }
  });

  it("the CLI takes --federated-bundle-file NAME=FILE and refuses other shapes", () => {
    const cli = join(repoRoot, "src/cli/spiffe-fake-agent.ts");
    const run = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", cli, "--socket", "/tmp/x.sock", "--trust-domain", "example.org", ...args], { cwd: repoRoot, encoding: "utf8" });
    const malformed = run("--federated-bundle-file", "other.org");
    assert.equal(malformed.status, 2);
    assert.match(malformed.stderr, /--federated-bundle-file: "other\.org" is not NAME=FILE; write e\.g\. other\.org=\/tmp\/other\.org\.pem/);
    const unfederated = run("--federate", "third.org", "--federated-bundle-file", "other.org=/tmp/o.pem");
    assert.equal(unfederated.status, 2);
    assert.match(unfederated.stderr, /--federated-bundle-file: other\.org is not a federated trust domain; add it to --federate, or remove its file\n$/);
  });
});
