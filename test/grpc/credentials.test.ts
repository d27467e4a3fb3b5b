import assert from "node:assert/strict";
import { Client, Server, status as Status, type ChannelCredentials, type ServiceError, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { describe, it, type TestContext } from "node:test";
import type { Server as TlsServer } from "node:tls";
import { createGrpcMtlsServer, createGrpcTlsServer, grpcMtlsClientCredentials, grpcPeerSpiffeId, grpcTlsClientCredentials } from "../../src/grpc/credentials.js";
import { authorizeAny, authorizeId, authorizeMemberOf } from "../../src/tls/authorizers.js";
import { PeerAuthenticationError } from "../../src/tls/errors.js";
import { agentFor, as, DEADLINE_MS, listenOn, sourceOf } from "../tls/source-support.js";

const WHO_AM_I = "/test.Peer/WhoAmI";
const asText = { serialize: (text: string) => Buffer.from(text), deserialize: (bytes: Buffer) => bytes.toString("utf8") };

/** A gRPC server whose one method answers with the caller's SPIFFE ID; counts its calls. */
function peerService(
  answer: (call: Parameters<typeof grpcPeerSpiffeId>[0]) => string = (call) => grpcPeerSpiffeId(call)?.toString() ?? "anonymous",
): { server: Server; calls: () => number } {
  let calls = 0;
  const server = new Server();
  const implementation: UntypedServiceImplementation = {
    whoAmI: (call: Parameters<typeof grpcPeerSpiffeId>[0], callback: (error: null, reply: string) => void) => {
      calls++;
      callback(null, answer(call));
    },
  };
  server.addService(
    {
      whoAmI: {
        path: WHO_AM_I,
        requestStream: false,
        responseStream: false,
        requestSerialize: asText.serialize,
        requestDeserialize: asText.deserialize,
        responseSerialize: asText.serialize,
        responseDeserialize: asText.deserialize,
      },
    },
    implementation,
  );
  return { server, calls: () => calls };
}

async function serve(t: TestContext, tlsServer: TlsServer, grpcServer: Server): Promise<number> {
  t.after(() => grpcServer.forceShutdown());
  return listenOn(t, tlsServer);
}

/** A channel with its own connections: grpc-js would otherwise share one across clients. */
function newClient(t: TestContext, port: number, credentials: ChannelCredentials): Client {
  const client = new Client(`127.0.0.1:${port}`, credentials, { "grpc.use_local_subchannel_pool": 1 });
  t.after(() => client.close());
  return client;
}

/** One unary call, by default on a new channel; resolves with the reply or the error. */
function call(t: TestContext, port: number, credentials: ChannelCredentials, client = newClient(t, port, credentials)): Promise<{ reply?: string; error?: ServiceError }> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(WHO_AM_I, asText.serialize, asText.deserialize, "hello", { deadline: Date.now() + DEADLINE_MS }, (error, reply) =>
      resolve(error === null ? { ...(reply === undefined ? {} : { reply }) } : { error }),
    );
  });
}

