import { readFile } from "node:fs/promises";
import { ConfigError } from "./config-error.js";
import { parseConfig, type ParseConfigOptions } from "./parse-config.js";
import type { SidecarConfig } from "./sidecar-config.js";

function describeReadError(error: unknown): string {
  const code = error instanceof Error && "code" in error ? String(error.code) : undefined;
  switch (code) {
    case "ENOENT":
      return "no such file";
    case "EACCES":
      return "permission denied";
    case "EISDIR":
      return "it is a directory";
    default:
      return code ?? (error instanceof Error ? error.message : String(error));
  }
}

/** Reads and parses a configuration file; every failure, a missing file included, is a `ConfigError`. */
export async function loadConfigFile(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
  options: ParseConfigOptions = {},
): Promise<SidecarConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error: unknown) {
    throw new ConfigError(
      {
        file: path,
        key: "",
        problem: `cannot read the configuration file: ${describeReadError(error)}`,
        fix: "pass its path with -c FILE",
      },
      { cause: error },
    );
  }
  return parseConfig(text, path, env, options);
}
