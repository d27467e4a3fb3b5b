import type { Logger } from "../logger.js";
import type { FileWriter, RecoveryTargets } from "./file-writer.js";

/**
 * Runs the writer's crash repair and says what it did: called once at start, before the
 * sidecar connects to the agent, so an update a kill -9 interrupted is settled before anything
 * else reads or writes the files. Paths and verdicts only: no file contents are logged.
 */
export async function recoverInterruptedWrites(writer: FileWriter, targets: RecoveryTargets, logger: Logger): Promise<void> {
  const report = await writer.recover(targets);
  const repaired = report.rolledForward.length + report.removed.length + report.discarded.length > 0;
  if (report.rolledForward.length > 0) {
    logger.warn(
      { rolledForward: report.rolledForward },
      "finished an update that a crash interrupted: its complete temp files are now in place",
    );
  }
  if (report.removed.length > 0) logger.info({ removed: report.removed }, "removed files left by an interrupted write");
  if (report.discarded.length > 0) {
    logger.warn(
      { discarded: report.discarded },
      "discarded temp files whose contents do not match their name (a crash during a power loss?)",
    );
  }
  for (const problem of report.problems) logger.warn({ problem }, "start-up repair could not finish a step");
  for (const pair of report.keyPairs) {
    const fields = { cert: pair.certPath, key: pair.keyPath, verdict: pair.verdict };
    if (pair.verdict === "mismatch") {
      logger.error(
        fields,
        "the certificate and key on disk do not match after the start-up repair; the next update from the agent replaces both",
      );
    } else if (repaired || pair.verdict === "unreadable") {
      logger.info(fields, "checked the certificate and key on disk after the start-up repair");
    } else {
      logger.debug(fields, "checked the certificate and key on disk at start");
    }
  }
}
