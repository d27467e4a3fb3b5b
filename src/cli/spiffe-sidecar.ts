#!/usr/bin/env node
import { describeError } from "../errors.js";
import { ExitCode } from "./exit-codes.js";
import { HELPER_FLAGS, parseGoFlags, withoutFlags, type FlagSpecs, type FlagValues } from "./go-flags.js";
import type { ConfigCommand, ConfigCommandOptions } from "./run-command.js";
import { DEMO_USAGE, MAIN_HELP, ONCE_USAGE, RUN_USAGE, VALIDATE_USAGE } from "./usage-text.js";
import { UsageError } from "./usage-error.js";
import { readVersion } from "./version.js";

const HELP_FLAGS = ["-h", "-help", "--help"];

const COMMAND_FLAGS: Readonly<Record<ConfigCommand, { flags: FlagSpecs; usage: string }>> = {
  run: { flags: withoutFlags(HELPER_FLAGS, "version"), usage: RUN_USAGE },
  once: { flags: withoutFlags(HELPER_FLAGS, "version", "daemon-mode"), usage: ONCE_USAGE },
  validate: { flags: withoutFlags(HELPER_FLAGS, "version"), usage: VALIDATE_USAGE },
};

/** Go's flag package prints the error, then the usage; so do we (on stderr, exit 2). */
function readFlags(argv: readonly string[], flags: FlagSpecs, usage: string): FlagValues {
  try {
    return parseGoFlags(argv, flags);
  } catch (error: unknown) {
    if (error instanceof UsageError) throw new UsageError(`${error.message}\n${usage.trimEnd()}`, { cause: error });
    throw error;
  }
}

function commandOptions(values: FlagValues): ConfigCommandOptions {
  const config = values.get("config");
  const daemonMode = values.get("daemon-mode");
  return {
    ...(typeof config === "string" ? { configPath: config } : {}),
    ...(typeof daemonMode === "boolean" ? { daemonMode } : {}),
  };
}

// Each command loads only its own modules: the demo brings the fake agent and inspect its
// reports, which would otherwise add to every sidecar's start-up time and memory.
const runInspect = async (argv: readonly string[]): Promise<number> => (await import("./inspect.js")).runInspect(argv);
const runDemo = async (argv: readonly string[]): Promise<number> => (await import("./demo.js")).runDemo(argv);
const runConfigCommand = async (command: ConfigCommand, options: ConfigCommandOptions): Promise<number> =>
  (await import("./run-command.js")).runConfigCommand(command, options);

function print(text: string): number {
  process.stdout.write(text);
  return ExitCode.ok;
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "help":
      return print(MAIN_HELP);
    case "inspect":
      return runInspect(rest);
    case "demo":
      return rest.some((arg) => HELP_FLAGS.includes(arg)) ? print(DEMO_USAGE) : runDemo(rest);
    case "run":
    case "once":
    case "validate": {
      const { flags, usage } = COMMAND_FLAGS[command];
      const values = readFlags(rest, flags, usage);
      return values.get("help") === true ? print(usage) : runConfigCommand(command, commandOptions(values));
    }
    default: {
      if (command !== undefined && !command.startsWith("-")) {
        throw new UsageError(`unknown command "${command}"; run "spiffe-sidecar --help" for the list`);
      }
      // No command: spiffe-helper's command line, where no arguments at all reads ./helper.conf.
      const values = readFlags(argv, HELPER_FLAGS, 'run "spiffe-sidecar -help" for the usage');
      if (values.get("help") === true) return print(MAIN_HELP);
      // As in spiffe-helper, -version wins over every other flag.
      if (values.get("version") === true) return print(`${readVersion()}\n`);
      return runConfigCommand("run", commandOptions(values));
    }
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
