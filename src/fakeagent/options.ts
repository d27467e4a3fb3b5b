import { isAbsolute, resolve } from "node:path";
import type { Logger } from "pino";
import { describeError } from "../errors.js";
import { hasWorkloadPath, isMemberOf, parseSpiffeId, parseTrustDomain } from "../spiffe/spiffe-id.js";
import type { SpiffeId, TrustDomain } from "../spiffe/spiffe-id.js";
import type { KeyType } from "./ca.js";
import { FakeAgentConfigError } from "./errors.js";
import { validateFault } from "./faults.js";
import type { Fault } from "./faults.js";

export type { KeyType };
export const KEY_TYPES: readonly KeyType[] = ["ec-p256", "rsa-2048"];

/** One workload identity the agent issues SVIDs for (a SPIRE registration entry). */
export interface IdentityOptions {
  readonly spiffeId: string;
  /** Sent as `hint`; unique among identities when set (API §5.2.1). @default "" */
  readonly hint?: string;
}

/** What `startFakeAgent` accepts. Only `socketPath` and `trustDomain` are required. */
export interface FakeAgentOptions {
  /** Path of the Unix socket to serve on; its directory is created if missing. */
  readonly socketPath: string;
  /** The agent's own trust domain, e.g. `example.org`. */
  readonly trustDomain: string;
  /** Identities issued to every caller. None means every RPC but validation is denied. @default [] */
  readonly identities?: readonly IdentityOptions[];
  /** Lifetime of each X.509-SVID, in whole seconds, at least 1. @default 60 */
  readonly x509TtlSeconds?: number;
  /** Lifetime of each JWT-SVID, in whole seconds, at least 1. @default 300 */
  readonly jwtTtlSeconds?: number;
  /** Up to this much random delay is added to each half-life rotation. @default 0 */
  readonly rotationJitterMs?: number;
  /**
   * How long a new CA (or JWT key) is published before it issues. The old one is retired
   * after the longer of this and the SVID TTL, so nothing it signed stops verifying early.
   * @default half the X.509 TTL
   */
  readonly rotationOverlapMs?: number;
  /** NotBefore is set this far in the past to absorb clock skew. @default 5 */
  readonly backdateSeconds?: number;
  /** Key type of the CAs and the SVIDs. @default "ec-p256" */
  readonly keyType?: KeyType;
  /** Issue SVIDs from an intermediate CA, so chains are leaf + intermediate. @default false */
  readonly intermediate?: boolean;
  /** Trust domains whose bundles are sent as federated bundles. @default [] */
  readonly federatesWith?: readonly string[];
  /**
   * For some of `federatesWith`: a PEM file to take the trust domain's X.509 bundle from,
   * such as another agent's `writeBundlePath`, instead of a CA of the agent's own. The file is
   * watched (its directory is created if missing); while it is missing or empty the trust
   * domain is left out. @default {}
   */
  readonly federatedBundleFiles?: Readonly<Record<string, string>>;
  /** Faults in force from the start. @default [] */
  readonly faults?: readonly Fault[];
  /** Keep this file holding the own trust domain's CA bundle as PEM. @default none */
  readonly writeBundlePath?: string;
  /** Where pushes and changes are logged. @default a silent logger */
  readonly logger?: Logger;
}

/** A federated trust domain whose X.509 bundle is read from a PEM file. */
export interface FederatedBundleFile {
  readonly trustDomain: TrustDomain;
  /** Absolute path. */
  readonly path: string;
}

export interface Identity {
  readonly spiffeId: SpiffeId;
  readonly hint: string;
}

/** The settings that can change while the agent runs (config reload, `update`). */
export interface LiveSettings {
  readonly identities: readonly Identity[];
  readonly x509TtlSeconds: number;
  readonly jwtTtlSeconds: number;
  readonly rotationJitterMs: number;
  readonly rotationOverlapMs: number;
  readonly backdateSeconds: number;
  readonly federatesWith: readonly TrustDomain[];
  /** In `federatesWith` order. */
  readonly federatedBundleFiles: readonly FederatedBundleFile[];
  readonly faults: readonly Fault[];
}

export interface ResolvedOptions extends LiveSettings {
  readonly socketPath: string;
  readonly trustDomain: TrustDomain;
  readonly keyType: KeyType;
  readonly intermediate: boolean;
  readonly writeBundlePath: string | undefined;
}

/** Names an option the way the user wrote it (`x509_ttl in agent.yaml`, `--x509-ttl`). */
export type KeyLabeler = (key: keyof FakeAgentOptions) => string;

