import { EventEmitter } from "node:events";
import type { EndpointAddress } from "./address.js";
import type { BackoffOptions } from "./backoff.js";
import { WorkloadApiClient } from "./client.js";
import { WorkloadSourceError } from "./errors.js";
import type { WorkloadApiError } from "./errors.js";
import type { Watch, WatchHandlers, WatchState } from "./watch-stream.js";

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
  /** Settles `start()`: resolved by the first valid update, rejected by failure, abort or close. */
  #firstUpdate: { resolve: () => void; reject: (error: Error) => void } | undefined;

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

  /** Starts the watch and resolves on the first valid update; on failure the source is closed. */
  protected async start(signal: AbortSignal | undefined): Promise<void> {
    const ready = new Promise<void>((resolve, reject) => {
      this.#firstUpdate = { resolve, reject };
    });
    this.#watch = this.openWatch({
      onUpdate: (value) => this.#onUpdate(value),
      onInvalid: (error) => this.emit("invalid", error),
      onError: (error) => {
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
      await ready;
    } catch (error: unknown) {
      this.close();
      throw error;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  #onUpdate(value: T): void {
    this.#current = value;
    this.#settle();
    this.emit("update", value);
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

  /** Stops the watch, and the client if the source created it. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#settle(new WorkloadSourceError(`${this.#name} was closed before its first valid update`));
    this.#watch?.close();
    if (this.#ownsClient) this.client.close();
  }
}
