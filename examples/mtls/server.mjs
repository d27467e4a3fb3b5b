#!/usr/bin/env node
// An HTTPS service that knows its callers by SPIFFE ID. It reads the files its sidecar keeps
// fresh (certs/server/ by default) through the library's TLS helper, follows every rotation
// without dropping connections, and authorizes each caller:
//   AUTH=mtls (default): the client's X.509-SVID, checked against an allow-list;
//   AUTH=jwt:            server-authenticated TLS, and the client's JWT-SVID as a Bearer token.
// Environment: CERT_DIR, ALLOWED_IDS (comma-separated), HOST, PORT (0 picks a free port), AUTH.
import { createServer } from "node:https";
import { join } from "node:path";
import {
  authorizeSpiffeId,
  createSpiffeTlsContext,
  describeError,
  validateBearerJwtSvid,
  verifiedPeer,
} from "../../dist/index.js";

const certDir = process.env.CERT_DIR ?? "certs/server";
const allowedIds = (process.env.ALLOWED_IDS ?? "spiffe://example.org/client").split(",").filter((id) => id !== "");
const host = process.env.HOST ?? "127.0.0.1";
const port = Number(process.env.PORT ?? 8443);
const auth = process.env.AUTH ?? "mtls";
if (auth !== "mtls" && auth !== "jwt") throw new Error(`AUTH must be mtls or jwt, not ${auth}`);

const log = (line) => console.log(`[server] ${line}`);
const serial = (material) => material.svid.certificates[0].serialHex;

let tls;
try {
  tls = await createSpiffeTlsContext({
    certFile: join(certDir, "svid.pem"),
    keyFile: join(certDir, "svid_key.pem"),
    bundleFile: join(certDir, "svid_bundle.pem"),
    federatedBundleDir: join(certDir, "federated"),
  });
} catch (error) {
  // Run by its sidecar, the files are there and fresh; run by hand, they may be missing or expired.
  log(`cannot use the identity in ${certDir}: ${describeError(error)}`);
  log('run me as the sidecar\'s child ("spiffe-sidecar run -c server.yaml"), which keeps these files valid');
  process.exit(1);
}
tls.on("reload", (material) => log(`reloaded ${material.svid.id} serial ${serial(material)}; trusts ${material.bundles.trustDomains().join(", ")}`));
tls.on("reload-error", (error) => log(`kept the last good files: ${error.message}`));
// The sidecar's renew_signal; the files are watched anyway, so this only makes a reload certain.
process.on("SIGHUP", () => void tls.reload());
process.on("SIGTERM", () => process.exit(0));

const allowList = authorizeSpiffeId(allowedIds);

async function callerOf(request) {
  if (auth === "mtls") return verifiedPeer(request.socket).id;
  const jwtSvid = await validateBearerJwtSvid(request.headers.authorization, {
    jwtBundleFile: join(certDir, "jwt_bundle.json"),
    audience: tls.id.toString(),
  });
  if (!allowList.allows(jwtSvid.id)) throw new Error(`${jwtSvid.id} is not allowed by ${allowList.description}`);
  return jwtSvid.id;
}

const server = createServer(tls.serverOptions(auth === "mtls" ? { authorize: allowList } : {}), (request, response) => {
  callerOf(request).then(
    (caller) => {
      log(`${request.method} ${request.url} from ${caller}`);
      response.end(`hello ${caller}, this is ${tls.id} (serial ${serial(tls.material)})\n`);
    },
    (error) => {
      log(`refused a request: ${describeError(error)}`);
      response.writeHead(401).end(`refused: ${describeError(error)}\n`);
    },
  );
});
tls.attachServer(server, {
  ...(auth === "mtls" ? { authorize: allowList } : {}),
  onRefused: (error) => log(`refused a connection: ${describeError(error)}`),
});
server.on("error", (error) => {
  log(`cannot serve on ${host}:${port}: ${describeError(error)}`);
  process.exit(1);
});
server.listen(port, host, () => {
  log(`${tls.id} listening on https://${host}:${server.address().port}/ (auth ${auth}, allowing ${allowedIds.join(", ")})`);
});