/** API §8: servers should not support hints longer than 1024 bytes. */
const MAX_HINT_BYTES = 1024;
/** Linux `sun_path` holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

const DEFAULT_X509_TTL_SECONDS = 60;
const DEFAULT_JWT_TTL_SECONDS = 300;
const DEFAULT_BACKDATE_SECONDS = 5;

function fail(label: string, problem: string): never {
  throw new FakeAgentConfigError(`${label}: ${problem}`);
}

function wholeSeconds(label: string, value: number | undefined, fallback: number, minimum: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < minimum) {
    fail(label, `${String(value)} is not allowed; use a whole number of seconds, at least ${minimum}s`);
  }
  return value;
}

function nonNegativeMs(label: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0) fail(label, `${String(value)} is not allowed; use 0 or more`);
  return Math.round(value);
}

function resolveTrustDomain(label: string, text: string): TrustDomain {
  try {
    return parseTrustDomain(text);
  } catch (error: unknown) {
    return fail(label, `"${text}" is not a trust domain: ${describeError(error)}; write it like example.org`);
  }
}

function resolveIdentities(label: string, trustDomain: TrustDomain, entries: readonly IdentityOptions[]): Identity[] {
  const seenHints = new Set<string>();
  const seenEntries = new Set<string>();
  return entries.map((entry, index) => {
    const where = `${label} entry ${index + 1}`;
    let spiffeId: SpiffeId;
    try {
      spiffeId = parseSpiffeId(entry.spiffeId);
    } catch (error: unknown) {
      return fail(where, `"${entry.spiffeId}" is not a SPIFFE ID: ${describeError(error)}`);
    }
    if (!isMemberOf(spiffeId, trustDomain)) {
      fail(where, `${entry.spiffeId} is not in trust domain ${trustDomain.name}; an agent issues only its own trust domain's SVIDs, so use spiffe://${trustDomain.name}${spiffeId.path || "/workload"}`);
    }
    if (!hasWorkloadPath(spiffeId)) {
      fail(where, `${entry.spiffeId} has no path; an X509-SVID leaf needs one (X509-SVID §3.1), e.g. ${entry.spiffeId}/app`);
    }
    const hint = entry.hint ?? "";
    if (Buffer.byteLength(hint, "utf8") > MAX_HINT_BYTES) fail(where, `hint is longer than ${MAX_HINT_BYTES} bytes (Workload API §8); shorten it`);
    if (hint !== "" && seenHints.has(hint)) fail(where, `hint "${hint}" is used twice; hints must be unique (Workload API §5.2.1)`);
    const entryKey = `${spiffeId.toString()}\u0000${hint}`;
    if (seenEntries.has(entryKey)) fail(where, `${entry.spiffeId} is listed twice; remove the duplicate or give each a different hint`);
    seenHints.add(hint);
    seenEntries.add(entryKey);
    return { spiffeId, hint };
  });
}

function resolveFederation(label: string, own: TrustDomain, names: readonly string[]): TrustDomain[] {
  const seen = new Set<string>();
  return names.map((name) => {
    const trustDomain = resolveTrustDomain(label, name);
    if (trustDomain.name === own.name) fail(label, `${name} is the agent's own trust domain; list only other trust domains`);
    if (seen.has(trustDomain.name)) fail(label, `${trustDomain.name} is listed twice; remove the duplicate`);
    seen.add(trustDomain.name);
    return trustDomain;
  });
}

/** Each key must be a trust domain in `federatesWith` and must not name the agent's own bundle file. */
function resolveBundleFiles(
  label: KeyLabeler,
  federatesWith: readonly TrustDomain[],
  writeBundlePath: string | undefined,
  files: Readonly<Record<string, string>>,
): FederatedBundleFile[] {
  const where = label("federatedBundleFiles");
  // A label equal to the key means no source named it; then say where each source sets it.
  const federation = label("federatesWith");
  const addToFederation = federation === "federatesWith" ? "add it to federatesWith (federates_with: in a config file, --federate as a flag)" : `add it to ${federation}`;
  const byName = new Map<string, FederatedBundleFile>();
  for (const [name, path] of Object.entries(files)) {
    const trustDomain = resolveTrustDomain(where, name);
    if (!federatesWith.some((federated) => federated.name === trustDomain.name)) {
      fail(where, `${trustDomain.name} is not a federated trust domain; ${addToFederation}, or remove its file`);
    }
    if (typeof path !== "string" || path === "") fail(where, `${trustDomain.name}: a PEM file path is required, e.g. /tmp/${trustDomain.name}.pem`);
    const absolute = resolve(path);
    if (absolute === writeBundlePath) {
      fail(where, `${trustDomain.name}: ${absolute} is this agent's own ${label("writeBundlePath")}; use the file the ${trustDomain.name} agent writes`);
    }
    byName.set(trustDomain.name, { trustDomain, path: absolute });
  }
  return federatesWith.flatMap((trustDomain) => byName.get(trustDomain.name) ?? []);
}

