import assert from "node:assert/strict";
import { once } from "node:events";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it, type TestContext } from "node:test";
import { connect, createServer, type TLSSocket } from "node:tls";
import {
  bundlePemOf,
  identityDir,
  mintCa,
  mintSvid,
  normalSerial,
  replaceFile,
  writeIdentity,
  type MintedSvid,
} from "../../test/tls/identities.js";
import type { CertificateAuthority } from "../fakeagent/ca.js";
import {
  createSpiffeTlsContext,
  type SpiffeTlsContext,
  type SpiffeTlsContextEvents,
  type SpiffeTlsContextOptions,
} from "./spiffe-tls-context.js";

/** The context's watch and timers do not hold the process open (a server does), so the wait must. */
function next<K extends keyof SpiffeTlsContextEvents>(context: SpiffeTlsContext, name: K): Promise<SpiffeTlsContextEvents[K]> {
  const keepAlive = setInterval(() => undefined, 1000);
  return (once(context, name) as Promise<SpiffeTlsContextEvents[K]>).finally(() => clearInterval(keepAlive));
}

const leafSerial = (context: SpiffeTlsContext): string => normalSerial(context.material.svid.certificates[0]?.serialHex ?? "");

describe("SpiffeTlsContext following the sidecar's files", () => {
  let exampleCa: CertificateAuthority;
  let otherCa: CertificateAuthority;
  let first: MintedSvid;
  let second: MintedSvid;

  before(async () => {
    [exampleCa, otherCa] = await Promise.all([mintCa("example.org"), mintCa("other.org")]);
    [first, second] = await Promise.all([
      mintSvid(exampleCa, "spiffe://example.org/server"),
      mintSvid(exampleCa, "spiffe://example.org/server"),
    ]);
  });

  async function open(t: TestContext, options: Partial<SpiffeTlsContextOptions> = {}) {
    const files = await identityDir(t);
    await writeIdentity(files, first, bundlePemOf(exampleCa));
    const context = await createSpiffeTlsContext({ ...files, debounceMs: 20, ...options });
    t.after(() => context.close());
    return { files, context };
  }

  it("serves each new connection the rewritten SVID while an open connection carries on", async (t) => {
    const { files, context } = await open(t);
    const server = createServer(context.serverOptions(), (socket) => socket.on("data", (data: Buffer) => socket.write(`echo ${data.toString()}`)));
    context.attachServer(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    t.after(() => server.close());
    const address = server.address();
    assert.ok(address !== null && typeof address !== "string");
    const clientOptions = { host: "127.0.0.1", port: address.port, ca: bundlePemOf(exampleCa), checkServerIdentity: () => undefined };

    const longLived: TLSSocket = connect(clientOptions);
    await once(longLived, "secureConnect");
    t.after(() => longLived.destroy());
    assert.equal(normalSerial(longLived.getPeerCertificate().serialNumber), first.serialHex);

    const reloaded = next(context, "reload");
    await writeIdentity(files, second, bundlePemOf(exampleCa));
    await reloaded;
    assert.equal(leafSerial(context), second.serialHex);
    const fresh = connect(clientOptions);
    await once(fresh, "secureConnect");
    assert.equal(normalSerial(fresh.getPeerCertificate().serialNumber), second.serialHex);
    fresh.destroy();

    longLived.write("ping");
    const [echo] = (await once(longLived, "data")) as [Buffer];
    assert.equal(echo.toString(), "echo ping");
  });

  it("keeps the last good set through a torn write, and takes the new set once it is whole", async (t) => {
    const { files, context } = await open(t);
    const refused = next(context, "reload-error");
    await replaceFile(files.certFile, second.certificatePem);
    const [error] = await refused;
    assert.equal(error.rule, "invalid-svid");
    assert.match(error.message, /does not match private key/);
    assert.equal(leafSerial(context), first.serialHex);

    const reloaded = next(context, "reload");
    await replaceFile(files.keyFile, second.privateKeyPem);
    await reloaded;
    assert.equal(leafSerial(context), second.serialHex);
  });

  it("notices a federated bundle directory that appears after start, and a bundle that goes away", async (t) => {
    const { files, context } = await open(t);
    assert.deepEqual(context.material.bundles.trustDomains().map((td) => td.name), ["example.org"]);
    const federated = next(context, "reload");
    await writeIdentity(files, first, bundlePemOf(exampleCa), { "other.org": bundlePemOf(otherCa) });
    await federated;
    assert.deepEqual(context.material.bundles.trustDomains().map((td) => td.name), ["example.org", "other.org"]);
    const removed = next(context, "reload");
    await rm(join(files.federatedBundleDir, "other.org.pem"));
    await removed;
    assert.deepEqual(context.material.bundles.trustDomains().map((td) => td.name), ["example.org"]);
  });

  it("re-reads only on demand without watching, and says whether anything changed", async (t) => {
    const { files, context } = await open(t, { watch: false });
    assert.equal(await context.reload(), false);
    await writeIdentity(files, second, bundlePemOf(exampleCa));
    assert.equal(leafSerial(context), first.serialHex);
    assert.equal(await context.reload(), true);
    assert.equal(leafSerial(context), second.serialHex);
  });
});
