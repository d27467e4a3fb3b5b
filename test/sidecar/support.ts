import { spawn } from "node:child_process";
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import type { ChildProcess, StdioOptions } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { stringify } from "yaml";
import { startFakeAgent } from "../../src/fakeagent/server.js";
import type { FakeAgent } from "../../src/fakeagent/server.js";
import type { FakeAgentOptions } from "../../src/fakeagent/options.js";
import { inspectX509Svid } from "../../src/sidecar/inspect/x509-report.js";
import type { InspectReport } from "../../src/sidecar/inspect/report.js";
import { EVENT_TIMEOUT_MS, exitOf, waitFor } from "../fixtures/fixture-helpers.js";
import { parseExposition } from "../fixtures/prometheus-parser.js";
import { sidecarBin } from "../support/run-cli.js";

export { EVENT_TIMEOUT_MS, waitFor };

export const WORKLOAD_ID = "spiffe://example.org/app";

/** A scratch directory with an empty `certs/` in it, removed after the test. */
export interface Scratch {
  readonly dir: string;
  readonly certDir: string;
  /** A path in `dir`. */
  file(name: string): string;
  /** A path in `certDir`. */
  cert(name: string): string;
}

const cleanups = new WeakMap<TestContext, (() => Promise<void>)[]>();

/**
 * Runs `cleanup` after the test, last registered first: the sidecar is killed before its agent
 * stops, and both before their directory is removed.
 */
export function onCleanup(t: TestContext, cleanup: () => Promise<void>): void {
  let stack = cleanups.get(t);
  if (stack === undefined) {
    const created: (() => Promise<void>)[] = [];
    stack = created;
    cleanups.set(t, created);
    t.after(async () => {
      for (const next of created.reverse()) await next();
    });
  }
  stack.push(cleanup);
}

/** Kept under os.tmpdir() with a short prefix: the agent socket lives here (108-byte limit). */
export async function scratch(t: TestContext): Promise<Scratch> {
  const dir = await mkdtemp(join(tmpdir(), "sc-"));
  onCleanup(t, () => rm(dir, { recursive: true, force: true }));
  const certDir = join(dir, "certs");
  await mkdir(certDir);
  return { dir, certDir, file: (name) => join(dir, name), cert: (name) => join(certDir, name) };
}

/** Another scratch inside `parent`, e.g. one cert_dir per sidecar sharing an agent. */
export async function subScratch(parent: Scratch, name: string): Promise<Scratch> {
  const dir = join(parent.dir, name);
  const certDir = join(dir, "certs");
  await mkdir(certDir, { recursive: true });
  return { dir, certDir, file: (file) => join(dir, file), cert: (file) => join(certDir, file) };
}

export type TestAgentOptions = Partial<Omit<FakeAgentOptions, "socketPath">>;

/** A fake agent for example.org issuing WORKLOAD_ID on `<dir>/agent.sock`, stopped after the test. */
export async function startAgent(t: TestContext, where: Scratch, options: TestAgentOptions = {}): Promise<FakeAgent> {
  const agent = await startFakeAgent({
    trustDomain: "example.org",
    identities: [{ spiffeId: WORKLOAD_ID }],
    x509TtlSeconds: 3,
    jwtTtlSeconds: 4,
    ...options,
    socketPath: where.file("agent.sock"),
  });
  onCleanup(t, () => agent.stop());
  return agent;
}

/** The usual X.509 outputs, relative to cert_dir. */
export const X509_FILES = {
  svid_file_name: "svid.pem",
  svid_key_file_name: "svid_key.pem",
  svid_bundle_file_name: "svid_bundle.pem",
} as const;

/** Writes `sidecar.yaml` (snake_case keys as a user writes them) and returns its path. */
export async function writeConfig(where: Scratch, config: Record<string, unknown>, name = "sidecar.yaml"): Promise<string> {
  const path = where.file(name);
  await writeFile(path, stringify(config));
  return path;
}

/** The base of most configs: the agent, cert_dir and a log level that shows every write. */
export function baseConfig(agent: FakeAgent, where: Scratch): Record<string, unknown> {
  return { agent_address: agent.address, cert_dir: where.certDir, log_level: "info" };
}

/** One pino line of the sidecar's stdout; anything that is not JSON is kept as `raw`. */
export interface LogLine {
  readonly level?: string;
  readonly msg?: string;
  readonly raw?: string;
  /** Fields the tests read: what caused a write, a rejection's reason, a stream's method and status. */
  readonly cause?: unknown;
  readonly changed?: unknown;
  readonly reason?: unknown;
  readonly method?: unknown;
  readonly status?: unknown;
  readonly notifier?: unknown;
  readonly url?: unknown;
  readonly [field: string]: unknown;
}

export type LogPredicate = (line: LogLine) => boolean;

