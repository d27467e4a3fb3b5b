import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { describe, it, type TestContext } from "node:test";
import type { PeerCertificate } from "node:tls";
import { Client, credentials, Server, ServerCredentials, type ServiceError, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { parseBundleMap } from "../../src/spiffe/bundle-map.js";
import type { SpiffeBundle } from "../../src/spiffe/spiffe-bundle.js";
import { baseConfig, runSidecar, scratch, startAgent, writeConfig, wrote, X509_FILES, WORKLOAD_ID } from "./support.js";

/*
 * grpc-js (1.14) has no SPIFFE support: nothing in node_modules/@grpc/grpc-js mentions SPIFFE,
 * and its TLS credentials take PEM roots only. So this test does in a few lines what gRFC A87
 * has the C++, Java and Go file watchers do with the same file: take the peer's trust domain
 * from its SPIFFE ID, use that trust domain's bundle from the map as roots, and verify.
 */

const ECHO = "/test.Echo/Echo";
const asText = { serialize: (text: string) => Buffer.from(text), deserialize: (bytes: Buffer) => bytes.toString("utf8") };
const DEADLINE_MS = 10_000;

function rootsPem(bundle: SpiffeBundle | undefined): Buffer {
  assert.ok(bundle !== undefined && bundle.x509Authorities.length > 0, "the trust domain has CAs in the map");
  return Buffer.from(bundle.x509Authorities.map((der) => new X509Certificate(der).toString()).join(""));
}

/** A87 step 1-2: the peer must present one SPIFFE ID URI SAN, of the trust domain whose roots we use. */
function checkSpiffePeer(trustDomain: string) {
  return (_host: string, certificate: PeerCertificate): Error | undefined => {
    const uris = (certificate.subjectaltname ?? "").split(", ").filter((name) => name.startsWith("URI:"));
    if (uris.length !== 1 || !uris[0]?.startsWith(`URI:spiffe://${trustDomain}/`)) return new Error(`not an SVID of ${trustDomain}: ${uris.join(",")}`);
    return undefined;
  };
}

function echoServer(t: TestContext, roots: Buffer, certChain: Buffer, privateKey: Buffer): Promise<number> {
  const server = new Server();
  const implementation: UntypedServiceImplementation = {
    echo: (call: { request: string }, callback: (error: null, reply: string) => void) => callback(null, `echo ${call.request}`),
  };
  server.addService(
    { echo: { path: ECHO, requestStream: false, responseStream: false, requestSerialize: asText.serialize, requestDeserialize: asText.deserialize, responseSerialize: asText.serialize, responseDeserialize: asText.deserialize } },
    implementation,
  );
  t.after(() => server.forceShutdown());
  // Client certificates required and checked against the roots: mutual TLS.
  const serverCredentials = ServerCredentials.createSsl(roots, [{ cert_chain: certChain, private_key: privateKey }], true);
  return new Promise((resolve, reject) => server.bindAsync("127.0.0.1:0", serverCredentials, (error, port) => (error === null ? resolve(port) : reject(error))));
}

function echo(t: TestContext, port: number, roots: Buffer, key: Buffer, chain: Buffer, trustDomain: string): Promise<{ reply?: string; error?: ServiceError }> {
  const channel = credentials.createSsl(roots, key, chain, { checkServerIdentity: checkSpiffePeer(trustDomain) });
  const client = new Client(`127.0.0.1:${port}`, channel, { "grpc.use_local_subchannel_pool": 1 });
  t.after(() => client.close());
  return new Promise((resolve) => {
    client.makeUnaryRequest(ECHO, asText.serialize, asText.deserialize, "hi", { deadline: Date.now() + DEADLINE_MS }, (error, reply) =>
      resolve(error === null ? { ...(reply === undefined ? {} : { reply }) } : { error }),
    );
  });
}

describe("spiffe_bundle_map_file_name: gRPC's SPIFFE bundle map (gRFC A87)", () => {
  it("is written with own and federated CAs, reads back with our parser, and its roots carry a grpc-js mTLS call", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where, { x509TtlSeconds: 3_600, federatesWith: ["partner.org"] });
    const config = await writeConfig(where, { ...baseConfig(agent, where), ...X509_FILES, spiffe_bundle_map_file_name: "bundle_map.json" });
    const sidecar = runSidecar(t, config);
    await sidecar.waitForLog("the bundle map write", wrote(where.cert("bundle_map.json")));
    await sidecar.stop();

    const mapJson = await readFile(where.cert("bundle_map.json"), "utf8");
    const bundles = parseBundleMap(mapJson);
    assert.deepEqual([...bundles.keys()], ["example.org", "partner.org"]);
    const keyUses = Object.values((JSON.parse(mapJson) as { trust_domains: Record<string, { keys: { use: string; x5c: string[] }[] }> }).trust_domains)
      .flatMap((bundle) => bundle.keys)
      .map((key) => `${key.use}/${key.x5c.length}`);
    assert.ok(keyUses.length >= 2 && keyUses.every((use) => use === "x509-svid/1"), keyUses.join(" "));
    // The own trust domain's entry holds exactly the CAs the PEM bundle file holds.
    assert.equal(rootsPem(bundles.get("example.org")).toString(), await readFile(where.cert("svid_bundle.pem"), "utf8"));

    const chain = await readFile(where.cert("svid.pem"));
    const key = await readFile(where.cert("svid_key.pem"));
    assert.ok(new X509Certificate(chain).subjectAltName?.includes(WORKLOAD_ID));
    const ownRoots = rootsPem(bundles.get("example.org"));
    const port = await echoServer(t, ownRoots, chain, key);
    assert.deepEqual(await echo(t, port, ownRoots, key, chain, "example.org"), { reply: "echo hi" });

    // The federated entry is another trust domain's: its roots do not verify our SVID.
    const { error } = await echo(t, port, rootsPem(bundles.get("partner.org")), key, chain, "example.org");
    assert.equal(error?.code, 14, "UNAVAILABLE: the handshake fails with partner.org's roots");
  });
});
