import { Agent, type AgentOptions, type RequestOptions } from "node:https";
import type { Duplex } from "node:stream";
import type { ConnectionOptions } from "node:tls";

/** What a `SpiffeHttpsAgent` needs beyond `https.AgentOptions`. */
export interface SpiffeHttpsAgentOptions extends Omit<AgentOptions, "maxCachedSessions"> {
  /**
   * Called for every new connection, e.g. `() => mtlsClientOptions(source, authorizer)`, so
   * each handshake presents the SVID and trusts the bundles in force at that moment.
   */
  readonly connectionOptions: () => ConnectionOptions;
}

/**
 * An `https.Agent` whose every new connection takes fresh options from a source, so a
 * keep-alive client follows rotations as go-spiffe's per-handshake callbacks do. Pooled
 * connections stay as they were authenticated. TLS session caching is off: Node skips
 * `checkServerIdentity`, where the SPIFFE check runs, on a resumed session.
 */
export class SpiffeHttpsAgent extends Agent {
  readonly #connectionOptions: () => ConnectionOptions;

  constructor(options: SpiffeHttpsAgentOptions) {
    const { connectionOptions, ...agentOptions } = options;
    super({ ...agentOptions, maxCachedSessions: 0 });
    this.#connectionOptions = connectionOptions;
  }

  override createConnection(options: RequestOptions, callback?: (error: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    return super.createConnection({ ...options, ...this.#connectionOptions() } as RequestOptions, callback);
  }
}
