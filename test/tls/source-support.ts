import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import type { ConnectionOptions, Server as TlsServer, TLSSocket } from "node:tls";
import type { TestContext } from "node:test";
import { promisify } from "node:util";
import type { FakeAgentOptions } from "../../src/fakeagent/options.js";
import { startFakeAgent, type FakeAgent } from "../../src/fakeagent/server.js";
import type { SpiffeTlsSource, UpdatingSource } from "../../src/tls/source-material.js";
import type { WebIdentity } from "../../src/tls/source-tls.js";
import { X509Source } from "../../src/workloadapi/x509-source.js";
import { tempDir } from "../fakeagent/support.js";
import { normalSerial } from "./identities.js";

/** Generous: only a hang should ever hit it. Tests never assert on how long things take. */
export const DEADLINE_MS = 30_000;

/** A fake agent on its own socket, stopped after the test. */
export async function agentFor(
  t: TestContext,
  trustDomain: string,
  names: readonly string[],
  options: Omit<FakeAgentOptions, "socketPath" | "trustDomain" | "identities"> = {},
): Promise<FakeAgent> {
  const dir = await tempDir(t);
  const agent = await startFakeAgent({
    ...options,
    trustDomain,
    identities: names.map((name) => ({ spiffeId: `spiffe://${trustDomain}/${name}`, hint: name })),
    socketPath: join(dir, "agent.sock"),
  });
  t.after(() => agent.stop());
  return agent;
}

/** An X509Source on the agent, closed after the test. */
export async function sourceOf(t: TestContext, agent: FakeAgent): Promise<X509Source> {
  const source = await X509Source.create({
    address: agent.address,
    backoff: { initialMs: 50, maxMs: 200 },
    signal: AbortSignal.timeout(DEADLINE_MS),
  });
  t.after(() => source.close());
  return source;
}

/** One identity of a source that holds several: the fake agent gives every caller all of them. */
export function as(source: X509Source, hint: string): SpiffeTlsSource & UpdatingSource {
  return {
    getX509Svid: () => source.getX509Svid(hint),
    getX509Bundle: (trustDomain) => source.getX509Bundle(trustDomain),
    getX509Context: () => source.getX509Context(),
    on: (event, listener) => source.on(event, listener),
    off: (event, listener) => source.off(event, listener),
  };
}

/** A Web PKI CA and a `localhost` server certificate it signed, made by the openssl CLI. */
export async function webIdentity(t: TestContext): Promise<WebIdentity & { caPem: string }> {
  const dir = await tempDir(t);
  const run = promisify(execFile);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  await run("openssl", ["req", "-x509", ...ec, "-keyout", join(dir, "ca.key"), "-out", join(dir, "ca.pem"), "-subj", "/CN=Test Web CA", "-days", "2"]);
  await run("openssl", ["req", ...ec, "-keyout", join(dir, "web.key"), "-out", join(dir, "web.csr"), "-subj", "/CN=localhost"]);
  await writeFile(join(dir, "web.ext"), "subjectAltName = DNS:localhost\nextendedKeyUsage = serverAuth\n");
  await run("openssl", [
    "x509", "-req", "-in", join(dir, "web.csr"), "-CA", join(dir, "ca.pem"), "-CAkey", join(dir, "ca.key"),
    "-CAcreateserial", "-out", join(dir, "web.pem"), "-days", "2", "-extfile", join(dir, "web.ext"),
  ]);
  return {
    caPem: await readFile(join(dir, "ca.pem"), "utf8"),
    cert: await readFile(join(dir, "web.pem"), "utf8"),
    key: await readFile(join(dir, "web.key"), "utf8"),
  };
}

/** What a client got from one request on a fresh connection; never throws. */
export interface Fetched {
  readonly body?: string;
  readonly error?: Error;
  /** The server certificate's serial, lowercase hex without leading zeros. */
  readonly serverSerial?: string;
}

/** GET / over a fresh connection (`agent: false`, so no session is resumed). */
export function fetchOnce(port: number, options: ConnectionOptions): Promise<Fetched> {
  return new Promise((resolve) => {
    let serverSerial: string | undefined;
    const request = httpsRequest({ host: "127.0.0.1", port, path: "/", agent: false, ...options }, (response) => {
      let body = "";
      response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ body, ...(serverSerial === undefined ? {} : { serverSerial }) }));
      response.on("error", (error) => resolve({ error }));
    });
    request.on("socket", (socket) => {
      socket.once("secureConnect", () => {
        serverSerial = normalSerial((socket as TLSSocket).getPeerCertificate().serialNumber ?? "");
      });
    });
    request.setTimeout(DEADLINE_MS, () => request.destroy(new Error("request timed out")));
    request.on("error", (error) => resolve({ error, ...(serverSerial === undefined ? {} : { serverSerial }) }));
    request.end();
  });
}

/** Starts a server on 127.0.0.1 at a free port; closed after the test. */
export async function listenOn(t: TestContext, server: TlsServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        (server as TlsServer & { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => resolve());
      }),
  );
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  return address.port;
}
