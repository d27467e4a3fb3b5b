import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";
import { exitOf } from "../fixtures/fixture-helpers.js";
import { fakeAgentBin, runCli, sidecarBin } from "../support/run-cli.js";
import { fileExists, scratchDir, spawnNode, spawnSidecar, waitFor, type NodeRun } from "./mtls-support.js";
import { freePort } from "./support.js";

/** examples/mtls/, run as its README says, with the agent socket and cert dirs moved into a temp dir. */
const example = (name: string): string => fileURLToPath(new URL(`../../examples/mtls/${name}`, import.meta.url));

/** The example's sidecar config with only the paths changed: the rest is what a user runs. */
async function exampleConfig(dir: string, name: string, socket: string, label = name): Promise<{ path: string; certDir: string }> {
  const config = parse(await readFile(example(`${name}.yaml`), "utf8")) as Record<string, unknown>;
  const certDir = join(dir, "certs", label);
  await mkdir(certDir, { recursive: true });
  config["agent_address"] = `unix://${socket}`;
  config["cert_dir"] = certDir;
  // The README's `mkdir -p certs/<name>/federated`.
  if (typeof config["federated_bundle_dir"] === "string") await mkdir(join(certDir, config["federated_bundle_dir"]), { recursive: true });
  if (Array.isArray(config["cmd_args"])) config["cmd_args"] = config["cmd_args"].map((arg) => (arg === "server.mjs" ? example("server.mjs") : arg));
  const path = join(dir, `${label}.yaml`);
  await writeFile(path, stringify(config));
  return { path, certDir };
}

/** The example's own paths, all under this directory; the tests move them into a temp dir. */
const EXAMPLE_DIR = "/tmp/spiffe-mtls-example/";

/** An example agent config with its socket and bundle files moved into `dir`, and `changes` applied. */
async function agentConfig(dir: string, name: string, changes: (text: string) => string = (text) => text): Promise<string> {
  const text = (await readFile(example(name), "utf8")).replaceAll(EXAMPLE_DIR, `${dir}/`);
  const path = join(dir, name);
  await writeFile(path, changes(text));
  return path;
}

/** `spiffe-fake-agent --config <name>` with its paths moved into `dir`; resolves once it serves. */
async function startAgent(t: TestContext, dir: string, name: string, changes?: (text: string) => string): Promise<string> {
  const path = await agentConfig(dir, name, changes);
  const socket = String((parse(await readFile(path, "utf8")) as Record<string, unknown>)["socket"]);
  const run = spawnNode(t, fakeAgentBin, ["--config", path]);
  await waitFor(`the fake agent of ${name}`, async () => {
    if (run.process.exitCode !== null) throw new Error(`the fake agent of ${name} exited:\n${run.output}`);
    return (await fileExists(socket)) ? true : undefined;
  });
  return socket;
}

/** `spiffe-sidecar run -c server.yaml`, whose child server.mjs prints its port. */
async function startServer(
  t: TestContext,
  dir: string,
  socket: string,
  auth: "mtls" | "jwt",
  env: Record<string, string> = {},
): Promise<{ url: string; run: NodeRun; certDir: string }> {
  const { path, certDir } = await exampleConfig(dir, "server", socket, `server-${auth}`);
  const run = spawnSidecar(t, ["run", "-c", path], { CERT_DIR: certDir, PORT: "0", AUTH: auth, ...env });
  const port = await waitFor(`server.mjs (${auth}) listening`, () => /listening on https:\/\/127\.0\.0\.1:(\d+)\//.exec(run.output)?.[1]).catch(
    (error: unknown) => assert.fail(`${String(error)}\n--- the server's sidecar and server.mjs ---\n${run.output}`),
  );
  return { url: `https://127.0.0.1:${port}/`, run, certDir };
}

/** `spiffe-sidecar once -c <name>.yaml`: the client's files, written once. */
async function writeClientFiles(dir: string, socket: string, name: string): Promise<string> {
  const { path, certDir } = await exampleConfig(dir, name, socket);
  const once = await runCli(sidecarBin, ["once", "-c", path], { PATH: process.env["PATH"] });
  assert.equal(once.code, 0, once.stdout + once.stderr);
  return certDir;
}

function runClient(env: Record<string, string>) {
  return runCli(example("client.mjs"), [], { PATH: process.env["PATH"], ...env });
}

