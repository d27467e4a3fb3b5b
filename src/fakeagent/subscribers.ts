import { status as GrpcStatus } from "@grpc/grpc-js";
import type { ServerWritableStream } from "@grpc/grpc-js";
import { setTimeout as sleep } from "node:timers/promises";
import type { CallRefusal, CloseStatus, FaultSet, RpcName } from "./faults.js";
import type { AgentSnapshot } from "./responses.js";

/** How one stream turns a snapshot into its message. */
export interface StreamComposer<Response> {
  readonly rpc: RpcName;
  readonly compose: (snapshot: AgentSnapshot) => Response;
  /** Present for the bundle streams: a send whose bytes equal the previous one is skipped. */
  readonly encodeForDedup?: (response: Response) => Buffer;
}

export interface StreamStatus {
  readonly code: GrpcStatus;
  readonly details: string;
}

export const NO_IDENTITY: StreamStatus = { code: GrpcStatus.PERMISSION_DENIED, details: "no identity issued" };

export function refusalStatus(refusal: CallRefusal): StreamStatus {
  return {
    code: refusal.kind === "deny" ? GrpcStatus.PERMISSION_DENIED : GrpcStatus.UNAVAILABLE,
    details: refusal.message,
  };
}

const CLOSE_STATUS: Readonly<Record<Exclude<CloseStatus, "ok">, StreamStatus>> = {
  unavailable: { code: GrpcStatus.UNAVAILABLE, details: "stream closed (injected fault: close-stream)" },
  cancelled: { code: GrpcStatus.CANCELLED, details: "stream closed (injected fault: close-stream)" },
  "invalid-argument": { code: GrpcStatus.INVALID_ARGUMENT, details: "stream closed (injected fault: close-stream)" },
  unimplemented: { code: GrpcStatus.UNIMPLEMENTED, details: "stream closed (injected fault: close-stream)" },
};

/**
 * One open stream. Sends are queued so a `delay` fault never reorders messages, and every
 * message is the full state (API §4.3).
 */
class Subscription<Request, Response> {
  #queue: Promise<void> = Promise.resolve();
  #sent = 0;
  #lastSentBytes: Buffer | undefined;
  #closed = false;

  constructor(
    readonly call: ServerWritableStream<Request, Response>,
    readonly composer: StreamComposer<Response>,
    readonly faults: FaultSet,
    readonly onClosed: () => void,
  ) {
    call.on("cancelled", () => this.#markClosed());
    call.on("close", () => this.#markClosed());
  }

  get rpc(): RpcName {
    return this.composer.rpc;
  }

  deliver(snapshot: AgentSnapshot): void {
    this.#queue = this.#queue.then(() => this.#send(snapshot)).catch(() => this.end({ code: GrpcStatus.INTERNAL, details: "failed to send" }));
  }

  async #send(snapshot: AgentSnapshot): Promise<void> {
    if (this.#closed) return;
    // SPIRE ends an open stream this way when the caller's last identity goes (SPEC.md §1.3).
    if (!snapshot.hasIdentity) return this.end(NO_IDENTITY);
    const response = this.composer.compose(snapshot);
    if (this.composer.encodeForDedup !== undefined) {
      const bytes = this.composer.encodeForDedup(response);
      if (this.#lastSentBytes?.equals(bytes) === true) return;
      this.#lastSentBytes = bytes;
    }
    const delayMs = this.faults.delayMs(this.rpc);
    if (delayMs > 0) await sleep(delayMs);
    if (this.#closed) return;
    const close = this.faults.closeStream(this.rpc);
    if (close !== undefined && this.#sent >= close.afterMessages) return this.#closeByFault(close.status);
    this.call.write(response);
    this.#sent += 1;
    if (close !== undefined && this.#sent >= close.afterMessages) this.#closeByFault(close.status);
  }

  #closeByFault(status: CloseStatus): void {
    if (status === "ok") {
      this.#markClosed();
      this.call.end();
    } else {
      this.end(CLOSE_STATUS[status]);
    }
  }

  /** Ends the stream with an error status; later deliveries are dropped. */
  end(status: StreamStatus): void {
    if (this.#closed) return;
    this.#markClosed();
    // grpc-js turns an 'error' event on a server stream into the call's final status.
    this.call.emit("error", { code: status.code, details: status.details });
  }

  #markClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.onClosed();
  }
}

/** Every open stream; a published snapshot goes to all of them. */
export class StreamHub {
  readonly #subscriptions = new Set<Subscription<unknown, unknown>>();
  readonly #opened = new Map<RpcName, number>();

  constructor(readonly faults: FaultSet) {}

  get size(): number {
    return this.#subscriptions.size;
  }

  /** Streams of `rpc` opened since the start (all RPCs when omitted), closed ones included. */
  openedCount(rpc?: RpcName): number {
    if (rpc !== undefined) return this.#opened.get(rpc) ?? 0;
    return [...this.#opened.values()].reduce((total, count) => total + count, 0);
  }

  /** Registers a stream and sends it the current state at once (API §4.3). */
  subscribe<Request, Response>(
    call: ServerWritableStream<Request, Response>,
    composer: StreamComposer<Response>,
    snapshot: AgentSnapshot,
  ): void {
    const subscription: Subscription<Request, Response> = new Subscription(call, composer, this.faults, () =>
      this.#subscriptions.delete(subscription as Subscription<unknown, unknown>),
    );
    this.#subscriptions.add(subscription as Subscription<unknown, unknown>);
    this.#opened.set(composer.rpc, this.openedCount(composer.rpc) + 1);
    subscription.deliver(snapshot);
  }

  publish(snapshot: AgentSnapshot): void {
    for (const subscription of this.#subscriptions) subscription.deliver(snapshot);
  }

  /** Ends the streams a newly set `deny` or `unavailable` fault covers, as a failing agent would. */
  refuseCovered(): void {
    for (const subscription of this.#subscriptions) {
      const refusal = this.faults.refusal(subscription.rpc);
      if (refusal !== undefined) subscription.end(refusalStatus(refusal));
    }
  }
}
