import { ConfigError, effectiveConfigYaml, loadConfigFile, type SidecarConfig } from "../sidecar/config/index.js";
import { checkConfigEnvironment } from "../sidecar/config/environment-checks.js";
import { systemErrorCode } from "../sidecar/child/child-exit.js";
import { runSidecar } from "../sidecar/daemon/run-sidecar.js";
import { createLogger } from "../sidecar/logger.js";
import { ExitCode } from "./exit-codes.js";

export type ConfigCommand = "run" | "once" | "validate";

export interface ConfigCommandOptions {
  /** `-config FILE`; spiffe-helper's default is `helper.conf` in the working directory. */
  readonly configPath?: string;
  /** `-daemon-mode`; wins over the file's `daemon_mode`, as in spiffe-helper. */
  readonly daemonMode?: boolean;
}

/** spiffe-helper's `-config` default. */
const DEFAULT_CONFIG_PATH = "helper.conf";

/**
 * Loads the file; a missing default file says that no -config was given, since a user who
 * typed no path has no reason to expect ./helper.conf to be read.
 */
async function loadConfig(command: ConfigCommand, options: ConfigCommandOptions): Promise<SidecarConfig> {
  const daemonMode = command === "once" ? false : options.daemonMode;
  try {
    return await loadConfigFile(options.configPath ?? DEFAULT_CONFIG_PATH, process.env, {
      ...(daemonMode === undefined ? {} : { daemonMode }),
    });
  } catch (error: unknown) {
    if (options.configPath !== undefined || !(error instanceof ConfigError) || systemErrorCode(error.cause) !== "ENOENT") throw error;
    throw new ConfigError(
      {
        file: DEFAULT_CONFIG_PATH,
        key: "",
        problem:
          "cannot read the configuration file: no such file " +
          `(no -config was given, so ${DEFAULT_CONFIG_PATH} in ${process.cwd()} was tried, as spiffe-helper does)`,
        fix: 'pass the file with -config FILE; "spiffe-sidecar -help" shows the usage',
      },
      { cause: error },
    );
  }
}

/**
 * `run`, `once` and `validate`: load the config and check it against the machine as `run`
 * would (exit 2 naming the key on any problem), then act on it.
 */
export async function runConfigCommand(command: ConfigCommand, options: ConfigCommandOptions): Promise<number> {
  const config = await loadConfig(command, options);
  const warnings = [...config.warnings, ...(await checkConfigEnvironment(config))];
  if (command === "validate") {
    process.stdout.write(effectiveConfigYaml(config));
    for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
    return ExitCode.ok;
  }
  const logger = await createLogger(config.logLevel);
  for (const warning of warnings) logger.warn(warning);
  return runSidecar({ config, logger });
}
