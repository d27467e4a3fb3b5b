import { parseArgs } from "node:util";
import { effectiveConfigYaml, loadConfigFile } from "../sidecar/config/index.js";
import { runSidecar } from "../sidecar/daemon/run-sidecar.js";
import { createLogger } from "../sidecar/logger.js";
import { ExitCode } from "./exit-codes.js";
import { UsageError } from "./usage-error.js";

export type ConfigCommand = "run" | "once" | "validate";

const USAGE =
  "usage: spiffe-sidecar run -c FILE [--daemon-mode=false]\n" +
  "       spiffe-sidecar once -c FILE\n" +
  "       spiffe-sidecar validate -c FILE\n" +
  "       spiffe-sidecar -config FILE [-daemon-mode=false]   (spiffe-helper's flags)";

/** spiffe-helper's Go flags use one dash (`-config`, `-daemon-mode=false`); accept them as given. */
function normalizeGoFlags(argv: readonly string[]): string[] {
  return argv.map((arg) => (/^-(config|daemon-mode)(=|$)/.test(arg) ? `-${arg}` : arg));
}

function parseDaemonMode(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === "true" || value === "") return true;
  if (value === "false") return false;
  throw new UsageError(`--daemon-mode must be true or false, not "${value}"\n${USAGE}`);
}

function parseCommandArgs(argv: readonly string[]): { configPath: string; daemonMode: boolean | undefined } {
  let values;
  try {
    values = parseArgs({
      args: normalizeGoFlags(argv),
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: "string", short: "c" },
        "daemon-mode": { type: "string" },
      },
    }).values;
  } catch (error: unknown) {
    throw new UsageError(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
  }
  if (values.config === undefined) throw new UsageError(`the configuration file is required: -c FILE\n${USAGE}`);
  return { configPath: values.config, daemonMode: parseDaemonMode(values["daemon-mode"]) };
}

/** `run`, `once` and `validate`: load the config (exit 2 on any problem), then act on it. */
export async function runConfigCommand(command: ConfigCommand, argv: readonly string[]): Promise<number> {
  const { configPath, daemonMode } = parseCommandArgs(argv);
  const config = await loadConfigFile(configPath, process.env, {
    ...(command === "once" ? { daemonMode: false } : daemonMode === undefined ? {} : { daemonMode }),
  });
  if (command === "validate") {
    process.stdout.write(effectiveConfigYaml(config));
    for (const warning of config.warnings) process.stderr.write(`warning: ${warning}\n`);
    return ExitCode.ok;
  }
  const logger = await createLogger(config.logLevel);
  for (const warning of config.warnings) logger.warn(warning);
  return runSidecar({ config, logger });
}
