import { mkdir, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { createServer, connect, type ConnectionOptions, type Server, type TLSSocket, type TlsOptions } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { createCertificateAuthority, issueX509Svid, type CertificateAuthority } from "../../src/fakeagent/ca.js";
import { splitDerSequence } from "../../src/spiffe/der.js";
import { encodePem } from "../../src/spiffe/pem.js";
import { parseSpiffeId, parseTrustDomain } from "../../src/spiffe/spiffe-id.js";
import type { SpiffeTlsFiles } from "../../src/tls/tls-files.js";

/** A minted X.509-SVID as the sidecar writes it. */
export interface MintedSvid {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  readonly serialHex: string;
}

export function mintCa(trustDomain: string, parent?: CertificateAuthority): Promise<CertificateAuthority> {
  return createCertificateAuthority({ trustDomain: parseTrustDomain(trustDomain), ...(parent === undefined ? {} : { parent }) });
}

/** Any ID can be minted from any CA: tests need SVIDs a CA has no business signing. */
export async function mintSvid(ca: CertificateAuthority, spiffeId: string, options: { ttlSeconds?: number; now?: Date } = {}): Promise<MintedSvid> {
  const issued = await issueX509Svid(ca, {
    spiffeId: parseSpiffeId(spiffeId),
    ttlSeconds: options.ttlSeconds ?? 3600,
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  return {
    certificatePem: splitDerSequence(issued.chainDer).map((der) => encodePem("CERTIFICATE", der)).join(""),
    privateKeyPem: encodePem("PRIVATE KEY", issued.privateKeyDer),
    serialHex: normalSerial(issued.serialHex),
  };
}

export function bundlePemOf(...cas: CertificateAuthority[]): string {
  return cas.map((ca) => encodePem("CERTIFICATE", ca.rootDer)).join("");
}

/** A scratch cert_dir, removed after the test, with the paths a sidecar config would name. */
export async function identityDir(t: TestContext): Promise<SpiffeTlsFiles & { dir: string; federatedBundleDir: string }> {
  const dir = await mkdtemp(join(tmpdir(), "tls-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return {
    dir,
    certFile: join(dir, "svid.pem"),
    keyFile: join(dir, "svid_key.pem"),
    bundleFile: join(dir, "svid_bundle.pem"),
    federatedBundleDir: join(dir, "federated"),
  };
}

/** Replaces a file the way the sidecar does: a temp file renamed over it. */
export async function replaceFile(path: string, text: string): Promise<void> {
  const temp = `${path}.${process.pid}.${Math.random().toString(16).slice(2)}.tmp`;
  await writeFile(temp, text);
  await rename(temp, path);
}

/** Writes bundle, federated bundles, then cert and key, in the sidecar's order. */
export async function writeIdentity(
  files: SpiffeTlsFiles & { federatedBundleDir: string },
  svid: MintedSvid,
  bundlePem: string,
  federated: Readonly<Record<string, string>> = {},
): Promise<void> {
  await replaceFile(files.bundleFile, bundlePem);
  if (Object.keys(federated).length > 0) await mkdir(files.federatedBundleDir, { recursive: true });
  for (const [trustDomain, pem] of Object.entries(federated)) await replaceFile(join(files.federatedBundleDir, `${trustDomain}.pem`), pem);
  await replaceFile(files.certFile, svid.certificatePem);
  await replaceFile(files.keyFile, svid.privateKeyPem);
}

/** A TLS server on 127.0.0.1 at a free port that answers each connection (default "ok") and closes it; closed after the test. */
export async function listen(
  t: TestContext,
  options: TlsOptions,
  answer: (socket: TLSSocket) => string = () => "ok",
): Promise<{ server: Server; port: number }> {
  const server = createServer(options, (socket) => socket.end(answer(socket)));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  return { server, port: address.port };
}

/** Serials in one form: lowercase hex without leading zeros (Node pads, `serialHex` does not). */
export function normalSerial(hex: string): string {
  return hex.toLowerCase().replace(/^0+(?=.)/, "");
}

/** What a client got: the server's reply, or the error that ended the connection, and the server's serial. */
export interface Exchange {
  readonly reply?: string;
  readonly error?: Error;
  readonly serverSerial?: string;
}

/** Connects, reads until the server closes, never throws. */
export function exchange(port: number, options: ConnectionOptions): Promise<Exchange> {
  return new Promise((resolve) => {
    let reply = "";
    let serverSerial: string | undefined;
    const socket: TLSSocket = connect({ host: "127.0.0.1", port, ...options }, () => {
      serverSerial = normalSerial(socket.getPeerCertificate().serialNumber ?? "");
    });
    socket.setEncoding("utf8").on("data", (chunk: string) => (reply += chunk));
    socket.on("error", (error) => resolve({ error, ...(serverSerial === undefined ? {} : { serverSerial }) }));
    socket.on("close", () => resolve({ reply, ...(serverSerial === undefined ? {} : { serverSerial }) }));
  });
}
