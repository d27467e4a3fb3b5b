import { status as Status } from "@grpc/grpc-js";
import type { ClientReadableStream, StatusObject } from "@grpc/grpc-js";
import { Backoff } from "./backoff.js";
import type { BackoffOptions } from "./backoff.js";
import { WorkloadApiError, workloadApiErrorFromStatus } from "./errors.js";

/**
 * The life of a watch, written out:
 *
 * | from                | event                                                   | to           |
 * |---------------------|---------------------------------------------------------|--------------|
 * | (start)             | `start()` opens the first call                          | `connecting` |
 * | `connecting`        | the first message of this call arrives (valid or not)   | `open`       |
 * | `connecting`        | no message within the first-response timeout            | `backoff`    |
 * | `connecting`/`open` | the call ends: retryable status, or the server ended it | `backoff`    |
 * | `backoff`           | the delay elapsed, or `retryNow()`; a new call is opened | `connecting` |
 * | `open`              | `restart()`: the call is replaced by a new one           | `open`       |
 * | `connecting`/`open` | InvalidArgument or Unimplemented, before any good update | `failed`     |
 * | `connecting`/`open` | InvalidArgument or Unimplemented, after a good update   | `backoff`    |
 * | any but `failed`    | `close()`                                               | `stopped`    |
 *
 * `stopped` and `failed` are final. Retryable: Unavailable, PermissionDenied, Unknown,
 * Internal, any other code, and a CANCELLED we did not cause (grpc-js reports a server
 * shutdown that way). Workload Endpoint Appendix A and DESIGN §3.4.
 *
 * A permanent status before the first good update is a configuration error (the security
 * header, an agent without the RPC): the watch fails. After one, the same status means the
 * agent changed under a workload that holds valid identity, so the watch keeps it: it retries
 * at the longest backoff delay, and the caller reports the refusal (issue 13 item 13).
 */
export type WatchState = "connecting" | "open" | "backoff" | "stopped" | "failed";

export interface WatchHandlers<T> {
  /** A message that decoded and validated; the full current state (Workload API §4.3). */
  onUpdate(value: T): void;
  /** A message that failed `decode`; it was discarded and the previous state stays in force. */
  onInvalid?(error: Error): void;
  /** A call that ended, with its status; `error.retryable` says whether a new call follows. */
  onError?(error: WorkloadApiError): void;
  onStateChange?(state: WatchState): void;
}

export interface WatchStreamOptions<Raw, T> {
  /** The RPC name, for messages (`FetchX509SVID`). */
  readonly method: string;
  /** The endpoint as the user wrote it, for messages. */
  readonly target: string;
  /** Starts one call; invoked again for each reconnect. */
  readonly open: () => ClientReadableStream<Raw>;
  /** Raw message to validated model; throws to reject the message. */
  readonly decode: (raw: Raw) => T;
  readonly handlers: WatchHandlers<T>;
  /** @default { initialMs: 1000, maxMs: 30000 } */
  readonly backoff?: BackoffOptions;
  /**
   * How long a new call may stay silent before it is cancelled and retried (DESIGN §3.8): the
   * agent sends the full state at once (Workload API §4.3), so silence means it is stuck.
   * @default 30000
   */
  readonly firstResponseTimeoutMs?: number;
}

export const DEFAULT_FIRST_RESPONSE_TIMEOUT_MS = 30_000;

/** What a caller holds of a running watch. */
export interface Watch {
  /** `undefined` only before `start()`. */
  readonly state: WatchState | undefined;
  /** The status of the last call that ended; after `failed`, the reason. */
  readonly lastError: WorkloadApiError | undefined;
  /** In `backoff`, how long until the next call, for a "reconnecting in" log line. */
  readonly retryDelayMs: number | undefined;
  /** Whether a valid update has arrived since `start()`; a permanent status then no longer fails the watch. */
  readonly delivered: boolean;
  /** In `backoff`, opens the next call now (e.g. the agent's socket has just reappeared). */
  retryNow(): void;
  /** Ends the current call and opens a new one at once, for a fresh copy of the full state. */
  restart(): void;
  close(): void;
}

/** One call; events from a call that is no longer current are ignored. */
interface Attempt<Raw> {
  readonly call: ClientReadableStream<Raw>;
  status: StatusObject | undefined;
  ended: boolean;
}

/** A server stream that reconnects with backoff until closed or told to stop. */
export class WatchStream<Raw, T> implements Watch {
  readonly #options: WatchStreamOptions<Raw, T>;
  readonly #backoff: Backoff;
  #state: WatchState | undefined;
  #attempt: Attempt<Raw> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastError: WorkloadApiError | undefined;
  #retryDelayMs: number | undefined;
  #firstResponseTimer: NodeJS.Timeout | undefined;
  #delivered = false;

  constructor(options: WatchStreamOptions<Raw, T>) {
    this.#options = options;
    this.#backoff = new Backoff(options.backoff);
  }

