import { experimental, ServerCredentials, type ChannelCredentials, type Server as GrpcServer } from "@grpc/grpc-js";
import { createServer as createTlsSocketServer, rootCertificates, type PeerCertificate, type Server as TlsServer } from "node:tls";
import type { SpiffeId } from "../spiffe/spiffe-id.js";
import type { SpiffeIdAuthorizer } from "../tls/peer-authorization.js";
import {
  authoritiesPem,
  spiffeServerCheck,
  spiffeIdOfLeaf,
  svidContextOptions,
  updatesOf,
  type SpiffeTlsSource,
  type TlsBundleSource,
  type UpdatingSource,
  type X509SvidSource,
} from "../tls/source-material.js";
import { createMtlsServer, createMtlsWebServer, createTlsServer, type SourceServerOptions, type WebIdentity } from "../tls/source-tls.js";

type CertificateProvider = experimental.CertificateProvider;
type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

/**
 * grpc-js' certificate-provider interface over a source: it hands the current authorities
 * and SVID to every listener at once and again on each source update. grpc-js builds each
 * new connection's context from the latest update, so a client presents the SVID in force.
 */
class SourceCertificateProvider implements CertificateProvider {
  readonly #caListeners = new Set<CaListener>();
  readonly #identityListeners = new Set<IdentityListener>();
  readonly #caPem: () => string | undefined;
  readonly #svids: X509SvidSource | undefined;
  readonly #updates: UpdatingSource | undefined;
  readonly #onUpdate = (): void => this.#publish();

  constructor(caPem: () => string | undefined, svids: X509SvidSource | undefined, updates: UpdatingSource | undefined) {
    this.#caPem = caPem;
    this.#svids = svids;
    this.#updates = updates;
  }

