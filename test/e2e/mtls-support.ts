import { spawn, type ChildProcess } from "node:child_process";
import { access, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, request, type Server } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import type { TLSSocket } from "node:tls";
import { stringify } from "yaml";
import type { FakeAgent } from "../../src/fakeagent/server.js";
import {
  authorizeSpiffeId,
  createSpiffeTlsContext,
  describeError,
  validateBearerJwtSvid,
  verifiedPeer,
  type SpiffeTlsContext,
  type SpiffeTlsFiles,
} from "../../src/index.js";
import { EVENT_TIMEOUT_MS, exitOf, waitFor } from "../fixtures/fixture-helpers.js";
import { sidecarBin } from "../support/run-cli.js";
import { normalSerial } from "../tls/identities.js";

export { waitFor };

/** A scratch directory removed after the test; short, as the agent socket lives in it. */
export async function scratchDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "mtls-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A real process (the sidecar, the fake agent), with its output kept for assertions and failure messages. */
export interface NodeRun {
  readonly process: ChildProcess;
  output: string;
}

/** Runs a Node script with only PATH and `env` (no SPIFFE_ENDPOINT_SOCKET from the runner); SIGTERMed after the test. */
export function spawnNode(t: TestContext, script: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): NodeRun {
  const child = spawn(process.execPath, [script, ...args], { env: { PATH: process.env["PATH"], ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const run: NodeRun = { process: child, output: "" };
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (run.output += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (run.output += chunk));
  t.after(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    await exitOf(child);
  });
  return run;
}

/** The built `spiffe-sidecar` with `args`. */
export function spawnSidecar(t: TestContext, args: readonly string[], env: NodeJS.ProcessEnv = {}): NodeRun {
  return spawnNode(t, sidecarBin, args, env);
}

/** One workload: its sidecar (a real process) and the files it writes. */
export interface Workload {
  readonly certDir: string;
  readonly files: Required<SpiffeTlsFiles>;
  readonly sidecar: NodeRun;
}

export interface WorkloadOptions {
  /** Picks the agent's SVID with this hint; without it, the first. */
  readonly hint?: string;
  /** More sidecar config keys (snake_case), e.g. `jwt_svids`. */
  readonly extra?: Record<string, unknown>;
  /** Files besides the X.509 ones that must exist before the workload counts as started. */
  readonly waitForFiles?: readonly string[];
}

/** Starts a sidecar for one of the agent's identities, writing into `<dir>/<name>/`, and waits for its files. */
export async function startWorkload(t: TestContext, dir: string, agent: FakeAgent, name: string, options: WorkloadOptions): Promise<Workload> {
  const certDir = join(dir, name);
  // The sidecar writes into federated_bundle_dir but does not create it.
  await mkdir(join(certDir, "federated"), { recursive: true });
  const config = {
    agent_address: agent.address,
    ...(options.hint === undefined ? {} : { hint: options.hint }),
    cert_dir: certDir,
    svid_file_name: "svid.pem",
    svid_key_file_name: "svid_key.pem",
    svid_bundle_file_name: "svid_bundle.pem",
    federated_bundle_dir: "federated",
    jwt_bundle_file_name: "jwt_bundle.json",
    ...options.extra,
  };
  const configPath = join(dir, `${name}.yaml`);
  await writeFile(configPath, stringify(config));
  const sidecar = spawnSidecar(t, ["run", "-c", configPath]);
  const files = {
    certFile: join(certDir, "svid.pem"),
    keyFile: join(certDir, "svid_key.pem"),
    bundleFile: join(certDir, "svid_bundle.pem"),
    federatedBundleDir: join(certDir, "federated"),
  };
  const needed = [files.certFile, files.keyFile, files.bundleFile, join(certDir, "jwt_bundle.json"), ...(options.waitForFiles ?? []).map((file) => join(certDir, file))];
  await waitFor(`${name}'s files`, async () => {
    if (sidecar.process.exitCode !== null) throw new Error(`the ${name} sidecar exited:\n${sidecar.output}`);
    const present = await Promise.all(needed.map(fileExists));
    return present.every(Boolean) ? true : undefined;
  });
  return { certDir, files, sidecar };
}

/** A TLS context on a workload's files, closed after the test. */
export async function tlsContextOf(t: TestContext, workload: Workload): Promise<SpiffeTlsContext> {
  const context = await createSpiffeTlsContext({ ...workload.files, debounceMs: 20 });
  t.after(() => context.close());
  return context;
}

/** A service on 127.0.0.1:0 that answers `<caller> <caller's serial or "jwt">` and records every refusal. */
export interface Service {
  readonly port: number;
  readonly refusals: Error[];
  readonly server: Server;
}

/**
 * `mtls`: the caller's X.509-SVID against `allowed`. `jwt`: server-authenticated TLS and the
 * caller's JWT-SVID (audience: the server's own ID) against the JWT bundle file in `jwtBundleFile`.
 */
export async function startService(
  t: TestContext,
  context: SpiffeTlsContext,
  mode: { kind: "mtls"; allowed: readonly string[] } | { kind: "jwt"; jwtBundleFile: string },
): Promise<Service> {
  const authorize = mode.kind === "mtls" ? authorizeSpiffeId(mode.allowed) : undefined;
  const options = authorize === undefined ? {} : { authorize };
  const refusals: Error[] = [];
  const server = createServer(context.serverOptions(options), (req, res) => {
    if (mode.kind === "mtls") {
      const peer = verifiedPeer(req.socket as TLSSocket);
      res.end(`${String(peer?.id)} ${String(peer?.chain[0]?.serialHex)}`);
      return;
    }
    validateBearerJwtSvid(req.headers.authorization, { jwtBundleFile: mode.jwtBundleFile, audience: context.id.toString() }).then(
      (svid) => res.end(`${svid.id.toString()} jwt`),
      (error: unknown) => {
        refusals.push(error instanceof Error ? error : new Error(String(error)));
        res.writeHead(401).end(describeError(error));
      },
    );
  });
  context.attachServer(server, { ...options, onRefused: (error) => refusals.push(error) });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  return { port: address.port, refusals, server };
}

/** The outcome of one HTTPS call: a response, or the error that ended it. */
export interface CallResult {
  readonly status?: number;
  readonly body?: string;
  readonly error?: Error;
  /** The server certificate's serial, as Node prints it. */
  readonly serverSerial?: string;
}

/** One request on a fresh connection (no agent, so no resumed session), accepting only `serverId`. */
export function call(port: number, client: SpiffeTlsContext, serverId: string, headers: Record<string, string> = {}): Promise<CallResult> {
  return new Promise((resolve) => {
    let serverSerial: string | undefined;
    const outgoing = request(
      { host: "127.0.0.1", port, path: "/", ...client.clientOptions({ authorize: authorizeSpiffeId([serverId]) }), agent: false, headers },
      (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, ...(serverSerial === undefined ? {} : { serverSerial }) }));
      },
    );
    outgoing.on("socket", (socket) => {
      socket.once("secureConnect", () => {
        serverSerial = normalSerial((socket as TLSSocket).getPeerCertificate().serialNumber);
      });
    });
    outgoing.on("error", (error) => resolve({ error }));
    outgoing.end();
  });
}

/** Whether a file exists now, for waiting until a sidecar has written or removed it. */
export async function fileExists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

export const LONG_WAIT_MS = EVENT_TIMEOUT_MS * 2;