  get state(): WatchState | undefined {
    return this.#state;
  }

  get lastError(): WorkloadApiError | undefined {
    return this.#lastError;
  }

  get retryDelayMs(): number | undefined {
    return this.#state === "backoff" ? this.#retryDelayMs : undefined;
  }

  get delivered(): boolean {
    return this.#delivered;
  }

  retryNow(): void {
    if (this.#state !== "backoff") return;
    clearTimeout(this.#timer);
    this.#connect();
  }

  restart(): void {
    if (this.#state === "backoff") {
      this.retryNow();
      return;
    }
    // A call still connecting brings the full state with its first message anyway.
    if (this.#state !== "open") return;
    this.#dropAttempt();
    // Still "open": the agent is there, and a state change would read as a lost connection.
    this.#connect({ keepState: true });
  }

  start(): this {
    if (this.#state === undefined) this.#connect();
    return this;
  }

  /** Ends the watch quietly: the CANCELLED this causes is ours and is not reported. */
  close(): void {
    if (this.#state === "stopped" || this.#state === "failed") return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#setState("stopped");
    this.#dropAttempt();
  }

  /** Cancels the current call; its CANCELLED is ours, so its events are ignored. */
  #dropAttempt(): void {
    clearTimeout(this.#firstResponseTimer);
    const attempt = this.#attempt;
    this.#attempt = undefined;
    attempt?.call.cancel();
  }

  #setState(state: WatchState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#options.handlers.onStateChange?.(state);
  }

  #connect(options: { keepState?: boolean } = {}): void {
    this.#timer = undefined;
    if (options.keepState !== true) this.#setState("connecting");
    const call = this.#options.open();
    const attempt: Attempt<Raw> = { call, status: undefined, ended: false };
    this.#attempt = attempt;
    const timeoutMs = this.#options.firstResponseTimeoutMs ?? DEFAULT_FIRST_RESPONSE_TIMEOUT_MS;
    this.#firstResponseTimer = setTimeout(() => this.#onFirstResponseTimeout(attempt, timeoutMs), timeoutMs);
    call.on("data", (raw: Raw) => {
      if (this.#attempt === attempt) this.#receive(raw);
    });
    // The "status" event carries the same code; this listener only keeps the error from being unhandled.
    call.on("error", () => {});
    // grpc-js emits "status" before buffered messages have drained and "end" after: finish on both.
    call.on("status", (status: StatusObject) => {
      attempt.status = status;
      this.#maybeFinish(attempt);
    });
    call.on("end", () => {
      attempt.ended = true;
      this.#maybeFinish(attempt);
    });
  }

  #onFirstResponseTimeout(attempt: Attempt<Raw>, timeoutMs: number): void {
    if (this.#attempt !== attempt) return;
    this.#dropAttempt();
    const { method, target } = this.#options;
    const error = new WorkloadApiError(
      `${method} on the Workload API at ${target} sent nothing within ${formatSeconds(timeoutMs)} ` +
        "(first-response timeout); the agent accepted the call but is not answering; retrying",
      { code: Status.DEADLINE_EXCEEDED, details: `no first message within ${timeoutMs} ms` },
    );
    this.#afterCall(error);
  }

  #receive(raw: Raw): void {
    clearTimeout(this.#firstResponseTimer);
    this.#setState("open");
    let value: T;
    try {
      value = this.#options.decode(raw);
    } catch (error: unknown) {
      this.#options.handlers.onInvalid?.(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.#backoff.reset();
    this.#delivered = true;
    this.#options.handlers.onUpdate(value);
  }

  #maybeFinish(attempt: Attempt<Raw>): void {
    if (this.#attempt !== attempt || attempt.status === undefined || !attempt.ended) return;
    this.#attempt = undefined;
    clearTimeout(this.#firstResponseTimer);
    this.#afterCall(this.#errorFor(attempt.status));
  }

  #afterCall(error: WorkloadApiError): void {
    this.#lastError = error;
    this.#options.handlers.onError?.(error);
    // A handler may have closed or restarted the watch.
    if (this.#state === "stopped" || this.#attempt !== undefined) return;
    if (!error.retryable && !this.#delivered) {
      this.#setState("failed");
      return;
    }
    // After a good update a permanent refusal is retried, but only as often as the cap allows.
    this.#retryDelayMs = error.retryable ? this.#backoff.next() : this.#backoff.maxMs;
    // Not unref'd: a daemon waiting for its agent must stay alive; close() clears it.
    this.#timer = setTimeout(() => this.#connect(), this.#retryDelayMs);
    this.#setState("backoff");
  }

  #errorFor(status: StatusObject): WorkloadApiError {
    const { method, target } = this.#options;
    if (status.code === Status.OK) {
      return new WorkloadApiError(`the Workload API at ${target} ended the ${method} stream; reconnecting`, status);
    }
    return workloadApiErrorFromStatus(status, method, target);
  }
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}
