import { SpiffeSidecarError } from "../../errors.js";

/**
 * What a file carries; the orchestrator reports health and decides whom to notify (`notify_on`)
 * per group. `x509`: the X.509-SVID and its key (SVID, key, combined PEM, keystore);
 * `x509-bundle`: X.509 authorities, own and federated (bundle file, per-trust-domain files,
 * truststore, SPIFFE bundle map).
 */
export type OutputGroup = "x509" | "x509-bundle" | "jwt-bundle" | "jwt-svid";

/** One file to write: the complete bytes and the metadata to apply on every write. */
export interface OutputFile {
  /** Absolute path. */
  readonly path: string;
  readonly contents: Uint8Array;
  /** Permission bits (e.g. 0o600), applied exactly, whatever the umask. */
  readonly mode: number;
  /** Owner to set; undefined keeps the sidecar's own. */
  readonly uid?: number | undefined;
  /** Group to set; undefined keeps the sidecar's own. */
  readonly gid?: number | undefined;
  readonly group: OutputGroup;
}

/**
 * How the JWT bundle file is written:
 * - `spiffe-helper`: a JSON object mapping each trust domain name to the base64 of its JWKS, as
 *   spiffe-helper writes it (every trust domain the agent sent);
 * - `jwks`: one RFC 7517 JWK set of the own trust domain, or of every trust domain with
 *   `includeFederatedDomains` (see `jwksBundles`);
 * - `spiffe-bundle-map`: `{"trust_domains": {...}}` of SPIFFE bundles with `jwt-svid` keys
 *   (Trust Domain & Bundle §5), every trust domain the agent sent.
 */
export type JwtBundleOutputFormat = "spiffe-helper" | "jwks" | "spiffe-bundle-map";

/** Anything that can hand over a password on demand, such as the config's `Secret`. */
export interface PasswordSource {
  reveal(): string;
}

export interface Pkcs12OutputOptions {
  /** Key and chain (leaf first). Written with `keyFileMode`. */
  readonly keystoreFileName?: string | undefined;
  /** The bundle file's certificates as trusted entries. Written with `certFileMode`. */
  readonly truststoreFileName?: string | undefined;
  /**
   * Protects the key and the MAC of both stores. Keep it ASCII for Java: its PKCS#12 reader
   * refuses other passwords ("Password is not ASCII"); OpenSSL accepts any UTF-8.
   */
  readonly password: PasswordSource;
  /**
   * The key entry's friendlyName, which Java uses as its alias.
   * @default "svid"
   */
  readonly friendlyName?: string | undefined;
}

/**
 * What to render, mapped from the sidecar config by the orchestrator. File names are resolved
 * against `certDir` (an absolute name stays as it is); an unset name means "do not write".
 */
export interface OutputOptions {
  readonly certDir: string;
  /** Leaf then intermediates (leaf only with `addIntermediatesToBundle`), PEM. */
  readonly svidFileName?: string | undefined;
  /** The private key as a PKCS#8 `PRIVATE KEY` PEM block. */
  readonly svidKeyFileName?: string | undefined;
  /** Own trust domain's CAs (+ intermediates, + federated CAs as configured), PEM. */
  readonly svidBundleFileName?: string | undefined;
  /** Private key, then leaf and intermediates, in one file written with `keyFileMode`. */
  readonly combinedPemFileName?: string | undefined;
  /** Directory of `<trust-domain>.pem`, one per federated trust domain the agent sent. */
  readonly federatedBundleDir?: string | undefined;
  readonly pkcs12?: Pkcs12OutputOptions | undefined;
  /**
   * gRPC's SPIFFE bundle map (gRFC A87): every trust domain the agent sent, own and federated,
   * each with its X.509 authorities as `x509-svid` keys. Written with `certFileMode`.
   */
  readonly spiffeBundleMapFileName?: string | undefined;
  readonly jwtBundleFileName?: string | undefined;
  /** @default "spiffe-helper" */
  readonly jwtBundleFormat?: JwtBundleOutputFormat | undefined;
  readonly certFileMode: number;
  readonly keyFileMode: number;
  readonly jwtBundleFileMode: number;
  readonly jwtSvidFileMode: number;
  readonly uid?: number | undefined;
  readonly gid?: number | undefined;
  /** Move intermediates from the SVID file to the bundle file (spiffe-helper's option). */
  readonly addIntermediatesToBundle: boolean;
  /** Append federated trust domains' CAs to the bundle file (and the truststore). */
  readonly includeFederatedDomains: boolean;
  /** Leave certificates whose notAfter has passed out of every PEM and PKCS#12 output. */
  readonly omitExpired: boolean;
}

/** State that cannot be rendered as configured; the message names the output and the cause. */
export class OutputRenderError extends SpiffeSidecarError {
  readonly code = "ERR_OUTPUT_RENDER";
}
