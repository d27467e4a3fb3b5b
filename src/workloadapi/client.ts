import { connectivityState, credentials, Metadata, status as Status } from "@grpc/grpc-js";
import type { CallOptions, ChannelOptions, ClientReadableStream, ClientUnaryCall, ServiceError } from "@grpc/grpc-js";
import { describeError } from "../errors.js";
import { JwtSvidError, parseInsecureJwtSvid } from "../spiffe/jwt-svid.js";
import type { JwtSvid } from "../spiffe/jwt-svid.js";
import type { JwtBundleSet } from "../spiffe/jwt-bundle.js";
import { parseSpiffeId } from "../spiffe/spiffe-id.js";
import type { SpiffeId } from "../spiffe/spiffe-id.js";
import type { X509BundleSet } from "../spiffe/x509-bundle.js";
import { formatEndpointAddress, grpcTarget, parseEndpointAddress, resolveEndpointAddress } from "./address.js";
import type { EndpointAddress } from "./address.js";
import { DEFAULT_INITIAL_BACKOFF_MS, DEFAULT_MAX_BACKOFF_MS } from "./backoff.js";
import type { BackoffOptions } from "./backoff.js";
import { decodeJwtBundles, decodeX509Bundles, decodeX509Context } from "./decode.js";
import type { X509Context } from "./decode.js";
import { workloadApiErrorFromStatus, WorkloadApiRequestError, WorkloadApiResponseError } from "./errors.js";
import { SpiffeWorkloadAPIClient } from "./generated/workload.js";
import type { JWTSVIDResponse, ValidateJWTSVIDResponse } from "./generated/workload.js";
import { SocketWatch } from "./socket-watch.js";
import { stopSubchannelPoolSweep } from "./subchannel-pool-sweep.js";
import { DEFAULT_FIRST_RESPONSE_TIMEOUT_MS, WatchStream } from "./watch-stream.js";
import type { Watch, WatchHandlers } from "./watch-stream.js";

/** The security header every request carries (Workload Endpoint §3). */
export const SECURITY_HEADER = "workload.spiffe.io";

export interface WorkloadApiClientOptions {
  /**
   * `unix:///path`, `unix:/path`, a bare absolute path, `tcp://IP:port`, or a parsed address.
   * @default the `SPIFFE_ENDPOINT_SOCKET` environment variable
   */
  readonly address?: string | EndpointAddress;
  /**
   * Reconnect delays of the watches; also bounds grpc-js's own reconnects.
   * @default { initialMs: 1000, maxMs: 30000 }
   */
  readonly backoff?: BackoffOptions;
  /**
   * The deadline of each unary call (FetchJWTSVID, ValidateJWTSVID): an agent that accepts a
   * call and never answers fails it with DEADLINE_EXCEEDED instead of holding it forever.
   * @default 30000
   */
  readonly rpcTimeoutMs?: number;
  /**
   * How long a watch may wait for the first message of a call before it retries.
   * @default 30000
   */
  readonly firstResponseTimeoutMs?: number;
}

export const DEFAULT_RPC_TIMEOUT_MS = 30_000;

export interface FetchJwtSvidsOptions {
  /** Every audience the tokens must carry; at least one (Workload API §6.2.1). */
  readonly audience: readonly string[];
  /** Only this identity's token; by default one per identity the workload holds. */
  readonly spiffeId?: string | SpiffeId;
  readonly signal?: AbortSignal;
}

export interface ValidateJwtSvidRequest {
  readonly audience: string;
  readonly token: string;
  readonly signal?: AbortSignal;
}

export interface ValidatedJwtClaims {
  readonly spiffeId: SpiffeId;
  readonly claims: Record<string, unknown>;
}

