import { inspect } from "node:util";
import type { VerifyReloadConfig } from "../verify/served-certificate.js";

export type JwtBundleFormat = "spiffe-helper" | "jwks" | "spiffe-bundle-map";
export type WriteLayout = "files" | "directory";
/**
 * When cmd is started (again). `on-renewal` is spiffe-helper's behaviour: started after the first
 * SVID; on each renewal signalled if it runs, started again if it has exited; its exit never
 * ends the sidecar. The others start it once and react to its exit.
 */
export type RestartPolicy = "on-renewal" | "never" | "on-failure" | "always";
export type NotifyAction = "signal" | "restart";
/**
 * What changed, for `notify_on`: `x509` the X.509-SVID and its key, `bundles` X.509
 * authorities (own or federated), `jwt_svid` a JWT-SVID token, `jwt_bundle` the JWT bundle.
 */
export type NotifyOnKind = "x509" | "bundles" | "jwt_svid" | "jwt_bundle";
export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

export const JWT_BUNDLE_FORMATS: readonly JwtBundleFormat[] = ["spiffe-helper", "jwks", "spiffe-bundle-map"];
export const WRITE_LAYOUTS: readonly WriteLayout[] = ["files", "directory"];
export const RESTART_POLICIES: readonly RestartPolicy[] = ["on-renewal", "never", "on-failure", "always"];
export const NOTIFY_ACTIONS: readonly NotifyAction[] = ["signal", "restart"];
export const NOTIFY_ON_KINDS: readonly NotifyOnKind[] = ["x509", "bundles", "jwt_svid", "jwt_bundle"];
/**
 * spiffe-helper v0.11.0 signals (cmd, pid file) only from `updateCertificates`, run for every
 * X.509 context: a new SVID or a changed own or federated X.509 bundle. A JWT-SVID refresh or a
 * JWT bundle change writes its file and tells no one.
 */
export const DEFAULT_NOTIFY_ON: readonly NotifyOnKind[] = ["x509", "bundles"];
export const LOG_LEVELS: readonly LogLevel[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

const REDACTED = "<redacted>";

/**
 * A secret from the configuration (the PKCS#12 password). It prints as `<redacted>` through
 * `String()`, `JSON.stringify`, `util.inspect` and so pino, so logging the whole config is safe;
 * only `reveal()` returns the text.
 */
export class Secret {
  readonly #text: string;

  constructor(text: string) {
    this.#text = text;
  }

  reveal(): string {
    return this.#text;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}

export interface JwtSvidOutput {
  readonly audience: string;
  readonly extraAudiences: readonly string[];
  /** Absolute path. */
  readonly fileName: string;
}

export interface HealthChecksConfig {
  readonly listenerEnabled: boolean;
  /** undefined: every interface, IPv4 and IPv6, as spiffe-helper's `:8081` does. */
  readonly bindAddress: string | undefined;
  /** 0 lets the OS pick a free port (an extension: spiffe-helper reads 0 as 8081). */
  readonly bindPort: number;
  readonly livenessPath: string;
  readonly readinessPath: string;
  readonly metricsPath: string;
}

export interface ExecHookConfig {
  readonly cmd: string;
  readonly args: readonly string[];
  readonly timeoutMs: number;
}

/**
 * The sidecar's configuration, fully defaulted. Keys mirror config.example.yaml in camelCase;
 * every file name is an absolute path (relative names were resolved against `certDir`, and
 * `certDir` and `pidFileName` against the working directory, as spiffe-helper does).
 */
export interface SidecarConfig {
  /** The configuration file as the user named it, for messages. */
  readonly sourceFile: string;
  /** As configured, else `SPIFFE_ENDPOINT_SOCKET`, else `SPIRE_AGENT_ADDRESS`, else spiffe-helper's default. */
  readonly agentAddress: string;
  readonly cmd: string | undefined;
  readonly cmdArgs: readonly string[];
  readonly pidFileName: string | undefined;
  /** undefined: no signal is sent, spiffe-helper's default. */
  readonly renewSignal: NodeJS.Signals | undefined;
  readonly certDir: string;
  readonly svidFileName: string | undefined;
  readonly svidKeyFileName: string | undefined;
  readonly svidBundleFileName: string | undefined;
  readonly jwtBundleFileName: string | undefined;
  readonly jwtSvids: readonly JwtSvidOutput[];
  readonly includeFederatedDomains: boolean;
  readonly addIntermediatesToBundle: boolean;
  readonly omitExpired: boolean;
  readonly daemonMode: boolean;
  readonly hint: string | undefined;
  /** `trust_domain`: the X.509-SVID must be of this trust domain (a name, no scheme); unset accepts any. */
  readonly trustDomain: string | undefined;
  readonly certFileMode: number;
  readonly keyFileMode: number;
  readonly jwtBundleFileMode: number;
  readonly jwtSvidFileMode: number;
  readonly healthChecks: HealthChecksConfig;

  /** uid every output file is given; undefined leaves the sidecar's own. */
  readonly fileOwner: number | undefined;
  /** gid every output file is given; undefined leaves the sidecar's own. */
  readonly fileGroup: number | undefined;
  /** Create a missing `certDir` (0755, with parents) before the first write; spiffe-helper never does. */
  readonly createCertDir: boolean;
  /** Private key, then leaf and intermediates, in one file written with `keyFileMode`. */
  readonly combinedPemFileName: string | undefined;
  /** Directory of `<trust-domain>.pem` files, one per federated trust domain, written with `certFileMode`. */
  readonly federatedBundleDir: string | undefined;
  readonly jwtBundleFormat: JwtBundleFormat;
  /** Key and chain, written with `keyFileMode`. */
  /** gRPC's SPIFFE bundle map (gRFC A87), written with `certFileMode`. */
  readonly spiffeBundleMapFileName: string | undefined;
  readonly pkcs12KeystoreFileName: string | undefined;
  /** Trust anchors, written with `certFileMode`. */
  readonly pkcs12TruststoreFileName: string | undefined;
  /** Read from `pkcs12PasswordFile` when that is set. */
  readonly pkcs12Password: Secret | undefined;
  readonly pkcs12PasswordFile: string | undefined;
  readonly writeLayout: WriteLayout;
  readonly execHook: ExecHookConfig | undefined;
  /** `verify_reload`: probe the app after each X.509 notification; undefined when unset. */
  readonly verifyReload: VerifyReloadConfig | undefined;
  readonly notifyAction: NotifyAction;
  /** The changes that tell the app (signal, pid file, exec hook, restart); others only write files. */
  readonly notifyOn: readonly NotifyOnKind[];
  readonly restartGracePeriodMs: number;
  readonly restartPolicy: RestartPolicy;
  readonly restartBackoffMaxMs: number;
  /** How long after cmd starts a renew signal to it is held back (coalesced to one). */
  readonly cmdStartGraceMs: number;
  /** Notifications closer together than this collapse into one at the interval's end. */
  readonly notifyMinIntervalMs: number;
  readonly oneShotTimeoutMs: number;
  readonly logLevel: LogLevel;
  /** Settings that are legal but have no effect, for the caller to log (spiffe-helper warns too). */
  readonly warnings: readonly string[];
}
