import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { ConfigError } from "./config-error.js";
import { parseConfig, type ParseConfigOptions } from "./parse-config.js";
import type { SidecarConfig } from "./sidecar-config.js";

/** The largest configuration file read; spiffe-helper's are a few hundred bytes. */
export const MAX_CONFIG_FILE_BYTES = 1024 * 1024;

/** A failure to read the file; its message is the problem, and the fix is always the same. */
class UnreadableConfig extends Error {}

function describeReadError(error: unknown): string {
  if (error instanceof UnreadableConfig) return error.message;
  const code = error instanceof Error && "code" in error ? String(error.code) : undefined;
  switch (code) {
    case "ENOENT":
      return "no such file";
    case "EACCES":
      return "permission denied";
    case "EISDIR":
      return "it is a directory";
    case "ENXIO":
      return "it is a socket, not a regular file";
    default:
      return code ?? (error instanceof Error ? error.message : String(error));
  }
}

function kindOf(stats: { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean }): string {
  if (stats.isDirectory()) return "it is a directory";
  if (stats.isFIFO()) return "it is a FIFO, not a regular file (reading it could wait forever)";
  if (stats.isSocket()) return "it is a socket, not a regular file";
  return "it is a device, not a regular file (reading it could wait forever or never end)";
}

/**
 * Reads a regular file of at most MAX_CONFIG_FILE_BYTES as UTF-8. Opened non-blocking and
 * checked with fstat on the open descriptor, so a FIFO or device is refused instead of waiting
 * on it, and a file that grows while read is still bounded.
 */
async function readConfigText(path: string): Promise<string> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new UnreadableConfig(kindOf(stats));
    const buffer = Buffer.alloc(Math.min(stats.size, MAX_CONFIG_FILE_BYTES) + 1);
    let length = 0;
    let bytesRead = -1;
    while (bytesRead !== 0 && length < buffer.length) {
      ({ bytesRead } = await handle.read(buffer, length, buffer.length - length, length));
      length += bytesRead;
    }
    if (length > MAX_CONFIG_FILE_BYTES || stats.size > MAX_CONFIG_FILE_BYTES) {
      throw new UnreadableConfig(
        `it is larger than ${MAX_CONFIG_FILE_BYTES} bytes (1 MiB), the limit for a configuration`,
      );
    }
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(buffer.subarray(0, length));
    } catch {
      throw new UnreadableConfig("it is not UTF-8 text");
    }
  } finally {
    await handle.close();
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
    text = await readConfigText(path);
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
