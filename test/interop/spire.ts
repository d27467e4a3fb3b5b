import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Daemon, freePort, runCommand, waitUntil } from "./support.js";
import type { CommandResult, ToolSet } from "./support.js";

/**
 * The shortest TTLs SPIRE v1.13 keeps working with; its config parser accepts any duration.
 * The server's CA rotator ticks every 10 s, prepares the next CA at half of ca_ttl and activates
 * it once less than ca_ttl/6 is left: under 1m that last sixth is shorter than a tick, and at 6s
 * the CA and the server's own SVID expired before a successor was active. An SVID TTL over
 * ca_ttl/6 draws a start-up warning and is cut short at the CA's end, so 10s is the CA-safe
 * SVID TTL for a 1m CA. The agent syncs every 5 s and renews an SVID once less than half of
 * NotAfter-NotBefore is left (SPIRE backdates NotBefore by 10 s): each 10 s SVID is replaced
 * about every 5 s. Sampled once a second for 140 s, the agent's SVID had 5-10 s left, never 0.
 */
export const SPIRE_CA_TTL = "1m";
export const SPIRE_SVID_TTL = "10s";

/** A workload registration entry; the fixed entry ID fixes the agent's order of SVIDs. */
export interface SpireEntry {
  readonly entryId: string;
  readonly spiffeId: string;
  readonly hint?: string;
  /** Trust domain IDs (spiffe://td) whose bundles the agent sends with this SVID. */
  readonly federatesWith?: readonly string[];
}

/** What may differ between the servers of one suite. */
export interface ServerOptions {
  readonly trustDomain?: string;
  readonly caTtl?: string;
  /** HCL added inside `server { }`, e.g. a `federation` block. */
  readonly extra?: string;
}

function serverConfig(dir: string, port: number, trustDomain: string, { caTtl = SPIRE_CA_TTL, extra = "" }: ServerOptions): string {
  return `server {
  ${extra}
  bind_address = "127.0.0.1"
  bind_port = "${port}"
  socket_path = "${dir}/server.sock"
  trust_domain = "${trustDomain}"
  data_dir = "${dir}/server"
  log_level = "INFO"
  ca_ttl = "${caTtl}"
  default_x509_svid_ttl = "${SPIRE_SVID_TTL}"
  default_jwt_svid_ttl = "${SPIRE_SVID_TTL}"
}
plugins {
  DataStore "sql" {
    plugin_data {
      database_type = "sqlite3"
      connection_string = "${dir}/server/datastore.sqlite3"
    }
  }
  KeyManager "memory" { plugin_data {} }
  NodeAttestor "join_token" { plugin_data {} }
}
`;
}

// The disk key manager keeps the agent's key beside its SVID, so a restarted agent resumes
// with them instead of attesting again (a join token works once).
function agentConfig(dir: string, port: number, trustDomain: string): string {
  return `agent {
  data_dir = "${dir}/agent"
  log_level = "INFO"
  server_address = "127.0.0.1"
  server_port = "${port}"
  socket_path = "${dir}/agent.sock"
  trust_domain = "${trustDomain}"
  trust_bundle_path = "${dir}/bootstrap.pem"
}
plugins {
  KeyManager "disk" { plugin_data { directory = "${dir}/agent" } }
  NodeAttestor "join_token" { plugin_data {} }
  WorkloadAttestor "unix" { plugin_data {} }
}
`;
}

/** How a (re)started agent got its own identity. */
export type AgentStart = "attested" | "resumed";

/**
 * A SPIRE server and agent on loopback, in one temp directory. Workload entries hang off a node
 * alias that every join token of this deployment maps to: an agent whose own SVID expired while
 * it was down attests again with a fresh token (a join token works once) and still gets them.
 */
export class SpireDeployment {
  readonly serverSocket: string;
  readonly agentSocket: string;
  readonly nodeAlias: string;
  #server: Daemon | undefined;
  #agent: Daemon | undefined;
  #agentStarts = 0;

  private constructor(readonly tools: ToolSet, readonly dir: string, readonly trustDomain: string) {
    this.serverSocket = join(dir, "server.sock");
    this.agentSocket = join(dir, "agent.sock");
    this.nodeAlias = `spiffe://${trustDomain}/node`;
  }

