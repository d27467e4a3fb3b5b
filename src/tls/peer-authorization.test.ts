import assert from "node:assert/strict";
import { before, describe, it, type TestContext } from "node:test";
import type { ConnectionOptions } from "node:tls";
import { waitFor } from "../../test/fixtures/fixture-helpers.js";
import { bundlePemOf, exchange, identityDir, listen, mintCa, mintSvid, writeIdentity, type MintedSvid } from "../../test/tls/identities.js";
import type { CertificateAuthority } from "../fakeagent/ca.js";
import { SpiffeIdError } from "../spiffe/spiffe-id.js";
import { parseSpiffeId } from "../spiffe/spiffe-id.js";
import { PeerAuthenticationError } from "./errors.js";
import { authorizeSpiffeId, verifyPeerCertificate } from "./peer-authorization.js";
import { createSpiffeTlsContext, verifiedPeer, type SpiffeTlsContext } from "./spiffe-tls-context.js";

describe("authorizeSpiffeId", () => {
  it("allows exactly the listed IDs and names the list when it refuses", () => {
    const authorizer = authorizeSpiffeId(["spiffe://example.org/client", "spiffe://other.org/partner"]);
    assert.equal(authorizer.allows(parseSpiffeId("spiffe://example.org/client")), true);
    assert.equal(authorizer.allows(parseSpiffeId("spiffe://example.org/client/sub")), false);
    assert.equal(authorizer.allows(parseSpiffeId("spiffe://example.org/other")), false);
    assert.equal(authorizer.description, "the allow-list [spiffe://example.org/client, spiffe://other.org/partner]");
  });

  it("takes a predicate, and refuses a malformed allow-list entry up front", () => {
    const sameDomain = authorizeSpiffeId((id) => id.trustDomain.name === "example.org");
    assert.equal(sameDomain.allows(parseSpiffeId("spiffe://example.org/anything")), true);
    assert.equal(sameDomain.allows(parseSpiffeId("spiffe://other.org/anything")), false);
    assert.throws(() => authorizeSpiffeId(["spiffe://Example.org/x"]), SpiffeIdError);
  });

  it("refuses a peer that sent no certificate", () => {
    assert.throws(
      () => verifyPeerCertificate(undefined, { getX509Bundle: () => undefined }, authorizeSpiffeId([])),
      (error: unknown) => error instanceof PeerAuthenticationError && error.rule === "no-peer-certificate",
    );
  });
});

