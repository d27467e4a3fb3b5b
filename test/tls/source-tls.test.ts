import assert from "node:assert/strict";
import { connect as http2Connect, createSecureServer as createHttp2Server } from "node:http2";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import { describe, it, type TestContext } from "node:test";
import { connect as tlsConnect, createSecureContext, createServer as createTlsSocketServer, type TLSSocket, type TlsOptions } from "node:tls";
import {
  authorizeAny,
  authorizeId,
  authorizeMatching,
  authorizeMemberOf,
  authorizeOneOf,
} from "../../src/tls/authorizers.js";
import { PeerAuthenticationError } from "../../src/tls/errors.js";
import {
  createMtlsServer,
  createMtlsWebServer,
  createTlsServer,
  mtlsClientOptions,
  mtlsWebClientOptions,
  peerSpiffeId,
  tlsClientOptions,
} from "../../src/tls/source-tls.js";
import { encodePem } from "../../src/spiffe/pem.js";
import { parseSpiffeId } from "../../src/spiffe/spiffe-id.js";
import { marshalX509SvidPem } from "../../src/spiffe/x509-svid.js";
import { agentFor, as, fetchOnce, listenOn, sourceOf, webIdentity } from "./source-support.js";

/** An https server answering each request with the client's SPIFFE ID; counts the requests it served. */
function whoAmI(): { create: (options: TlsOptions) => HttpsServer; served: () => number } {
  let served = 0;
  return {
    create: (options) =>
      createHttpsServer(options, (request, response) => {
        served++;
        response.end(peerSpiffeId(request.socket as TLSSocket)?.toString() ?? "anonymous");
      }),
    served: () => served,
  };
}

async function exampleOrg(t: TestContext) {
  const agent = await agentFor(t, "example.org", ["server", "client", "intruder"]);
  return sourceOf(t, agent);
}

describe("authorizers", () => {
  const id = parseSpiffeId("spiffe://example.org/billing/api");
  it("allow what go-spiffe's Authorize* allow, and say the rule", () => {
    assert.equal(authorizeAny().allows(id), true);
    assert.equal(authorizeId("spiffe://example.org/billing/api").allows(id), true);
    assert.equal(authorizeId("spiffe://example.org/billing").allows(id), false);
    assert.equal(authorizeOneOf("spiffe://example.org/a", id).allows(id), true);
    assert.equal(authorizeOneOf().allows(id), false);
    assert.equal(authorizeMemberOf("example.org").allows(id), true);
    assert.equal(authorizeMemberOf("other.org").allows(id), false);
    assert.equal(authorizeMatching((peer) => peer.path.startsWith("/billing/"), "path under /billing/").allows(id), true);
    assert.equal(authorizeOneOf("spiffe://example.org/a", "spiffe://example.org/b").description, 'the rule "one of [spiffe://example.org/a, spiffe://example.org/b]"');
    assert.equal(authorizeMemberOf("other.org").description, 'the rule "member of trust domain other.org"');
    assert.throws(() => authorizeId("https://example.org/x"), /scheme|spiffe/i);
  });
});

