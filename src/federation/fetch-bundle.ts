import type { IncomingMessage } from "node:http";
import { request } from "node:https";
import type { ConnectionOptions, PeerCertificate } from "node:tls";
import { describeError } from "../errors.js";
import { encodePem } from "../spiffe/pem.js";
import { parseSpiffeBundle, SpiffeBundleError, type SpiffeBundle } from "../spiffe/spiffe-bundle.js";
import { parseSpiffeId, parseTrustDomain, type SpiffeId, type TrustDomain } from "../spiffe/spiffe-id.js";
import { X509BundleSet, type X509Bundle, type X509BundleSource } from "../spiffe/x509-bundle.js";
import { PeerAuthenticationError } from "../tls/errors.js";
import { authorizeSpiffeId, verifyPeerCertificate } from "../tls/peer-authorization.js";
import { FederationError } from "./errors.js";

/**
 * How the bundle endpoint's server is authenticated (SPIFFE Federation §5.2).
 * - `https_web`: a Web PKI certificate for the URL's host, checked against Node's default CAs
 *   or `ca` when given.
 * - `https_spiffe`: an X509-SVID whose SPIFFE ID must equal `endpointSpiffeId`, verified
 *   against the bundle of that ID's trust domain only, taken from `bundles`.
 */
export type BundleEndpointProfile =
  | { readonly type: "https_web"; readonly ca?: string | Buffer | readonly (string | Buffer)[] }
  | { readonly type: "https_spiffe"; readonly endpointSpiffeId: string | SpiffeId; readonly bundles: X509BundleSource | X509Bundle };

/** What `fetchBundle` accepts beyond the trust domain and URL. */
export interface FetchBundleOptions {
  readonly profile: BundleEndpointProfile;
  /**
   * Deadline for the whole request: connection, handshake, headers and body.
   * @default 10000
   */
  readonly timeoutMs?: number;
  /**
   * Largest body accepted. A bundle of a few dozen keys is tens of kilobytes; a bound keeps a
   * misbehaving endpoint from filling our memory.
   * @default 1048576
   */
  readonly maxBodyBytes?: number;
  /** Aborts the request. */
  readonly signal?: AbortSignal;
}

/** Default deadline of one fetch. */
export const DEFAULT_FETCH_TIMEOUT_MS = 10_000;
/** Default bound on a bundle endpoint's response body. */
export const DEFAULT_MAX_BUNDLE_BYTES = 1024 * 1024;

/** OpenSSL's verdicts on a chain or name, as Node reports them: an authentication failure, not a network one. */
const CERTIFICATE_ERROR_CODES: ReadonlySet<string> = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "INVALID_PURPOSE",
  "INVALID_CA",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/**
 * Fetches a trust domain's bundle from its bundle endpoint (SPIFFE Federation §5) and parses
 * it as a SPIFFE bundle (Trust Domain & Bundle §4): X.509 and JWT authorities, refresh hint
 * and sequence number. Under `https_spiffe` the server is authenticated inside the handshake,
 * so no request is sent to a server that is not the expected SPIFFE ID. Up to
 * `MAX_BUNDLE_REDIRECTS` redirects are followed, each target checked as the URL was.
 */
export async function fetchBundle(trustDomain: string | TrustDomain, url: string | URL, options: FetchBundleOptions): Promise<SpiffeBundle> {
  const domain = typeof trustDomain === "string" ? parseTrustDomainOption(trustDomain) : trustDomain;
  const endpoint = parseEndpointUrl(url);
  const timeoutMs = positiveOption("timeoutMs", options.timeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS);
  const maxBodyBytes = positiveOption("maxBodyBytes", options.maxBodyBytes ?? DEFAULT_MAX_BUNDLE_BYTES);
  const tlsOptions = profileTlsOptions(options.profile);
  const body = await requestBody(endpoint, tlsOptions, { timeoutMs, maxBodyBytes, signal: options.signal });
  try {
    return parseSpiffeBundle(domain, body);
  } catch (error: unknown) {
    if (!(error instanceof SpiffeBundleError)) throw error;
    throw new FederationError("invalid-bundle", `bundle endpoint ${endpoint.href} sent an invalid bundle: ${error.message}`, { cause: error });
  }
}

