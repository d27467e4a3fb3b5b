#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { describeError } from "../errors.js";
import { ExitCode } from "./exit-codes.js";
import { runInspect } from "./inspect.js";
import { UsageError } from "./usage-error.js";

const HELP = `spiffe-sidecar: SPIFFE workload identity for unmodified applications

Usage:
  spiffe-sidecar inspect --cert FILE [--key FILE] [--bundle FILE] [--at ISO-TIME] [--json]
  spiffe-sidecar inspect --jwt FILE --jwt-bundle FILE --audience AUD [--at ISO-TIME] [--json]
  spiffe-sidecar --help | --version

Commands:
  inspect   check SVID files on disk against the SPIFFE rules and print what they hold

Exit codes:
  0  valid / success
  1  the identity is invalid (the message names the rule that failed)
  2  usage, configuration or I/O error
`;

function readVersion(): string {
  const packageJson: unknown = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
  if (typeof packageJson === "object" && packageJson !== null && "version" in packageJson) {
    return String(packageJson.version);
  }
  return "unknown";
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case "--help":
    case "-h":
    case "help":
      process.stdout.write(HELP);
      return command === undefined ? ExitCode.usage : ExitCode.ok;
    case "--version":
    case "-v":
      process.stdout.write(`${readVersion()}\n`);
      return ExitCode.ok;
    case "inspect":
      return runInspect(rest);
    default:
      throw new UsageError(`unknown command "${command}"; run "spiffe-sidecar --help" for the list`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // One line, never a stack trace: the user needs the reason, not our internals.
    process.stderr.write(`spiffe-sidecar: ${describeError(error)}\n`);
    process.exitCode = ExitCode.usage;
  },
);