  /** Starts the server, registers `entries` under the node alias and starts the agent. */
  static async start(tools: ToolSet, dir: string, entries: readonly SpireEntry[]): Promise<SpireDeployment> {
    const deployment = await SpireDeployment.startServer(tools, dir);
    await deployment.#orStop(async () => {
      await deployment.register(entries);
      await deployment.startAgent(entries.length);
    });
    return deployment;
  }

  /** Starts a server alone, for a suite that registers entries and starts the agent itself. */
  static async startServer(tools: ToolSet, dir: string, options: ServerOptions = {}): Promise<SpireDeployment> {
    const trustDomain = options.trustDomain ?? "example.org";
    const port = await freePort();
    await writeFile(join(dir, "server.conf"), serverConfig(dir, port, trustDomain, options));
    await writeFile(join(dir, "agent.conf"), agentConfig(dir, port, trustDomain));
    const deployment = new SpireDeployment(tools, dir, trustDomain);
    deployment.#server = new Daemon("spire-server", tools.path("spire-server"), ["run", "-config", join(dir, "server.conf")], join(dir, "server.log"));
    await deployment.#orStop(async () => {
      await waitUntil("spire-server healthcheck", async () => ((await deployment.serverCommand(["healthcheck"])).code === 0 ? true : undefined));
      await writeFile(join(dir, "bootstrap.pem"), await deployment.serverOutput(["bundle", "show"]));
    });
    return deployment;
  }

  async #orStop(steps: () => Promise<void>): Promise<void> {
    try {
      await steps();
    } catch (error: unknown) {
      const logs = await this.logs();
      await this.stop();
      throw new Error(`SPIRE (${this.trustDomain}) did not start: ${String(error)}\n${logs}`, { cause: error });
    }
  }

  async register(entries: readonly SpireEntry[]): Promise<void> {
    const uid = process.getuid?.() ?? 0;
    for (const entry of entries) {
      await this.serverOutput([
        "entry", "create", "-entryID", entry.entryId, "-parentID", this.nodeAlias, "-spiffeID", entry.spiffeId,
        "-selector", `unix:uid:${uid}`, ...(entry.hint === undefined ? [] : ["-hint", entry.hint]),
        ...(entry.federatesWith ?? []).flatMap((id) => ["-federatesWith", id]),
      ]);
    }
  }

  /**
   * Starts the agent with a fresh join token and waits until it serves `svids` X.509-SVIDs. An
   * agent whose stored SVID is still valid resumes with it and ignores the token.
   */
  async startAgent(svids: number): Promise<AgentStart> {
    const token = (JSON.parse(await this.serverOutput(["token", "generate", "-spiffeID", this.nodeAlias, "-output", "json"])) as { value: string }).value;
    this.#agentStarts += 1;
    const logPath = join(this.dir, `agent-${this.#agentStarts}.log`);
    this.#agent = new Daemon("spire-agent", this.tools.path("spire-agent"), ["run", "-config", join(this.dir, "agent.conf"), "-joinToken", token], logPath);
    try {
      await waitUntil(`spire-agent serving ${svids} X.509-SVIDs`, async () => {
        const result = await this.agentCommand(["api", "fetch", "x509", "-output", "json"]);
        if (result.code !== 0) return undefined;
        const response = JSON.parse(result.stdout) as { svids?: unknown[] };
        return response.svids?.length === svids ? true : undefined;
      });
    } catch (error: unknown) {
      throw new Error(`${String(error)}\n${await this.logs()}`, { cause: error });
    }
    return (await readFile(logPath, "utf8")).includes("SVID loaded") ? "resumed" : "attested";
  }

  async stopAgent(): Promise<void> {
    await this.#agent?.stop();
  }

  /** `spire-agent ARGS -socketPath SOCKET` (flags go after the subcommand). */
  agentCommand(args: readonly string[], socketPath = this.agentSocket): Promise<CommandResult> {
    return runCommand(this.tools.path("spire-agent"), [...args, "-socketPath", socketPath]);
  }

  serverCommand(args: readonly string[]): Promise<CommandResult> {
    return runCommand(this.tools.path("spire-server"), [...args, "-socketPath", this.serverSocket]);
  }

  /** A server command's stdout; a non-zero exit throws with its output. */
  async serverOutput(args: readonly string[]): Promise<string> {
    const result = await this.serverCommand(args);
    if (result.code !== 0) throw new Error(`spire-server ${args.join(" ")} exited ${String(result.code)}: ${result.stderr}${result.stdout}`);
    return result.stdout;
  }

  async logs(): Promise<string> {
    return `${(await this.#server?.tail()) ?? ""}\n${(await this.#agent?.tail()) ?? ""}`;
  }

  async stop(): Promise<void> {
    await this.#agent?.stop();
    await this.#server?.stop();
  }
}