describe("TLS from an X509Source", () => {
  it("mTLS both ways: each side sees the other's SPIFFE ID", async (t) => {
    const source = await exampleOrg(t);
    const { create } = whoAmI();
    const port = await listenOn(t, createMtlsServer(as(source, "server"), authorizeId("spiffe://example.org/client"), create));
    const fetched = await fetchOnce(port, mtlsClientOptions(as(source, "client"), authorizeId("spiffe://example.org/server")));
    assert.equal(fetched.error, undefined);
    assert.equal(fetched.body, "spiffe://example.org/client");
  });

  it("TLS: the client verifies the server by SPIFFE ID and presents none; an mTLS server refuses it", async (t) => {
    const source = await exampleOrg(t);
    const tlsServer = whoAmI();
    const tlsPort = await listenOn(t, createTlsServer(as(source, "server"), tlsServer.create));
    const fetched = await fetchOnce(tlsPort, tlsClientOptions(source, authorizeMemberOf("example.org")));
    assert.equal(fetched.error, undefined);
    assert.equal(fetched.body, "anonymous");

    const refusals: Error[] = [];
    const mtlsServer = whoAmI();
    const mtlsPort = await listenOn(
      t,
      createMtlsServer(as(source, "server"), authorizeAny(), mtlsServer.create, { onRefused: (error) => refusals.push(error) }),
    );
    const refused = await fetchOnce(mtlsPort, tlsClientOptions(source, authorizeAny()));
    assert.ok(refused.error !== undefined, "a client without an SVID must be refused");
    assert.equal(mtlsServer.served(), 0);
    assert.ok(refusals[0] instanceof PeerAuthenticationError && refusals[0].rule === "no-peer-certificate", String(refusals[0]));
  });

  it("the server refuses a client outside the rule, naming its ID and the rule", async (t) => {
    const source = await exampleOrg(t);
    const refusals: Error[] = [];
    const server = whoAmI();
    const port = await listenOn(
      t,
      createMtlsServer(as(source, "server"), authorizeId("spiffe://example.org/client"), server.create, { onRefused: (error) => refusals.push(error) }),
    );
    const refused = await fetchOnce(port, mtlsClientOptions(as(source, "intruder"), authorizeAny()));
    assert.ok(refused.error !== undefined);
    assert.equal(server.served(), 0);
    assert.equal(refusals.length, 1);
    assert.match(String(refusals[0]?.message), /^peer spiffe:\/\/example\.org\/intruder is not allowed by the rule "exactly spiffe:\/\/example\.org\/client"$/);
  });

  it("the client refuses a server outside the rule before sending a byte, naming its ID and the rule", async (t) => {
    const source = await exampleOrg(t);
    const server = whoAmI();
    const port = await listenOn(t, createMtlsServer(as(source, "server"), authorizeAny(), server.create));
    const refused = await fetchOnce(port, mtlsClientOptions(as(source, "client"), authorizeOneOf("spiffe://example.org/db", "spiffe://example.org/cache")));
    assert.ok(refused.error instanceof PeerAuthenticationError, String(refused.error));
    assert.equal(refused.error.rule, "not-authorized");
    assert.match(refused.error.message, /peer spiffe:\/\/example\.org\/server is not allowed by the rule "one of \[spiffe:\/\/example\.org\/db, spiffe:\/\/example\.org\/cache\]"/);
    assert.equal(server.served(), 0);
  });

  it("another trust domain is refused on both sides: by the server naming the ID, by the client in the handshake", async (t) => {
    const source = await exampleOrg(t);
    const other = await sourceOf(t, await agentFor(t, "other.org", ["client", "server"]));
    const refusals: Error[] = [];
    const server = whoAmI();
    const port = await listenOn(
      t,
      createMtlsServer(as(source, "server"), authorizeAny(), server.create, { onRefused: (error) => refusals.push(error) }),
    );
    // The client skips its own check here, so that the server is the one refusing.
    const refusedByServer = await fetchOnce(port, { ...mtlsClientOptions(as(other, "client"), authorizeAny()), rejectUnauthorized: false });
    assert.ok(refusedByServer.error !== undefined);
    assert.match(String(refusals[0]?.message), /^peer spiffe:\/\/other\.org\/client is not trusted: .*"other\.org"/);
    assert.equal((refusals[0] as PeerAuthenticationError | undefined)?.rule, "untrusted-peer");

    // The client holds no bundle of example.org, so OpenSSL refuses the chain before our check.
    const refusedByClient = await fetchOnce(port, mtlsClientOptions(as(other, "client"), authorizeAny()));
    assert.match(String((refusedByClient.error as { code?: string } | undefined)?.code), /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
    assert.equal(server.served(), 0);
  });

  it("web mixes: our SVID to a Web PKI server, and a Web PKI server that verifies client SVIDs", async (t) => {
    const source = await exampleOrg(t);
    const web = await webIdentity(t);
    const refusals: Error[] = [];
    const server = whoAmI();
    const port = await listenOn(
      t,
      createMtlsWebServer(web, source, authorizeMatching((id) => id.path === "/client", "path /client"), server.create, {
        onRefused: (error) => refusals.push(error),
      }),
    );
    const webClient = { ...mtlsWebClientOptions(as(source, "client"), [web.caPem]), servername: "localhost" };
    const fetched = await fetchOnce(port, webClient);
    assert.equal(fetched.error, undefined);
    assert.equal(fetched.body, "spiffe://example.org/client");

    const refused = await fetchOnce(port, { ...mtlsWebClientOptions(as(source, "intruder"), [web.caPem]), servername: "localhost" });
    assert.ok(refused.error !== undefined);
    assert.match(String(refusals[0]?.message), /^peer spiffe:\/\/example\.org\/intruder is not allowed by the rule "path \/client"$/);

    // The web client checks the hostname as usual.
    const wrongHost = await fetchOnce(port, { ...mtlsWebClientOptions(as(source, "client"), [web.caPem]), servername: "example.com" });
    assert.match(String((wrongHost.error as { code?: string } | undefined)?.code), /ERR_TLS_CERT_ALTNAME_INVALID/);
    assert.equal(server.served(), 1);
  });

  it("raw tls: both sockets name the peer's SPIFFE ID", async (t) => {
    const source = await exampleOrg(t);
    const server = createMtlsServer(as(source, "server"), authorizeMemberOf("example.org"), (options) =>
      createTlsSocketServer(options, (socket) => socket.end(peerSpiffeId(socket)?.toString() ?? "anonymous")),
    );
    const port = await listenOn(t, server);
    const { reply, serverId } = await new Promise<{ reply: string; serverId: string | undefined }>((resolve, reject) => {
      let text = "";
      const socket = tlsConnect({ host: "127.0.0.1", port, ...mtlsClientOptions(as(source, "client"), authorizeId("spiffe://example.org/server")) });
      socket.once("secureConnect", () => {
        const serverId = peerSpiffeId(socket)?.toString();
        socket.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
        socket.once("end", () => resolve({ reply: text, serverId }));
      });
      socket.once("error", reject);
    });
    assert.equal(reply, "spiffe://example.org/client");
    assert.equal(serverId, "spiffe://example.org/server");
  });

  it("http2: a refused client never reaches the session, an authorized one is served", async (t) => {
    const source = await exampleOrg(t);
    const refusals: Error[] = [];
    let served = 0;
    const server = createMtlsServer(
      as(source, "server"),
      authorizeId("spiffe://example.org/client"),
      (options) =>
        createHttp2Server(options, (request, response) => {
          served++;
          response.end(peerSpiffeId(request.socket as TLSSocket)?.toString() ?? "anonymous");
        }),
      { onRefused: (error) => refusals.push(error) },
    );
    const port = await listenOn(t, server);
    const get = (hint: string): Promise<{ body?: string; error?: Error }> =>
      new Promise((resolve) => {
        const session = http2Connect(`https://127.0.0.1:${port}`, {
          ...mtlsClientOptions(as(source, hint), authorizeId("spiffe://example.org/server")),
        });
        session.on("error", (error) => resolve({ error }));
        const stream = session.request({ ":path": "/" });
        let body = "";
        let answered = false;
        stream.on("response", () => (answered = true));
        stream.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
        // A connection dropped after the handshake ends the stream without an error event.
        stream.on("close", () => {
          session.close();
          resolve(answered ? { body } : { error: new Error(`no response (stream closed, code ${stream.rstCode})`) });
        });
        stream.on("error", (error) => {
          session.destroy();
          resolve({ error });
        });
      });
    assert.equal((await get("client")).body, "spiffe://example.org/client");
    const refused = await get("intruder");
    assert.ok(refused.error !== undefined, JSON.stringify(refused));
    assert.equal(served, 1);
    assert.match(String(refusals[0]?.message), /peer spiffe:\/\/example\.org\/intruder is not allowed/);
  });

  it("a TLS 1.2 client cannot renegotiate to another certificate after it was verified", async (t) => {
    const source = await exampleOrg(t);
    const server = createMtlsServer(as(source, "server"), authorizeAny(), (options) =>
      createTlsSocketServer(options, (socket) => socket.on("data", () => undefined)),
    );
    const port = await listenOn(t, server);
    const renegotiated = await new Promise<Error | null>((resolve) => {
      // A context of our own: `maxVersion` is ignored next to a ready `secureContext`.
      const { certificatesPem, privateKeyPem } = marshalX509SvidPem(source.getX509Svid("client"));
      const ca = source.getX509Context().bundles.bundles().flatMap((bundle) => bundle.authorities.map((authority) => encodePem("CERTIFICATE", authority.der)));
      const secureContext = createSecureContext({ cert: certificatesPem, key: privateKeyPem, ca, maxVersion: "TLSv1.2" });
      const socket = tlsConnect({ host: "127.0.0.1", port, ...mtlsClientOptions(as(source, "client"), authorizeAny()), secureContext });
      socket.once("secureConnect", () => {
        socket.renegotiate({ rejectUnauthorized: false }, (error) => {
          socket.destroy();
          resolve(error);
        });
        // The server's refusal arrives as an alert, read once there is traffic.
        socket.write("x");
      });
      socket.once("error", (error) => {
        socket.destroy();
        resolve(error);
      });
    });
    assert.match(String(renegotiated?.message), /no renegotiation/);
  });
});