/** Checks a fault, including the names in it, for an agent of `trustDomain`. */
export function checkFaultForTrustDomain(trustDomain: TrustDomain, fault: Fault): void {
  validateFault(fault);
  if (fault.kind === "foreign-leaf" && fault.trustDomain !== undefined) {
    const foreign = resolveTrustDomain(`fault "foreign-leaf" trust_domain`, fault.trustDomain);
    if (foreign.name === trustDomain.name) {
      throw new FakeAgentConfigError(`fault "foreign-leaf": trust_domain must differ from the agent's own (${trustDomain.name})`);
    }
  }
  if (fault.kind === "renamed-trust-domain" && fault.trustDomain !== undefined) {
    const renamed = resolveTrustDomain(`fault "renamed-trust-domain" trust_domain`, fault.trustDomain);
    if (renamed.name === trustDomain.name) {
      throw new FakeAgentConfigError(`fault "renamed-trust-domain": trust_domain must differ from the agent's own (${trustDomain.name})`);
    }
  }
  if ("spiffeId" in fault && fault.spiffeId !== undefined) {
    try {
      parseSpiffeId(fault.spiffeId);
    } catch (error: unknown) {
      throw new FakeAgentConfigError(`fault "${fault.kind}": spiffe_id "${fault.spiffeId}" is not a SPIFFE ID: ${describeError(error)}`);
    }
  }
}

function resolveFaults(label: string, trustDomain: TrustDomain, faults: readonly Fault[]): Fault[] {
  for (const fault of faults) {
    try {
      checkFaultForTrustDomain(trustDomain, fault);
    } catch (error: unknown) {
      fail(label, describeError(error));
    }
  }
  return [...faults];
}

function resolveSocketPath(label: string, socketPath: string): string {
  if (socketPath === "") fail(label, "a socket path is required, e.g. /tmp/spire-agent/public/api.sock");
  const absolute = isAbsolute(socketPath) ? socketPath : resolve(socketPath);
  if (Buffer.byteLength(absolute, "utf8") > MAX_SOCKET_PATH_BYTES) {
    fail(label, `${absolute} is longer than the ${MAX_SOCKET_PATH_BYTES} bytes a Unix socket path may have; choose a shorter path`);
  }
  return absolute;
}

/**
 * Checks every option and fills in defaults, so that nothing is started with a value that
 * would fail later. Error messages name each key with `label`.
 */
export function resolveOptions(options: FakeAgentOptions, label: KeyLabeler = (key) => key): ResolvedOptions {
  const trustDomain = resolveTrustDomain(label("trustDomain"), options.trustDomain);
  if (options.keyType !== undefined && !KEY_TYPES.includes(options.keyType)) {
    fail(label("keyType"), `"${String(options.keyType)}" is not supported; use one of ${KEY_TYPES.join(", ")}`);
  }
  const x509TtlSeconds = wholeSeconds(label("x509TtlSeconds"), options.x509TtlSeconds, DEFAULT_X509_TTL_SECONDS, 1);
  const rotationJitterMs = nonNegativeMs(label("rotationJitterMs"), options.rotationJitterMs, 0);
  if (rotationJitterMs >= (x509TtlSeconds * 1000) / 2) {
    fail(label("rotationJitterMs"), `must be less than half the X.509 TTL (${x509TtlSeconds}s), or SVIDs could expire before they rotate`);
  }
  const writeBundlePath = options.writeBundlePath === undefined ? undefined : resolve(options.writeBundlePath);
  const federatesWith = resolveFederation(label("federatesWith"), trustDomain, options.federatesWith ?? []);
  return {
    socketPath: resolveSocketPath(label("socketPath"), options.socketPath),
    trustDomain,
    keyType: options.keyType ?? "ec-p256",
    intermediate: options.intermediate ?? false,
    writeBundlePath,
    identities: resolveIdentities(label("identities"), trustDomain, options.identities ?? []),
    x509TtlSeconds,
    jwtTtlSeconds: wholeSeconds(label("jwtTtlSeconds"), options.jwtTtlSeconds, DEFAULT_JWT_TTL_SECONDS, 1),
    rotationJitterMs,
    rotationOverlapMs: nonNegativeMs(label("rotationOverlapMs"), options.rotationOverlapMs, (x509TtlSeconds * 1000) / 2),
    backdateSeconds: wholeSeconds(label("backdateSeconds"), options.backdateSeconds, DEFAULT_BACKDATE_SECONDS, 0),
    federatesWith,
    federatedBundleFiles: resolveBundleFiles(label, federatesWith, writeBundlePath, options.federatedBundleFiles ?? {}),
    faults: resolveFaults(label("faults"), trustDomain, options.faults ?? []),
  };
}
