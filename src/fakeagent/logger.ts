import { pino, type Logger, type LevelWithSilent } from "pino";

const REDACTED_PATHS = ["privateKey", "*.privateKey", "token", "*.token", "password", "*.password"];

/**
 * The fake agent's log lines have the sidecar's shape (src/sidecar/logger.ts): ISO times and
 * level names in JSON lines, readable lines on a terminal, pino-pretty in-process rather than a
 * transport worker, so that one reader follows both programs. Only the `name` differs, and the
 * sidecar's factory fixes its name at creation, which is why the options are repeated here.
 * Keys and tokens are never passed to the logger; the redaction is the second guard.
 */
export async function createAgentLogger(
  level: LevelWithSilent,
  destination: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout,
): Promise<Logger> {
  const options = {
    level,
    base: { name: "spiffe-fake-agent" },
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