function channelOptions(backoff: BackoffOptions): ChannelOptions {
  return {
    // Off: SPIRE's agent answers frequent pings with GOAWAY ENHANCE_YOUR_CALM (DESIGN §10).
    "grpc.keepalive_time_ms": -1,
    // grpc-js keeps its own connection backoff (1 s growing to 120 s) under ours, and a call
    // made while it runs fails at once without a connection attempt. Bounded by ours here; and
    // a channel found in TRANSIENT_FAILURE is replaced (see #channel), so ours alone decides.
    "grpc.initial_reconnect_backoff_ms": backoff.initialMs ?? DEFAULT_INITIAL_BACKOFF_MS,
    "grpc.max_reconnect_backoff_ms": backoff.maxMs ?? DEFAULT_MAX_BACKOFF_MS,
    // A replacement channel must not inherit the old one's subchannel and its backoff timer
    // from grpc-js's process-wide pool; a pool of its own also lets stopSubchannelPoolSweep
    // stop the pool's 10 s timer.
    "grpc.use_local_subchannel_pool": 1,
  };
}

/** A client of the SPIFFE Workload API: unary JWT calls and reconnecting watches. */
export class WorkloadApiClient {
  readonly address: EndpointAddress;
  readonly #target: string;
  #grpc: SpiffeWorkloadAPIClient;
  readonly #backoff: BackoffOptions;
  readonly #rpcTimeoutMs: number;
  readonly #firstResponseTimeoutMs: number;
  readonly #watches = new Set<Watch>();
  readonly #socketWatch: SocketWatch | undefined;
  readonly #socketListeners = new Set<() => void>();
  #closed = false;

