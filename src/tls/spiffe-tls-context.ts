import { EventEmitter } from "node:events";
import { dirname } from "node:path";
import { createSecureContext, type ConnectionOptions, type SecureContext, type Server, type TLSSocket, type TlsOptions } from "node:tls";
import { describeError } from "../errors.js";
import type { SpiffeId } from "../spiffe/spiffe-id.js";
import type { X509BundleSource } from "../spiffe/x509-bundle.js";
import type { VerifiedX509Svid } from "../spiffe/x509-svid.js";
import { DirectoryWatcher } from "./directory-watcher.js";
import { PeerAuthenticationError, SpiffeTlsFilesError } from "./errors.js";
import { verifyPeerCertificate, verifyTlsPeer, type SpiffeIdAuthorizer } from "./peer-authorization.js";
import { loadSpiffeTlsFiles, type SpiffeTlsFiles } from "./tls-files.js";
import type { SpiffeTlsMaterial } from "./tls-material.js";

export interface SpiffeTlsContextOptions extends SpiffeTlsFiles {
  /**
   * Re-read the files when the sidecar rewrites them. Without it, call `reload()` (e.g. on SIGHUP).
   * @default true
   */
  readonly watch?: boolean;
  /**
   * Quiet time after the last file change before re-reading, so one rotation's renames count once.
   * @default 50
   */
  readonly debounceMs?: number;
  /**
   * First wait before re-reading after a failed reload (a torn read mid-rotation, usually);
   * it doubles up to 10 s until a reload succeeds.
   * @default 200
   */
  readonly retryMs?: number;
}

/** `reload`: new files are in force. `reload-error`: files were refused and the last good set kept. */
export interface SpiffeTlsContextEvents {
  reload: [SpiffeTlsMaterial];
  "reload-error": [SpiffeTlsFilesError];
}

export interface SpiffeServerOptions {
  /**
   * Which client SPIFFE IDs may connect. Without it no client certificate is requested:
   * server-authenticated TLS, for clients that prove who they are with a JWT-SVID.
   * @default none
   */
  readonly authorize?: SpiffeIdAuthorizer;
  /** Told of every refused connection: a `PeerAuthenticationError`, or the handshake's own error. */
  readonly onRefused?: (error: Error) => void;
}

export interface SpiffeClientOptions {
  /** Which server SPIFFE IDs we talk to. */
  readonly authorize: SpiffeIdAuthorizer;
}

const MAX_RETRY_MS = 10_000;
const FIRST_LOAD_ATTEMPTS = 3;
const verifiedPeers = new WeakMap<TLSSocket, VerifiedX509Svid>();

/** The peer a server attached with `attachServer` verified on this socket (`req.socket` in https). */
export function verifiedPeer(socket: TLSSocket): VerifiedX509Svid | undefined {
  return verifiedPeers.get(socket);
}

function asFilesError(error: unknown): SpiffeTlsFilesError {
  if (error instanceof SpiffeTlsFilesError) return error;
  return new SpiffeTlsFilesError("invalid-svid", `OpenSSL refused the files: ${describeError(error)}`, { cause: error });
}

/**
 * OpenSSL's refusals as ours. A chain OpenSSL cannot verify is dropped by Node after the
 * handshake with only "socket hang up"; the reason is left on the socket.
 */
function handshakeRefusal(error: Error, socket: TLSSocket): Error {
  const verifyCode: unknown = socket.authorizationError;
  if (typeof verifyCode === "string" && verifyCode !== "") {
    return new PeerAuthenticationError("untrusted-peer", `peer certificate refused in the TLS handshake: ${verifyCode} (X509-SVID §5)`, { cause: error });
  }
  if ((error as { code?: unknown }).code === "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE") {
    return new PeerAuthenticationError("no-peer-certificate", "the peer presented no certificate; an X.509-SVID is required (X509-SVID §5)", { cause: error });
  }
  return error;
}

function sameMaterial(a: SpiffeTlsMaterial, b: SpiffeTlsMaterial): boolean {
  return (
    a.certificatePem === b.certificatePem &&
    a.privateKeyPem === b.privateKeyPem &&
    a.authoritiesPem.join("") === b.authoritiesPem.join("")
  );
}

/**
 * The workload's TLS identity from the sidecar's files, kept current: each rewrite is read,
 * checked and swapped in for new connections, while open connections carry on. A set that
 * fails its checks (a torn read during a rotation) is refused and the last good set stays.
 */
export class SpiffeTlsContext extends EventEmitter<SpiffeTlsContextEvents> {
  readonly #files: SpiffeTlsFiles;
  readonly #retryMs: number;
  #material: SpiffeTlsMaterial;
  #secureContext: SecureContext;
  #watcher: DirectoryWatcher | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #retryTimer: NodeJS.Timeout | undefined;
  #nextRetryMs: number;
  #closed = false;

