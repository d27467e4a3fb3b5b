import { isIPv4, isIPv6 } from "node:net";
import { SpiffeSidecarError } from "../errors.js";

/** The environment variable a client falls back to when no address is configured (Workload Endpoint §4). */
export const ENDPOINT_SOCKET_ENV = "SPIFFE_ENDPOINT_SOCKET";

/** A Workload API address that broke a rule of SPIFFE Workload Endpoint §4; the message names it and the fix. */
export class EndpointAddressError extends SpiffeSidecarError {
  readonly code = "ERR_ENDPOINT_ADDRESS";
}

export type EndpointAddress =
  | { readonly kind: "unix"; readonly path: string }
  | { readonly kind: "tcp"; readonly host: string; readonly port: number };

const SPEC = "(SPIFFE Workload Endpoint §4)";
const UNIX_FIX = "write unix:///absolute/path/to/agent.sock";
const TCP_FIX = "write tcp://<IP>:<port>, e.g. tcp://127.0.0.1:8000";

// RFC 3986 Appendix B: the reference regular expression that splits any URI reference.
const URI_PARTS = /^(?:([^:/?#]+):)?(?:\/\/([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/;

interface UriParts {
  scheme: string | undefined;
  authority: string | undefined;
  path: string;
  query: string | undefined;
  fragment: string | undefined;
}

function splitUri(text: string): UriParts {
  const match = URI_PARTS.exec(text);
  // The expression matches every string; the guard only satisfies the type checker.
  if (match === null) throw new EndpointAddressError(`workload endpoint socket is not a valid URI ${SPEC}`);
  return { scheme: match[1], authority: match[2], path: match[3] ?? "", query: match[4], fragment: match[5] };
}

function fail(kind: "unix" | "tcp", rule: string): never {
  throw new EndpointAddressError(
    `workload endpoint ${kind} socket URI ${rule}: ${kind === "unix" ? UNIX_FIX : TCP_FIX} ${SPEC}`,
  );
}

function decodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return fail("unix", "has a path with invalid percent-encoding");
  }
}

/**
 * `unix:///abs` and `unix:/abs` are accepted. `unix://name[/...]` is rejected although go-spiffe
 * accepts it: the spec says the authority "MUST NOT be set", and gRPC would read `name` as an
 * authority or a relative path, never as the socket the user meant.
 */
function parseUnix(parts: UriParts): EndpointAddress {
  if (parts.authority === undefined && !parts.path.startsWith("/") && parts.path !== "") {
    fail("unix", "must not be opaque");
  }
  if (parts.authority?.includes("@")) fail("unix", "must not include user info");
  if (!parts.authority && parts.path === "") fail("unix", "must include a path");
  if (parts.query !== undefined) fail("unix", "must not include query values");
  if (parts.fragment !== undefined) fail("unix", "must not include a fragment");
  if (parts.authority) {
    fail("unix", `must not include an authority ("${parts.authority}"); the path must be absolute`);
  }
  if (parts.path === "/") fail("unix", "must include a path");
  return { kind: "unix", path: decodePath(parts.path) };
}

/** Splits `host:port` or `[v6]:port`; returns the host without brackets. */
function splitHostPort(authority: string): { host: string; port: string | undefined } {
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    if (close === -1) return { host: authority, port: undefined };
    const rest = authority.slice(close + 1);
    return { host: authority.slice(1, close), port: rest.startsWith(":") ? rest.slice(1) : undefined };
  }
  const colon = authority.lastIndexOf(":");
  if (colon === -1) return { host: authority, port: undefined };
  return { host: authority.slice(0, colon), port: authority.slice(colon + 1) };
}

function parseTcp(parts: UriParts): EndpointAddress {
  if (parts.authority === undefined) fail("tcp", "must not be opaque");
  if (parts.authority.includes("@")) fail("tcp", "must not include user info");
  if (parts.authority === "") fail("tcp", "must include a host");
  if (parts.path !== "") fail("tcp", "must not include a path");
  if (parts.query !== undefined) fail("tcp", "must not include query values");
  if (parts.fragment !== undefined) fail("tcp", "must not include a fragment");
  const { host, port } = splitHostPort(parts.authority);
  const bracketed = parts.authority.startsWith("[");
  if (!(bracketed ? isIPv6(host) : isIPv4(host))) {
    fail("tcp", `host component must be an IP:port, not "${parts.authority}"`);
  }
  if (port === undefined || port === "") fail("tcp", "host component must include a port");
  const portNumber = /^\d{1,5}$/.test(port) ? Number(port) : Number.NaN;
  if (!(portNumber >= 1 && portNumber <= 65535)) {
    fail("tcp", `port must be a number from 1 to 65535, not "${port}"`);
  }
  return { kind: "tcp", host, port: portNumber };
}

/**
 * Parses a Workload API endpoint address: `unix:///abs/path`, `unix:/abs/path`,
 * `tcp://IP:port` (IPv4, or IPv6 in brackets), or — an extension for spiffe-helper's
 * `agent_address`, which the spec and go-spiffe reject — a bare absolute socket path.
 */
export function parseEndpointAddress(text: string): EndpointAddress {
  // Go's net/url refuses control characters; WHATWG URL would silently strip tabs and newlines.
  if (/[\x00-\x1f\x7f]/.test(text)) {
    throw new EndpointAddressError(
      `workload endpoint socket URI contains an invalid control character: remove it ${SPEC}`,
    );
  }
  if (text.startsWith("/")) return { kind: "unix", path: text };
  const parts = splitUri(text);
  // RFC 3986 §3.1: schemes are case-insensitive.
  switch (parts.scheme?.toLowerCase()) {
    case "unix":
      return parseUnix(parts);
    case "tcp":
      return parseTcp(parts);
    default:
      throw new EndpointAddressError(
        `workload endpoint socket URI must have a "tcp" or "unix" scheme, got ${JSON.stringify(text)}: ` +
          `${UNIX_FIX}, or ${TCP_FIX} ${SPEC}`,
      );
  }
}

/**
 * The configured address if there is one, else `SPIFFE_ENDPOINT_SOCKET`: clients "MUST fall
 * back to the environment variable" (Workload Endpoint §4).
 */
export function resolveEndpointAddress(
  configured: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): EndpointAddress {
  if (configured !== undefined && configured !== "") return parseEndpointAddress(configured);
  const fromEnv = env[ENDPOINT_SOCKET_ENV];
  if (fromEnv !== undefined && fromEnv !== "") return parseEndpointAddress(fromEnv);
  throw new EndpointAddressError(
    `no Workload API address: set agent_address in the configuration or the ${ENDPOINT_SOCKET_ENV} ` +
      `environment variable, e.g. unix:///tmp/spire-agent/public/api.sock ${SPEC}`,
  );
}

/**
 * The grpc-js target for an address. grpc-js reads `unix://name` as a relative path, so a
 * Unix address is always written with an empty authority and its absolute path.
 */
export function grpcTarget(address: EndpointAddress): string {
  if (address.kind === "unix") return `unix://${address.path}`;
  return isIPv6(address.host) ? `ipv6:[${address.host}]:${address.port}` : `ipv4:${address.host}:${address.port}`;
}

/** The address as a user would write it, for messages: `unix:///abs/path` or `tcp://IP:port`. */
export function formatEndpointAddress(address: EndpointAddress): string {
  if (address.kind === "unix") return `unix://${address.path}`;
  const host = isIPv6(address.host) ? `[${address.host}]` : address.host;
  return `tcp://${host}:${address.port}`;
}
