import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { constants } from "node:fs";
import { access, chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import type { TestContext } from "node:test";
import type { PeerCertificate, TLSSocket } from "node:tls";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";
import type { FakeAgent } from "../../src/fakeagent/server.js";
import { splitDerSequence } from "../../src/spiffe/der.js";
import { encodePem } from "../../src/spiffe/pem.js";
import { EVENT_TIMEOUT_MS, exitOf, waitFor } from "../fixtures/fixture-helpers.js";
import { parseExposition } from "../fixtures/prometheus-parser.js";
import { sidecarBin } from "../support/run-cli.js";

export { exitOf, waitFor };

/** A path in this repository's `examples/`. */
export function examplePath(...parts: string[]): string {
  return fileURLToPath(new URL(`../../examples/${parts.join("/")}`, import.meta.url));
}

/**
 * Finds a program on PATH or in `extraDirs` (Debian keeps nginx in /usr/sbin and PostgreSQL's
 * server programs in /usr/lib/postgresql/<major>/bin, neither always on a test runner's PATH).
 */
export async function findProgram(name: string, extraDirs: readonly string[] = []): Promise<string | undefined> {
  const dirs = [...(process.env["PATH"] ?? "").split(delimiter).filter((dir) => dir !== ""), ...extraDirs, "/usr/sbin", "/sbin"];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/** A port free on 127.0.0.1 right now: the OS picks it, we release it for the program under test. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** A temp directory removed after the test; world-traversable so a dropped-privilege server reaches its files. */
export async function e2eDir(t: TestContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `e2e-${prefix}-`));
  await chmod(dir, 0o755);
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** `mkdir -p` with a mode, returning the path. */
export async function makeDir(path: string, mode = 0o755): Promise<string> {
  await mkdir(path, { recursive: true, mode });
  await chmod(path, mode);
  return path;
}

/**
 * Replaces every occurrence of each key by its value. A key that does not occur is an error,
 * so an example that drifts away from what its test expects breaks the test loudly.
 */
export function render(text: string, replacements: Readonly<Record<string, string>>): string {
  let out = text;
  for (const [from, to] of Object.entries(replacements)) {
    if (!out.includes(from)) throw new Error(`the template no longer contains ${JSON.stringify(from)}`);
    out = out.split(from).join(to);
  }
  return out;
}

/** Reads an example file and renders it into `target`. */
export async function renderExample(example: string, target: string, replacements: Readonly<Record<string, string>>): Promise<string> {
  await writeFile(target, render(await readFile(example, "utf8"), replacements));
  return target;
}

export type YamlMap = Record<string, unknown>;

/**
 * An example sidecar config pointed at the test's paths: `replacements` apply to its text
 * (each must occur), then `overrides` replace whole top-level keys. Written to `target`.
 */
export async function writeExampleConfig(
  example: string,
  target: string,
  replacements: Readonly<Record<string, string>>,
  overrides: YamlMap,
): Promise<string> {
  const config = parse(render(await readFile(example, "utf8"), replacements)) as YamlMap;
  await writeFile(target, stringify({ ...config, ...overrides }));
  return target;
}

/** One pino line of the sidecar's stdout. */
export interface LogLine {
  readonly msg?: string;
  readonly level?: number | string;
  readonly [field: string]: unknown;
}

/** `spiffe-sidecar run -c FILE` as a child process whose JSON log lines are parsed as they arrive. */
export class Sidecar {
  readonly process: ChildProcess;
  readonly logs: LogLine[] = [];
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #partial = "";

  constructor(args: readonly string[], env: NodeJS.ProcessEnv) {
    this.process = spawn(process.execPath, [sidecarBin, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
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
        this.logs.push({ msg: text });
      }
    }
  }

  get running(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  tail(lines = 20): string {
    return [...this.logs.slice(-lines).map((line) => JSON.stringify(line)), this.stderr.split("\n").slice(-lines).join("\n")].join("\n");
  }

  /** Waits until `count` lines match `predicate`; fails early, with the log, if the sidecar exits. */
  async waitForLog(what: string, predicate: (line: LogLine) => boolean, count = 1, timeoutMs = EVENT_TIMEOUT_MS): Promise<LogLine[]> {
    try {
      return await waitFor(
        `${count} × ${what}`,
        () => {
          const matches = this.logs.filter(predicate);
          if (matches.length >= count) return matches;
          if (!this.running) throw new Error(`the sidecar exited (${String(this.process.exitCode ?? this.process.signalCode)})`);
          return undefined;
        },
        timeoutMs,
      );
    } catch (error: unknown) {
      throw new Error(`${error instanceof Error ? error.message : String(error)}\n--- sidecar log ---\n${this.tail()}`);
    }
  }

  /** Serials of the X.509-SVIDs written so far, oldest first, from the "identity files updated" lines. */
  writtenSerials(): string[] {
    const serials: string[] = [];
    for (const line of this.logs) {
      const match = line.msg === "identity files updated" ? /^X\.509-SVID ([0-9a-f]+)$/.exec(String(line["cause"])) : null;
      if (match?.[1] !== undefined && !serials.includes(normalizeSerial(match[1]))) serials.push(normalizeSerial(match[1]));
    }
    return serials;
  }

  async healthUrl(): Promise<string> {
    const [line] = await this.waitForLog("the health listener", (entry) => entry.msg === "health listener started");
    if (typeof line?.["url"] !== "string") throw new Error("the health listener line has no url");
    return line["url"];
  }

  /** SIGTERM (forwarded to a child), then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 5_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running) this.process.kill("SIGTERM");
    const timer = setTimeout(() => this.running && this.process.kill("SIGKILL"), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Starts the sidecar with a minimal environment; stopped gracefully after the test, so a child nginx goes with it. */
export function runSidecar(t: TestContext, args: readonly string[]): Sidecar {
  const sidecar = new Sidecar(args, { PATH: process.env["PATH"] });
  t.after(() => sidecar.stop());
  return sidecar;
}

/** Runs a program to completion; never rejects on a non-zero exit. */
export function runProgram(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? EVENT_TIMEOUT_MS);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The value of one sample of a metric family from `/metrics`; 0 when the series is absent. */
export async function metricValue(baseUrl: string, name: string, labels: Readonly<Record<string, string>> = {}): Promise<number> {
  const response = await fetch(`${baseUrl}/metrics`);
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  const samples = parseExposition(await response.text()).get(name)?.samples ?? [];
  const sample = samples.find((candidate) => Object.entries(labels).every(([key, value]) => candidate.labels[key] === value));
  return sample?.value ?? 0;
}

/** Serials as openssl and Node print them (upper case, zero-padded) and as we log them, made comparable. */
export function normalizeSerial(serial: string): string {
  return serial.toLowerCase().replace(/^0+/, "");
}

/** The URI SANs of a peer certificate as Node reports it ("URI:spiffe://…, DNS:…"). */
export function uriSans(certificate: PeerCertificate): string[] {
  return (certificate.subjectaltname ?? "")
    .split(", ")
    .filter((entry) => entry.startsWith("URI:"))
    .map((entry) => entry.slice("URI:".length));
}

/** An X.509-SVID the fake agent currently issues to `spiffeId`, as PEM, to act as a client. */
export function currentSvidPem(agent: FakeAgent, spiffeId: string): { cert: string; key: string; serial: string } {
  const svid = agent.snapshot().svids.find((candidate) => candidate.spiffeId === spiffeId);
  if (svid === undefined) throw new Error(`the fake agent issues no SVID for ${spiffeId}`);
  return {
    cert: splitDerSequence(svid.chainDer)
      .map((der) => encodePem("CERTIFICATE", der))
      .join(""),
    key: encodePem("PRIVATE KEY", svid.privateKeyDer),
    serial: normalizeSerial(svid.serialHex),
  };
}

/** What one HTTPS request saw: the server's certificate and the response. */
export interface HttpsResult {
  readonly serial: string;
  readonly uriSans: readonly string[];
  readonly status: number;
  readonly body: string;
}

/**
 * One GET over a fresh TLS connection (no session reuse), verifying the server's chain
 * against `ca`. The host name is not checked: an SVID names its workload in a URI SAN,
 * which the caller checks.
 */
export function httpsGet(options: { port: number; ca: string; cert?: string; key?: string }): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: options.port,
        path: "/",
        agent: false,
        ca: options.ca,
        ...(options.cert === undefined ? {} : { cert: options.cert }),
        ...(options.key === undefined ? {} : { key: options.key }),
        checkServerIdentity: () => undefined,
        timeout: 5_000,
      },
      (res) => {
        const peer = (res.socket as TLSSocket).getPeerCertificate();
        let body = "";
        res.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ serial: normalizeSerial(peer.serialNumber), uriSans: uriSans(peer), status: res.statusCode ?? 0, body }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("no answer within 5 s")));
    req.on("error", reject);
    req.end();
  });
}