  private constructor(options: SpiffeTlsContextOptions, material: SpiffeTlsMaterial) {
    super();
    this.#files = options;
    this.#retryMs = options.retryMs ?? 200;
    this.#nextRetryMs = this.#retryMs;
    this.#material = material;
    this.#secureContext = createSecureContext(this.#secureContextOptions());
    if (options.watch !== false) {
      this.#watcher = new DirectoryWatcher({
        directories: [dirname(options.certFile), dirname(options.keyFile), dirname(options.bundleFile)],
        ...(options.federatedBundleDir === undefined ? {} : { rearmedDirectory: options.federatedBundleDir }),
        debounceMs: options.debounceMs ?? 50,
        onChange: () => void this.reload(),
      });
    }
  }

  /** Reads the files (retrying briefly past a torn read) and starts following them. */
  static async create(options: SpiffeTlsContextOptions): Promise<SpiffeTlsContext> {
    for (let attempt = 1; ; attempt++) {
      try {
        return new SpiffeTlsContext(options, await loadSpiffeTlsFiles(options));
      } catch (error: unknown) {
        const torn = error instanceof SpiffeTlsFilesError && error.rule === "invalid-svid";
        if (!torn || attempt >= FIRST_LOAD_ATTEMPTS) throw error;
        await new Promise((resolve) => setTimeout(resolve, options.retryMs ?? 200));
      }
    }
  }

  get material(): SpiffeTlsMaterial {
    return this.#material;
  }

  get id(): SpiffeId {
    return this.#material.svid.id;
  }

  /** The bundles in force, by trust domain. */
  get bundles(): X509BundleSource {
    return this.#material.bundles;
  }

  /** The current identity as a Node secure context (`key`, `cert`, `ca` = every bundle). */
  get secureContext(): SecureContext {
    return this.#secureContext;
  }

  /**
   * Re-reads the files now. Resolves true when a new set is in force, false when nothing
   * changed or the set was refused (then `reload-error` is emitted and a retry scheduled).
   * Reloads run one at a time.
   */
  reload(): Promise<boolean> {
    const run = this.#queue.then(() => this.#reloadOnce());
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Options for `tls.createServer` / `https.createServer`. OpenSSL checks the client's chain
   * against every bundle (`ca`, `requestCert`, `rejectUnauthorized`); `attachServer` then
   * checks it against the client's own trust domain's bundle and the authorizer.
   */
  serverOptions(options: SpiffeServerOptions = {}): TlsOptions {
    return { ...this.#secureContextOptions(), requestCert: options.authorize !== undefined, rejectUnauthorized: true };
  }

  /**
   * Keeps a server made with `serverOptions` current and checked: every reload becomes its
   * secure context for new handshakes (open connections are untouched), and every client is
   * verified before the application sees the socket. Returns a function that detaches.
   */
  attachServer(server: Server, options: SpiffeServerOptions = {}): () => void {
    const { authorize, onRefused } = options;
    const onReload = (): void => server.setSecureContext(this.#secureContextOptions());
    // Prepended, so the socket is refused before the application's own listener (https's
    // request parser) is attached; no byte from the peer has been read at this point.
    const onSecureConnection = (socket: TLSSocket): void => {
      if (authorize === undefined) return;
      try {
        verifiedPeers.set(socket, verifyTlsPeer(socket, this.bundles, authorize));
      } catch (error: unknown) {
        socket.destroy();
        onRefused?.(error instanceof Error ? error : new Error(String(error)));
      }
    };
    const onClientError = (error: Error, socket: TLSSocket): void => onRefused?.(handshakeRefusal(error, socket));
    this.on("reload", onReload);
    server.prependListener("secureConnection", onSecureConnection);
    server.on("tlsClientError", onClientError);
    return () => {
      this.off("reload", onReload);
      server.off("secureConnection", onSecureConnection);
      server.off("tlsClientError", onClientError);
    };
  }

  /**
   * Options for `tls.connect` / `https.request`, taken per connection so each uses the
   * current identity. OpenSSL checks the server's chain against every bundle, then
   * `checkServerIdentity` (which replaces the hostname check: SPIFFE names servers by ID)
   * checks it against the server's own trust domain's bundle and the authorizer. Node skips
   * `checkServerIdentity` on a resumed TLS session, so use `agent: false` or an Agent with
   * `maxCachedSessions: 0`.
   */
  clientOptions(options: SpiffeClientOptions): ConnectionOptions {
    return {
      secureContext: this.#secureContext,
      rejectUnauthorized: true,
      checkServerIdentity: (_hostname, certificate) => {
        try {
          verifyPeerCertificate(certificate, this.bundles, options.authorize);
          return undefined;
        } catch (error: unknown) {
          return error instanceof PeerAuthenticationError ? error : new Error(describeError(error));
        }
      },
    };
  }

  /** Stops following the files; servers keep the last identity. */
  close(): void {
    this.#closed = true;
    this.#watcher?.close();
    clearTimeout(this.#retryTimer);
  }

  #secureContextOptions(): { key: string; cert: string; ca: string[] } {
    const material = this.#material;
    return { key: material.privateKeyPem, cert: material.certificatePem, ca: [...material.authoritiesPem] };
  }

  async #reloadOnce(): Promise<boolean> {
    if (this.#closed) return false;
    clearTimeout(this.#retryTimer);
    let material: SpiffeTlsMaterial;
    let secureContext: SecureContext;
    try {
      material = await loadSpiffeTlsFiles(this.#files);
      secureContext = createSecureContext({ key: material.privateKeyPem, cert: material.certificatePem, ca: [...material.authoritiesPem] });
    } catch (error: unknown) {
      this.#scheduleRetry();
      this.emit("reload-error", asFilesError(error));
      return false;
    }
    this.#nextRetryMs = this.#retryMs;
    // The federated directory may have appeared, or been swapped for a new `..data` target.
    this.#watcher?.rearm();
    if (sameMaterial(material, this.#material)) return false;
    this.#material = material;
    this.#secureContext = secureContext;
    this.emit("reload", material);
    return true;
  }

  #scheduleRetry(): void {
    if (this.#closed) return;
    this.#retryTimer = setTimeout(() => void this.reload(), this.#nextRetryMs);
    this.#retryTimer.unref();
    this.#nextRetryMs = Math.min(this.#nextRetryMs * 2, MAX_RETRY_MS);
  }
}

/** Reads the sidecar's files and follows them: `SpiffeTlsContext.create`. */
export function createSpiffeTlsContext(options: SpiffeTlsContextOptions): Promise<SpiffeTlsContext> {
  return SpiffeTlsContext.create(options);
}
