import { writeSync } from "node:fs";
import { systemErrorCode } from "./child/child-exit.js";

/** How long one log line may wait for a full pipe to drain before it is dropped. */
const FULL_PIPE_WAIT_MS = 1_000;
const RETRY_SLICE_MS = 10;
const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/**
 * Where the sidecar's log lines go: file descriptor 1, written synchronously, and never able
 * to throw. When the reader of stdout goes away (`spiffe-sidecar run | head`, a log collector
 * restarting) the write fails with EPIPE; Node's `process.stdout` would emit an unhandled
 * `error` and end the sidecar, orphaning the app (issue 13, item 10). Here the line is dropped
 * and counted, stderr is told once, and the sidecar goes on supervising the child and writing
 * files. A pipe that stays full for a second drops the line too, so a stalled reader cannot
 * stall rotations.
 *
 * `process.stdout` is never touched: creating it would switch the descriptor, which the child
 * shares, to non-blocking mode.
 */
export class LogSink {
  readonly #fd: number;
  readonly #onLost: (error: unknown) => void;
  #lost = false;

  constructor(fd = 1, onLost: (error: unknown) => void = reportLostStdout) {
    this.#fd = fd;
    this.#onLost = onLost;
  }

  write(line: string): boolean {
    if (this.#lost) return true;
    let rest = Buffer.from(line);
    let waitedMs = 0;
    while (rest.length > 0) {
      try {
        rest = rest.subarray(writeSync(this.#fd, rest));
      } catch (error: unknown) {
        if (systemErrorCode(error) === "EAGAIN" && waitedMs < FULL_PIPE_WAIT_MS) {
          Atomics.wait(sleepCell, 0, 0, RETRY_SLICE_MS);
          waitedMs += RETRY_SLICE_MS;
          continue;
        }
        if (systemErrorCode(error) !== "EAGAIN") {
          this.#lost = true;
          this.#onLost(error);
        }
        return true;
      }
    }
    return true;
  }
}

function reportLostStdout(error: unknown): void {
  const code = systemErrorCode(error) ?? "an error";
  try {
    writeSync(2, `spiffe-sidecar: stdout failed with ${code}; log lines are dropped from now on, the sidecar keeps running\n`);
  } catch {
    // stderr is gone too: there is nobody left to tell.
  }
}
