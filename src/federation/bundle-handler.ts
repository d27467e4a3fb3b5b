import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import { describeError } from "../errors.js";
import type { JwtBundleSource } from "../spiffe/jwt-bundle.js";
import { marshalSpiffeBundle, type SpiffeBundle } from "../spiffe/spiffe-bundle.js";
import type { TrustDomain } from "../spiffe/spiffe-id.js";
import type { X509BundleSource } from "../spiffe/x509-bundle.js";
import { marshalX509SvidPem, type X509Svid } from "../spiffe/x509-svid.js";
import { FederationError } from "./errors.js";

/** A bundle to serve: a fixed value, or a getter asked on every request (it may be async). */
export type BundleProvider = SpiffeBundle | (() => SpiffeBundle | Promise<SpiffeBundle>);

/** What `createBundleHandler` accepts. */
export interface BundleHandlerOptions {
  /** Called when the provider throws; the client gets a bare 500, never the error's text. */
  readonly onError?: (error: unknown) => void;
}

/** A `node:http`/`node:https` request listener. */
export type BundleRequestListener = (request: IncomingMessage, response: ServerResponse) => void;

/**
 * A request listener that serves a bundle in the SPIFFE bundle format (Trust Domain & Bundle
 * §4) with `spiffe_refresh_hint` and `spiffe_sequence` when the bundle has them, as
 * `application/json`, on any path: mount it where the endpoint URL points. GET and HEAD only
 * (SPIFFE Federation §5.1 defines a GET); other methods get 405.
 */
export function createBundleHandler(provider: BundleProvider, options: BundleHandlerOptions = {}): BundleRequestListener {
  const current = typeof provider === "function" ? provider : () => provider;
  return (request, response) => {
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" }).end("method not allowed\n");
      return;
    }
    Promise.resolve()
      .then(current)
      .then((bundle) => {
        const body = Buffer.from(`${marshalSpiffeBundle(bundle)}\n`);
        response.writeHead(200, { "content-type": "application/json", "content-length": body.length, "cache-control": "no-store" });
        response.end(request.method === "HEAD" ? undefined : body);
      })
      .catch((error: unknown) => {
        options.onError?.(error);
        if (response.headersSent) {
          response.destroy();
          return;
        }
        response.writeHead(500, { "content-type": "text/plain; charset=utf-8" }).end("unable to serve the bundle\n");
      });
  };
}

/** What `bundleFromSources` accepts. */
export interface BundleFromSourcesOptions {
  /** Published as `spiffe_refresh_hint`, in seconds (Trust Domain & Bundle §4.1.2). */
  readonly refreshHintSeconds?: number;
}

/**
 * A provider that builds a trust domain's bundle from live sources (for example an
 * `X509Source` and a `JwtSource`), so the endpoint serves what the agent currently holds.
 * `spiffe_sequence` starts at 1 and goes up by one each time the served keys change, as §4.1.1
 * asks. Throws (a 500 from the handler) while the X.509 source has no bundle for the domain.
 */
export function bundleFromSources(
  trustDomain: TrustDomain,
  sources: { readonly x509: X509BundleSource; readonly jwt?: JwtBundleSource },
  options: BundleFromSourcesOptions = {},
): () => SpiffeBundle {
  let sequence = 0n;
  let lastKeys = "";
  return () => {
    const x509 = sources.x509.getX509Bundle(trustDomain);
    if (x509 === undefined) throw new FederationError("invalid-options", `the X.509 source holds no bundle for trust domain "${trustDomain.name}"`);
    const jwt = sources.jwt?.getJwtBundle(trustDomain);
    const keys: SpiffeBundle = {
      trustDomain,
      x509Authorities: x509.authorities.map((authority) => authority.der),
      jwtAuthorities: jwt?.authorities ?? new Map(),
    };
    const marshalled = marshalSpiffeBundle(keys);
    if (marshalled !== lastKeys) {
      lastKeys = marshalled;
      sequence += 1n;
    }
    return { ...keys, sequence, ...(options.refreshHintSeconds === undefined ? {} : { refreshHintSeconds: options.refreshHintSeconds }) };
  };
}

/**
 * The `key`/`cert` TLS options of an `https_spiffe` bundle endpoint: its X509-SVID, leaf then
 * intermediates. Pass a new SVID's to `server.setSecureContext` on rotation; open connections
 * keep theirs.
 */
export function bundleEndpointTlsOptions(svid: X509Svid): { key: string; cert: string } {
  const pem = marshalX509SvidPem(svid);
  return { key: pem.privateKeyPem, cert: pem.certificatesPem };
}

/**
 * An HTTPS server for an `https_spiffe` bundle endpoint (SPIFFE Federation §5.2.2): it
 * presents `svid` and asks no client certificate, since anyone may read a bundle. Call
 * `listen` on it; swap the SVID with `server.setSecureContext(bundleEndpointTlsOptions(next))`.
 */
export function createBundleEndpointServer(svid: X509Svid, provider: BundleProvider, options: BundleHandlerOptions = {}): Server {
  try {
    return createServer({ ...bundleEndpointTlsOptions(svid), requestCert: false }, createBundleHandler(provider, options));
  } catch (error: unknown) {
    throw new FederationError("invalid-options", `cannot serve with the X509-SVID of ${svid.id.toString()}: ${describeError(error)}`, { cause: error });
  }
}
