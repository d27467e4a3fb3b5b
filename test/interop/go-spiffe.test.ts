import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import type { ChildProcessByStdio } from "node:child_process";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { connect, createServer, type Server, type TLSSocket } from "node:tls";
import { once } from "node:events";
import { after, before, describe, it, type TestContext } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { startFakeAgent } from "../../src/fakeagent/index.js";
import type { FakeAgent } from "../../src/fakeagent/index.js";
import {
  authorizeMemberOf,
  authorizeOneOf,
  createGrpcMtlsServer,
  createMtlsServer,
  grpcMtlsClientCredentials,
  grpcPeerSpiffeId,
  mtlsClientOptions,
  peerSpiffeId,
  X509Source,
  type SpiffeIdAuthorizer,
} from "../../src/index.js";
import { SpireDeployment } from "./spire.js";
import { INTEROP_TIMEOUT_MS, requireTools, tempDir } from "./support.js";

const tools = requireTools(["go-spiffe-peer"]);
const spireTools = requireTools(["spire-server", "spire-agent"]);

const TRUST_DOMAIN = "example.org";
const GO_ID = "spiffe://example.org/go";
const NODE_ID = "spiffe://example.org/node";
/** An ID the agent never issues: allowing only it refuses both peers. */
const OTHER_ID = "spiffe://example.org/other";
/** A trust domain the agent federates with but issues nothing in. */
const OTHER_TRUST_DOMAIN = "other.org";

/** One JSON line the Go peer prints (test/tools/go-spiffe-peer/main.go). */
interface PeerEvent {
  readonly event: "listening" | "peer" | "refused" | "handshake-failed" | "error";
  readonly address?: string;
  readonly peerId?: string;
  /** mTLS modes: the peer leaf's serial number, lowercase hex. */
  readonly peerSerial?: string;
  readonly role?: string;
  readonly reply?: string;
  readonly status?: string;
  readonly error?: string;
}

/** A running go-spiffe-peer: its events as they arrive, and its exit. */
class GoPeer {
  readonly events: PeerEvent[] = [];
  readonly exited: Promise<number | null>;
  #stderr = "";
  #waiters: (() => void)[] = [];
  readonly #child: ChildProcessByStdio<Writable, Readable, Readable>;

  constructor(binary: string, args: readonly string[]) {
    // stdin stays open: the peer stops serving when it closes, so it never outlives the test.
    this.#child = spawn(binary, args, { stdio: ["pipe", "pipe", "pipe"] });
    this.#child.stderr.setEncoding("utf8").on("data", (chunk: string) => (this.#stderr += chunk));
    createInterface({ input: this.#child.stdout }).on("line", (line) => {
      this.events.push(JSON.parse(line) as PeerEvent);
      for (const wake of this.#waiters.splice(0)) wake();
    });
    this.exited = new Promise((resolve, reject) => {
      this.#child.on("error", reject);
      this.#child.on("close", (code) => {
        for (const wake of this.#waiters.splice(0)) wake();
        resolve(code);
      });
    });
  }

