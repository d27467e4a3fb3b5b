import { pino, type Logger, type LevelWithSilent } from "pino";

export type { Logger } from "pino";

/**
 * The sidecar's logger: JSON lines on stdout, no transport workers (they break bundling and
 * cost a thread). Keys and tokens are never passed to it; as a second guard, fields that could
 * only hold secrets are redacted wherever they appear.
 */
export function createLogger(level: LevelWithSilent, destination: NodeJS.WritableStream = process.stdout): Logger {
  return pino(
    {
      level,
      base: { name: "spiffe-sidecar" },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ["privateKey", "*.privateKey", "token", "*.token", "password", "*.password"], censor: "<redacted>" },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
