import { pino, type Logger, type LevelWithSilent } from "pino";
import { isatty } from "node:tty";
import { LogSink } from "./log-sink.js";

export type { Logger } from "pino";

const REDACTED_PATHS = ["privateKey", "*.privateKey", "token", "*.token", "password", "*.password"];

/**
 * The sidecar's logger: JSON lines on stdout for machines, readable lines when stdout is a
 * terminal. By default lines go through a `LogSink` on fd 1, which a closed stdout (EPIPE)
 * cannot crash. pino-pretty runs as an in-process stream, never a transport worker (workers break
 * bundling and cost a thread), and is loaded only for a terminal. Keys and tokens are never
 * passed to the logger; as a second guard, fields that could only hold secrets are redacted.
 */
export async function createLogger(
  level: LevelWithSilent,
  destination: { write(line: string): unknown; isTTY?: boolean } = stdoutSink(),
  /** The `name` field of every line: the fake agent logs in the same shape under its own. */
  programName = "spiffe-sidecar",
): Promise<Logger> {
  const options = {
    level,
    base: { name: programName },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: "<redacted>" },
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (destination.isTTY !== true) return pino(options, destination);
  const { prettyFactory } = await import("pino-pretty");
  const prettify = prettyFactory({ singleLine: true, ignore: "pid,hostname,name", translateTime: "HH:MM:ss.l" });
  return pino({ ...options, formatters: {} }, { write: (line: string) => destination.write(prettify(line)) });
}

/** fd 1 through a `LogSink`, flagged as a terminal when it is one (without creating process.stdout). */
export function stdoutSink(onLost?: (error: unknown) => void): LogSink & { isTTY: boolean } {
  return Object.assign(new LogSink(1, onLost), { isTTY: isatty(1) });
}