describe("an mTLS server on the helper, over real TLS on 127.0.0.1", () => {
  let exampleCa: CertificateAuthority;
  let otherCa: CertificateAuthority;
  let strangerCa: CertificateAuthority;
  let serverSvid: MintedSvid;

  before(async () => {
    [exampleCa, otherCa, strangerCa] = await Promise.all([mintCa("example.org"), mintCa("other.org"), mintCa("stranger.org")]);
    serverSvid = await mintSvid(exampleCa, "spiffe://example.org/server");
  });

  async function serverContext(t: TestContext): Promise<SpiffeTlsContext> {
    const files = await identityDir(t);
    await writeIdentity(files, serverSvid, bundlePemOf(exampleCa), { "other.org": bundlePemOf(otherCa) });
    const context = await createSpiffeTlsContext({ ...files, watch: false });
    t.after(() => context.close());
    return context;
  }

  /** The server allows example.org/client and the federated other.org/partner; it answers with the peer's ID. */
  async function startServer(t: TestContext): Promise<{ port: number; refusals: Error[]; context: SpiffeTlsContext }> {
    const context = await serverContext(t);
    const authorize = authorizeSpiffeId(["spiffe://example.org/client", "spiffe://other.org/partner"]);
    const { server, port } = await listen(t, context.serverOptions({ authorize }), (socket) => `ok ${String(verifiedPeer(socket)?.id)}`);
    const refusals: Error[] = [];
    context.attachServer(server, { authorize, onRefused: (error) => refusals.push(error) });
    return { port, refusals, context };
  }

  const clientWith = (svid: MintedSvid | undefined): ConnectionOptions => ({
    ...(svid === undefined ? {} : { key: svid.privateKeyPem, cert: svid.certificatePem }),
    ca: bundlePemOf(exampleCa),
    checkServerIdentity: () => undefined,
  });

  it("serves an allowed client, and a federated one through its own trust domain's bundle", async (t) => {
    const { port, refusals } = await startServer(t);
    const own = await exchange(port, clientWith(await mintSvid(exampleCa, "spiffe://example.org/client")));
    assert.equal(own.reply, "ok spiffe://example.org/client");
    const federated = await exchange(port, clientWith(await mintSvid(otherCa, "spiffe://other.org/partner")));
    assert.equal(federated.reply, "ok spiffe://other.org/partner");
    assert.deepEqual(refusals, []);
  });

  it("refuses a valid SVID that is not on the allow-list, before the application answers", async (t) => {
    const { port, refusals } = await startServer(t);
    const result = await exchange(port, clientWith(await mintSvid(exampleCa, "spiffe://example.org/intruder")));
    assert.notEqual(result.reply, "ok spiffe://example.org/intruder");
    const [refusal] = await waitFor("the refusal", () => (refusals.length > 0 ? refusals : undefined));
    assert.ok(refusal instanceof PeerAuthenticationError);
    assert.equal(refusal.rule, "not-authorized");
    assert.match(refusal.message, /peer spiffe:\/\/example\.org\/intruder is not allowed by the allow-list/);
  });

  it("refuses another trust domain's CA vouching for one of our IDs, which OpenSSL alone accepts", async (t) => {
    const { port, refusals } = await startServer(t);
    // other.org's CA is in `ca` (federated), so the handshake verifies; the SPIFFE ID is on the allow-list.
    const forged = await mintSvid(otherCa, "spiffe://example.org/client");
    const result = await exchange(port, clientWith(forged));
    assert.equal(result.reply === "ok spiffe://example.org/client", false);
    const [refusal] = await waitFor("the refusal", () => (refusals.length > 0 ? refusals : undefined));
    assert.ok(refusal instanceof PeerAuthenticationError);
    assert.equal(refusal.rule, "untrusted-peer");
    assert.match(refusal.message, /does not verify to the bundle of trust domain "example\.org"/);
  });

  it("leaves unknown trust domains and missing certificates to OpenSSL, and reports them", async (t) => {
    const { port, refusals } = await startServer(t);
    const stranger = await exchange(port, clientWith(await mintSvid(strangerCa, "spiffe://stranger.org/client")));
    assert.equal(stranger.reply === undefined || stranger.reply === "", true);
    const anonymous = await exchange(port, clientWith(undefined));
    assert.equal(anonymous.reply === undefined || anonymous.reply === "", true);
    await waitFor("two refusals", () => (refusals.length >= 2 ? true : undefined));
    const reasons = refusals.map((error) => (error instanceof PeerAuthenticationError ? `${error.rule}: ${error.message}` : error.message)).sort();
    assert.deepEqual(reasons, [
      "no-peer-certificate: the peer presented no certificate; an X.509-SVID is required (X509-SVID §5)",
      "untrusted-peer: peer certificate refused in the TLS handshake: UNABLE_TO_VERIFY_LEAF_SIGNATURE (X509-SVID §5)",
    ]);
  });

  it("lets a client check the server's SPIFFE ID instead of a hostname", async (t) => {
    const { port } = await startServer(t);
    const clientFiles = await identityDir(t);
    await writeIdentity(clientFiles, await mintSvid(exampleCa, "spiffe://example.org/client"), bundlePemOf(exampleCa));
    const client = await createSpiffeTlsContext({ ...clientFiles, watch: false });
    t.after(() => client.close());
    const good = await exchange(port, client.clientOptions({ authorize: authorizeSpiffeId(["spiffe://example.org/server"]) }));
    assert.equal(good.reply, "ok spiffe://example.org/client");
    const wrong = await exchange(port, client.clientOptions({ authorize: authorizeSpiffeId(["spiffe://example.org/billing"]) }));
    assert.ok(wrong.error instanceof PeerAuthenticationError, String(wrong.error));
    assert.equal(wrong.error.rule, "not-authorized");
    assert.match(wrong.error.message, /peer spiffe:\/\/example\.org\/server is not allowed/);
  });
});
