import { EventEmitter, once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Server, ServerCredentials, status as Status } from "@grpc/grpc-js";
import type { Metadata, ServerWritableStream, ServiceError } from "@grpc/grpc-js";
import { SpiffeWorkloadAPIService } from "../../src/workloadapi/generated/workload.js";
import type {
  JWTBundlesRequest,
  JWTBundlesResponse,
  JWTSVIDRequest,
  JWTSVIDResponse,
  SpiffeWorkloadAPIServer,
  ValidateJWTSVIDRequest,
  ValidateJWTSVIDResponse,
  X509BundlesRequest,
  X509BundlesResponse,
  X509SVIDRequest,
  X509SVIDResponse,
} from "../../src/workloadapi/generated/workload.js";

/**
 * A scriptable Workload API server for client tests: the test decides what each RPC answers
 * and reads back what each call carried. It checks nothing itself (no security header check,
 * no attestation); the fake agent is the faithful one.
 */
export type StreamMethod = "fetchX509Svid" | "fetchX509Bundles" | "fetchJwtBundles";
export type UnaryMethod = "fetchJwtsvid" | "validateJwtsvid";
export type MethodName = StreamMethod | UnaryMethod;

interface StreamTypes {
  fetchX509Svid: ServerWritableStream<X509SVIDRequest, X509SVIDResponse>;
  fetchX509Bundles: ServerWritableStream<X509BundlesRequest, X509BundlesResponse>;
  fetchJwtBundles: ServerWritableStream<JWTBundlesRequest, JWTBundlesResponse>;
}

interface UnaryTypes {
  fetchJwtsvid: { request: JWTSVIDRequest; response: JWTSVIDResponse };
  validateJwtsvid: { request: ValidateJWTSVIDRequest; response: ValidateJWTSVIDResponse };
}

/** A unary answer: a response, or a status to fail with. */
export type UnaryReply<M extends UnaryMethod> = UnaryTypes[M]["response"] | { code: Status; details: string };

export interface ScriptedHandlers {
  /** Called for each new stream; write to it, end it, or leave it open. Default: leave it open. */
  fetchX509Svid?: (call: StreamTypes["fetchX509Svid"]) => void;
  fetchX509Bundles?: (call: StreamTypes["fetchX509Bundles"]) => void;
  fetchJwtBundles?: (call: StreamTypes["fetchJwtBundles"]) => void;
  /** Default: Unimplemented. A promise that never settles plays an agent that never answers. */
  fetchJwtsvid?: (request: JWTSVIDRequest) => UnaryReply<"fetchJwtsvid"> | Promise<UnaryReply<"fetchJwtsvid">>;
  validateJwtsvid?: (
    request: ValidateJWTSVIDRequest,
  ) => UnaryReply<"validateJwtsvid"> | Promise<UnaryReply<"validateJwtsvid">>;
}

export interface RecordedCall {
  readonly method: MethodName;
  readonly metadata: Metadata;
  readonly request: unknown;
}

function isStatus(reply: object): reply is { code: Status; details: string } {
  return "code" in reply && "details" in reply;
}

function failWith(code: Status, details: string): ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: undefined as unknown as Metadata });
}

export class MinimalAgent {
  readonly socketPath: string;
  readonly handlers: ScriptedHandlers = {};
  readonly calls: RecordedCall[] = [];
  readonly #events = new EventEmitter();
  readonly #dir: string;
  #server: Server | undefined;

  private constructor(dir: string) {
    this.#dir = dir;
    this.socketPath = join(dir, "agent.sock");
  }

  /** Binds `unix://<fresh temp dir>/agent.sock`. */
  static async start(handlers: ScriptedHandlers = {}): Promise<MinimalAgent> {
    const agent = new MinimalAgent(await mkdtemp(join(tmpdir(), "minimal-agent-")));
    Object.assign(agent.handlers, handlers);
    await agent.listen();
    return agent;
  }

  /** The address a client is given: `unix:///.../agent.sock`. */
  get address(): string {
    return `unix://${this.socketPath}`;
  }

  callsTo(method: MethodName): RecordedCall[] {
    return this.calls.filter((call) => call.method === method);
  }

  /** Resolves once `method` has been called `count` times in total. */
  async waitForCalls(method: MethodName, count: number): Promise<void> {
    while (this.callsTo(method).length < count) await once(this.#events, "call");
  }

  /** (Re)binds the socket; used after `kill()` to play an agent restart on the same path. */
  async listen(): Promise<void> {
    const server = new Server();
    server.addService(SpiffeWorkloadAPIService, this.#implementation());
    await new Promise<void>((resolve, reject) => {
      const credentials = ServerCredentials.createInsecure();
      server.bindAsync(this.address, credentials, (error) => (error ? reject(error) : resolve()));
    });
    this.#server = server;
  }

  /** Drops every connection at once, as a crashing agent would. */
  kill(): void {
    this.#server?.forceShutdown();
    this.#server = undefined;
  }

  async stop(): Promise<void> {
    this.kill();
    await rm(this.#dir, { recursive: true, force: true });
  }

  #record(method: MethodName, metadata: Metadata, request: unknown): void {
    this.calls.push({ method, metadata: metadata.clone(), request });
    this.#events.emit("call");
  }

  #stream<M extends StreamMethod>(method: M) {
    return (call: StreamTypes[M]): void => {
      this.#record(method, call.metadata, call.request);
      const handler = this.handlers[method] as ((c: StreamTypes[M]) => void) | undefined;
      handler?.(call);
    };
  }

  #unary<M extends UnaryMethod>(method: M) {
    return (
      call: { request: UnaryTypes[M]["request"]; metadata: Metadata },
      callback: (error: ServiceError | null, response?: UnaryTypes[M]["response"]) => void,
    ): void => {
      this.#record(method, call.metadata, call.request);
      const handler = this.handlers[method] as
        | ((request: UnaryTypes[M]["request"]) => UnaryReply<M> | Promise<UnaryReply<M>>)
        | undefined;
      if (handler === undefined) {
        callback(failWith(Status.UNIMPLEMENTED, `${method} is not scripted`));
        return;
      }
      void Promise.resolve(handler(call.request)).then((reply) => {
        if (isStatus(reply)) callback(failWith(reply.code, reply.details));
        else callback(null, reply);
      });
    };
  }

  #implementation(): SpiffeWorkloadAPIServer {
    const unimplemented = (call: ServerWritableStream<unknown, unknown>): void => {
      call.emit("error", failWith(Status.UNIMPLEMENTED, "WIT-SVID profile is not supported"));
    };
    return {
      fetchX509Svid: this.#stream("fetchX509Svid"),
      fetchX509Bundles: this.#stream("fetchX509Bundles"),
      fetchJwtBundles: this.#stream("fetchJwtBundles"),
      fetchJwtsvid: this.#unary("fetchJwtsvid"),
      validateJwtsvid: this.#unary("validateJwtsvid"),
      fetchWitsvid: unimplemented,
      fetchWitBundles: unimplemented,
    };
  }
}

/** Ends a server stream with a status, as an agent refusing the call does. */
export function endStream<Req, Res>(call: ServerWritableStream<Req, Res>, code: Status, details: string): void {
  call.emit("error", failWith(code, details));
}
