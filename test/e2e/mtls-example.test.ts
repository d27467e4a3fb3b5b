import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";
import { fakeAgentBin, runCli, sidecarBin } from "../support/run-cli.js";
import { fileExists, scratchDir, spawnNode, spawnSidecar, waitFor, type NodeRun } from "./mtls-support.js";

/** examples/mtls/, run as its README says, with the agent socket and cert dirs moved into a temp dir. */
const example = (name: string): string => fileURLToPath(new URL(`../../examples/mtls/${name}`, import.meta.url));

/** The example's sidecar config with only the paths changed: the rest is what a user runs. */
async function exampleConfig(dir: string, name: string, socket: string, label = name): Promise<{ path: string; certDir: string }> {
  const config = parse(await readFile(example(`${name}.yaml`), "utf8")) as Record<string, unknown>;
  const certDir = join(dir, "certs", label);
  await mkdir(certDir, { recursive: true });
  config["agent_address"] = `unix://${socket}`;
  config["cert_dir"] = certDir;
  if (Array.isArray(config["cmd_args"])) config["cmd_args"] = config["cmd_args"].map((arg) => (arg === "server.mjs" ? example("server.mjs") : arg));
  const path = join(dir, `${label}.yaml`);
  await writeFile(path, stringify(config));
  return { path, certDir };
}

/** `spiffe-sidecar run -c server.yaml`, whose child server.mjs prints its port. */
async function startServer(t: TestContext, dir: string, socket: string, auth: "mtls" | "jwt"): Promise<{ url: string; run: NodeRun }> {
  const { path, certDir } = await exampleConfig(dir, "server", socket, `server-${auth}`);
  const run = spawnSidecar(t, ["run", "-c", path], { CERT_DIR: certDir, PORT: "0", AUTH: auth });
  const port = await waitFor(`server.mjs (${auth}) listening`, () => /listening on https:\/\/127\.0\.0\.1:(\d+)\//.exec(run.output)?.[1]).catch(
    (error: unknown) => assert.fail(`${String(error)}\n--- the server's sidecar and server.mjs ---\n${run.output}`),
  );
  return { url: `https://127.0.0.1:${port}/`, run };
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
    const socket = join(dir, "agent.sock");
    // The README's `spiffe-fake-agent --config agent.yaml`, with the socket moved.
    spawnNode(t, fakeAgentBin, ["--config", example("agent.yaml"), "--socket", socket]);
    await waitFor("the fake agent's socket", () => fileExists(socket).then((exists) => (exists ? true : undefined)));

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
});
