import assert from "node:assert/strict";
import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { TestContext } from "node:test";
import { pino } from "pino";
import { mergeLayers, parseConfigText, resolveLayer } from "../../src/fakeagent/config-file.js";
import { startConfiguredAgent } from "../../src/fakeagent/configured-agent.js";
import { FakeAgentConfigError } from "../../src/fakeagent/errors.js";
import { resolveOptions } from "../../src/fakeagent/options.js";
import type { FakeAgentOptions } from "../../src/fakeagent/options.js";
import { repoRoot } from "../support/vectors.js";
import { rawClient, record, tempDir, timeout, withHeader } from "./support.js";

function configError(text: string): string {
  try {
    resolveLayer(mergeLayers({ values: { socketPath: "/tmp/x.sock" }, labels: {} }, parseConfigText(text, "agent.yaml")));
  } catch (error: unknown) {
    assert.ok(error instanceof FakeAgentConfigError, String(error));
    return error.message;
  }
  throw new Error("the config was accepted");
}

describe("fake agent config file", () => {
  it("reads every key of the example config", async () => {
    const file = join(repoRoot, "examples/fake-agent/fake-agent.yaml");
    const layer = parseConfigText(await readFile(file, "utf8"), file);
    const resolved = resolveLayer(layer);
    assert.equal(resolved.trustDomain.name, "example.org");
    assert.ok(resolved.identities.length >= 2);
    assert.deepEqual(resolved.federatesWith.map((td) => td.name), ["other.org"]);
    assert.equal(resolved.x509TtlSeconds, 10);
    assert.equal(layer.labels.x509TtlSeconds, `x509_ttl (${file}:${lineOf(await readFile(file, "utf8"), "x509_ttl:")})`);
  });

  const cases: [string, string, RegExp][] = [
    ["a misspelt key", "trust_domian: example.org\n", /^agent\.yaml:1: unknown key "trust_domian" in the config file; did you mean "trust_domain"\?$/],
    ["a misspelt identity key", "trust_domain: example.org\nidentities:\n  - spiffe_id: spiffe://example.org/a\n    hnt: a\n", /^agent\.yaml:4: unknown key "hnt" in an identity; did you mean "hint"\?$/],
    ["an unknown fault kind", "trust_domain: example.org\nfaults:\n  - kind: denied\n", /^agent\.yaml:3: faults: unknown fault kind "denied"; did you mean "deny"\?$/],
    ["a key of another fault kind", "trust_domain: example.org\nfaults:\n  - kind: deny\n    delay: 1s\n", /^agent\.yaml:4: unknown key "delay" in fault "deny"; valid keys: kind, rpcs$/],
    ["a fault without its required key", "trust_domain: example.org\nfaults:\n  - kind: delay\n", /^agent\.yaml:3: faults: fault "delay" needs delay, e\.g\. delay: 200ms$/],
    ["a duration without a unit", "trust_domain: example.org\nx509_ttl: 10\n", /^agent\.yaml:2: x509_ttl: 10 is not a duration; write a number with a unit \(ms, s, m or h\), e\.g\. "10s"/],
    ["a TTL that is not whole seconds", "trust_domain: example.org\nx509_ttl: 1500ms\n", /^agent\.yaml:2: x509_ttl: must be a whole number of seconds, e\.g\. 2s$/],
    ["an unsupported key type", "trust_domain: example.org\nkey_type: dsa\n", /^agent\.yaml:2: key_type: "dsa" is not one of ec-p256, rsa-2048$/],
    ["an unknown RPC", "trust_domain: example.org\nfaults:\n  - kind: deny\n    rpcs: [FetchX509Svid]\n", /rpcs: "FetchX509Svid" is not one of FetchX509SVID/],
    ["an identity of another trust domain", "trust_domain: example.org\nidentities: [spiffe://other.org/app]\n", /^identities \(agent\.yaml:2\) entry 1: spiffe:\/\/other\.org\/app is not in trust domain example\.org; .* use spiffe:\/\/example\.org\/app$/],
    ["federation with itself", "trust_domain: example.org\nfederates_with: [example.org]\n", /^federates_with \(agent\.yaml:2\): example\.org is the agent's own trust domain/],
    ["a bad trust domain", "trust_domain: Example.org\n", /^trust_domain \(agent\.yaml:1\): "Example\.org" is not a trust domain: .*write it like example\.org$/],
    ["jitter as long as half the TTL", "trust_domain: example.org\nx509_ttl: 2s\nrotation_jitter: 1s\n", /^rotation_jitter \(agent\.yaml:3\): must be less than half the X\.509 TTL/],
    ["a duplicate key", "trust_domain: example.org\ntrust_domain: other.org\n", /^agent\.yaml: not valid YAML: /],
    ["a list at the top", "- a\n", /^agent\.yaml: expected a map of settings at the top/],
  ];
  for (const [name, text, expected] of cases) {
    it(`names the key and the fix for ${name}`, () => {
      assert.match(configError(text), expected);
    });
  }

  it("says where to set a missing trust domain", () => {
    assert.match(configError("x509_ttl: 10s\n"), /^no trust domain: pass --trust-domain NAME .* or set trust_domain: in the config file$/);
  });

  it("lets flags win over the file, key by key", () => {
    const file = parseConfigText("trust_domain: example.org\nx509_ttl: 10s\njwt_ttl: 1m\n", "agent.yaml");
    const flags = { values: { socketPath: "/tmp/a.sock", x509TtlSeconds: 3 }, labels: { socketPath: "--socket", x509TtlSeconds: "--x509-ttl" } };
    const resolved = resolveLayer(mergeLayers(file, flags));
    assert.equal(resolved.x509TtlSeconds, 3);
    assert.equal(resolved.jwtTtlSeconds, 60);
  });
});

describe("fake agent library options", () => {
  const base: FakeAgentOptions = { socketPath: "/tmp/a.sock", trustDomain: "example.org" };
  const cases: [string, Partial<FakeAgentOptions>, RegExp][] = [
    ["a zero TTL", { x509TtlSeconds: 0 }, /^x509TtlSeconds: 0 is not allowed; use a whole number of seconds, at least 1s$/],
    ["a fractional TTL", { jwtTtlSeconds: 1.5 }, /^jwtTtlSeconds: 1\.5 is not allowed/],
    ["an identity without a path", { identities: [{ spiffeId: "spiffe://example.org" }] }, /has no path; an X509-SVID leaf needs one \(X509-SVID §3\.1\)/],
    ["duplicate hints", { identities: [{ spiffeId: "spiffe://example.org/a", hint: "x" }, { spiffeId: "spiffe://example.org/b", hint: "x" }] }, /^identities entry 2: hint "x" is used twice/],
    ["a hint over 1024 bytes", { identities: [{ spiffeId: "spiffe://example.org/a", hint: "h".repeat(1025) }] }, /hint is longer than 1024 bytes/],
    ["a socket path too long for a Unix socket", { socketPath: `/tmp/${"s".repeat(120)}.sock` }, /longer than the 107 bytes a Unix socket path may have/],
    ["a foreign-leaf fault in the own trust domain", { faults: [{ kind: "foreign-leaf", trustDomain: "example.org" }] }, /trust_domain must differ from the agent's own/],
    ["a negative delay", { faults: [{ kind: "delay", delayMs: -1 }] }, /delay must be zero or more milliseconds/],
  ];
  for (const [name, options, expected] of cases) {
    it(`refuses ${name}`, () => {
      assert.throws(() => resolveOptions({ ...base, ...options }), (error: unknown) => error instanceof FakeAgentConfigError && expected.test(error.message));
    });
  }

  it("defaults: EC P-256, 60 s X.509, 5 min JWT, overlap half the X.509 TTL", () => {
    const resolved = resolveOptions(base);
    assert.equal(resolved.keyType, "ec-p256");
    assert.equal(resolved.x509TtlSeconds, 60);
    assert.equal(resolved.jwtTtlSeconds, 300);
    assert.equal(resolved.rotationOverlapMs, 30_000);
    assert.equal(resolved.intermediate, false);
  });
});

function lineOf(text: string, needle: string): number {
  return text.split("\n").findIndex((line) => line.startsWith(needle)) + 1;
}

/** A pino logger whose lines the test can wait on. */
function capturingLogger(t: TestContext) {
  const lines: Record<string, unknown>[] = [];
  let waiter: (() => void) | undefined;
  const logger = pino({ level: "info" }, {
    write(line: string) {
      lines.push(JSON.parse(line) as Record<string, unknown>);
      waiter?.();
    },
  });
  const waitForLine = (predicate: (line: Record<string, unknown>) => boolean, what: string, from = 0) =>
    timeout(
      new Promise<Record<string, unknown>>((resolve) => {
        const check = (): void => {
          const found = lines.slice(from).find(predicate);
          if (found === undefined) waiter = check;
          else resolve(found);
        };
        check();
      }),
      what,
    );
  t.after(() => {
    waiter = undefined;
  });
  return { logger, lines, waitForLine };
}

/** Replaces a file the way editors do: write a new file, rename it over the old one. */
async function replaceFile(path: string, text: string): Promise<void> {
  await writeFile(`${path}.new`, text);
  await rename(`${path}.new`, path);
}

describe("fake agent config file watching", () => {
  it("applies edits live, and keeps the last good config on a broken edit", async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, "agent.yaml");
    await writeFile(file, "trust_domain: example.org\nidentities: [spiffe://example.org/a]\n");
    const { logger, lines, waitForLine } = capturingLogger(t);
    const agent = await startConfiguredAgent({
      configFile: file,
      overrides: { values: { socketPath: join(dir, "agent.sock") }, labels: { socketPath: "--socket" } },
      logger,
      debounceMs: 20,
    });
    t.after(() => agent.stop());
    const stream = record(t, rawClient(t, agent).fetchX509Svid({}, withHeader()));
    await stream.waitForCount(1);

    await replaceFile(file, "trust_domain: example.org\nidentities: [spiffe://example.org/a, spiffe://example.org/b]\nfederates_with: [other.org]\n");
    const grown = await stream.waitFor((message) => message.svids.length === 2, "the added identity");
    assert.deepEqual(Object.keys(grown.federatedBundles), ["spiffe://other.org"]);

    let mark = lines.length;
    await writeFile(file, "trust_domain: example.org\nidentities: [spiffe://example.org/a]\nx509_tll: 5s\n");
    // A reader may catch the file half-written; the line that matters names the bad key.
    const rejected = await waitForLine((line) => line["level"] === 50 && /x509_tll/.test(String(line["error"])), "the rejected edit", mark);
    assert.match(String(rejected["error"]), /agent\.yaml:3: unknown key "x509_tll" in the config file; did you mean "x509_ttl"\?/);
    assert.equal(agent.snapshot().svids.length, 2, "the last good config stays");

    mark = lines.length;
    await writeFile(file, "trust_domain: other.org\n");
    const restartOnly = await waitForLine((line) => line["level"] === 50 && /cannot change/.test(String(line["error"])), "the restart-only edit", mark);
    assert.match(String(restartOnly["error"]), /^trust_domain \(.*agent\.yaml:1\): cannot change while the agent runs; restart the agent to apply it$/);

    await writeFile(file, "trust_domain: example.org\nidentities: [spiffe://example.org/c]\n");
    const fixed = await stream.waitFor((message) => message.svids[0]?.spiffeId === "spiffe://example.org/c", "the fixed edit");
    assert.equal(fixed.svids.length, 1);
    assert.deepEqual(Object.keys(fixed.federatedBundles), []);
  });
});
