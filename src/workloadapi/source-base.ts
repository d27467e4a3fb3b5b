import { EventEmitter } from "node:events";
import { SpiffeSidecarError } from "../errors.js";
import { formatEndpointAddress } from "./address.js";
import type { EndpointAddress } from "./address.js";
import type { BackoffOptions } from "./backoff.js";
import { WorkloadApiClient } from "./client.js";
import { WorkloadSourceError } from "./errors.js";
import type { WorkloadApiError } from "./errors.js";
import type { Watch, WatchHandlers, WatchState } from "./watch-stream.js";

/** What every source accepts: where the agent is, a client to share, and how long to wait. */
export interface SourceOptions {
  /**
   * Where the agent listens; ignored when `client` is given.
   * @default the `SPIFFE_ENDPOINT_SOCKET` environment variable
   */
  readonly address?: string | EndpointAddress;
  /** A client to share; the source then leaves it open on `close()`. */
  readonly client?: WorkloadApiClient;
  /**
   * Reconnect delays, for a client the source creates.
   * @default { initialMs: 1000, maxMs: 30000 }
   */
  readonly backoff?: BackoffOptions;
  /** Gives up waiting for the first valid update (e.g. `AbortSignal.timeout(10_000)`). */
  readonly signal?: AbortSignal;
  /**
   * `create()` rejects with a `SourceNotReadyError` when no valid update has arrived within this
   * many milliseconds (go-spiffe blocks until its context ends; a deadline here is the default).
   * @default none: waits until `signal` aborts or the agent refuses for good
   */
  readonly timeoutMs?: number;
}

/**
 * A source that had no valid update within its deadline. It names the socket and the last
 * problem seen (a gRPC status or a rejected message), so the log line says what to fix.
 */
export class SourceNotReadyError extends SpiffeSidecarError {
  readonly code = "ERR_SOURCE_NOT_READY";

  constructor(
    message: string,
    /** The Workload API address, as `unix:///path` or `tcp://IP:port`. */
    readonly address: string,
    /** The last failed call or rejected message; `undefined` when the agent never answered. */
    readonly lastProblem: Error | undefined,
  ) {
    super(message, lastProblem === undefined ? {} : { cause: lastProblem });
  }
}

/** How a source is doing, for a health endpoint; it never holds key material or tokens. */
export interface SourceHealth {
  /** Whether the watch stream(s) to the agent are open right now. */
  readonly connected: boolean;
  /** When the last valid update arrived; `undefined` before the first. */
  readonly lastUpdate: Date | undefined;
  /** When the state in force stops being usable (the earliest SVID or authority expiry). */
  readonly expiresAt: Date | undefined;
}

/**
 * `update`: a new valid state is in force. `invalid`: a message was rejected and the previous
 * state kept. `error`: a call to the agent ended (emitted only when someone listens, so that a
 * reconnect never throws from an unhandled `error` event).
 */
export interface SourceEvents<T> {
  update: [T];
  invalid: [Error];
  error: [WorkloadApiError];
}

/** The common half of X509Source and JwtSource: one watch, its latest valid state, and its events. */
export abstract class WorkloadSource<T> extends EventEmitter<SourceEvents<T>> {
  protected readonly client: WorkloadApiClient;
  readonly #ownsClient: boolean;
  readonly #name: string;
  #watch: Watch | undefined;
  #current: T | undefined;
  #closed = false;
  #lastUpdate: Date | undefined;
  /** The last failed call or rejected message, for a not-ready error. */
  #lastProblem: Error | undefined;
  /** Settles `start()`: resolved by the first valid update, rejected by failure, abort or close. */
  #firstUpdate: { resolve: () => void; reject: (error: Error) => void } | undefined;
  #ready: Promise<void> | undefined;

  protected constructor(name: string, options: SourceOptions) {
    super();
    this.#name = name;
    this.#ownsClient = options.client === undefined;
    this.client =
      options.client ??
      new WorkloadApiClient({
        ...(options.address === undefined ? {} : { address: options.address }),
        ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
      });
  }

  /** Opens the watch this source follows. */
  protected abstract openWatch(handlers: WatchHandlers<T>): Watch;

