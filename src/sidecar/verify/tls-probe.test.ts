import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from "node:net";
import { test, type TestContext } from "node:test";
import { createServer as createTlsServer, TLSSocket } from "node:tls";
import { createCertificateAuthority, issueX509Svid } from "../../fakeagent/ca.js";
import { parseSpiffeId, parseTrustDomain } from "../../spiffe/spiffe-id.js";
import { identityOf } from "./served-certificate.js";
import { ProbeError, probeServedCertificate } from "./tls-probe.js";

async function serverIdentity(): Promise<{ cert: string; key: string; serial: string }> {
  const ca = await createCertificateAuthority({ trustDomain: parseTrustDomain("example.org") });
  const issued = await issueX509Svid(ca, { spiffeId: parseSpiffeId("spiffe://example.org/db"), ttlSeconds: 3600 });
  const leaf = new X509Certificate(issued.chainDer);
  const key = `-----BEGIN PRIVATE KEY-----\n${Buffer.from(issued.privateKeyDer).toString("base64")}\n-----END PRIVATE KEY-----\n`;
  return { cert: leaf.toString(), key, serial: identityOf(leaf).serialHex };
}

async function listen(t: TestContext, server: Server): Promise<number> {
  const connections = new Set<Socket>();
  server.on("connection", (socket: Socket) => connections.add(socket));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    for (const socket of connections) socket.destroy();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

test("reads the leaf a TLS server serves, sending no application data", async (t) => {
  const identity = await serverIdentity();
  const received: Buffer[] = [];
  const server = createTlsServer({ cert: identity.cert, key: identity.key }, (socket) => socket.on("data", (chunk: Buffer) => received.push(chunk)));
  const port = await listen(t, server);
  const served = await probeServedCertificate({ host: "127.0.0.1", port, protocol: "tls", timeoutMs: 5_000 });
  assert.equal(identityOf(served).serialHex, identity.serial);
  assert.equal(identityOf(served).spiffeId, "spiffe://example.org/db");
  assert.deepEqual(received, []);
});

test("speaks PostgreSQL's SSLRequest before TLS", async (t) => {
  const identity = await serverIdentity();
  const preambles: string[] = [];
  const server = createTcpServer((socket) => {
    socket.once("data", (chunk: Buffer) => {
      preambles.push(chunk.toString("hex"));
      socket.write("S");
      new TLSSocket(socket, { isServer: true, cert: identity.cert, key: identity.key });
    });
  });
  const port = await listen(t, server);
  const served = await probeServedCertificate({ host: "127.0.0.1", port, protocol: "postgres", timeoutMs: 5_000 });
  assert.equal(identityOf(served).serialHex, identity.serial);
  assert.deepEqual(preambles, ["0000000804d2162f"]);
});

test("a server that refuses SSL, or never answers, fails with a ProbeError in time", async (t) => {
  const refusing = createTcpServer((socket) => socket.once("data", () => socket.write("N")));
  const refusingPort = await listen(t, refusing);
  await assert.rejects(
    probeServedCertificate({ host: "127.0.0.1", port: refusingPort, protocol: "postgres", timeoutMs: 5_000 }),
    (error: unknown) => error instanceof ProbeError && /answered SSLRequest with "N"/.test(error.message),
  );
  const silent = createTcpServer(() => {});
  const silentPort = await listen(t, silent);
  await assert.rejects(
    probeServedCertificate({ host: "127.0.0.1", port: silentPort, protocol: "tls", timeoutMs: 200 }),
    (error: unknown) => error instanceof ProbeError && /within 200 ms/.test(error.message),
  );
});
