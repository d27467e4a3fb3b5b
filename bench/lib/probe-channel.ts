import { createServer } from "node:net";
import type { Server, Socket } from "node:net";

export interface ProbeStart {
  readonly type: "start";
  readonly pid: number;
  readonly t: bigint;
  readonly serial?: string;
  readonly error?: string;
}

export interface ProbeReload {
  readonly type: "reload";
  /** When the SIGHUP handler ran. */
  readonly signalled: bigint;
  /** When the verified read finished. */
  readonly t: bigint;
  readonly serial?: string;
  /** Set when the read failed, the key did not match or the serial was not new. */
  readonly error?: string;
}

export type ProbeRecord = ProbeStart | ProbeReload;

export class ProbeTimeoutError extends Error {}

function parseRecord(line: string): ProbeRecord {
  const raw: unknown = JSON.parse(line);
  if (typeof raw !== "object" || raw === null || !("type" in raw)) throw new Error(`probe sent ${line}`);
  const field = (name: string): unknown => (name in raw ? (raw as Record<string, unknown>)[name] : undefined);
  const text = (name: string): string | undefined => (typeof field(name) === "string" ? (field(name) as string) : undefined);
  const serial = text("serial");
  const error = text("error");
  const optional = { ...(serial === undefined ? {} : { serial }), ...(error === undefined ? {} : { error }) };
  if (raw.type === "start") return { type: "start", pid: Number(field("pid")), t: BigInt(text("t") ?? "0"), ...optional };
  return { type: "reload", signalled: BigInt(text("signalled") ?? "0"), t: BigInt(text("t") ?? "0"), ...optional };
}

/**
 * The Unix socket one probe reports on. Records queue until they are taken, so a report that
 * arrives before the harness asks for it is never lost.
 */
export class ProbeChannel {
  readonly #records: ProbeRecord[] = [];
  #waiter: (() => void) | undefined;
  readonly #sockets = new Set<Socket>();

  private constructor(
    readonly socketPath: string,
    readonly server: Server,
  ) {}

  static listen(socketPath: string): Promise<ProbeChannel> {
    const server = createServer();
    const channel = new ProbeChannel(socketPath, server);
    server.on("connection", (socket) => channel.#accept(socket));
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(socketPath, () => resolve(channel));
    });
  }

  #accept(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on("close", () => this.#sockets.delete(socket));
    socket.on("error", () => {});
    let buffered = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      buffered += chunk;
      let newline = buffered.indexOf("\n");
      while (newline >= 0) {
        this.#records.push(parseRecord(buffered.slice(0, newline)));
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf("\n");
      }
      this.#waiter?.();
    });
  }

  /** Records that arrived and were not taken; taking them empties the queue. */
  drain(): ProbeRecord[] {
    return this.#records.splice(0);
  }

  async next(timeoutMs: number, what: string): Promise<ProbeRecord> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const record = this.#records.shift();
      if (record !== undefined) return record;
      const left = deadline - Date.now();
      if (left <= 0) throw new ProbeTimeoutError(`no ${what} from the probe within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#waiter = undefined;
    }
  }

  async nextStart(timeoutMs: number): Promise<ProbeStart> {
    const record = await this.next(timeoutMs, "start report");
    if (record.type !== "start") throw new Error(`the probe reported a reload before it started`);
    return record;
  }

  async nextReload(timeoutMs: number): Promise<ProbeReload> {
    const record = await this.next(timeoutMs, "reload report");
    if (record.type !== "reload") throw new Error(`the probe started again (the sidecar restarted it?)`);
    return record;
  }

  close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
