#!/usr/bin/env node
// Calls server.mjs with the identity its own sidecar writes (certs/client/ by default): the
// X.509-SVID for mTLS, and with AUTH=jwt also the JWT-SVID in an Authorization: Bearer header.
// It accepts only the server's SPIFFE ID, never a hostname. Prints one line per request and
// exits 1 if any failed. Started beside its sidecar and the server, it waits (up to WAIT_MS) for
// its files to appear and for the server to listen.
// Environment: CERT_DIR, SERVER_URL, SERVER_ID, AUTH (mtls | jwt), JWT_FILE, COUNT, INTERVAL_MS,
// WAIT_MS.
import { readFile } from "node:fs/promises";
import { request } from "node:https";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { authorizeSpiffeId, createSpiffeTlsContext, describeError } from "../../dist/index.js";

const certDir = process.env.CERT_DIR ?? "certs/client";
const serverUrl = process.env.SERVER_URL ?? "https://127.0.0.1:8443/";
const serverId = process.env.SERVER_ID ?? "spiffe://example.org/server";
const auth = process.env.AUTH ?? "mtls";
const jwtFile = process.env.JWT_FILE ?? join(certDir, "server.token");
const count = Number(process.env.COUNT ?? 1);
const intervalMs = Number(process.env.INTERVAL_MS ?? 500);
const waitMs = Number(process.env.WAIT_MS ?? 15_000);
const waitUntil = Date.now() + waitMs;

/** Runs `attempt` again while it fails with what time will fix, until WAIT_MS has passed. */
async function retryWhile(what, attempt, isTemporary) {
  let announced = false;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (!isTemporary(error) || Date.now() >= waitUntil) throw error;
      if (!announced) console.log(`[client] waiting for ${what} (up to ${waitMs / 1000} s)`);
      announced = true;
      await sleep(200);
    }
  }
}

let tls;
try {
  // A file that is not there yet is the sidecar still starting; anything else will not pass.
  tls = await retryWhile(`the files in ${certDir}`, () =>
    createSpiffeTlsContext({
      certFile: join(certDir, "svid.pem"),
      keyFile: join(certDir, "svid_key.pem"),
      bundleFile: join(certDir, "svid_bundle.pem"),
      federatedBundleDir: join(certDir, "federated"),
    }),
    (error) => error.rule === "unreadable",
  );
} catch (error) {
  console.log(`[client] cannot use the identity in ${certDir}: ${describeError(error)}`);
  console.log('[client] a sidecar keeps these files valid only while it runs: keep "spiffe-sidecar run" going, or write them again with "spiffe-sidecar once"');
  process.exit(1);
}
const authorize = authorizeSpiffeId([serverId]);

async function call() {
  const headers = auth === "jwt" ? { authorization: `Bearer ${(await readFile(jwtFile, "utf8")).trim()}` } : {};
  // agent: false: a fresh handshake each time, with the current SVID; Node would skip the
  // server's SPIFFE ID check on a resumed session (see SpiffeTlsContext.clientOptions).
  return new Promise((resolve, reject) => {
    const outgoing = request(serverUrl, { ...tls.clientOptions({ authorize }), agent: false, headers }, (response) => {
      let body = "";
      response.setEncoding("utf8").on("data", (chunk) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode, body: body.trim() }));
    });
    outgoing.on("error", reject);
    outgoing.end();
  });
}

let failures = 0;
// The first call waits for a server whose sidecar is still starting it; later ones do not.
const serverStarting = (error) => error.code === "ECONNREFUSED";
for (let i = 1; i <= count; i++) {
  try {
    const { status, body } = await (i === 1 ? retryWhile(serverUrl, call, serverStarting) : call());
    if (status !== 200) failures++;
    console.log(`[client] ${status} ${body}`);
  } catch (error) {
    failures++;
    console.log(`[client] failed: ${describeError(error)}`);
  }
  if (i < count) await new Promise((resolve) => setTimeout(resolve, intervalMs));
}
tls.close();
process.exitCode = failures === 0 ? 0 : 1;
