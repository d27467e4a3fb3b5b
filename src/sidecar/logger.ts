import { pino, type Logger, type LevelWithSilent } from "pino";

export type { Logger } from "pino";

const REDACTED_PATHS = ["privateKey", "*.privateKey", "token", "*.token", "password", "*.password"];

/**
 * The sidecar's logger: JSON lines on stdout for machines, readable lines when stdout is a
 * terminal. pino-pretty runs as an in-process stream, never a transport worker (workers break
 * bundling and cost a thread), and is loaded only for a terminal. Keys and tokens are never
 * passed to the logger; as a second guard, fields that could only hold secrets are redacted.
 */
export async function createLogger(
  level: LevelWithSilent,
  destination: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout,
): Promise<Logger> {
  const options = {
    level,
    base: { name: "spiffe-sidecar" },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: "<redacted>" },
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (destination.isTTY !== true) return pino(options, destination);
  const { default: pretty } = await import("pino-pretty");
  return pino(
    { ...options, formatters: {} },
    pretty({ destination, sync: true, singleLine: true, ignore: "pid,hostname,name", translateTime: "HH:MM:ss.l" }),
  );
}
