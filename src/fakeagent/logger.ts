import { writeSync } from "node:fs";
import { isatty } from "node:tty";
import { pino, type Logger, type LevelWithSilent } from "pino";
import { LogSink } from "../sidecar/log-sink.js";

const REDACTED_PATHS = ["privateKey", "*.privateKey", "token", "*.token", "password", "*.password"];

/**
 * The fake agent's log lines have the sidecar's shape (src/sidecar/logger.ts): ISO times and
 * level names in JSON lines, readable lines on a terminal through pino-pretty in-process, and
 * fd 1 through a `LogSink`, so that one reader follows both programs and a closed stdout
 * (`spiffe-fake-agent | head`) cannot end the agent. Only the `name` differs, and the sidecar's
 * factory fixes its name at creation, which is why the options are repeated here. Keys and
 * tokens are never passed to the logger; the redaction is the second guard.
 */
export async function createAgentLogger(
  level: LevelWithSilent,
  destination: { write(line: string): unknown; isTTY?: boolean } = stdoutSink(),
): Promise<Logger> {
  const options = {
    level,
    base: { name: "spiffe-fake-agent" },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: "<redacted>" },
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (destination.isTTY !== true) return pino(options, destination);
  const { prettyFactory } = await import("pino-pretty");
  const prettify = prettyFactory({ singleLine: true, ignore: "pid,hostname,name", translateTime: "HH:MM:ss.l" });
  return pino({ ...options, formatters: {} }, { write: (line: string) => destination.write(prettify(line)) });
}

function stdoutSink(): LogSink & { isTTY: boolean } {
  return Object.assign(new LogSink(1, reportLostStdout), { isTTY: isatty(1) });
}

function reportLostStdout(): void {
  try {
    writeSync(2, "spiffe-fake-agent: stdout is closed; log lines are dropped from now on, the agent keeps serving\n");
  } catch {
    // stderr is gone too: there is nobody left to tell.
  }
}
