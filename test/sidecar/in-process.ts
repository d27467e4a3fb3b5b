import { EventEmitter } from "node:events";
import { Writable } from "node:stream";
import type { TestContext } from "node:test";
import { loadConfigFile } from "../../src/sidecar/config/index.js";
import { runSidecar } from "../../src/sidecar/daemon/run-sidecar.js";
import { createLogger } from "../../src/sidecar/logger.js";
import type { BackoffOptions } from "../../src/workloadapi/backoff.js";
import { EVENT_TIMEOUT_MS, onCleanup, waitFor, type LogLine, type LogPredicate } from "./support.js";

/** Backoff and Workload API timeouts short enough that a test sees several rounds in a second or two. */
export const QUICK = { backoff: { initialMs: 50, maxMs: 200 } satisfies BackoffOptions, agentTimeoutMs: 400 } as const;

/**
 * The sidecar run in this process, for what the CLI cannot shorten: the 30 s Workload API
 * deadline and first-response timeout. Everything else is as real as with the built CLI: the
 * fake agent over a Unix socket, files on disk, the child a real process, the health listener
 * on a real port. Signals come from an emitter, so the test runner is never signalled.
 */
export class InProcessSidecar {
  readonly logs: LogLine[] = [];
  readonly signals = new EventEmitter();
  exitCode: Promise<number> | undefined;
  #exited = false;

  async start(configPath: string): Promise<void> {
    const config = await loadConfigFile(configPath, { PATH: process.env["PATH"] });
    const sink = new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        for (const text of chunk.toString("utf8").split("\n")) if (text !== "") this.logs.push(JSON.parse(text) as LogLine);
        callback();
      },
    });
    const logger = await createLogger("debug", sink);
    this.exitCode = runSidecar({ config, logger, backoff: QUICK.backoff, agentTimeoutMs: QUICK.agentTimeoutMs, signals: this.signals });
    void this.exitCode.then(() => (this.#exited = true));
  }

  get hasExited(): boolean {
    return this.#exited;
  }

  count(predicate: LogPredicate): number {
    return this.logs.filter(predicate).length;
  }

  async waitForLog(what: string, predicate: LogPredicate, count = 1): Promise<LogLine[]> {
    try {
      return await waitFor(
        `${count} × ${what}`,
        () => {
          const matches = this.logs.filter(predicate);
          if (matches.length >= count) return matches;
          if (this.#exited) throw new Error(`the sidecar exited before ${count} × ${what}`);
          return undefined;
        },
        EVENT_TIMEOUT_MS,
      );
    } catch (error: unknown) {
      const tail = this.logs.slice(-25).map((line) => JSON.stringify(line)).join("\n");
      throw new Error(`${error instanceof Error ? error.message : String(error)}\n--- sidecar log ---\n${tail}`);
    }
  }

  async healthUrl(): Promise<string> {
    const [line] = await this.waitForLog("the health listener", (entry) => entry.msg === "health listener started");
    if (typeof line?.url !== "string") throw new Error("the health listener line has no url");
    return line.url;
  }

  /** SIGTERM as the runtime would send it; resolves with the exit code. */
  async stop(): Promise<number> {
    if (this.exitCode === undefined) return 0;
    if (!this.#exited) this.signals.emit("SIGTERM", "SIGTERM");
    return this.exitCode;
  }
}

/** Starts the sidecar in-process on `configPath`; it is stopped after the test. */
export async function runInProcess(t: TestContext, configPath: string): Promise<InProcessSidecar> {
  const sidecar = new InProcessSidecar();
  onCleanup(t, async () => {
    await sidecar.stop();
  });
  await sidecar.start(configPath);
  return sidecar;
}
