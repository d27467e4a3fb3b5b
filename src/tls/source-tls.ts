import { constants } from "node:crypto";
import {
  createSecureContext,
  rootCertificates,
  Server as TlsServer,
  type ConnectionOptions,
  type SecureContextOptions,
  type TLSSocket,
  type TlsOptions,
} from "node:tls";
import { describeError } from "../errors.js";
import type { SpiffeId } from "../spiffe/spiffe-id.js";
import type { X509BundleSource } from "../spiffe/x509-bundle.js";
import type { VerifiedX509Svid } from "../spiffe/x509-svid.js";
import type { SpiffeIdAuthorizer } from "./peer-authorization.js";
import {
  authoritiesPem,
  spiffeServerCheck,
  svidContextOptions,
  spiffeIdOfLeaf,
  updatesOf,
  verifyPeer,
  type SpiffeTlsSource,
  type TlsBundleSource,
  type UpdatingSource,
  type X509SvidSource,
} from "./source-material.js";

/** A Web PKI certificate for the "web" modes: PEM chain and key, as Node's `cert` and `key`. */
export interface WebIdentity {
  /** The certificate chain, leaf first, PEM. */
  readonly cert: string | Buffer;
  /** The private key, PEM. Never logged. */
  readonly key: string | Buffer;
}

/** How a server built here reports refusals and which extra context options it keeps across rotations. */
export interface SourceServerOptions {
  /** Told of every refused client: a `PeerAuthenticationError` naming the ID and the rule, or the handshake's error. */
  readonly onRefused?: (error: Error) => void;
  /** Told when a rotated SVID could not be installed (the previous one stays in force). */
  readonly onRotationError?: (error: Error) => void;
  /** Context options (ciphers, minVersion...) kept on every certificate swap. @default {} */
  readonly secureContextOptions?: SecureContextOptions;
}

const verifiedPeers = new WeakMap<TLSSocket, VerifiedX509Svid>();

/**
 * Client options that verify the server by SPIFFE ID and present no certificate (go-spiffe
 * `TLSClientConfig`). A snapshot of the bundles: take them per connection. Node skips
 * `checkServerIdentity` on a resumed session, so do not hand a `session` back, and give
 * `https.request` `agent: false` (or an Agent with `maxCachedSessions: 0`).
 */
export function tlsClientOptions(bundles: TlsBundleSource, authorizer: SpiffeIdAuthorizer): ConnectionOptions {
  return {
    secureContext: createSecureContext({ ca: authoritiesPem(bundles) }),
    rejectUnauthorized: true,
    checkServerIdentity: spiffeServerCheck(bundles, authorizer),
  };
}

/**
 * Client options that present our current SVID and verify the server by SPIFFE ID (go-spiffe
 * `MTLSClientConfig`). Take them per connection so each presents the SVID in force; the same
 * session caveat as `tlsClientOptions` applies.
 */
export function mtlsClientOptions(source: SpiffeTlsSource, authorizer: SpiffeIdAuthorizer): ConnectionOptions {
  return {
    secureContext: createSecureContext({ ...svidContextOptions(source), ca: authoritiesPem(source) }),
    rejectUnauthorized: true,
    checkServerIdentity: spiffeServerCheck(source, authorizer),
  };
}

/**
 * Client options that present our SVID to a server with a Web PKI certificate, checked the
 * usual way: chain to `roots` and hostname (go-spiffe `MTLSWebClientConfig`).
 * @param roots the CAs the server's certificate must chain to; default Node's bundled Mozilla roots.
 */
export function mtlsWebClientOptions(svids: X509SvidSource, roots: readonly (string | Buffer)[] = rootCertificates): ConnectionOptions {
  return {
    secureContext: createSecureContext({ ...svidContextOptions(svids), ca: [...roots] }),
    rejectUnauthorized: true,
  };
}

/**
 * The SPIFFE ID of the peer on a TLS socket: the one a server built here verified, or on a
 * client socket made with these options, the server's (Node marks it `authorized` only once
 * our check passed). `undefined` when the peer was not verified by SPIFFE rules.
 */
export function peerSpiffeId(socket: TLSSocket): SpiffeId | undefined {
  const verified = verifiedPeers.get(socket);
  if (verified !== undefined) return verified.id;
  if (!socket.authorized) return undefined;
  const raw = socket.getPeerCertificate().raw as Buffer | undefined;
  return raw === undefined ? undefined : spiffeIdOfLeaf(raw);
}

/** What a server mode presents and whom it verifies. */
interface ServerMode {
  /** The key, certificate and CA hints in force now. */
  contextOptions(): SecureContextOptions;
  /** Absent: no client certificate is asked for. */
  readonly verifyClient?: { readonly bundles: X509BundleSource; readonly authorizer: SpiffeIdAuthorizer };
  readonly updates: UpdatingSource | undefined;
}