  /** When `value` stops being usable, for `health()`. */
  protected abstract expiryOf(value: T): Date | undefined;

  /** Starts the watch and resolves on the first valid update; on failure the source is closed. */
  protected async start(signal: AbortSignal | undefined, timeoutMs?: number): Promise<void> {
    const ready = new Promise<void>((resolve, reject) => {
      this.#firstUpdate = { resolve, reject };
    });
    // Settled by start()'s own await too; this copy only serves waitUntilReady().
    this.#ready = ready;
    ready.catch(() => {});
    this.#watch = this.openWatch({
      onUpdate: (value) => this.#onUpdate(value),
      onInvalid: (error) => {
        this.#lastProblem = error;
        this.emit("invalid", error);
      },
      onError: (error) => {
        this.#lastProblem = error;
        if (this.listenerCount("error") > 0) this.emit("error", error);
      },
      onStateChange: (state) => {
        if (state !== "failed") return;
        this.#settle(this.#watch?.lastError ?? new WorkloadSourceError(`${this.#name} watch failed`));
      },
    });
    const onAbort = (): void => {
      const last = this.#watch?.lastError;
      const reason = last === undefined ? "no response from the agent yet" : `last error: ${last.message}`;
      this.#settle(
        new WorkloadSourceError(`${this.#name} gave up waiting for its first valid update (${reason})`, {
          cause: signal?.reason,
        }),
      );
    };
    if (signal?.aborted) onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      await (timeoutMs === undefined ? ready : this.waitUntilReady(timeoutMs));
    } catch (error: unknown) {
      this.close();
      throw error;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Resolves once the source holds a valid state (at once if it already does). Rejects with a
   * `SourceNotReadyError` after `timeoutMs`, naming the socket and the last problem; the source
   * stays open and keeps trying, so a caller may wait again.
   */
  async waitUntilReady(timeoutMs: number): Promise<void> {
    if (this.#closed) throw new WorkloadSourceError(`${this.#name} is closed`);
    if (this.#current !== undefined || this.#ready === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.#notReady(timeoutMs)), timeoutMs);
    });
    try {
      await Promise.race([this.#ready, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  #notReady(timeoutMs: number): SourceNotReadyError {
    const address = formatEndpointAddress(this.client.address);
    const problem = this.#lastProblem ?? this.#watch?.lastError;
    const seconds = Number((timeoutMs / 1000).toFixed(1));
    const reason = problem === undefined ? "the agent has not answered" : `last problem: ${problem.message}`;
    return new SourceNotReadyError(
      `${this.#name} had no valid update from the Workload API at ${address} within ${seconds} s (${reason})`,
      address,
      problem,
    );
  }

  #onUpdate(value: T): void {
    this.#current = value;
    this.#lastUpdate = new Date();
    this.#settle();
    this.emit("update", value);
  }

  /** Connected, last update and expiry: what a health endpoint reports of this source. */
  health(): SourceHealth {
    return {
      connected: !this.#closed && this.#watch?.state === "open",
      lastUpdate: this.#lastUpdate,
      expiresAt: this.#current === undefined ? undefined : this.expiryOf(this.#current),
    };
  }

  /** Whether `close()` has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  #settle(error?: Error): void {
    if (error === undefined) this.#firstUpdate?.resolve();
    else this.#firstUpdate?.reject(error);
    this.#firstUpdate = undefined;
  }

  /** The watch state: `failed` means the agent refused the watch for good (e.g. InvalidArgument). */
  get state(): WatchState | undefined {
    return this.#watch?.state;
  }

  /** The latest valid state; throws once closed. */
  protected current(): T {
    if (this.#closed) throw new WorkloadSourceError(`${this.#name} is closed`);
    if (this.#current === undefined) throw new WorkloadSourceError(`${this.#name} has no valid update yet`);
    return this.#current;
  }

  /** Stops the watch, and the client if the source created it. Calling it again does nothing. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#settle(new WorkloadSourceError(`${this.#name} was closed before its first valid update`));
    this.#watch?.close();
    if (this.#ownsClient) this.client.close();
  }
}