  constructor(options: WorkloadApiClientOptions = {}) {
    const { address } = options;
    this.address =
      typeof address === "object"
        ? address
        : address
          ? parseEndpointAddress(address)
          : resolveEndpointAddress(undefined);
    this.#target = formatEndpointAddress(this.address);
    this.#backoff = options.backoff ?? {};
    this.#rpcTimeoutMs = options.rpcTimeoutMs ?? DEFAULT_RPC_TIMEOUT_MS;
    this.#firstResponseTimeoutMs = options.firstResponseTimeoutMs ?? DEFAULT_FIRST_RESPONSE_TIMEOUT_MS;
    this.#grpc = this.#newChannel();
    this.#socketWatch =
      this.address.kind === "unix" ? new SocketWatch(this.address.path, () => this.#onSocketAppeared()) : undefined;
  }

  #newChannel(): SpiffeWorkloadAPIClient {
    const client = new SpiffeWorkloadAPIClient(grpcTarget(this.address), credentials.createInsecure(), channelOptions(this.#backoff));
    stopSubchannelPoolSweep(client.getChannel());
    return client;
  }

  /**
   * The channel for a new call. One in TRANSIENT_FAILURE is inside grpc-js's reconnect backoff
   * and would fail the call without trying the socket: it holds no live call, so it is closed
   * and a fresh one connects at once.
   */
  #channel(): SpiffeWorkloadAPIClient {
    if (!this.#closed && this.#grpc.getChannel().getConnectivityState(false) === connectivityState.TRANSIENT_FAILURE) {
      this.#grpc.close();
      this.#grpc = this.#newChannel();
    }
    return this.#grpc;
  }

  /**
   * Calls `listener` each time the agent's socket reappears while this client is disconnected
   * (a watch retrying, or a unary call failed with UNAVAILABLE); watches in backoff have already
   * been told to retry. Returns the unsubscribe function.
   */
  onAgentSocketAppeared(listener: () => void): () => void {
    this.#socketListeners.add(listener);
    return () => this.#socketListeners.delete(listener);
  }

  /** The agent may be back: every waiting watch and listener tries now instead of after its delay. */
  #onSocketAppeared(): void {
    if (this.#closed) return;
    for (const watch of this.#watches) watch.retryNow();
    for (const listener of this.#socketListeners) listener();
  }

  /** While some call waits for the agent, watch for its socket; once every watch is back, stop. */
  #updateSocketWatch(): void {
    if (this.#socketWatch === undefined) return;
    const waiting = [...this.#watches].some((watch) => watch.state !== "open");
    if (waiting && !this.#closed) this.#socketWatch.arm();
    else if (this.#watches.size > 0) this.#socketWatch.disarm();
  }

  /** Fresh per call: grpc-js may mutate the metadata object it is handed. */
  #metadata(): Metadata {
    const metadata = new Metadata();
    metadata.set(SECURITY_HEADER, "true");
    return metadata;
  }

  /** Runs one unary call, cancelling it if `signal` aborts; rejects with the signal's reason then. */
  #unary<Res>(
    method: string,
    signal: AbortSignal | undefined,
    invoke: (
      metadata: Metadata,
      options: CallOptions,
      callback: (error: ServiceError | null, response: Res) => void,
    ) => ClientUnaryCall,
  ): Promise<Res> {
    signal?.throwIfAborted();
    return new Promise<Res>((resolve, reject) => {
      const onAbort = (): void => {
        call.cancel();
        reject(signal?.reason);
      };
      const options: CallOptions = { deadline: Date.now() + this.#rpcTimeoutMs };
      const call = invoke(this.#metadata(), options, (error, response) => {
        signal?.removeEventListener("abort", onAbort);
        if (error === null) {
          resolve(response);
          return;
        }
        if (error.code === Status.UNAVAILABLE || error.code === Status.DEADLINE_EXCEEDED) this.#socketWatch?.arm();
        const status = error.code === Status.DEADLINE_EXCEEDED ? deadlineStatus(this.#rpcTimeoutMs) : error;
        reject(workloadApiErrorFromStatus(status, method, this.#target, { cause: error }));
      });
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * Fetches JWT-SVIDs for `audience` (FetchJWTSVID). Tokens are parsed, not verified: they
   * come from the agent this workload trusts; a consumer that must verify uses JwtSource.
   */
  async fetchJwtSvids(options: FetchJwtSvidsOptions): Promise<JwtSvid[]> {
    const audience = [...options.audience];
    if (audience.length === 0 || audience.some((value) => value === "")) {
      throw new WorkloadApiRequestError(
        "FetchJWTSVID needs at least one non-empty audience (Workload API §6.2.1): " +
          'pass e.g. { audience: ["spiffe://example.org/server"] }',
      );
    }
    const spiffeId = typeof options.spiffeId === "string" ? parseSpiffeId(options.spiffeId) : options.spiffeId;
    const request = { audience, spiffeId: spiffeId?.toString() ?? "" };
    const response = await this.#unary<JWTSVIDResponse>(
      "FetchJWTSVID",
      options.signal,
      (metadata, callOptions, callback) => this.#channel().fetchJwtsvid(request, metadata, callOptions, callback),
    );
    return parseJwtSvidResponse(response, audience);
  }

  /** Asks the agent to validate a token (ValidateJWTSVID); the agent's claims come back as a plain object. */
  async validateJwtSvid(options: ValidateJwtSvidRequest): Promise<ValidatedJwtClaims> {
    if (options.audience === "" || options.token === "") {
      throw new WorkloadApiRequestError(
        "ValidateJWTSVID needs a non-empty audience and token (Workload API §6.2.3)",
      );
    }
    const request = { audience: options.audience, svid: options.token };
    const response = await this.#unary<ValidateJWTSVIDResponse>(
      "ValidateJWTSVID",
      options.signal,
      (metadata, callOptions, callback) => this.#channel().validateJwtsvid(request, metadata, callOptions, callback),
    );
    let spiffeId: SpiffeId;
    try {
      spiffeId = parseSpiffeId(response.spiffeId);
    } catch (error: unknown) {
      throw new WorkloadApiResponseError(
        "invalid-spiffe-id",
        `ValidateJWTSVIDResponse.spiffe_id is not a SPIFFE ID: ${describeError(error)}`,
        { cause: error },
      );
    }
    // ts-proto already unwraps google.protobuf.Struct into a plain JSON object.
    const claims: Record<string, unknown> = { ...(response.claims ?? {}) };
    return { spiffeId, claims };
  }

  /** Watches the X.509 context (FetchX509SVID); each message is validated at its arrival time. */
  watchX509Context(handlers: WatchHandlers<X509Context>): Watch {
    const open = () => this.#channel().fetchX509Svid({}, this.#metadata());
    return this.#watch("FetchX509SVID", handlers, open, (raw) => decodeX509Context(raw));
  }

  /** Watches the X.509 bundles (FetchX509Bundles). */
  watchX509Bundles(handlers: WatchHandlers<X509BundleSet>): Watch {
    const open = () => this.#channel().fetchX509Bundles({}, this.#metadata());
    return this.#watch("FetchX509Bundles", handlers, open, decodeX509Bundles);
  }

  /** Watches the JWT bundles (FetchJWTBundles). */
  watchJwtBundles(handlers: WatchHandlers<JwtBundleSet>): Watch {
    const open = () => this.#channel().fetchJwtBundles({}, this.#metadata());
    return this.#watch("FetchJWTBundles", handlers, open, decodeJwtBundles);
  }

  #watch<Raw, T>(
    method: string,
    handlers: WatchHandlers<T>,
    open: () => ClientReadableStream<Raw>,
    decode: (raw: Raw) => T,
  ): Watch {
    const watch = new WatchStream<Raw, T>({
      method,
      target: this.#target,
      open,
      decode,
      backoff: this.#backoff,
      firstResponseTimeoutMs: this.#firstResponseTimeoutMs,
      handlers: {
        ...handlers,
        onStateChange: (state) => {
          if (state === "stopped" || state === "failed") this.#watches.delete(watch);
          this.#updateSocketWatch();
          handlers.onStateChange?.(state);
        },
      },
    });
    this.#watches.add(watch);
    return watch.start();
  }

  /** Stops every watch of this client and closes the channel. */
  close(): void {
    this.#closed = true;
    this.#socketWatch?.disarm();
    for (const watch of [...this.#watches]) watch.close();
    this.#grpc.close();
  }
}

/** grpc-js says only "Deadline exceeded"; the message should name the deadline we set. */
function deadlineStatus(timeoutMs: number): { code: Status; details: string } {
  return { code: Status.DEADLINE_EXCEEDED, details: `no answer within the ${Number((timeoutMs / 1000).toFixed(1))} s deadline` };
}

/** Validates a FetchJWTSVID response: one or more tokens, each for its spiffe_id and the audience. */
function parseJwtSvidResponse(response: JWTSVIDResponse, audience: readonly string[]): JwtSvid[] {
  if (response.svids.length === 0) {
    throw new WorkloadApiResponseError(
      "no-svids",
      "JWTSVIDResponse contains no SVIDs, but it MUST contain one or more (Workload API §6.2.1)",
    );
  }
  const seenHints = new Set<string>();
  const svids: JwtSvid[] = [];
  response.svids.forEach((raw, index) => {
    // Later duplicates of a non-empty hint are skipped (Workload API §6.2.1).
    if (raw.hint !== "" && seenHints.has(raw.hint)) return;
    if (raw.hint !== "") seenHints.add(raw.hint);
    const where = `JWTSVIDResponse.svids[${index}] (${raw.spiffeId})`;
    let svid: JwtSvid;
    try {
      svid = parseInsecureJwtSvid(raw.svid, { hint: raw.hint });
    } catch (error: unknown) {
      const rule = error instanceof JwtSvidError ? error.rule : "invalid-token";
      throw new WorkloadApiResponseError(rule, `${where}: ${describeError(error)}`, { cause: error });
    }
    if (svid.id.toString() !== raw.spiffeId) {
      throw new WorkloadApiResponseError(
        "spiffe-id-mismatch",
        `${where}: the token's sub "${svid.id.toString()}" does not match spiffe_id (Workload API §6.2.1)`,
      );
    }
    const missing = audience.filter((value) => !svid.audience.includes(value)).map((value) => JSON.stringify(value));
    if (missing.length > 0) {
      throw new WorkloadApiResponseError(
        "audience-mismatch",
        `${where}: the token's aud lacks the requested ${missing.join(", ")} (JWT-SVID §3.2)`,
      );
    }
    svids.push(svid);
  });
  return svids;
}
