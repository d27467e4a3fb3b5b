import { writeSync } from "node:fs";
import type { Logger, LevelWithSilent } from "pino";
import { createLogger, stdoutSink } from "../sidecar/logger.js";

/**
 * The fake agent logs in the sidecar's shape (ISO times, level names, pretty on a terminal, a
 * closed stdout never fatal), so that one reader follows both programs; only the name differs.
 */
export function createAgentLogger(
  level: LevelWithSilent,
  destination: { write(line: string): unknown; isTTY?: boolean } = stdoutSink(reportLostStdout),
): Promise<Logger> {
  return createLogger(level, destination, "spiffe-fake-agent");
}

function reportLostStdout(): void {
  try {
    writeSync(2, "spiffe-fake-agent: stdout is closed; log lines are dropped from now on, the agent keeps serving\n");
  } catch {
    // stderr is gone too: there is nobody left to tell.
  }
}
