import { credentials, Metadata } from "@grpc/grpc-js";
import type { ClientReadableStream, ServiceError, StatusObject } from "@grpc/grpc-js";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { startFakeAgent } from "../../src/fakeagent/server.js";
import type { FakeAgent } from "../../src/fakeagent/server.js";
import type { FakeAgentOptions } from "../../src/fakeagent/options.js";
import { SpiffeWorkloadAPIClient } from "../../src/workloadapi/generated/workload.js";
import { WorkloadApiClient } from "../../src/workloadapi/client.js";

/** Generous: only a hang should ever hit it. Tests never assert on how long things take. */
export const EVENT_TIMEOUT_MS = 15_000;

/** A temp directory removed after the test. Short, because socket paths are limited to 107 bytes. */
export async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "fa-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export type TestAgentOptions = Omit<FakeAgentOptions, "socketPath" | "trustDomain"> & { trustDomain?: string };

/** A fake agent on a socket in its own temp directory, stopped after the test. */
export async function startTestAgent(t: TestContext, options: TestAgentOptions = {}): Promise<FakeAgent> {
  const dir = await tempDir(t);
  const agent = await startFakeAgent({
    trustDomain: "example.org",
    identities: [{ spiffeId: "spiffe://example.org/app" }],
    ...options,
    socketPath: join(dir, "agent.sock"),
  });
  t.after(() => agent.stop());
  return agent;
}

/** The project's own client, closed after the test. */
export function projectClient(t: TestContext, agent: FakeAgent): WorkloadApiClient {
  const client = new WorkloadApiClient({ address: agent.address, backoff: { initialMs: 50, maxMs: 200 } });
  t.after(() => client.close());
  return client;
}

/** The generated client, for raw messages and for requests our own client refuses to send. */
export function rawClient(t: TestContext, agent: FakeAgent): SpiffeWorkloadAPIClient {
  const client = new SpiffeWorkloadAPIClient(agent.address, credentials.createInsecure());
  t.after(() => client.close());
  return client;
}

export function withHeader(): Metadata {
  const metadata = new Metadata();
  metadata.set("workload.spiffe.io", "true");
  return metadata;
}

export function timeout<T>(promise: Promise<T>, what: string, ms = EVENT_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/** Collects a raw stream's messages and its final status, and waits for either. */
export class StreamRecorder<T> {
  readonly messages: T[] = [];
  readonly arrivals: Date[] = [];
  #status: StatusObject | undefined;
  #waiters: (() => void)[] = [];

  constructor(readonly call: ClientReadableStream<T>) {
    call.on("data", (message: T) => {
      this.messages.push(message);
      this.arrivals.push(new Date());
      this.#notify();
    });
    call.on("error", () => {});
    call.on("status", (status: StatusObject) => {
      this.#status = status;
      this.#notify();
    });
  }

  #notify(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }

  #until<R>(check: () => R | undefined, what: string): Promise<R> {
    return timeout(
      new Promise<R>((resolve) => {
        const test = (): void => {
          const result = check();
          if (result === undefined) this.#waiters.push(test);
          else resolve(result);
        };
        test();
      }),
      what,
    );
  }

  /** Each message with the time it arrived. */
  received(): { message: T; receivedAt: Date }[] {
    return this.messages.map((message, index) => ({ message, receivedAt: this.arrivals[index] ?? new Date() }));
  }

  /** The first message (from index `from` on) that satisfies `predicate`. */
  waitFor(predicate: (message: T) => boolean, what: string, from = 0): Promise<T> {
    return this.#until(() => this.messages.slice(from).find(predicate), what);
  }

  waitForCount(count: number): Promise<T[]> {
    return this.#until(() => (this.messages.length >= count ? this.messages.slice(0, count) : undefined), `${count} messages`);
  }

  status(): Promise<StatusObject> {
    return this.#until(() => this.#status, "the stream status");
  }
}

export function record<T>(t: TestContext, call: ClientReadableStream<T>): StreamRecorder<T> {
  t.after(() => call.cancel());
  return new StreamRecorder(call);
}

/** A unary call as a promise; rejects with the ServiceError. */
export function unaryCall<Res>(invoke: (callback: (error: ServiceError | null, response: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => {
    invoke((error, response) => (error === null ? resolve(response) : reject(error)));
  });
}

/** Resolves to the ServiceError of a call expected to fail. */
export async function unaryError(invoke: (callback: (error: ServiceError | null, response: unknown) => void) => unknown): Promise<ServiceError> {
  try {
    await unaryCall(invoke);
  } catch (error: unknown) {
    return error as ServiceError;
  }
  throw new Error("the call succeeded but was expected to fail");
}