  /** The first event (seen or still to come) that matches; rejects if the peer exits first. */
  async waitFor(what: string, matches: (event: PeerEvent) => boolean): Promise<PeerEvent> {
    const deadline = Date.now() + INTEROP_TIMEOUT_MS;
    for (;;) {
      const found = this.events.find(matches);
      if (found !== undefined) return found;
      if (this.#child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`go-spiffe-peer gave no ${what}; events ${JSON.stringify(this.events)}, stderr: ${this.#stderr}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1_000);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  get stderr(): string {
    return this.#stderr;
  }

  /** Closes stdin (the peer's cue to stop) and waits; SIGKILL if it does not. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null) return;
    this.#child.stdin.end();
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

type Authorize = { readonly ids: readonly string[] } | { readonly memberOf: string };

function authorizeFlags(authorize: Authorize): string[] {
  return "ids" in authorize ? authorize.ids.flatMap((id) => ["-authorize-id", id]) : ["-authorize-member-of", authorize.memberOf];
}

function authorizeInNode(authorize: Authorize): SpiffeIdAuthorizer {
  return "ids" in authorize ? authorizeOneOf(...authorize.ids) : authorizeMemberOf(authorize.memberOf);
}

/** A serial number as hex without leading zeros, whichever way it was printed. */
function serialOf(hex: string | undefined): string {
  return (hex ?? "").toLowerCase().replace(/^0+(?=.)/, "");
}

/** How our authorizers word a refusal: the peer's ID and the rule it broke. */
function notAllowed(peerId: string, rule: string): RegExp {
  const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`peer ${escape(peerId)} is not allowed by the rule "${escape(rule)}"`);
}


/** grpc.health.v1.HealthCheckResponse{status: SERVING}: field 1, varint 1. */
const SERVING_RESPONSE = Buffer.from([0x08, 0x01]);
const HEALTH_CHECK_PATH = "/grpc.health.v1.Health/Check";
const healthService: grpc.ServiceDefinition = {
  Check: {
    path: HEALTH_CHECK_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: (value: Buffer) => value,
    requestDeserialize: (bytes: Buffer) => bytes,
    responseSerialize: (value: Buffer) => value,
    responseDeserialize: (bytes: Buffer) => bytes,
  },
};
const HealthClient = grpc.makeGenericClientConstructor(healthService, "Health");

/** A Workload API both sides fetch from: the socket, and how to stop it. */
interface SharedAgent {
  readonly socketPath: string;
  /** Re-issues every SVID now; absent where the agent rotates only on its own schedule (SPIRE). */
  readonly rotateNow?: () => Promise<void>;
  stop(): Promise<void>;
}

/** The fake agent: the two identities, issued from an intermediate CA, with other.org federated. */
async function fakeAgent(dir: string): Promise<SharedAgent> {
  const agent: FakeAgent = await startFakeAgent({
    socketPath: join(dir, "agent.sock"),
    trustDomain: TRUST_DOMAIN,
    identities: [{ spiffeId: NODE_ID, hint: "node" }, { spiffeId: GO_ID, hint: "go" }],
    federatesWith: [OTHER_TRUST_DOMAIN],
    intermediate: true,
    // Long enough that nothing rotates while both sides compare what they saw.
    x509TtlSeconds: 3600,
  });
  return { socketPath: agent.socketPath, rotateNow: () => agent.rotateNow(), stop: () => agent.stop() };
}

/** Real SPIRE: both identities registered for this uid; its 10 s SVIDs rotate during the suite. */
async function spireAgent(dir: string): Promise<SharedAgent> {
  const spire = await SpireDeployment.start(spireTools, dir, [
    { entryId: "go-spiffe-node", spiffeId: NODE_ID, hint: "node" },
    { entryId: "go-spiffe-go", spiffeId: GO_ID, hint: "go" },
  ]);
  return { socketPath: spire.agentSocket, stop: () => spire.stop() };
}

for (const [agentName, startAgent, skip] of [
  ["the fake agent", fakeAgent, tools.skip],
  ["a real SPIRE agent", spireAgent, tools.skip || spireTools.skip],
] as const) {
  describe(`go-spiffe v2 and the Node library over SVIDs from ${agentName}`, { skip, timeout: 6 * INTEROP_TIMEOUT_MS }, () => {
    let scratch: Awaited<ReturnType<typeof tempDir>>;
    let agent: SharedAgent;
    let source: X509Source;
    const peers: GoPeer[] = [];

    function goPeer(mode: string, address: string, authorize: Authorize): GoPeer {
      const peer = new GoPeer(tools.path("go-spiffe-peer"), [
        mode, "-socket", agent.socketPath, "-svid-hint", "go", "-address", address, ...authorizeFlags(authorize),
      ]);
      peers.push(peer);
      return peer;
    }

    async function goServer(mode: "mtls-server" | "grpc-server", authorize: Authorize): Promise<{ peer: GoPeer; port: number }> {
      const peer = goPeer(mode, "127.0.0.1:0", authorize);
      const listening = await peer.waitFor("listening line", (event) => event.event === "listening");
      return { peer, port: Number(listening.address?.split(":").at(-1)) };
    }

    before(async () => {
      scratch = await tempDir("go-spiffe-");
      agent = await startAgent(scratch.path);
      source = await X509Source.create({ address: `unix://${agent.socketPath}`, picker: "node", timeoutMs: INTEROP_TIMEOUT_MS });
    });

    after(async () => {
      await Promise.all(peers.map((peer) => peer.stop()));
      source?.close();
      await agent?.stop();
      await scratch?.remove();
    });

    describe("mTLS", () => {
      /** A Node mTLS server that answers each verified client with one line naming it. */
      async function nodeMtlsServer(authorize: Authorize): Promise<{ server: Server; port: number; seen: string[]; refused: Error[] }> {
        const seen: string[] = [];
        const refused: Error[] = [];
        const server = createMtlsServer(
          source,
          authorizeInNode(authorize),
          (options) =>
            createServer(options, (socket: TLSSocket) => {
              const peerId = peerSpiffeId(socket)?.toString();
              seen.push(String(peerId));
              socket.end(`hello ${peerId} from node\n`);
            }),
          { onRefused: (error) => refused.push(error) },
        );
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        return { server, port: (server.address() as AddressInfo).port, seen, refused };
      }

      /** Connects, reads the server's one line; resolves with the server's verified ID. */
      function nodeMtlsClient(port: number, authorize: Authorize): Promise<{ serverId: string | undefined; reply: string }> {
        return new Promise((resolve, reject) => {
          const socket = connect({ host: "127.0.0.1", port, ...mtlsClientOptions(source, authorizeInNode(authorize)) });
          let reply = "";
          socket.setEncoding("utf8").on("data", (chunk: string) => (reply += chunk));
          socket.on("error", reject);
          socket.on("end", () => {
            const serverId = peerSpiffeId(socket)?.toString();
            if (reply === "") reject(new Error("the server closed without a reply"));
            else resolve({ serverId, reply: reply.trim() });
          });
        });
      }

      it("a go-spiffe client and a Node server each see the other's SPIFFE ID", async () => {
        const node = await nodeMtlsServer({ ids: [GO_ID] });
        try {
          const client = goPeer("mtls-client", `127.0.0.1:${node.port}`, { ids: [NODE_ID] });
          assert.equal(await client.exited, 0, client.stderr);
          const seen = await client.waitFor("peer line", (event) => event.event === "peer");
          assert.equal(seen.peerId, NODE_ID);
          assert.equal(seen.reply, `hello ${GO_ID} from node`);
          assert.deepEqual(node.seen, [GO_ID]);
        } finally {
          node.server.close();
        }
      });

      it("a Node client and a go-spiffe server each see the other's SPIFFE ID", async () => {
        const { peer, port } = await goServer("mtls-server", { ids: [NODE_ID] });
        const { serverId, reply } = await nodeMtlsClient(port, { ids: [GO_ID] });
        assert.equal(serverId, GO_ID);
        assert.equal(reply, `hello ${NODE_ID} from go-spiffe`);
        const seen = await peer.waitFor("peer line", (event) => event.event === "peer");
        assert.equal(seen.peerId, NODE_ID);
      });

      it("a Node server refuses a go-spiffe client outside its allowed IDs, naming the ID", async () => {
        const node = await nodeMtlsServer({ ids: [OTHER_ID] });
        try {
          const client = goPeer("mtls-client", `127.0.0.1:${node.port}`, { ids: [NODE_ID] });
          assert.equal(await client.exited, 1);
          assert.equal(node.seen.length, 0);
          assert.equal(node.refused.length, 1);
          assert.match(node.refused[0]?.message ?? "", notAllowed(GO_ID, `one of [${OTHER_ID}]`));
        } finally {
          node.server.close();
        }
      });

      it("a go-spiffe client refuses a Node server outside its trust domain rule", async () => {
        const node = await nodeMtlsServer({ ids: [GO_ID] });
        try {
          const client = goPeer("mtls-client", `127.0.0.1:${node.port}`, { memberOf: OTHER_TRUST_DOMAIN });
          assert.equal(await client.exited, 1);
          const refused = await client.waitFor("refusal", (event) => event.event === "refused");
          assert.equal(refused.peerId, NODE_ID);
          assert.match(refused.error ?? "", /unexpected trust domain "example\.org"/);
          assert.equal(node.seen.length, 0);
        } finally {
          node.server.close();
        }
      });

      it("a go-spiffe server refuses a Node client outside its trust domain rule", async () => {
        const { peer, port } = await goServer("mtls-server", { memberOf: OTHER_TRUST_DOMAIN });
        await assert.rejects(nodeMtlsClient(port, { ids: [GO_ID] }));
        const refused = await peer.waitFor("refusal", (event) => event.event === "refused");
        assert.equal(refused.peerId, NODE_ID);
        assert.ok(!peer.events.some((event) => event.event === "peer"));
      });

      it("a Node client refuses a go-spiffe server outside its allowed IDs, naming the ID", async () => {
        const { peer, port } = await goServer("mtls-server", { ids: [NODE_ID] });
        await assert.rejects(nodeMtlsClient(port, { ids: [OTHER_ID] }), notAllowed(GO_ID, `one of [${OTHER_ID}]`));
        assert.ok(!peer.events.some((event) => event.event === "peer"));
      });

      function currentSerial(): string {
        return serialOf(source.getX509Svid().certificates[0]?.serialHex);
      }

      /**
       * Resolves once the source holds a rotated SVID (so our servers have swapped too): the fake
       * agent rotates on demand, SPIRE's 10 s SVIDs within seconds on their own. Returns every
       * serial the source holds from then on, as SPIRE may rotate again before a check.
       */
      async function rotated(t: TestContext): Promise<ReadonlySet<string>> {
        const before = currentSerial();
        const deadline = AbortSignal.timeout(INTEROP_TIMEOUT_MS);
        const rotation = agent.rotateNow?.();
        while (currentSerial() === before) await once(source, "update", { signal: deadline });
        await rotation;
        const held = new Set([currentSerial()]);
        const track = (): void => void held.add(currentSerial());
        source.on("update", track);
        t.after(() => source.off("update", track));
        return held;
      }

      it("after a rotation, a new go-spiffe handshake gets the Node server's new certificate, without a restart", async (t) => {
        const node = await nodeMtlsServer({ ids: [GO_ID] });
        try {
          const first = goPeer("mtls-client", `127.0.0.1:${node.port}`, { ids: [NODE_ID] });
          assert.equal(await first.exited, 0, first.stderr);
          const firstSeen = await first.waitFor("peer line", (event) => event.event === "peer");
          const rotatedSerials = await rotated(t);
          const second = goPeer("mtls-client", `127.0.0.1:${node.port}`, { ids: [NODE_ID] });
          assert.equal(await second.exited, 0, second.stderr);
          const secondSeen = await second.waitFor("peer line", (event) => event.event === "peer");
          assert.equal(secondSeen.peerId, NODE_ID);
          assert.notEqual(serialOf(secondSeen.peerSerial), serialOf(firstSeen.peerSerial));
          assert.ok(rotatedSerials.has(serialOf(secondSeen.peerSerial)), `served ${String(secondSeen.peerSerial)}, not a rotated SVID`);
        } finally {
          node.server.close();
        }
      });

      it("after a rotation, a long-running go-spiffe server sees the Node client's new certificate", async (t) => {
        const { peer, port } = await goServer("mtls-server", { ids: [NODE_ID] });
        await nodeMtlsClient(port, { ids: [GO_ID] });
        const firstSerial = serialOf((await peer.waitFor("peer line", (event) => event.event === "peer")).peerSerial);
        const rotatedSerials = await rotated(t);
        await nodeMtlsClient(port, { ids: [GO_ID] });
        const second = await peer.waitFor("second peer line", (event) => event.event === "peer" && serialOf(event.peerSerial) !== firstSerial);
        assert.equal(second.peerId, NODE_ID);
        assert.ok(rotatedSerials.has(serialOf(second.peerSerial)), `presented ${String(second.peerSerial)}, not a rotated SVID`);
      });
    });

    describe("gRPC (grpc.health.v1.Health/Check)", () => {
      /** A grpc-js server behind our mTLS server, whose Check handler reports the caller's SPIFFE ID. */
      async function nodeGrpcServer(authorize: Authorize): Promise<{ server: Server; port: number; seen: string[]; refused: Error[] }> {
        const seen: string[] = [];
        const refused: Error[] = [];
        const grpcServer = new grpc.Server();
        grpcServer.addService(healthService, {
          Check: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
            seen.push(String(grpcPeerSpiffeId(call)));
            callback(null, SERVING_RESPONSE);
          },
        });
        const server = createGrpcMtlsServer(grpcServer, source, authorizeInNode(authorize), { onRefused: (error) => refused.push(error) });
        server.once("close", () => grpcServer.forceShutdown());
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        return { server, port: (server.address() as AddressInfo).port, seen, refused };
      }

      /** Calls Check; resolves with the server's SPIFFE ID (from the call's auth context) and the response bytes. */
      function nodeGrpcClient(port: number, authorize: Authorize): Promise<{ serverId: string | undefined; response: Buffer }> {
        const client = new HealthClient(`127.0.0.1:${port}`, grpcMtlsClientCredentials(source, authorizeInNode(authorize)));
        return new Promise((resolve, reject) => {
          const call = client.makeUnaryRequest(
            HEALTH_CHECK_PATH,
            (value: Buffer) => value,
            (bytes: Buffer) => bytes,
            Buffer.alloc(0),
            { deadline: Date.now() + INTEROP_TIMEOUT_MS },
            (error, response) => {
              // A client call's auth context is null until connected; the helper reads a server call's.
              const serverId = grpcPeerSpiffeId({ getAuthContext: () => call.getAuthContext() ?? {} })?.toString();
              client.close();
              if (error !== null || response === undefined) reject(error ?? new Error("no response"));
              else resolve({ serverId, response });
            },
          );
        });
      }

      it("a go-spiffe client calls a Node server; each sees the other's SPIFFE ID", async () => {
        const node = await nodeGrpcServer({ ids: [GO_ID] });
        try {
          const client = goPeer("grpc-client", `127.0.0.1:${node.port}`, { ids: [NODE_ID] });
          assert.equal(await client.exited, 0, client.stderr);
          const seen = await client.waitFor("peer line", (event) => event.event === "peer");
          assert.equal(seen.peerId, NODE_ID);
          assert.equal(seen.status, "SERVING");
          assert.deepEqual(node.seen, [GO_ID]);
        } finally {
          node.server.close();
        }
      });

      it("a Node client calls a go-spiffe server; each sees the other's SPIFFE ID", async () => {
        const { peer, port } = await goServer("grpc-server", { ids: [NODE_ID] });
        const { serverId, response } = await nodeGrpcClient(port, { ids: [GO_ID] });
        assert.equal(serverId, GO_ID);
        assert.deepEqual(response, SERVING_RESPONSE);
        const seen = await peer.waitFor("peer line", (event) => event.event === "peer");
        assert.equal(seen.peerId, NODE_ID);
      });

      it("a Node server refuses a go-spiffe client outside its allowed IDs", async () => {
        const node = await nodeGrpcServer({ ids: [OTHER_ID] });
        try {
          const client = goPeer("grpc-client", `127.0.0.1:${node.port}`, { ids: [NODE_ID] });
          assert.equal(await client.exited, 1);
          assert.deepEqual(node.seen, []);
          assert.equal(node.refused.length, 1);
          assert.match(node.refused[0]?.message ?? "", notAllowed(GO_ID, `one of [${OTHER_ID}]`));
        } finally {
          node.server.close();
        }
      });

      it("a go-spiffe client refuses a Node server outside its trust domain rule", async () => {
        const node = await nodeGrpcServer({ ids: [GO_ID] });
        try {
          const client = goPeer("grpc-client", `127.0.0.1:${node.port}`, { memberOf: OTHER_TRUST_DOMAIN });
          assert.equal(await client.exited, 1);
          const refused = await client.waitFor("refusal", (event) => event.event === "refused");
          assert.equal(refused.peerId, NODE_ID);
          assert.deepEqual(node.seen, []);
        } finally {
          node.server.close();
        }
      });

      it("a go-spiffe server refuses a Node client outside its trust domain rule", async () => {
        const { peer, port } = await goServer("grpc-server", { memberOf: OTHER_TRUST_DOMAIN });
        await assert.rejects(nodeGrpcClient(port, { ids: [GO_ID] }));
        const refused = await peer.waitFor("refusal", (event) => event.event === "refused");
        assert.equal(refused.peerId, NODE_ID);
        assert.ok(!peer.events.some((event) => event.event === "peer"));
      });

      it("a Node client refuses a go-spiffe server outside its allowed IDs", async () => {
        const { peer, port } = await goServer("grpc-server", { ids: [NODE_ID] });
        await assert.rejects(nodeGrpcClient(port, { ids: [OTHER_ID] }), notAllowed(GO_ID, `one of [${OTHER_ID}]`));
        assert.ok(!peer.events.some((event) => event.event === "peer"));
      });
    });
  });
}