/** A trust domain name from an option, or an `invalid-options` error naming it. */
export function parseTrustDomainOption(name: string): TrustDomain {
  try {
    return parseTrustDomain(name);
  } catch (error: unknown) {
    throw new FederationError("invalid-options", `trust domain ${JSON.stringify(name)}: ${describeError(error)}`, { cause: error });
  }
}

/** Bundle endpoint URLs are HTTPS without userinfo (SPIFFE Federation §5.2); plain HTTP would let anyone on the path swap the keys. */
function parseEndpointUrl(url: string | URL): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error: unknown) {
    throw new FederationError("invalid-options", `bundle endpoint URL ${JSON.stringify(String(url))} is not a URL`, { cause: error });
  }
  if (parsed.protocol !== "https:") {
    throw new FederationError("invalid-options", `bundle endpoint URL ${parsed.href} must use https (SPIFFE Federation §5.2)`);
  }
  if (parsed.username !== "" || parsed.password !== "") {
    throw new FederationError("invalid-options", `bundle endpoint URL for ${parsed.host} must not carry a user name or password (SPIFFE Federation §5.2)`);
  }
  return parsed;
}

function positiveOption(name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) throw new FederationError("invalid-options", `${name} must be a positive number, got ${value}`);
  return value;
}

/** The TLS options of a profile. */
function profileTlsOptions(profile: BundleEndpointProfile): ConnectionOptions {
  if (profile.type === "https_web") {
    return profile.ca === undefined ? { rejectUnauthorized: true } : { rejectUnauthorized: true, ca: toMutable(profile.ca) };
  }
  const endpointId = parseEndpointId(profile.endpointSpiffeId);
  const anchor = "getX509Bundle" in profile.bundles ? profile.bundles.getX509Bundle(endpointId.trustDomain) : profile.bundles;
  if (anchor === undefined || anchor.trustDomain.name !== endpointId.trustDomain.name || anchor.authorities.length === 0) {
    throw new FederationError(
      "no-endpoint-bundle",
      `no X.509 bundle for trust domain "${endpointId.trustDomain.name}" to authenticate bundle endpoint ${endpointId.toString()} (https_spiffe needs one, e.g. from the endpoint's operator)`,
    );
  }
  const anchors = new X509BundleSet([anchor]);
  const authorizer = authorizeSpiffeId([endpointId.toString()]);
  return {
    // OpenSSL checks the chain against this one trust domain's authorities; checkServerIdentity
    // then applies the X509-SVID rules and the ID, replacing the host name check (Federation §5.2.2).
    ca: anchor.authorities.map((authority) => encodePem("CERTIFICATE", authority.der)),
    rejectUnauthorized: true,
    checkServerIdentity: (_hostname: string, certificate: PeerCertificate) => {
      try {
        verifyPeerCertificate(certificate, anchors, authorizer);
        return undefined;
      } catch (error: unknown) {
        const reason = error instanceof PeerAuthenticationError ? error.message : describeError(error);
        return new FederationError("endpoint-not-authenticated", `bundle endpoint is not ${endpointId.toString()}: ${reason}`, { cause: error });
      }
    },
  };
}

function parseEndpointId(id: string | SpiffeId): SpiffeId {
  if (typeof id !== "string") return id;
  try {
    return parseSpiffeId(id);
  } catch (error: unknown) {
    throw new FederationError("invalid-options", `endpointSpiffeId ${JSON.stringify(id)}: ${describeError(error)}`, { cause: error });
  }
}

function toMutable(ca: string | Buffer | readonly (string | Buffer)[]): string | Buffer | (string | Buffer)[] {
  return typeof ca === "string" || Buffer.isBuffer(ca) ? ca : [...ca];
}

interface RequestLimits {
  readonly timeoutMs: number;
  readonly maxBodyBytes: number;
  readonly signal: AbortSignal | undefined;
}

/** Redirects followed per fetch; a bundle endpoint has no reason to chain them. */
export const MAX_BUNDLE_REDIRECTS = 3;
const REDIRECT_STATUSES: ReadonlySet<number | undefined> = new Set([301, 302, 303, 307, 308]);

/**
 * GETs the URL and resolves with the body of a 200 response; every other outcome is a
 * FederationError. Redirects are followed with the same TLS checks and within the same
 * deadline, and never remembered (SPIFFE Federation §5).
 */
