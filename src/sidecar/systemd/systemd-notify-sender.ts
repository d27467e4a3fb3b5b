import { spawn } from "node:child_process";
import { describeError } from "../../errors.js";
import type { Logger } from "../logger.js";
import type { NotifyAssignment } from "./notify-protocol.js";

/**
 * How a notification reaches systemd. NOTIFY_SOCKET is an AF_UNIX SOCK_DGRAM socket, and Node
 * can neither create nor write one (`dgram` is UDP only; libuv cannot wrap a Unix datagram fd).
 * The choices were a native addon (`unix-dgram`, `sd-notify`: node-gyp at install time, and
 * `sd-notify` links libsystemd) or systemd's own `systemd-notify`, one process per message. We
 * spawn `systemd-notify`: no native code to build, and it implements the protocol (abstract
 * sockets, credentials) exactly as the systemd it belongs to. Measured here (systemd 252, 100
 * messages in a row to a Python stand-in for systemd): 9-12 ms per message end to end, of which
 * 2.4 ms block the event loop in spawn(). We send one per write and one per watchdog
 * half-period (15 s in the examples), so the cost is negligible.
 *
 * Since systemd 246 `systemd-notify` waits (sd_notify_barrier, up to 5 s) until systemd has
 * read the message, so it is still alive when systemd looks up which unit sent it: the unit
 * needs `NotifyAccess=all`, as the sender is our child, not the main process.
 *
 * Messages go one at a time, in order (READY=1 before a later STATUS=), never block the caller,
 * and a failure is logged once, at warn; later ones only at debug.
 */
export class SystemdNotifySender {
  readonly #socket: string;
  readonly #logger: Logger;
  readonly #queue: (readonly NotifyAssignment[])[] = [];
  #sending: Promise<void> | undefined;
  #failureLogged = false;

  constructor(socket: string, logger: Logger) {
    this.#socket = socket;
    this.#logger = logger;
  }

  /**
   * Queues one datagram. One identical to the last still waiting adds nothing (watchdog pings
   * behind a slow systemd); an earlier twin does not count, as order matters (READY=1 after
   * RELOADING=1).
   */
  send(message: readonly NotifyAssignment[]): void {
    const text = message.join("\n");
    if (this.#queue.at(-1)?.join("\n") === text) return;
    if (this.#queue.length >= MAX_QUEUED) {
      this.#noteFailure(`more than ${MAX_QUEUED} notifications are waiting; dropped ${text}`);
      return;
    }
    this.#queue.push(message);
    this.#sending ??= this.#drain();
  }

  /** Resolves when every queued message was handed over, or after `timeoutMs`. */
  async flush(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolveDeadline) => (timer = setTimeout(resolveDeadline, timeoutMs)));
    await Promise.race([this.#sending ?? Promise.resolve(), deadline]);
    clearTimeout(timer);
  }

  async #drain(): Promise<void> {
    for (let message = this.#queue.shift(); message !== undefined; message = this.#queue.shift()) {
      await this.#sendOne(message);
    }
    this.#sending = undefined;
  }

  #sendOne(message: readonly NotifyAssignment[]): Promise<void> {
    return new Promise((resolveSent) => {
      const child = spawn("systemd-notify", [...message], {
        env: { NOTIFY_SOCKET: this.#socket, PATH: process.env["PATH"] ?? "/usr/bin:/bin" },
        stdio: ["ignore", "ignore", "pipe"],
        timeout: SEND_TIMEOUT_MS,
      });
      let stderr = "";
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
      child.on("error", (error: unknown) => {
        this.#noteFailure(`cannot run systemd-notify: ${describeError(error)}`);
        resolveSent();
      });
      child.on("close", (code, signal) => {
        if (code !== 0 && code !== null) this.#noteFailure(`systemd-notify exited ${code}: ${stderr.trim()}`);
        if (signal !== null) this.#noteFailure(`systemd-notify stopped by ${signal} after ${SEND_TIMEOUT_MS / 1000}s`);
        resolveSent();
      });
    });
  }

  #noteFailure(detail: string): void {
    if (this.#failureLogged) {
      this.#logger.debug({ err: detail }, "systemd notification failed");
      return;
    }
    this.#failureLogged = true;
    this.#logger.warn(
      { err: detail, notifySocket: this.#socket },
      "systemd notification failed; the sidecar carries on (later failures are logged at debug)",
    );
  }
}

/** Past systemd-notify's own 5 s barrier wait, so a slow systemd is not cut short. */
const SEND_TIMEOUT_MS = 10_000;
/** A stuck systemd must not make the queue grow without bound. */
const MAX_QUEUED = 32;