  addCaCertificateListener(listener: CaListener): void {
    this.#add(this.#caListeners, listener);
    listener(this.#caUpdate());
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.#remove(this.#caListeners, listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.#add(this.#identityListeners, listener);
    listener(this.#identityUpdate());
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.#remove(this.#identityListeners, listener);
  }

  #caUpdate(): experimental.CaCertificateUpdate | null {
    const pem = this.#caPem();
    return pem === undefined ? null : { caCertificate: Buffer.from(pem) };
  }

  #identityUpdate(): experimental.IdentityCertificateUpdate | null {
    if (this.#svids === undefined) return null;
    const { cert, key } = svidContextOptions(this.#svids);
    return { certificate: Buffer.from(cert), privateKey: Buffer.from(key) };
  }

  #publish(): void {
    const ca = this.#caUpdate();
    for (const listener of this.#caListeners) listener(ca);
    if (this.#identityListeners.size === 0) return;
    const identity = this.#identityUpdate();
    for (const listener of this.#identityListeners) listener(identity);
  }

  #add<L>(listeners: Set<L>, listener: L): void {
    if (this.#caListeners.size + this.#identityListeners.size === 0) this.#updates?.on("update", this.#onUpdate);
    listeners.add(listener);
  }

  #remove<L>(listeners: Set<L>, listener: L): void {
    listeners.delete(listener);
    if (this.#caListeners.size + this.#identityListeners.size === 0) this.#updates?.off("update", this.#onUpdate);
  }
}

function bundleProvider(bundles: TlsBundleSource, svids?: X509SvidSource): SourceCertificateProvider {
  return new SourceCertificateProvider(() => authoritiesPem(bundles).join(""), svids, updatesOf(bundles));
}

/**
 * Channel credentials that verify the server by SPIFFE ID and present no certificate
 * (go-spiffe `grpccredentials.TLSClientCredentials`). The check runs in `checkServerIdentity`,
 * before gRPC sends anything; a refusal fails the call with `UNAVAILABLE` and our message.
 */
export function grpcTlsClientCredentials(bundles: TlsBundleSource, authorizer: SpiffeIdAuthorizer): ChannelCredentials {
  return experimental.createCertificateProviderChannelCredentials(bundleProvider(bundles), null, {
    checkServerIdentity: spiffeServerCheck(bundles, authorizer),
  });
}

/**
 * Channel credentials that present our SVID and verify the server by SPIFFE ID (go-spiffe
 * `MTLSClientCredentials`). Each new connection uses the SVID and bundles in force.
 */
export function grpcMtlsClientCredentials(source: SpiffeTlsSource, authorizer: SpiffeIdAuthorizer): ChannelCredentials {
  const provider = bundleProvider(source, source);
  return experimental.createCertificateProviderChannelCredentials(provider, provider, {
    checkServerIdentity: spiffeServerCheck(source, authorizer),
  });
}

/**
 * Channel credentials that present our SVID to a server with a Web PKI certificate, checked
 * the usual way against `roots` and the target's host name (go-spiffe `MTLSWebClientCredentials`).
 * @param roots default Node's bundled Mozilla roots.
 */
export function grpcMtlsWebClientCredentials(svids: X509SvidSource, roots: readonly (string | Buffer)[] = rootCertificates): ChannelCredentials {
  const rootsPem = roots.map((root) => root.toString()).join("\n");
  const provider = new SourceCertificateProvider(() => rootsPem, svids, updatesOf(svids));
  return experimental.createCertificateProviderChannelCredentials(provider, provider, {});
}

/**
 * Serves `grpcServer` on the connections a server from `createMtlsServer` (or the other
 * `create*Server`) accepted, i.e. only on verified and authorized peers. grpc-js' own
 * `ServerCredentials` cannot be used for this: its TLS handshake pools every bundle in one
 * OpenSSL store and offers no hook where a connection could be checked against its own trust
 * domain's bundle and refused, and `getAuthContext()` exposes only the leaf. So the TLS
 * server is ours, and each accepted socket is handed to grpc-js' connection injector; the
 * TLS server must offer ALPN `h2` (the `createGrpc*Server` functions do).
 */
export function serveGrpc(tlsServer: TlsServer, grpcServer: GrpcServer): void {
  const injector = grpcServer.createConnectionInjector(ServerCredentials.createInsecure());
  tlsServer.on("secureConnection", (socket) => injector.injectConnection(socket));
  tlsServer.once("close", () => injector.destroy());
}

const GRPC_ALPN = { ALPNProtocols: ["h2"] };

/**
 * A TLS server, not yet listening, that serves `grpcServer` to clients with an authorized
 * X.509-SVID, presenting our SVID and swapping it on every source update (go-spiffe
 * `MTLSServerCredentials`). Call `.listen(port)` on it; `grpcPeerSpiffeId(call)` names the client.
 */
export function createGrpcMtlsServer(
  grpcServer: GrpcServer,
  source: SpiffeTlsSource,
  authorizer: SpiffeIdAuthorizer,
  options: SourceServerOptions = {},
): TlsServer {
  const server = createMtlsServer(source, authorizer, (tlsOptions) => createTlsSocketServer({ ...tlsOptions, ...GRPC_ALPN }), options);
  serveGrpc(server, grpcServer);
  return server;
}

/** As `createGrpcMtlsServer`, without client certificates (go-spiffe `TLSServerCredentials`). */
export function createGrpcTlsServer(grpcServer: GrpcServer, svids: X509SvidSource, options: SourceServerOptions = {}): TlsServer {
  const server = createTlsServer(svids, (tlsOptions) => createTlsSocketServer({ ...tlsOptions, ...GRPC_ALPN }), options);
  serveGrpc(server, grpcServer);
  return server;
}

/** As `createGrpcMtlsServer`, presenting a Web PKI certificate (go-spiffe `MTLSWebServerCredentials`). */
export function createGrpcMtlsWebServer(
  grpcServer: GrpcServer,
  identity: WebIdentity,
  bundles: TlsBundleSource,
  authorizer: SpiffeIdAuthorizer,
  options: SourceServerOptions = {},
): TlsServer {
  const server = createMtlsWebServer(identity, bundles, authorizer, (tlsOptions) => createTlsSocketServer({ ...tlsOptions, ...GRPC_ALPN }), options);
  serveGrpc(server, grpcServer);
  return server;
}

/** A gRPC server call: what `grpcPeerSpiffeId` reads (every grpc-js handler's `call` has it). */
export interface CallWithAuthContext {
  /** grpc-js' view of the connection's TLS peer (`sslPeerCertificate` is its leaf). */
  getAuthContext(): { readonly sslPeerCertificate?: PeerCertificate };
}

/**
 * The client's SPIFFE ID in a handler of a server from `createGrpcMtlsServer` (go-spiffe
 * `PeerIDFromContext`): read from the peer certificate grpc-js exposes, which our server
 * verified before the connection reached gRPC. `undefined` without a client certificate.
 */
export function grpcPeerSpiffeId(call: CallWithAuthContext): SpiffeId | undefined {
  const raw = call.getAuthContext().sslPeerCertificate?.raw as Buffer | undefined;
  return raw === undefined ? undefined : spiffeIdOfLeaf(raw);
}
