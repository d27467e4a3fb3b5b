import { Server, ServerCredentials } from "@grpc/grpc-js";
import { pino } from "pino";
import { describeError } from "../errors.js";
import { SpiffeWorkloadAPIService } from "../workloadapi/generated/workload.js";
import { FakeAgentCore } from "./agent.js";
import { BundleFileWriter } from "./bundle-file.js";
import { FakeAgentConfigError, FakeAgentSocketError } from "./errors.js";
import type { Fault, FaultKind, RpcName } from "./faults.js";
import { resolveOptions } from "./options.js";
import type { FakeAgentOptions, ResolvedOptions } from "./options.js";
import type { AgentSnapshot } from "./responses.js";
import { createWorkloadApiService } from "./service.js";
import { prepareSocketPath, removeSocket, socketInode } from "./socket-path.js";

/** The options `update` accepts: everything but the logger; restart-only keys must not change. */
export type FakeAgentUpdate = Partial<Omit<FakeAgentOptions, "logger">>;

/** A running fake agent: a Workload API server on `socketPath`. */
export interface FakeAgent {
  /** Absolute path of the Unix socket. */
  readonly socketPath: string;
  /** `unix://<socketPath>`, for `SPIFFE_ENDPOINT_SOCKET` or a client's address option. */
  readonly address: string;
  /** Re-issues every X.509-SVID now and pushes them; resolves once pushed. */
  rotateNow(): Promise<void>;
  /**
   * Rotates a trust domain's CA (default the own one) in three pushed steps; resolves when all
   * are done. A trust domain read from `federatedBundleFiles` has no CA here: that is an error.
   */
  rotateCa(trustDomain?: string): Promise<void>;
  /** Rotates a trust domain's JWT signing key in three steps; resolves when all are done. */
  rotateJwtKey(trustDomain?: string): Promise<void>;
  /** Sets a fault (replacing one of the same kind); resolves once any re-issued SVIDs are pushed. */
  setFault(fault: Fault): Promise<void>;
  /** Clears one kind of fault, or all of them. */
  clearFaults(kind?: FaultKind): Promise<void>;
  /**
   * Changes some live settings (identities, TTLs, federation and federated bundle files,
   * faults) and pushes the result.
   */
  update(changes: FakeAgentUpdate): Promise<void>;
  /**
   * Replaces the whole configuration, as a config file reload does: an option left out goes
   * back to its default. Restart-only options must not change; `logger` is ignored.
   */
  reconfigure(options: FakeAgentOptions): Promise<void>;
  /** What the streams currently send, private keys included: for tests, never for logs. */
  snapshot(): AgentSnapshot;
  /**
   * How many streams of `rpc` (every streaming RPC when omitted) clients have opened since the
   * start, closed ones included: a test tells a kept stream from a reopened one.
   */
  streamsOpened(rpc?: RpcName): number;
  /** Stops serving, ends open streams, clears every timer and removes the socket. Idempotent. */
  stop(): Promise<void>;
}

/** Options that shape the server or the CAs; changing them needs a new agent. */
const RESTART_ONLY: readonly (keyof ResolvedOptions & keyof FakeAgentOptions)[] = [
  "socketPath",
  "trustDomain",
  "keyType",
  "intermediate",
  "writeBundlePath",
];

/** The first restart-only option that differs between two resolved configurations. */
export function restartOnlyChange(current: ResolvedOptions, next: ResolvedOptions): (typeof RESTART_ONLY)[number] | undefined {
  return RESTART_ONLY.find((key) => String(current[key]) !== String(next[key]));
}

function bind(server: Server, socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.bindAsync(`unix://${socketPath}`, ServerCredentials.createInsecure(), (error) => {
      if (error === null) resolve();
      else reject(new FakeAgentSocketError(`cannot listen on ${socketPath}: ${describeError(error)}`, { cause: error }));
    });
  });
}

/**
 * Starts a fake agent. Everything that can fail on bad input (options, CAs, the bundle file,
 * the socket path) is checked before the socket exists, so it never half-starts.
 */
export async function startFakeAgent(options: FakeAgentOptions): Promise<FakeAgent> {
  const resolved = resolveOptions(options);
  const logger = options.logger ?? pino({ level: "silent" });
  const core = await FakeAgentCore.create(resolved, logger);
  const ownName = resolved.trustDomain.name;
  const server = new Server();
  try {
    await prepareSocketPath(resolved.socketPath);
    if (resolved.writeBundlePath !== undefined) await keepBundleFile(core, resolved.writeBundlePath);
    server.addService(SpiffeWorkloadAPIService, createWorkloadApiService(core));
    await bind(server, resolved.socketPath);
  } catch (error: unknown) {
    server.forceShutdown();
    await core.stop();
    throw error;
  }
  const inode = await socketInode(resolved.socketPath);
  core.start();
  logger.info(
    {
      event: "start",
      socketPath: resolved.socketPath,
      trustDomain: ownName,
      identities: resolved.identities.map((identity) => identity.spiffeId.toString()),
      federatesWith: resolved.federatesWith.map((trustDomain) => trustDomain.name),
      federatedBundleFiles: Object.fromEntries(resolved.federatedBundleFiles.map((file) => [file.trustDomain.name, file.path])),
    },
    "fake agent serving the Workload API",
  );
  return runningAgent(core, server, options, resolved, inode);
}

/** Writes the own trust domain's bundle to `path` now and after every push that changes it. */
async function keepBundleFile(core: FakeAgentCore, path: string): Promise<void> {
  const ownName = core.trustDomain.name;
  const writer = new BundleFileWriter(path);
  await writer.write(core.snapshot.x509Authorities.get(ownName) ?? []);
  core.onPublish(async (snapshot) => {
    if (await writer.write(snapshot.x509Authorities.get(ownName) ?? [])) {
      core.logger.info({ event: "bundle-file", path: writer.path }, "trust bundle file rewritten");
    }
  });
}

function runningAgent(core: FakeAgentCore, server: Server, options: FakeAgentOptions, resolved: ResolvedOptions, inode: number | undefined): FakeAgent {
  let currentOptions = options;
  let currentResolved = resolved;
  let stopping: Promise<void> | undefined;
  const reconfigure = async (nextOptions: FakeAgentOptions): Promise<void> => {
    const nextResolved = resolveOptions(nextOptions);
    const changed = restartOnlyChange(currentResolved, nextResolved);
    if (changed !== undefined) {
      throw new FakeAgentConfigError(`${changed} cannot change while the agent runs; stop it and start a new one`);
    }
    await core.update(nextResolved);
    currentOptions = nextOptions;
    currentResolved = nextResolved;
  };
  return {
    socketPath: resolved.socketPath,
    address: `unix://${resolved.socketPath}`,
    rotateNow: () => core.rotateNow(),
    rotateCa: (trustDomain) => core.rotateCa(trustDomain),
    rotateJwtKey: (trustDomain) => core.rotateJwtKey(trustDomain),
    setFault: (fault) => core.setFault(fault),
    clearFaults: (kind) => core.clearFaults(kind),
    update: (changes) => reconfigure({ ...currentOptions, ...changes }),
    reconfigure,
    snapshot: () => core.snapshot,
    streamsOpened: (rpc) => core.hub.openedCount(rpc),
    stop() {
      stopping ??= (async () => {
        const coreStopped = core.stop();
        // Open streams end as they do when a real agent goes away: the client sees CANCELLED.
        server.forceShutdown();
        await coreStopped;
        await removeSocket(resolved.socketPath, inode);
        core.logger.info({ event: "stop", socketPath: resolved.socketPath }, "fake agent stopped");
      })();
      return stopping;
    },
  };
}
