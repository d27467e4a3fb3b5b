import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { accessSync, constants, openSync, closeSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { stringify } from "yaml";
import type { InspectReport } from "../../src/sidecar/inspect/report.js";
import { runCli, sidecarBin } from "../support/run-cli.js";

export { sleep };

/** The real SPIFFE programs the interop suites drive; built by the install script, never vendored. */
export type InteropTool = "spire-server" | "spire-agent" | "spiffe-helper" | "go-spiffe-peer";

export const INSTALL_COMMAND = "bash scripts/install-interop-tools.sh";
const DEFAULT_BIN_DIR = join(homedir(), ".cache", "spiffe-sidecar", "interop", "bin");

/** Only a hang should reach it: SPIRE starts in seconds and rotates every few. */
export const INTEROP_TIMEOUT_MS = 30_000;

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `$INTEROP_BIN`, then the install script's cache, then `PATH` (as the script installs there). */
export function findTool(name: InteropTool): string | undefined {
  const dirs = [process.env["INTEROP_BIN"], DEFAULT_BIN_DIR, ...(process.env["PATH"] ?? "").split(delimiter)];
  return dirs.filter((dir): dir is string => dir !== undefined && dir !== "").map((dir) => join(dir, name)).find(isExecutable);
}

export interface ToolSet {
  /** False when every tool is there; else the line a skipped suite shows. */
  readonly skip: string | false;
  path(name: InteropTool): string;
}

export function requireTools(names: readonly InteropTool[]): ToolSet {
  const found = new Map(names.map((name) => [name, findTool(name)] as const));
  const missing = names.filter((name) => found.get(name) === undefined);
  const skip =
    missing.length === 0
      ? false
      : `${missing.join(", ")} not found in $INTEROP_BIN, ${DEFAULT_BIN_DIR} or PATH; install with "${INSTALL_COMMAND}"`;
  return {
    skip,
    path(name) {
      const path = found.get(name);
      if (path === undefined) throw new Error(`${name} is missing; install with "${INSTALL_COMMAND}"`);
      return path;
    },
  };
}

export interface CommandResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to completion and collects its output. */
export function runCommand(file: string, args: readonly string[]): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Polls `probe` until it returns something other than undefined; the limit only catches a hang. */
export async function waitUntil<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = INTEROP_TIMEOUT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** A long-running program whose stdout and stderr go to a log file. */
export class Daemon {
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  #ended = false;

  constructor(readonly name: string, file: string, args: readonly string[], readonly logPath: string) {
    const log = openSync(logPath, "a");
    try {
      this.#child = spawn(file, args, { stdio: ["ignore", log, log] });
    } finally {
      closeSync(log);
    }
    // A program that cannot start reports "error" and never "exit"; either one ends it.
    this.#exited = new Promise((resolve) => {
      this.#child.once("exit", () => resolve());
      this.#child.once("error", () => resolve());
    });
    void this.#exited.then(() => (this.#ended = true));
  }

  get running(): boolean {
    return !this.#ended;
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`; resolves once it has exited. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.#child.kill("SIGTERM");
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** The end of the log, for failure messages. */
  async tail(lines = 20): Promise<string> {
    const text = await readFile(this.logPath, "utf8").catch(() => "");
    return `--- ${this.name} (${this.logPath}) ---\n${text.split("\n").slice(-lines).join("\n")}`;
  }
}

/** A TCP port nobody listens on right now, for a server that cannot bind port 0 and report it. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A temp directory under os.tmpdir() with a short name: Unix socket paths live in it. */
export async function tempDir(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Writes a sidecar YAML config and creates its cert_dir. */
export async function writeSidecarConfig(path: string, config: Readonly<Record<string, unknown>>): Promise<void> {
  const certDir = config["cert_dir"];
  if (typeof certDir === "string") await mkdir(certDir, { recursive: true });
  await writeFile(path, stringify(config));
}

export function startSidecar(configPath: string, logPath: string): Daemon {
  return new Daemon("spiffe-sidecar", process.execPath, [sidecarBin, "run", "-c", configPath], logPath);
}

/** `spiffe-sidecar once -c FILE`, failing with its output when it does not exit 0. */
export async function runSidecarOnce(configPath: string): Promise<void> {
  const result = await runCli(sidecarBin, ["once", "-c", configPath]);
  if (result.code !== 0) throw new Error(`spiffe-sidecar once exited ${String(result.code)}:\n${result.stdout}${result.stderr}`);
}

async function inspect(args: readonly string[]): Promise<InspectReport> {
  const result = await runCli(sidecarBin, ["inspect", ...args, "--json"]);
  // Exit 1 is a verdict (the report says which rule failed); anything else is a usage error.
  if (result.code !== 0 && result.code !== 1) throw new Error(`inspect ${args.join(" ")} exited ${String(result.code)}: ${result.stderr}`);
  return JSON.parse(result.stdout) as InspectReport;
}

/** `spiffe-sidecar inspect --cert --key --bundle --json` on three files. */
export function inspectX509Files(cert: string, key: string, bundle: string): Promise<InspectReport> {
  return inspect(["--cert", cert, "--key", key, "--bundle", bundle]);
}

/** `spiffe-sidecar inspect --jwt --jwt-bundle --audience --json`. */
export function inspectJwtFiles(token: string, bundle: string, audience: string): Promise<InspectReport> {
  return inspect(["--jwt", token, "--jwt-bundle", bundle, "--audience", audience]);
}

async function readAll(dir: string, names: readonly string[]): Promise<Map<string, Buffer> | undefined> {
  try {
    return new Map(await Promise.all(names.map(async (name) => [name, await readFile(join(dir, name))] as const)));
  } catch (error: unknown) {
    if ((error as { code?: unknown }).code === "ENOENT") return undefined;
    throw error;
  }
}

function sameContents(a: ReadonlyMap<string, Buffer>, b: ReadonlyMap<string, Buffer>): boolean {
  return [...a].every(([name, bytes]) => b.get(name)?.equals(bytes) === true);
}

/**
 * The files as one consistent set, copied to `into`. With `write_layout: files` each file is
 * replaced on its own, so a rotation between two reads could pair a new certificate with an
 * old key; two equal reads in a row cannot straddle a rotation.
 */
export async function stableCopy(dir: string, names: readonly string[], into: string): Promise<Map<string, Buffer>> {
  const files = await waitUntil(`a stable read of ${names.join(", ")} in ${dir}`, async () => {
    const first = await readAll(dir, names);
    const second = first === undefined ? undefined : await readAll(dir, names);
    return first !== undefined && second !== undefined && sameContents(first, second) ? first : undefined;
  });
  await mkdir(into, { recursive: true });
  for (const [name, bytes] of files) await writeFile(join(into, name), bytes);
  return files;
}

/** Lower-case hex serial (as inspect prints it) of the first certificate in a PEM file's bytes. */
export function leafSerial(pem: Buffer): string {
  return new X509Certificate(pem).serialNumber.toLowerCase();
}

/** Bytes, mtime and inode of each file: any write, in place or by rename, changes one of them. */
export async function fileStates(dir: string, names: readonly string[]): Promise<Map<string, string>> {
  const states = await Promise.all(
    names.map(async (name) => {
      const path = join(dir, name);
      const [info, bytes] = await Promise.all([stat(path), readFile(path)]);
      return [name, `${info.ino}:${info.mtimeMs}:${bytes.toString("base64")}`] as const;
    }),
  );
  return new Map(states);
}
