#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { describeError } from "../errors.js";
import { ExitCode } from "./exit-codes.js";
import { UsageError } from "./usage-error.js";

const HELP = `spiffe-sidecar: SPIFFE workload identity for unmodified applications

Usage:
  spiffe-sidecar run -c config.yaml [--daemon-mode=false]
  spiffe-sidecar once -c config.yaml
  spiffe-sidecar validate -c config.yaml
  spiffe-sidecar inspect --cert FILE [--key FILE] [--bundle FILE] [--at ISO-TIME] [--json]
  spiffe-sidecar inspect --jwt FILE --jwt-bundle FILE --audience AUD [--at ISO-TIME] [--json]
  spiffe-sidecar --help | --version

Commands:
  run       keep the identity files fresh and tell the application (daemon_mode: false = once)
  once      write every output once, then exit 0 (init containers, CI)
  validate  print the effective configuration with every default, or the error
  demo      run the sidecar against an embedded fake agent, writing into ./demo/
  inspect   check SVID files on disk against the SPIFFE rules and print what they hold

Exit codes:
  0  success; inspect: valid
  1  runtime failure (agent refused us, one-shot timeout, cmd cannot start);
     inspect: the identity is invalid (the message names the rule that failed)
  2  usage, configuration or I/O error
  N  run with cmd: the child's own exit status (128+n when a signal ended it)
  (spiffe-helper's "-config FILE" and "-daemon-mode=false" are accepted too)
`;

function readVersion(): string {
  const packageJson: unknown = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
  if (typeof packageJson === "object" && packageJson !== null && "version" in packageJson) {
    return String(packageJson.version);
  }
  return "unknown";
}

// Each command loads only its own modules: the demo brings the fake agent and inspect its
// reports, which would otherwise add to every sidecar's start-up time and memory.
const runInspect = async (argv: readonly string[]): Promise<number> => (await import("./inspect.js")).runInspect(argv);
const runDemo = async (argv: readonly string[]): Promise<number> => (await import("./demo.js")).runDemo(argv);
const runConfigCommand = async (...args: Parameters<typeof import("./run-command.js").runConfigCommand>): Promise<number> =>
  (await import("./run-command.js")).runConfigCommand(...args);

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
    case "demo":
      return runDemo(rest);
    case "run":
    case "once":
    case "validate":
      return runConfigCommand(command, rest);
    case "-config":
    case "--config":
    case "-c":
      return runConfigCommand("run", argv);
    default:
      if (/^--?config=/.test(command)) return runConfigCommand("run", argv);
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
