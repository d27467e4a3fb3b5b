import { watch } from "node:fs";
import type { FSWatcher } from "node:fs";
import { lstat } from "node:fs/promises";
import { connect } from "node:net";
import { basename, dirname, join } from "node:path";

/**
 * Tells when the agent's Unix socket (re)appears, so a client waiting out a backoff delay can
 * reconnect at once instead of up to 30 s later (issue 13 item 6). One inotify watch on the
 * socket's directory, armed only while the client is disconnected: no timers, no polling.
 *
 * A restarted agent unlinks and binds its socket again, which shows as a `rename` event for the
 * socket's name; SPIRE then chmods it (`change`). Each event is checked with `lstat`, so only a
 * socket counts. When the directory itself is missing (or is removed while watched) there is
 * nothing to watch: the caller's backoff still reconnects, and the next `arm()` tries again.
 *
 * The file exists from the agent's bind(), a moment before its listen(): a call made at the
 * event can meet ECONNREFUSED and would then wait out a whole backoff delay (seen as 4-6 s
 * returns in the restart chaos test). So "appeared" means "accepts": a bare connect, closed at
 * once, is tried every PROBE_INTERVAL_MS until it succeeds, for at most PROBE_ATTEMPTS tries.
 */
const PROBE_INTERVAL_MS = 20;
const PROBE_ATTEMPTS = 50;

export class SocketWatch {
  readonly #directory: string;
  readonly #name: string;
  readonly #onAppeared: () => void;
  #watcher: FSWatcher | undefined;
  #probing = false;

  constructor(socketPath: string, onAppeared: () => void) {
    this.#directory = dirname(socketPath);
    this.#name = basename(socketPath);
    this.#onAppeared = onAppeared;
  }

  get armed(): boolean {
    return this.#watcher !== undefined;
  }

  arm(): void {
    if (this.#watcher !== undefined) return;
    let watcher: FSWatcher;
    try {
      watcher = watch(this.#directory, { persistent: false }, (_event, filename) => {
        // Some platforms give no name; then any event in the directory is worth an lstat.
        if (filename === null || filename === this.#name) this.#check();
      });
    } catch {
      return;
    }
    watcher.on("error", () => this.disarm());
    this.#watcher = watcher;
  }

  disarm(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  #check(): void {
    const path = join(this.#directory, this.#name);
    lstat(path).then(
      (stats) => {
        if (!stats.isSocket() || this.#watcher === undefined || this.#probing) return;
        this.#probing = true;
        this.#probe(path, PROBE_ATTEMPTS);
      },
      () => {},
    );
  }

  #probe(path: string, attemptsLeft: number): void {
    const socket = connect(path);
    socket.once("connect", () => {
      socket.destroy();
      this.#probing = false;
      if (this.#watcher !== undefined) this.#onAppeared();
    });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      socket.destroy();
      if (error.code !== "ECONNREFUSED" || attemptsLeft <= 1 || this.#watcher === undefined) {
        this.#probing = false;
        return;
      }
      setTimeout(() => this.#probe(path, attemptsLeft - 1), PROBE_INTERVAL_MS).unref();
    });
  }
}
