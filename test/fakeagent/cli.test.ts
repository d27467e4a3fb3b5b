import { spawn } from "node:child_process";
import type { ChildProcessByStdio } from "node:child_process";
import assert from "node:assert/strict";
import { existsSync, readdirSync, statSync } from "node:fs";
import { stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { describe, it } from "node:test";
import type { TestContext } from "node:test";
import type { JWTSVIDResponse } from "../../src/workloadapi/generated/workload.js";
import { repoRoot } from "../support/vectors.js";
import { rawClient, record, startTestAgent, tempDir, timeout, unaryCall, withHeader } from "./support.js";
import type { FakeAgent } from "../../src/fakeagent/server.js";

const builtCli = join(repoRoot, "dist/bin/spiffe-fake-agent.js");
const sourceCli = join(repoRoot, "src/cli/spiffe-fake-agent.ts");

/** The newest source the built CLI is made from; an older build would test stale code. */
function newestSourceMtime(): number {
  const sources = [sourceCli, ...readdirSync(join(repoRoot, "src/fakeagent")).map((name) => join(repoRoot, "src/fakeagent", name))];
  return Math.max(...sources.map((path) => statSync(path).mtimeMs));
}

/** `npm test` builds first; run alone with a stale or missing build, the source runs through tsx. */
const useBuilt = existsSync(builtCli) && statSync(builtCli).mtimeMs >= newestSourceMtime();
const cliArgs = useBuilt ? [builtCli] : ["--import", "tsx", sourceCli];

interface CliRun {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exit: Promise<number | null>;
  waitForLog(predicate: (line: Record<string, unknown>) => boolean, what: string): Promise<Record<string, unknown>>;
}

function runCli(t: TestContext, args: readonly string[]): CliRun {
  const child = spawn(process.execPath, [...cliArgs, ...args], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  let stdout = "";
  let stderr = "";
  const listeners = new Set<() => void>();
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    for (const listener of listeners) listener();
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const logLines = (): Record<string, unknown>[] =>
    stdout
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const waitForLog = (predicate: (line: Record<string, unknown>) => boolean, what: string) =>
    timeout(
      new Promise<Record<string, unknown>>((resolve) => {
        const check = (): void => {
          const found = logLines().find(predicate);
          if (found === undefined) return;
          listeners.delete(check);
          resolve(found);
        };
        listeners.add(check);
        check();
      }),
      what,
    );
  return { child, stdout: () => stdout, stderr: () => stderr, exit, waitForLog };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Runs the CLI expecting a usage failure: exit 2, one line on stderr, no socket left behind. */
async function expectUsageFailure(t: TestContext, args: readonly string[], socketPath: string): Promise<string> {
  const run = runCli(t, args);
  assert.equal(await timeout(run.exit, "the CLI to exit"), 2);
  assert.equal(await exists(socketPath), false, "no socket is left behind");
  const lines = run.stderr().trimEnd().split("\n");
  assert.equal(lines.length, 1, run.stderr());
  return lines[0] ?? "";
}

describe(`spiffe-fake-agent CLI (${useBuilt ? "built" : "source through tsx"})`, () => {
  it("prints help and exits 0", async (t) => {
    const run = runCli(t, ["--help"]);
    assert.equal(await timeout(run.exit, "the CLI to exit"), 0);
    assert.match(run.stdout(), /^spiffe-fake-agent: a SPIFFE Workload API server/);
    assert.match(run.stdout(), /SIGUSR1 rotates the SVIDs now, SIGUSR2 rotates the CA/);
  });

  it("exits 2 on bad flags and values, naming the flag and the fix", async (t) => {
    const dir = await tempDir(t);
    const socketPath = join(dir, "agent.sock");
    const base = ["--socket", socketPath, "--trust-domain", "example.org"];
    const cases: [string[], RegExp][] = [
      [[...base, "--x509-tll", "10s"], /^spiffe-fake-agent: Unknown option '--x509-tll'; did you mean --x509-ttl\?$/],
      [[...base, "--x509-ttl", "10"], /^spiffe-fake-agent: --x509-ttl: "10" is not a duration; write a number with a unit \(ms, s, m or h\), e\.g\. "10s"/],
      [[...base, "--jwt-ttl", "1500ms"], /^spiffe-fake-agent: --jwt-ttl: "1500ms" is not a whole number of seconds; use e\.g\. 2s$/],
      [[...base, "--key-type", "dsa"], /^spiffe-fake-agent: --key-type: "dsa" is not supported; use one of ec-p256, rsa-2048$/],
      [[...base, "--id", "spiffe://other.org/app"], /^spiffe-fake-agent: --id entry 1: spiffe:\/\/other\.org\/app is not in trust domain example\.org/],
      [[...base, "--log-level", "loud"], /^spiffe-fake-agent: --log-level: "loud" is not one of/],
      [["--trust-domain", "example.org"], /^spiffe-fake-agent: no socket path: pass --socket PATH or set socket: in the config file$/],
      [[...base, "--config", join(dir, "missing.yaml")], /^spiffe-fake-agent: cannot read config file .*missing\.yaml: /],
    ];
    for (const [args, expected] of cases) {
      assert.match(await expectUsageFailure(t, args, socketPath), expected, args.join(" "));
    }
  });

  it("exits 2 on a bad config file, naming the key, the line and the nearest valid key", async (t) => {
    const dir = await tempDir(t);
    const socketPath = join(dir, "agent.sock");
    const config = join(dir, "agent.yaml");
    await writeFile(config, `socket: ${socketPath}\ntrust_domain: example.org\nfederate_with: [other.org]\n`);
    const message = await expectUsageFailure(t, ["--config", config], socketPath);
    assert.equal(message, `spiffe-fake-agent: ${config}:3: unknown key "federate_with" in the config file; did you mean "federates_with"?`);
  });

  it("exits 2 when a live agent already serves the socket", async (t) => {
    const live: FakeAgent = await startTestAgent(t);
    const run = runCli(t, ["--socket", live.socketPath, "--trust-domain", "example.org"]);
    assert.equal(await timeout(run.exit, "the CLI to exit"), 2);
    assert.match(run.stderr(), /a server is already listening on .*agent\.sock; stop it or choose another --socket path/);
    assert.equal(await exists(live.socketPath), true, "the live agent's socket stays");
  });

  it("serves, rotates on SIGUSR1 and SIGUSR2, logs without keys or tokens, and removes its socket on SIGTERM", async (t) => {
    const dir = await tempDir(t);
    const socketPath = join(dir, "agent.sock");
    const bundlePath = join(dir, "bundle.pem");
    const run = runCli(t, ["--socket", socketPath, "--trust-domain", "example.org", "--id", "spiffe://example.org/app", "--x509-ttl", "1h", "--write-bundle", bundlePath, "--rotation-overlap", "50ms"]);
    await run.waitForLog((line) => line["event"] === "start", "the agent to start");
    assert.equal(await exists(bundlePath), true);
    const agentLike = { address: `unix://${socketPath}` } as FakeAgent;
    const raw = rawClient(t, agentLike);
    const stream = record(t, raw.fetchX509Svid({}, withHeader()));
    const [first] = await stream.waitForCount(1);
    const jwt = await unaryCall<JWTSVIDResponse>((callback) => raw.fetchJwtsvid({ audience: ["aud"], spiffeId: "" }, withHeader(), callback));

    run.child.kill("SIGUSR1");
    const [, rotated] = await stream.waitForCount(2);
    assert.notDeepEqual(rotated?.svids[0]?.x509Svid, first?.svids[0]?.x509Svid);
    run.child.kill("SIGUSR2");
    await run.waitForLog((line) => line["reason"] === "ca-rotation: new CA published", "the CA rotation to start");

    run.child.kill("SIGTERM");
    assert.equal(await timeout(run.exit, "the CLI to exit"), 0);
    assert.equal(await exists(socketPath), false, "SIGTERM removes the socket");

    const logs = run.stdout();
    for (const message of stream.messages) {
      for (const svid of message.svids) {
        assert.ok(logs.includes(`"serial":`), "pushes are logged with serials");
        assert.ok(!logs.includes(svid.x509SvidKey.toString("base64")), "no private key in the logs");
      }
    }
    assert.ok(!logs.includes(jwt.svids[0]?.svid ?? "<none>"), "no JWT-SVID in the logs");
    assert.ok(!/PRIVATE KEY/.test(logs));
  });

  it("keeps serving when the reader of its stdout goes away, and says so once on stderr", async (t) => {
    const dir = await tempDir(t);
    const socketPath = join(dir, "agent.sock");
    const run = runCli(t, ["--socket", socketPath, "--trust-domain", "example.org", "--id", "spiffe://example.org/app"]);
    await run.waitForLog((line) => line["event"] === "start", "the agent to start");
    // `spiffe-fake-agent | head -1`: the pipe's reader is gone, so the next log line meets EPIPE.
    run.child.stdout.destroy();
    run.child.kill("SIGUSR1");
    const raw = rawClient(t, { address: `unix://${socketPath}` } as FakeAgent);
    const stream = record(t, raw.fetchX509Svid({}, withHeader()));
    const [served] = await stream.waitForCount(1);
    assert.equal(served?.svids[0]?.spiffeId, "spiffe://example.org/app", "still serving after its stdout closed");
    run.child.kill("SIGTERM");
    assert.equal(await timeout(run.exit, "the CLI to exit"), 0);
    assert.equal(run.stderr().match(/stdout is closed/g)?.length, 1, run.stderr());
  });

  it("stops on SIGINT too", async (t) => {
    const dir = await tempDir(t);
    const socketPath = join(dir, "agent.sock");
    const run = runCli(t, ["--socket", socketPath, "--trust-domain", "example.org", "--log-level", "info"]);
    await run.waitForLog((line) => line["event"] === "start", "the agent to start");
    run.child.kill("SIGINT");
    assert.equal(await timeout(run.exit, "the CLI to exit"), 0);
    assert.equal(await exists(socketPath), false);
  });
});
