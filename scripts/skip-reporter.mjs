// A node:test reporter that writes one JSON line per skipped suite or test: its file, name,
// kind and reason. Node's own summary counts skipped tests but not skipped suites (a suite
// skipped for a missing nginx or SPIRE vanishes from "# skipped"), so run-tests.mjs reads these
// lines to close the run with the true count and each reason once.
import { relative } from "node:path";

export default async function* skipReporter(source) {
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const { name, file, skip, details } = event.data;
    if (skip === undefined || skip === false) continue;
    yield `${JSON.stringify({
      file: file === undefined ? "(unknown file)" : relative(process.cwd(), file),
      name,
      kind: details?.type === "suite" ? "suite" : "test",
      reason: typeof skip === "string" && skip !== "" ? skip : "(no reason given)",
    })}\n`;
  }
}
