import type { AgentOptions as HttpAgentOptions } from "node:http";
import { Agent, type RequestOptions } from "node:https";
import type { Duplex } from "node:stream";
import type { ConnectionOptions } from "node:tls";

/** Where a `SpiffeHttpsAgent` takes its TLS options from, and its pooling settings. */
export interface SpiffeHttpsAgentOptions {
  /**
   * Called for every new connection, e.g. `() => mtlsClientOptions(source, authorizer)`, so
   * each handshake presents the SVID and trusts the bundles in force at that moment.
   */
  readonly connectionOptions: () => ConnectionOptions;
  /**
   * Pooling (`keepAlive`, `maxSockets`...); TLS settings come from `connectionOptions`.
   * @default {}
   */
  readonly agentOptions?: HttpAgentOptions;
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
    super({ ...options.agentOptions, maxCachedSessions: 0 });
    this.#connectionOptions = options.connectionOptions;
  }

  override createConnection(options: RequestOptions, callback?: (error: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    return super.createConnection({ ...options, ...this.#connectionOptions() } as RequestOptions, callback);
  }
}
