import { spawn } from "node:child_process";
import assert from "node:assert/strict";
import { lstat, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { TestContext } from "node:test";
import { FakeAgentSocketError, FakeAgentStoppedError } from "../../src/fakeagent/errors.js";
import { startFakeAgent } from "../../src/fakeagent/server.js";
import { parseCertificate } from "../../src/spiffe/certificate.js";
import { decodePem } from "../../src/spiffe/pem.js";
import { splitDerSequence } from "../../src/spiffe/der.js";
import { rawClient, record, startTestAgent, tempDir, timeout, withHeader } from "./support.js";

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** A socket file nobody listens on: its server was killed with SIGKILL, as a crashed agent leaves it. */
async function staleSocket(t: TestContext, socketPath: string): Promise<void> {
  const child = spawn(process.execPath, ["-e", `require("node:net").createServer().listen(${JSON.stringify(socketPath)}, () => console.log("up"))`], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  t.after(() => child.kill("SIGKILL"));
  await timeout(new Promise((resolve) => child.stdout.once("data", resolve)), "the stale server to listen");
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
  assert.ok((await lstat(socketPath)).isSocket(), "the killed server left its socket behind");
}

describe("fake agent socket lifecycle", () => {
  it("replaces a stale socket file", async (t) => {
    const dir = await tempDir(t);
    const socketPath = join(dir, "agent.sock");
    await staleSocket(t, socketPath);
    const agent = await startFakeAgent({ socketPath, trustDomain: "example.org", identities: [{ spiffeId: "spiffe://example.org/app" }] });
    t.after(() => agent.stop());
    const stream = record(t, rawClient(t, agent).fetchX509Svid({}, withHeader()));
    assert.equal((await stream.waitForCount(1))[0]?.svids.length, 1);
  });

  it("refuses a path a live server answers on, and leaves that server alone", async (t) => {
    const first = await startTestAgent(t);
    await assert.rejects(
      startFakeAgent({ socketPath: first.socketPath, trustDomain: "example.org" }),
      (error: unknown) => error instanceof FakeAgentSocketError && error.message.startsWith(`a server is already listening on ${first.socketPath}; stop it or choose another --socket path`),
    );
    const stream = record(t, rawClient(t, first).fetchX509Svid({}, withHeader()));
    assert.equal((await stream.waitForCount(1)).length, 1);
  });

  it("refuses to replace a file that is not a socket", async (t) => {
    const dir = await tempDir(t);
    const socketPath = join(dir, "agent.sock");
    await writeFile(socketPath, "precious");
    await assert.rejects(
      startFakeAgent({ socketPath, trustDomain: "example.org" }),
      (error: unknown) => error instanceof FakeAgentSocketError && /exists and is not a socket; remove it or choose another --socket path/.test(error.message),
    );
    assert.equal(await readFile(socketPath, "utf8"), "precious");
  });

  it("creates a missing socket directory, removes the socket on stop, and refuses calls after stop", async (t) => {
    const dir = await tempDir(t);
    const socketPath = join(dir, "nested", "dir", "agent.sock");
    const agent = await startFakeAgent({ socketPath, trustDomain: "example.org", identities: [{ spiffeId: "spiffe://example.org/app" }] });
    assert.ok((await lstat(socketPath)).isSocket());
    const stream = record(t, rawClient(t, agent).fetchX509Svid({}, withHeader()));
    await stream.waitForCount(1);
    await agent.stop();
    await agent.stop();
    assert.equal(await exists(socketPath), false);
    // Open streams end as they do when a real agent goes away.
    assert.notEqual((await stream.status()).code, 0);
    await assert.rejects(agent.rotateNow(), FakeAgentStoppedError);
  });

  it("never half-starts: bad options leave no socket behind", async (t) => {
    const dir = await tempDir(t);
    const socketPath = join(dir, "agent.sock");
    await assert.rejects(startFakeAgent({ socketPath, trustDomain: "example.org", x509TtlSeconds: 0 }));
    await assert.rejects(startFakeAgent({ socketPath, trustDomain: "example.org", writeBundlePath: join(dir, "missing-dir", "bundle.pem") }));
    assert.equal(await exists(socketPath), false);
  });
});

describe("fake agent bundle file", () => {
  it("writes the trust bundle as PEM and rewrites it when the CA rotates", async (t) => {
    const dir = await tempDir(t);
    const bundlePath = join(dir, "bundle.pem");
    const agent = await startTestAgent(t, { writeBundlePath: bundlePath, x509TtlSeconds: 1, rotationOverlapMs: 50 });
    const serials = async (): Promise<string[]> => decodePem(await readFile(bundlePath, "utf8")).map((block) => parseCertificate(block.der).serialHex);
    const stream = record(t, rawClient(t, agent).fetchX509Bundles({}, withHeader()));
    const [first] = await stream.waitForCount(1);
    const sentSerials = splitDerSequence(first?.bundles["spiffe://example.org"] ?? Buffer.alloc(0)).map((der) => parseCertificate(der).serialHex);
    assert.deepEqual(await serials(), sentSerials);
    await timeout(agent.rotateCa(), "the CA rotation");
    const [, , last] = await stream.waitForCount(3);
    const lastSerials = splitDerSequence(last?.bundles["spiffe://example.org"] ?? Buffer.alloc(0)).map((der) => parseCertificate(der).serialHex);
    assert.notDeepEqual(lastSerials, sentSerials);
    assert.deepEqual(await serials(), lastSerials);
  });
});
