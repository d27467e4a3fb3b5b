import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { inspectJwtSvid } from "../sidecar/inspect/jwt-report.js";
import { formatReport } from "../sidecar/inspect/format-report.js";
import type { InspectReport } from "../sidecar/inspect/report.js";
import { inspectX509Svid } from "../sidecar/inspect/x509-report.js";
import { ExitCode } from "./exit-codes.js";
import { InputFileError, UsageError } from "./usage-error.js";

const INSPECT_USAGE =
  "usage: spiffe-sidecar inspect --cert FILE [--key FILE] [--bundle FILE] [--at ISO-TIME] [--json]\n" +
  "       spiffe-sidecar inspect --jwt FILE --jwt-bundle FILE --audience AUD [--at ISO-TIME] [--json]";

async function readInput(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error: unknown) {
    throw new InputFileError(path, error);
  }
}

async function readOptionalInput(path: string | undefined): Promise<string | undefined> {
  return path === undefined ? undefined : readInput(path);
}

function parseInstant(text: string | undefined): Date {
  if (text === undefined) return new Date();
  const instant = new Date(text);
  if (Number.isNaN(instant.getTime())) {
    throw new UsageError(`--at "${text}" is not a time; use ISO 8601, e.g. --at 2026-01-01T00:00:00Z`);
  }
  return instant;
}

function parseInspectArgs(argv: readonly string[]) {
  try {
    return parseArgs({
      // Go's one-dash `-help`, as every other command takes it.
      args: argv.map((arg) => (arg === "-help" ? "--help" : arg)),
      strict: true,
      allowPositionals: false,
      options: {
        cert: { type: "string" },
        key: { type: "string" },
        bundle: { type: "string" },
        jwt: { type: "string" },
        "jwt-bundle": { type: "string" },
        audience: { type: "string", multiple: true },
        at: { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }).values;
  } catch (error: unknown) {
    throw new UsageError(`${error instanceof Error ? error.message : String(error)}\n${INSPECT_USAGE}`);
  }
}

async function buildReport(values: ReturnType<typeof parseInspectArgs>): Promise<InspectReport> {
  const now = parseInstant(values.at);
  if (values.cert !== undefined && values.jwt !== undefined) {
    throw new UsageError(`give either --cert or --jwt, not both\n${INSPECT_USAGE}`);
  }
  if (values.cert !== undefined) {
    return inspectX509Svid({
      certificatesPem: await readInput(values.cert),
      privateKeyPem: await readOptionalInput(values.key),
      bundlePem: await readOptionalInput(values.bundle),
      now,
    });
  }
  if (values.jwt !== undefined) {
    const bundlePath = values["jwt-bundle"];
    if (bundlePath === undefined) throw new UsageError(`--jwt needs --jwt-bundle FILE\n${INSPECT_USAGE}`);
    if (values.audience === undefined) throw new UsageError(`--jwt needs --audience AUD\n${INSPECT_USAGE}`);
    return inspectJwtSvid({
      token: await readInput(values.jwt),
      bundleJson: await readInput(bundlePath),
      audience: values.audience,
      now,
    });
  }
  throw new UsageError(`nothing to inspect: give --cert FILE or --jwt FILE\n${INSPECT_USAGE}`);
}

/** `spiffe-sidecar inspect`: exit 0 when valid, 1 when invalid, 2 on usage or I/O errors. */
export async function runInspect(argv: readonly string[]): Promise<number> {
  const values = parseInspectArgs(argv);
  if (values.help) {
    process.stdout.write(`${INSPECT_USAGE}\n`);
    return ExitCode.ok;
  }
  const report = await buildReport(values);
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  return report.verdict.valid ? ExitCode.ok : ExitCode.invalid;
}
