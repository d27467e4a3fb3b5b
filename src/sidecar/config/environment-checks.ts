import { constants as fsConstants, type Stats } from "node:fs";
import { access, stat } from "node:fs/promises";
import { createServer } from "node:net";
import { delimiter, dirname, isAbsolute, join, resolve } from "node:path";
import { describeError } from "../../errors.js";
import { systemErrorCode } from "../child/child-exit.js";
import { parseEndpointAddress } from "../../workloadapi/address.js";
import { ConfigError, quote } from "./config-error.js";
import type { SidecarConfig } from "./sidecar-config.js";

/**
 * What `run` needs from the machine beyond a well-formed file: its directories, its programs
 * and its health listener address. `validate`, `run` and `once` all call this, so `validate`
 * refuses what `run` would fail on. It reads the file system and may bind a port 0 for an
 * instant; it never writes.
 */

/** libuv's search path when PATH is unset, as glibc's `_PATH_DEFPATH`. */
const DEFAULT_SEARCH_PATH = "/usr/bin:/bin";

function problem(config: SidecarConfig, key: string, text: string, fix: string, cause?: unknown): ConfigError {
  return new ConfigError({ file: config.sourceFile, key, problem: text, fix }, { cause });
}

async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (error: unknown) {
    if (systemErrorCode(error) === "ENOENT" || systemErrorCode(error) === "ENOTDIR") return undefined;
    throw error;
  }
}

/** The nearest existing ancestor of a missing path, which a `mkdir -p` would start from. */
async function nearestExisting(path: string): Promise<{ path: string; stats: Stats }> {
  let current = path;
  let stats = await statOrUndefined(current);
  while (stats === undefined && dirname(current) !== current) {
    current = dirname(current);
    stats = await statOrUndefined(current);
  }
  return { path: current, stats: stats ?? (await stat(current)) };
}