describe("examples/mtls: server.mjs and client.mjs with the example's agent and sidecar configs", () => {
  it("authorizes the client by SPIFFE ID over mTLS, refuses the intruder, and checks JWT-SVIDs", async (t) => {
    const dir = await scratchDir(t);
    const socket = await startAgent(t, dir, "agent.yaml");

    const mtls = await startServer(t, dir, socket, "mtls");
    const clientDir = await writeClientFiles(dir, socket, "client");
    const intruderDir = await writeClientFiles(dir, socket, "intruder");

    const allowed = await runClient({ CERT_DIR: clientDir, SERVER_URL: mtls.url });
    assert.equal(allowed.code, 0, allowed.stdout + allowed.stderr);
    assert.match(allowed.stdout, /^\[client\] 200 hello spiffe:\/\/example\.org\/client, this is spiffe:\/\/example\.org\/server \(serial [0-9a-f]+\)$/m);
    console.log(`example mtls, allowed: ${allowed.stdout.trim()}`);

    const denied = await runClient({ CERT_DIR: intruderDir, SERVER_URL: mtls.url });
    assert.equal(denied.code, 1, denied.stdout + denied.stderr);
    assert.match(denied.stdout, /^\[client\] failed: /m);
    await waitFor("the server's refusal line", () => (/refused a connection: peer spiffe:\/\/example\.org\/intruder is not allowed/.test(mtls.run.output) ? true : undefined));
    console.log(`example mtls, denied: ${denied.stdout.trim()} / ${/\[server\] refused a connection: .*/.exec(mtls.run.output)?.[0] ?? ""}`);

    const jwt = await startServer(t, dir, socket, "jwt");
    const good = await runClient({ CERT_DIR: clientDir, SERVER_URL: jwt.url, AUTH: "jwt" });
    assert.equal(good.code, 0, good.stdout + good.stderr);
    assert.match(good.stdout, /^\[client\] 200 hello spiffe:\/\/example\.org\/client/m);
    console.log(`example jwt, audience spiffe://example.org/server: ${good.stdout.trim()}`);
    const wrong = await runClient({ CERT_DIR: clientDir, SERVER_URL: jwt.url, AUTH: "jwt", JWT_FILE: join(clientDir, "billing.token") });
    assert.equal(wrong.code, 1, wrong.stdout + wrong.stderr);
    assert.match(wrong.stdout, /^\[client\] 401 refused: bearer JWT-SVID refused: audience \["spiffe:\/\/example\.org\/billing"\]/m);
    console.log(`example jwt, audience spiffe://example.org/billing: ${wrong.stdout.trim()}`);
  });

  it("client.mjs started before its sidecar and the server waits for its files, then for the server", async (t) => {
    const dir = await scratchDir(t);
    const socket = await startAgent(t, dir, "agent.yaml");
    const port = await freePort();
    const { path: clientConfig, certDir: clientDir } = await exampleConfig(dir, "client", socket);
    // WAIT_MS only bounds a hang here: on a busy machine a sidecar may take seconds to start.
    const client = spawnNode(t, example("client.mjs"), [], { CERT_DIR: clientDir, SERVER_URL: `https://127.0.0.1:${port}/`, WAIT_MS: "60000" });
    await waitFor("the client to wait for its files", () => (/^\[client\] waiting for the files in /m.test(client.output) ? true : undefined));
    spawnSidecar(t, ["run", "-c", clientConfig]);
    await waitFor("the client to wait for the server", () => (/^\[client\] waiting for https:\/\/127\.0\.0\.1:\d+\/ /m.test(client.output) ? true : undefined));
    const { path: serverConfig, certDir: serverDir } = await exampleConfig(dir, "server", socket);
    spawnSidecar(t, ["run", "-c", serverConfig], { CERT_DIR: serverDir, PORT: String(port) });
    const { code } = await exitOf(client.process);
    assert.equal(code, 0, client.output);
    assert.match(client.output, /^\[client\] 200 hello spiffe:\/\/example\.org\/client, this is spiffe:\/\/example\.org\/server/m);
    console.log(`example mtls, started first: ${client.output.trim().split("\n").join(" / ")}`);
  });

  it("the README's request loop: no request fails across rotations of both SVIDs", async (t) => {
    const dir = await scratchDir(t);
    // The example's agent with 8 s SVIDs (rotated every ~4 s) instead of 20 s, so a 10 s loop
    // spans a rotation; 4 s is the margin a rotation has to reach both programs on a busy machine.
    const socket = await startAgent(t, dir, "agent.yaml", (text) => text.replace(/^x509_ttl: 20s/m, "x509_ttl: 8s"));
    const server = await startServer(t, dir, socket, "mtls");
    const { path: clientConfig, certDir: clientDir } = await exampleConfig(dir, "client", socket);
    spawnSidecar(t, ["run", "-c", clientConfig]);
    const loop = await runClient({ CERT_DIR: clientDir, SERVER_URL: server.url, COUNT: "20", INTERVAL_MS: "500", WAIT_MS: "60000" });
    assert.equal(loop.code, 0, loop.stdout + loop.stderr);
    const serials = new Set(loop.stdout.match(/\(serial [0-9a-f]+\)/g));
    assert.equal(loop.stdout.match(/^\[client\] 200 /gm)?.length, 20, loop.stdout);
    assert.ok(serials.size >= 2, `the loop saw one server SVID only; no rotation happened during it:\n${loop.stdout}`);
    console.log(`example mtls, loop: 20 requests, 0 failed, ${serials.size} server SVIDs seen`);
  });

  it("client.mjs and server.mjs say in one line, without a stack trace, that an SVID written by `once` has expired", async (t) => {
    const dir = await scratchDir(t);
    // The example's agent with 2 s SVIDs, so that the intruder's files expire within the test.
    const socket = await startAgent(t, dir, "agent.yaml", (text) => text.replace(/^x509_ttl: 20s/m, "x509_ttl: 2s"));
    const certDir = await writeClientFiles(dir, socket, "intruder");
    const notAfter = Date.parse(new X509Certificate(await readFile(join(certDir, "svid.pem"))).validTo);
    await waitFor("the intruder's SVID to expire", () => (Date.now() > notAfter ? true : undefined));

    const client = await runClient({ CERT_DIR: certDir, WAIT_MS: "0" });
    const server = await runCli(example("server.mjs"), [], { PATH: process.env["PATH"], CERT_DIR: certDir, PORT: "0" });
    for (const [name, result] of [["client", client], ["server", server]] as const) {
      assert.equal(result.code, 1, result.stdout + result.stderr);
      assert.match(result.stdout, new RegExp(`^\\[${name}\\] cannot use the identity in .*: own SVID spiffe://example\\.org/intruder: certificate [0-9a-f]+ expired at `, "m"));
      assert.equal(result.stderr, "", `${name}.mjs wrote to stderr`);
      assert.doesNotMatch(result.stdout, /^\s+at /m, `${name}.mjs printed a stack trace`);
    }
    console.log(`example mtls, expired SVID: ${client.stdout.trim().split("\n").join(" / ")}`);
  });

  it("federation: serves other.org's partner while the agents federate, and refuses it once the federation is deleted", async (t) => {
    const dir = await scratchDir(t);
    const [socket, otherSocket] = await Promise.all([startAgent(t, dir, "federated-agent.yaml"), startAgent(t, dir, "other-agent.yaml")]);
    const server = await startServer(t, dir, socket, "mtls", { ALLOWED_IDS: "spiffe://example.org/client,spiffe://other.org/partner" });
    const partner = await exampleConfig(dir, "partner", otherSocket);
    spawnSidecar(t, ["run", "-c", partner.path]);
    // The README's `until` line: each side has the other's CA before the first call.
    const federatedFiles = [join(partner.certDir, "federated/example.org.pem"), join(server.certDir, "federated/other.org.pem")];
    await waitFor("both federated bundle files", async () => ((await Promise.all(federatedFiles.map(fileExists))).every(Boolean) ? true : undefined));
    await waitFor("server.mjs to trust other.org", () => (/reloaded .* trusts example\.org, other\.org/.test(server.run.output) ? true : undefined));

    const accepted = await runClient({ CERT_DIR: partner.certDir, SERVER_URL: server.url });
    assert.equal(accepted.code, 0, accepted.stdout + accepted.stderr);
    assert.match(accepted.stdout, /^\[client\] 200 hello spiffe:\/\/other\.org\/partner, this is spiffe:\/\/example\.org\/server/m);

    // What the README asks: delete the federates_with and federated_bundle_files entries live.
    const agentFile = join(dir, "federated-agent.yaml");
    const edited = parse(await readFile(agentFile, "utf8")) as Record<string, unknown>;
    delete edited["federates_with"];
    delete edited["federated_bundle_files"];
    const reloadsBefore = server.run.output.split("trusts example.org\n").length;
    await writeFile(agentFile, stringify(edited));
    await waitFor("the server's federated/other.org.pem to go", async () => ((await fileExists(federatedFiles[1] ?? "")) ? undefined : true));
    await waitFor("server.mjs to trust example.org alone", () => (server.run.output.split("trusts example.org\n").length > reloadsBefore ? true : undefined));

    const refused = await runClient({ CERT_DIR: partner.certDir, SERVER_URL: server.url, WAIT_MS: "0" });
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    assert.match(refused.stdout, /^\[client\] failed: /m);
    await waitFor("the server's refusal line", () => (/refused a connection: peer certificate refused in the TLS handshake/.test(server.run.output) ? true : undefined));
    console.log(`example mtls, federation: ${accepted.stdout.trim()} / after the edit: ${refused.stdout.trim()}`);
  });
});