/** Log lines the tests key on, by their pino message. */
export const isUpdate: LogPredicate = (line) => line.msg === "identity files updated";
/** An "identity files updated" line whose `changed` list holds `path`. */
export const wrote =
  (path: string): LogPredicate =>
  (line) =>
    isUpdate(line) && Array.isArray(line.changed) && line.changed.includes(path);
export const toldApp =
  (notifier: "signal-child" | "pid-file" | "exec-hook" | "restart-child"): LogPredicate =>
  (line) =>
    line.notifier === notifier && typeof line.msg === "string" && line.msg.startsWith("told the app");

/**
 * The built sidecar (`node dist/bin/spiffe-sidecar.js`) as a real child process: its JSON log
 * lines are parsed as they arrive, and every wait fails early, with the log, if it exits.
 */
export class SidecarProcess {
  readonly process: ChildProcess;
  readonly logs: LogLine[] = [];
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #partial = "";

  constructor(args: readonly string[], options: SpawnSidecarOptions) {
    const env = { PATH: process.env["PATH"], ...options.env };
    const stdio: StdioOptions = ["ignore", "pipe", "pipe"];
    // `exec` keeps the PID, so signals still reach the sidecar itself.
    this.process =
      options.umask === undefined
        ? spawn(process.execPath, [sidecarBin, ...args], { env, stdio })
        : spawn("/bin/sh", ["-c", `umask ${options.umask} && exec "$0" "$@"`, process.execPath, sidecarBin, ...args], { env, stdio });
    this.process.stdout?.setEncoding("utf8").on("data", (chunk: string) => this.#onStdout(chunk));
    this.process.stderr?.setEncoding("utf8").on("data", (chunk: string) => (this.stderr += chunk));
    this.exited = exitOf(this.process);
  }

  #onStdout(chunk: string): void {
    const lines = (this.#partial + chunk).split("\n");
    this.#partial = lines.pop() ?? "";
    for (const text of lines) {
      if (text === "") continue;
      try {
        this.logs.push(JSON.parse(text) as LogLine);
      } catch {
        this.logs.push({ raw: text });
      }
    }
  }

  get pid(): number {
    const pid = this.process.pid;
    if (pid === undefined) throw new Error("the sidecar did not start");
    return pid;
  }

  get hasExited(): boolean {
    return this.process.exitCode !== null || this.process.signalCode !== null;
  }

  count(predicate: LogPredicate): number {
    return this.logs.filter(predicate).length;
  }

  /** The last lines of the log, for failure messages. */
  tail(lines = 25): string {
    return [...this.logs.slice(-lines).map((line) => JSON.stringify(line)), this.stderr].join("\n");
  }

  /** Waits until `count` lines match; returns the matching lines. */
  async waitForLog(what: string, predicate: LogPredicate, count = 1, timeoutMs = EVENT_TIMEOUT_MS): Promise<LogLine[]> {
    try {
      return await waitFor(
        `${count} × ${what}`,
        () => {
          const matches = this.logs.filter(predicate);
          if (matches.length >= count) return matches;
          if (this.hasExited) throw new Error(`the sidecar exited (${String(this.process.exitCode ?? this.process.signalCode)}) before ${count} × ${what}`);
          return undefined;
        },
        timeoutMs,
      );
    } catch (error: unknown) {
      throw new Error(`${error instanceof Error ? error.message : String(error)}\n--- sidecar log ---\n${this.tail()}`);
    }
  }

  /** Waits for the first line matching `predicate` after the first `after` lines. */
  async waitForLogAfter(what: string, after: number, predicate: LogPredicate): Promise<LogLine> {
    const [line] = await this.waitForLog(what, (candidate) => this.logs.indexOf(candidate) >= after && predicate(candidate));
    if (line === undefined) throw new Error(`no ${what}`);
    return line;
  }

  /** The health listener's base URL, from the "health listener started" line (bind_port 0). */
  async healthUrl(): Promise<string> {
    const [line] = await this.waitForLog("the health listener", (entry) => entry.msg === "health listener started");
    if (typeof line?.url !== "string") throw new Error("the health listener line has no url");
    return line.url;
  }

  /**
   * After a test: SIGTERM, so a supervised child is stopped too; SIGKILL if that hangs; then
   * any child it left (a grandchild holding our stdout pipe would keep the runner alive).
   */
  async dispose(): Promise<void> {
    if (!this.hasExited) {
      this.process.kill("SIGTERM");
      const timer = setTimeout(() => this.process.kill("SIGKILL"), 5_000);
      await this.exited;
      clearTimeout(timer);
    }
    for (const line of this.logs) {
      const pid = line["pid"];
      if (line.msg !== "child started" || typeof pid !== "number") continue;
      // Only a process that still runs one of our fixtures: never a stranger that reused the PID.
      const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
      if (cmdline.includes("/test/fixtures/")) process.kill(pid, "SIGKILL");
    }
    this.process.stdout?.destroy();
    this.process.stderr?.destroy();
  }

  /** Sends `signal` (SIGTERM by default) and waits for the exit. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.hasExited) this.process.kill(signal);
    return this.exited;
  }
}

export interface SpawnSidecarOptions {
  /** Added to a minimal environment (PATH only), so the runner's SPIFFE_ENDPOINT_SOCKET never leaks in. */
  readonly env?: NodeJS.ProcessEnv;
  /** Run under this umask (octal text), to show that modes do not depend on it. */
  readonly umask?: string;
}

/** Spawns `spiffe-sidecar <args>`; it is killed after the test if still running. */
export function spawnSidecar(t: TestContext, args: readonly string[], options: SpawnSidecarOptions = {}): SidecarProcess {
  const sidecar = new SidecarProcess(args, options);
  onCleanup(t, () => sidecar.dispose());
  return sidecar;
}

/** `spiffe-sidecar run -c <config>`. */
export function runSidecar(t: TestContext, configPath: string, options: SpawnSidecarOptions = {}): SidecarProcess {
  return spawnSidecar(t, ["run", "-c", configPath], options);
}

/**
 * An agent and a sidecar writing `X509_FILES` with its health listener on, once the first
 * write is on disk: the start the fault and agent-loss tests share.
 */
export async function startWithHealth(
  t: TestContext,
  where: Scratch,
  agentOptions: TestAgentOptions,
): Promise<{ agent: FakeAgent; sidecar: SidecarProcess; url: string }> {
  const agent = await startAgent(t, where, agentOptions);
  const config = await writeConfig(where, {
    ...baseConfig(agent, where),
    ...X509_FILES,
    health_checks: { listener_enabled: true, bind_port: 0 },
  });
  const sidecar = runSidecar(t, config);
  const url = await sidecar.healthUrl();
  await sidecar.waitForLog("the first write", isUpdate);
  return { agent, sidecar, url };
}

/** The bundle, cert and key as one complete set, read by `readX509Files`. */
export interface X509Files {
  readonly cert: string;
  readonly key: string;
  readonly bundle: string;
}

/** In the order the `files` layout renames them (render-outputs.ts): bundle, cert, key. */
async function readX509Once(where: Scratch): Promise<X509Files> {
  const bundle = await readFile(where.cert(X509_FILES.svid_bundle_file_name), "utf8");
  const cert = await readFile(where.cert(X509_FILES.svid_file_name), "utf8");
  const key = await readFile(where.cert(X509_FILES.svid_key_file_name), "utf8");
  return { cert, key, bundle };
}

/** Whether the key is the private half of the leaf's public key. */
function keyMatchesLeaf(files: X509Files): boolean {
  const leafKey = new X509Certificate(files.cert).publicKey.export({ type: "spki", format: "der" });
  const ownKey = createPublicKey(createPrivateKey(files.key)).export({ type: "spki", format: "der" });
  return leafKey.equals(ownKey);
}

/**
 * The `files` layout replaces each file on its own (only `directory` swaps them together), so
 * a reader racing a rotation can, for a moment, pair a new cert with an old key; an app reloads
 * on the renew signal, after the last rename. This waits for a settled set: two reads in a row
 * that agree and whose key matches the leaf. A set that never matches times out.
 */
export function readX509Files(where: Scratch): Promise<X509Files> {
  return waitFor("a settled, matching set of X.509 files", async () => {
    const first = await readX509Once(where);
    const second = await readX509Once(where);
    const agree = first.cert === second.cert && first.key === second.key && first.bundle === second.bundle;
    return agree && keyMatchesLeaf(first) ? first : undefined;
  });
}

/** Runs `inspect` in-process on a written set: X.509-SVID rules, key match and chain to the bundle. */
export function inspectX509(files: X509Files, now: Date = new Date()): InspectReport {
  return inspectX509Svid({ certificatesPem: files.cert, privateKeyPem: files.key, bundlePem: files.bundle, now });
}

/** The samples of one metric family from `/metrics`, parsed strictly. */
export async function metricSamples(baseUrl: string, name: string): Promise<{ labels: Readonly<Record<string, string>>; value: number }[]> {
  const response = await fetch(`${baseUrl}/metrics`);
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  return parseExposition(await response.text()).get(name)?.samples ?? [];
}

/** `spiffe_sidecar_rejected_updates_total{reason="<reason>"}`. */
export async function rejectedCount(baseUrl: string, reason: string): Promise<number> {
  const samples = await metricSamples(baseUrl, "spiffe_sidecar_rejected_updates_total");
  return samples.find((sample) => sample.labels["reason"] === reason)?.value ?? 0;
}

/** The status code and JSON body of a health path. */
export async function probe(baseUrl: string, path: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${baseUrl}${path}`);
  return { status: response.status, body: JSON.parse(await response.text()) as unknown };
}

/** Every output file's bytes, by name, to compare before and after a rejected update. */
export async function snapshotFiles(paths: readonly string[]): Promise<Map<string, Buffer>> {
  return new Map(await Promise.all(paths.map(async (path) => [path, await readFile(path)] as const)));
}

export { exitOf };