/**
 * Creates the server with the mode's options and keeps it current and checked.
 *
 * Rotation: every source update becomes the server's default context through
 * `server.setSecureContext`, which applies to handshakes that start afterwards while open
 * connections keep theirs. `SNICallback` was not chosen: Node calls it only when the client
 * sends SNI, and clients dialling an IP address (Node and Go both) send none, so they would
 * keep getting the creation-time certificate after it expired.
 *
 * Verification: the client's chain is checked by us against its own trust domain's bundle
 * (`rejectUnauthorized` is off so that every refusal carries our message, not OpenSSL's
 * verify code; `ca` still lists every authority so clients know which CAs we accept).
 * The check runs in `emit("secureConnection")` before any listener: a refused socket is
 * destroyed and never reaches the application's listeners (https' request parser, http2's
 * session), so nothing it sent is read and nothing is written to it.
 */
function createSourceServer<S extends TlsServer>(mode: ServerMode, create: (options: TlsOptions) => S, options: SourceServerOptions): S {
  // A TLS 1.2 client could renegotiate with another certificate after we verified the first;
  // `getPeerCertificate()` (grpc-js' auth context reads it) would then name an unverified ID.
  const extra = { ...options.secureContextOptions, secureOptions: (options.secureContextOptions?.secureOptions ?? 0) | constants.SSL_OP_NO_RENEGOTIATION };
  const server = create({
    ...extra,
    ...mode.contextOptions(),
    requestCert: mode.verifyClient !== undefined,
    rejectUnauthorized: false,
  });
  if (!(server instanceof TlsServer)) {
    throw new TypeError("the factory must return a tls.Server (tls.createServer, https.createServer or http2.createSecureServer)");
  }
  const verifyClient = mode.verifyClient;
  const emit = server.emit.bind(server);
  const checkedEmit = (event: string | symbol, ...args: unknown[]): boolean => {
    if (event === "secureConnection" && verifyClient !== undefined) {
      const socket = args[0] as TLSSocket;
      try {
        verifiedPeers.set(socket, verifyPeer(socket.getPeerCertificate(true), verifyClient.bundles, verifyClient.authorizer));
      } catch (error: unknown) {
        socket.destroy();
        options.onRefused?.(error instanceof Error ? error : new Error(describeError(error)));
        return false;
      }
    }
    return emit(event, ...args);
  };
  server.emit = checkedEmit as typeof server.emit;
  const onUpdate = (): void => {
    try {
      server.setSecureContext({ ...extra, ...mode.contextOptions() });
    } catch (error: unknown) {
      options.onRotationError?.(error instanceof Error ? error : new Error(describeError(error)));
    }
  };
  const onClientError = (error: Error): void => options.onRefused?.(error);
  mode.updates?.on("update", onUpdate);
  server.on("tlsClientError", onClientError);
  server.once("close", () => mode.updates?.off("update", onUpdate));
  return server;
}

/**
 * A server that presents our SVID and asks no client certificate (go-spiffe
 * `TLSServerConfig`), for clients that prove who they are otherwise (a JWT-SVID).
 * `create` is given the options, e.g. `(options) => https.createServer(options, app)`.
 */
export function createTlsServer<S extends TlsServer>(
  svids: X509SvidSource,
  create: (options: TlsOptions) => S,
  options: SourceServerOptions = {},
): S {
  return createSourceServer({ contextOptions: () => svidContextOptions(svids), updates: updatesOf(svids) }, create, options);
}

/**
 * A server that presents our SVID and accepts only clients whose SVID verifies against their
 * trust domain's bundle and passes `authorizer` (go-spiffe `MTLSServerConfig`). The SVID is
 * swapped on each source update without a restart. `peerSpiffeId(req.socket)` names the client.
 */
export function createMtlsServer<S extends TlsServer>(
  source: SpiffeTlsSource,
  authorizer: SpiffeIdAuthorizer,
  create: (options: TlsOptions) => S,
  options: SourceServerOptions = {},
): S {
  return createSourceServer(
    {
      contextOptions: () => ({ ...svidContextOptions(source), ca: authoritiesPem(source) }),
      verifyClient: { bundles: source, authorizer },
      updates: updatesOf(source),
    },
    create,
    options,
  );
}

/**
 * A server that presents a Web PKI certificate and accepts only clients with an authorized
 * X.509-SVID (go-spiffe `MTLSWebServerConfig`). The certificate is fixed; the CA hints follow
 * the bundle source's updates.
 */
export function createMtlsWebServer<S extends TlsServer>(
  identity: WebIdentity,
  bundles: TlsBundleSource,
  authorizer: SpiffeIdAuthorizer,
  create: (options: TlsOptions) => S,
  options: SourceServerOptions = {},
): S {
  return createSourceServer(
    {
      contextOptions: () => ({ cert: identity.cert, key: identity.key, ca: authoritiesPem(bundles) }),
      verifyClient: { bundles, authorizer },
      updates: updatesOf(bundles),
    },
    create,
    options,
  );
}