describe("gRPC over SPIFFE TLS from an X509Source", () => {
  it("a unary call with mTLS both ways: the handler sees the client's SPIFFE ID", async (t) => {
    const source = await sourceOf(t, await agentFor(t, "example.org", ["server", "client"]));
    const { server, calls } = peerService();
    const port = await serve(t, createGrpcMtlsServer(server, as(source, "server"), authorizeId("spiffe://example.org/client")), server);
    const result = await call(t, port, grpcMtlsClientCredentials(as(source, "client"), authorizeId("spiffe://example.org/server")));
    assert.equal(result.error, undefined);
    assert.equal(result.reply, "spiffe://example.org/client");
    assert.equal(calls(), 1);
  });

  it("the server refuses a client outside the rule before any call runs, naming the ID and the rule", async (t) => {
    const source = await sourceOf(t, await agentFor(t, "example.org", ["server", "client", "intruder"]));
    const refusals: Error[] = [];
    const { server, calls } = peerService();
    const tlsServer = createGrpcMtlsServer(server, as(source, "server"), authorizeId("spiffe://example.org/client"), {
      onRefused: (error) => refusals.push(error),
    });
    const port = await serve(t, tlsServer, server);
    const result = await call(t, port, grpcMtlsClientCredentials(as(source, "intruder"), authorizeAny()));
    assert.equal(result.error?.code, Status.UNAVAILABLE);
    assert.equal(calls(), 0);
    assert.match(String(refusals[0]?.message), /^peer spiffe:\/\/example\.org\/intruder is not allowed by the rule "exactly spiffe:\/\/example\.org\/client"$/);
  });

  it("the client refuses a server outside the rule, naming the ID and the rule", async (t) => {
    const source = await sourceOf(t, await agentFor(t, "example.org", ["server", "client"]));
    const { server, calls } = peerService();
    const port = await serve(t, createGrpcMtlsServer(server, as(source, "server"), authorizeAny()), server);
    const result = await call(t, port, grpcMtlsClientCredentials(as(source, "client"), authorizeMemberOf("other.org")));
    assert.equal(result.error?.code, Status.UNAVAILABLE);
    assert.match(String(result.error?.details), /peer spiffe:\/\/example\.org\/server is not allowed by the rule "member of trust domain other\.org"/);
    assert.equal(calls(), 0);
  });

  it("TLS without a client certificate: served by a TLS server, refused by an mTLS one", async (t) => {
    const source = await sourceOf(t, await agentFor(t, "example.org", ["server"]));
    const tls = peerService();
    const tlsPort = await serve(t, createGrpcTlsServer(tls.server, as(source, "server")), tls.server);
    const served = await call(t, tlsPort, grpcTlsClientCredentials(source, authorizeId("spiffe://example.org/server")));
    assert.equal(served.error, undefined);
    assert.equal(served.reply, "anonymous");

    const refusals: Error[] = [];
    const mtls = peerService();
    const mtlsPort = await serve(
      t,
      createGrpcMtlsServer(mtls.server, as(source, "server"), authorizeAny(), { onRefused: (error) => refusals.push(error) }),
      mtls.server,
    );
    const refused = await call(t, mtlsPort, grpcTlsClientCredentials(source, authorizeAny()));
    assert.equal(refused.error?.code, Status.UNAVAILABLE);
    assert.equal(mtls.calls(), 0);
    assert.ok(refusals[0] instanceof PeerAuthenticationError && refusals[0].rule === "no-peer-certificate", String(refusals[0]));
  });

  it("across 3 rotations of 1 s SVIDs every call succeeds, and new connections present the new client SVID", async (t) => {
    const source = await sourceOf(t, await agentFor(t, "example.org", ["server", "client"], { x509TtlSeconds: 1 }));
    const client = as(source, "client");
    const { server } = peerService((handled) => handled.getAuthContext().sslPeerCertificate?.serialNumber?.toLowerCase().replace(/^0+/, "") ?? "");
    const port = await serve(t, createGrpcMtlsServer(server, as(source, "server"), authorizeId("spiffe://example.org/client")), server);
    const credentials = grpcMtlsClientCredentials(client, authorizeId("spiffe://example.org/server"));
    const longLived = newClient(t, port, credentials);
    const serialOf = (): string => client.getX509Svid().certificates[0]?.serialHex.toLowerCase().replace(/^0+/, "") ?? "";
    // Every SVID the client was given, recorded as it arrives, so none is missed while a call runs.
    const issued = [serialOf()];
    const onUpdate = (): void => {
      if (serialOf() !== issued[issued.length - 1]) issued.push(serialOf());
    };
    source.on("update", onUpdate);
    t.after(() => source.off("update", onUpdate));
    const results: { rotation: number; fresh: { reply?: string; error?: ServiceError }; reused: { reply?: string; error?: ServiceError } }[] = [];
    while (results.length < 3) {
      const seen = issued.length;
      while (issued.length === seen) await new Promise<void>((resolve) => source.once("update", () => setImmediate(resolve)));
      const rotation = issued.length - 1;
      const [fresh, reused] = await Promise.all([call(t, port, credentials), call(t, port, credentials, longLived)]);
      results.push({ rotation, fresh, reused });
    }
    t.diagnostic(`calls: ${results.length * 2}; rotations: ${issued.length - 1}; failures: ${results.filter((r) => r.fresh.error ?? r.reused.error).length}`);
    for (const { rotation, fresh, reused } of results) {
      assert.equal(fresh.error, undefined, `fresh connection after rotation ${rotation}: ${fresh.error?.message}`);
      assert.equal(reused.error, undefined, `long-lived channel after rotation ${rotation}: ${reused.error?.message}`);
      assert.ok(issued.indexOf(fresh.reply ?? "") >= rotation, `after rotation ${rotation} a new connection presented ${fresh.reply}`);
    }
  });
});