async function requestBody(url: URL, tlsOptions: ConnectionOptions, limits: RequestLimits): Promise<Buffer> {
  const deadline = Date.now() + limits.timeoutMs;
  let current = url;
  for (let hops = 0; ; hops++) {
    const outcome = await requestOnce(current, tlsOptions, { ...limits, timeoutMs: deadline - Date.now() }, limits.timeoutMs);
    if ("body" in outcome) return outcome.body;
    if (hops === MAX_BUNDLE_REDIRECTS) {
      throw new FederationError("bad-redirect", `bundle endpoint ${url.href} redirected more than ${MAX_BUNDLE_REDIRECTS} times`);
    }
    current = redirectTarget(current, outcome.location);
  }
}

function redirectTarget(from: URL, location: string): URL {
  try {
    return parseEndpointUrl(new URL(location, from));
  } catch (error: unknown) {
    throw new FederationError("bad-redirect", `bundle endpoint ${from.href} redirected to ${JSON.stringify(location)}, which is not a bundle endpoint URL: ${describeError(error)}`, { cause: error });
  }
}

/** One GET: the body of a 200, the location of a redirect, or a FederationError. */
function requestOnce(url: URL, tlsOptions: ConnectionOptions, limits: RequestLimits, totalTimeoutMs: number): Promise<{ body: Buffer } | { location: string }> {
  const { signal } = limits;
  if (signal?.aborted === true) {
    return Promise.reject(new FederationError("aborted", `fetching the bundle from ${url.href} was aborted`, { cause: signal.reason }));
  }
  const timeout = (): FederationError => new FederationError("timeout", `bundle endpoint ${url.href} did not answer within ${totalTimeoutMs} ms`);
  if (limits.timeoutMs <= 0) return Promise.reject(timeout());
  return new Promise((resolve, reject) => {
    // agent: false, so each fetch has a fresh TLS session: Node skips checkServerIdentity on a resumed one.
    const req = request(url, { ...tlsOptions, method: "GET", agent: false, headers: { accept: "application/json" } });
    let settled = false;
    const finish = (outcome: { body: Buffer } | { location: string } | { error: FederationError }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      if ("error" in outcome) reject(outcome.error);
      else resolve(outcome);
      if (!("body" in outcome)) req.destroy();
    };
    const fail = (error: FederationError): void => finish({ error });
    const timer = setTimeout(() => fail(timeout()), limits.timeoutMs);
    const onAbort = (): void => fail(new FederationError("aborted", `fetching the bundle from ${url.href} was aborted`, { cause: signal?.reason }));
    signal?.addEventListener("abort", onAbort, { once: true });
    req.on("error", (error: Error) => fail(asFederationError(url, error)));
    req.on("response", (response: IncomingMessage) => {
      const location = response.headers.location;
      if (REDIRECT_STATUSES.has(response.statusCode) && location !== undefined) {
        finish({ location });
        return;
      }
      if (response.statusCode !== 200) {
        fail(new FederationError("http-status", `bundle endpoint ${url.href} answered HTTP ${String(response.statusCode)} ${response.statusMessage ?? ""}`.trimEnd()));
        return;
      }
      if (Number(response.headers["content-length"]) > limits.maxBodyBytes) {
        fail(tooLarge(url, limits.maxBodyBytes));
        return;
      }
      const chunks: Buffer[] = [];
      let received = 0;
      response.on("data", (chunk: Buffer) => {
        received += chunk.length;
        if (received > limits.maxBodyBytes) fail(tooLarge(url, limits.maxBodyBytes));
        else chunks.push(chunk);
      });
      response.on("error", (error: Error) => fail(asFederationError(url, error)));
      response.on("end", () => finish({ body: Buffer.concat(chunks) }));
    });
    req.end();
  });
}

function tooLarge(url: URL, maxBodyBytes: number): FederationError {
  return new FederationError("body-too-large", `bundle endpoint ${url.href} sent more than ${maxBodyBytes} bytes; raise maxBodyBytes if the bundle is really that large`);
}

function asFederationError(url: URL, error: Error): FederationError {
  if (error instanceof FederationError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== undefined && CERTIFICATE_ERROR_CODES.has(code)) {
    return new FederationError("endpoint-not-authenticated", `bundle endpoint ${url.href} was not authenticated: ${error.message} (${code})`, { cause: error });
  }
  return new FederationError("connection-failed", `cannot fetch the bundle from ${url.href}: ${error.message}${code === undefined ? "" : ` (${code})`}`, { cause: error });
}
