import type { InspectReport } from "./report.js";

/** `3d 4h`, `12m 5s`, `41s`: the two largest units are enough to judge a rotation. */
export function formatDuration(totalSeconds: number): string {
  const units: [string, number][] = [
    ["d", 86_400],
    ["h", 3_600],
    ["m", 60],
    ["s", 1],
  ];
  let rest = Math.abs(totalSeconds);
  const parts: string[] = [];
  for (const [suffix, size] of units) {
    const count = Math.floor(rest / size);
    rest -= count * size;
    if (count > 0 || (suffix === "s" && parts.length === 0)) parts.push(`${count}${suffix}`);
    if (parts.length === 2) break;
  }
  return parts.join(" ");
}

function timeLeft(secondsLeft: number): string {
  return secondsLeft >= 0 ? formatDuration(secondsLeft) : `expired ${formatDuration(secondsLeft)} ago`;
}

/** The human form of a report: one field a line, the chain indented, the verdict last. */
export function formatReport(report: InspectReport): string {
  const lines: string[] = [];
  const field = (label: string, value: string | undefined): void => {
    if (value !== undefined) lines.push(`${`${label}:`.padEnd(12)}${value}`);
  };
  field("Type", report.kind === "x509-svid" ? "X.509-SVID" : "JWT-SVID");
  field("SPIFFE ID", report.spiffeId);
  field("Serial", report.serialHex);
  field("Audience", report.audience?.join(", "));
  field("Not before", report.notBefore);
  field("Not after", report.notAfter);
  field("Time left", report.secondsLeft === undefined ? undefined : timeLeft(report.secondsLeft));
  field("Checked at", report.checkedAt);
  if (report.chain !== undefined && report.chain.length > 0) {
    lines.push("Chain:");
    report.chain.forEach((cert, index) => {
      const role = index === 0 ? "leaf" : cert.isCa ? "CA" : "cert";
      const name = cert.uriSans[0] ?? cert.subject;
      lines.push(`  [${index}] ${role} ${name}  serial ${cert.serialHex}  not after ${cert.notAfter}`);
      if (cert.issuer !== "") lines.push(`      issuer ${cert.issuer}`);
    });
  }
  if (report.passedChecks.length > 0) field("Checked", report.passedChecks.join(", "));
  if (report.skippedChecks.length > 0) field("Not checked", report.skippedChecks.join(", "));
  lines.push(
    report.verdict.valid
      ? "Verdict:    VALID"
      : `Verdict:    INVALID [${report.verdict.rule}] ${report.verdict.reason}`,
  );
  return `${lines.join("\n")}\n`;
}
