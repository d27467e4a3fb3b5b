import type { JwtBundleSet } from "../../spiffe/jwt-bundle.js";
import type { JwtSvid } from "../../spiffe/jwt-svid.js";
import type { X509BundleSet } from "../../spiffe/x509-bundle.js";
import type { X509Svid } from "../../spiffe/x509-svid.js";

/** The X.509 part of what the Workload API last delivered, already validated. */
export interface X509IdentityState {
  /** The SVID the orchestrator chose (by `hint`, else the first). */
  readonly svid: X509Svid;
  /**
   * Every bundle of the last X.509 update: the SVID's own trust domain and the federated ones.
   * Each message is the full state (SPIFFE Workload API §5.2.1), so an absent trust domain has
   * been removed and its files go with it.
   */
  readonly bundles: X509BundleSet;
}

/**
 * Everything the sidecar knows that can be written to disk. Rendering is a pure function of
 * this state and the output options, so two equal states always render byte-identical files
 * and the writer can skip an update that changes nothing.
 */
export interface IdentityState {
  /** Undefined until the first valid X.509 update; then no X.509 file is rendered. */
  readonly x509?: X509IdentityState | undefined;
  /** Undefined until the first valid JWT bundle update. */
  readonly jwtBundles?: JwtBundleSet | undefined;
  /**
   * The latest validated JWT-SVID of each `jwt_svids` entry, keyed by that entry's output file
   * name (absolute, or relative to `certDir`). An entry not fetched yet is simply absent.
   */
  readonly jwtSvids: ReadonlyMap<string, JwtSvid>;
}