async function isWritableDirectory(path: string): Promise<boolean> {
  try {
    await access(path, fsConstants.W_OK | fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * A directory the sidecar writes into: it must exist, or be one it creates (no `missingFix`),
 * in which case its nearest existing ancestor must let it.
 */
async function checkDirectory(
  config: SidecarConfig,
  key: string,
  path: string,
  missingFix: string | undefined,
): Promise<void> {
  const stats = await statOrUndefined(path);
  if (stats !== undefined) {
    if (!stats.isDirectory()) {
      throw problem(config, key, `${quote(path)} is not a directory`, "point it at a directory");
    }
    if (!(await isWritableDirectory(path))) {
      const uid = process.getuid?.() ?? "?";
      throw problem(config, key, `${quote(path)} is not writable by uid ${uid}`, "fix its owner or mode");
    }
    return;
  }
  if (missingFix !== undefined) throw problem(config, key, `${quote(path)} does not exist`, missingFix);
  const ancestor = await nearestExisting(path);
  if (!ancestor.stats.isDirectory() || !(await isWritableDirectory(ancestor.path))) {
    throw problem(
      config,
      key,
      `${quote(path)} does not exist and cannot be created in ${quote(ancestor.path)}`,
      "create it, or fix the path",
    );
  }
}

const CERT_DIR_FIX =
  "create it, or drop create_cert_dir: false to have the sidecar create it (mode 0755)";

async function checkOutputDirectories(config: SidecarConfig): Promise<void> {
  await checkDirectory(
    config,
    "cert_dir",
    config.certDir,
    config.createCertDir ? undefined : CERT_DIR_FIX,
  );
  if (config.federatedBundleDir !== undefined) {
    // Ours to manage, so created on the first write (mode 0755).
    await checkDirectory(config, "federated_bundle_dir", config.federatedBundleDir, undefined);
  }
  const files: [string, string | undefined][] = [
    ["svid_file_name", config.svidFileName],
    ["svid_key_file_name", config.svidKeyFileName],
    ["svid_bundle_file_name", config.svidBundleFileName],
    ["jwt_bundle_file_name", config.jwtBundleFileName],
    ...config.jwtSvids.map((entry, index): [string, string] => [
      `jwt_svids[${index}].jwt_svid_file_name`,
      entry.fileName,
    ]),
    ["combined_pem_file_name", config.combinedPemFileName],
    ["pkcs12_keystore_file_name", config.pkcs12KeystoreFileName],
    ["pkcs12_truststore_file_name", config.pkcs12TruststoreFileName],
  ];
  for (const [key, path] of files) {
    if (path === undefined || dirname(path) === config.certDir) continue;
    await checkDirectory(config, key, dirname(path), "create its directory, or write the file directly in cert_dir");
  }
}

async function isExecutableFile(path: string): Promise<"yes" | "not-executable" | "absent"> {
  const stats = await statOrUndefined(path).catch(() => undefined);
  if (stats === undefined || !stats.isFile()) return "absent";
  try {
    await access(path, fsConstants.X_OK);
    return "yes";
  } catch {
    return "not-executable";
  }
}

/** Finds `program` as spawn will: a name with a slash from the working directory, else on PATH. */
async function checkProgram(
  config: SidecarConfig,
  key: string,
  program: string,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  if (program.includes("/")) {
    const found = await isExecutableFile(isAbsolute(program) ? program : resolve(program));
    if (found === "absent") {
      throw problem(config, key, `${quote(program)} does not exist`, "give the path of the program");
    }
    if (found === "not-executable") {
      throw problem(config, key, `${quote(program)} is not executable`, `chmod +x ${program}`);
    }
    return;
  }
  const searchPath = env["PATH"] ?? DEFAULT_SEARCH_PATH;
  let notExecutable: string | undefined;
  for (const directory of searchPath.split(delimiter)) {
    const candidate = join(directory === "" ? "." : directory, program);
    const found = await isExecutableFile(candidate);
    if (found === "yes") return;
    if (found === "not-executable") notExecutable ??= candidate;
  }
  if (notExecutable !== undefined) {
    const found = `${quote(program)} was found as ${notExecutable}, which is not executable`;
    throw problem(config, key, found, `chmod +x ${notExecutable}`);
  }
  const fix = "give its absolute path, or add its directory to PATH";
  throw problem(config, key, `${quote(program)} is not on PATH (${searchPath})`, fix);
}

/** A missing socket is only a warning: the agent may start after the sidecar, and run waits for it. */
async function agentSocketWarning(config: SidecarConfig): Promise<string | undefined> {
  const address = parseEndpointAddress(config.agentAddress);
  if (address.kind !== "unix") return undefined;
  let stats: Stats | undefined;
  try {
    stats = await statOrUndefined(address.path);
  } catch (error: unknown) {
    return `the agent socket ${address.path} cannot be checked (${systemErrorCode(error) ?? describeError(error)})`;
  }
  if (stats === undefined) {
    return `the agent socket ${address.path} does not exist yet; the sidecar will wait for the agent to create it`;
  }
  if (!stats.isSocket()) return `the agent address ${address.path} exists but is not a socket`;
  return undefined;
}

/**
 * Binds port 0 on the address for an instant: a name that does not resolve or an address that
 * is not this host's fails here, as it would when `run` binds the real port.
 */
function tryBind(host: string): Promise<void> {
  return new Promise((resolveBind, rejectBind) => {
    const server = createServer();
    server.once("error", rejectBind);
    server.listen({ host, port: 0, exclusive: true }, () => server.close(() => resolveBind()));
  });
}

async function checkBindAddress(config: SidecarConfig): Promise<void> {
  const { listenerEnabled, bindAddress } = config.healthChecks;
  if (!listenerEnabled || !config.daemonMode || bindAddress === undefined) return;
  try {
    await tryBind(bindAddress);
  } catch (error: unknown) {
    const code = systemErrorCode(error);
    const why =
      code === "ENOTFOUND" || code === "EAI_AGAIN"
        ? "does not resolve"
        : code === "EADDRNOTAVAIL"
          ? "is not an address of this host"
          : `cannot be bound (${code ?? describeError(error)})`;
    throw problem(
      config,
      "health_checks.bind_address",
      `${quote(bindAddress)} ${why}`,
      "give an IP address or host name of this machine, or remove bind_address to listen on every interface",
      error,
    );
  }
}

/**
 * Checks the configuration against this machine as `run` needs it. Throws a `ConfigError`
 * naming the key for what would make `run` fail; returns warnings for what may still change.
 */
export async function checkConfigEnvironment(
  config: SidecarConfig,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string[]> {
  await checkOutputDirectories(config);
  if (config.daemonMode) {
    if (config.cmd !== undefined) await checkProgram(config, "cmd", config.cmd, env);
    if (config.execHook !== undefined) await checkProgram(config, "exec_hook.cmd", config.execHook.cmd, env);
  }
  await checkBindAddress(config);
  const socketWarning = await agentSocketWarning(config);
  return socketWarning === undefined ? [] : [socketWarning];
}
