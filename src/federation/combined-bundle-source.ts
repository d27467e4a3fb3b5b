import type { JwtBundle, JwtBundleSource } from "../spiffe/jwt-bundle.js";
import type { TrustDomain } from "../spiffe/spiffe-id.js";
import type { X509Bundle, X509BundleSource } from "../spiffe/x509-bundle.js";

/** A source of both kinds of bundle, as `BundleSource`, `X509Source` + `JwtSource` or a `BundleWatcher` are. */
export type AnyBundleSource = Partial<X509BundleSource> & Partial<JwtBundleSource>;

/**
 * One bundle source over several, asked in order: the first that holds a bundle for the trust
 * domain answers. Lets federated bundles from `BundleWatcher`s sit beside the Workload API's
 * (`combineBundleSources(bundleSource, watcherOfOtherOrg)`), so peer verification and JWT
 * validation see both. Bundles are never merged across sources, as a trust domain's bundle is
 * one document (Trust Domain & Bundle §3); put the source you trust most first.
 */
export function combineBundleSources(...sources: readonly AnyBundleSource[]): X509BundleSource & JwtBundleSource {
  return {
    getX509Bundle(trustDomain: TrustDomain): X509Bundle | undefined {
      for (const source of sources) {
        const bundle = source.getX509Bundle?.(trustDomain);
        if (bundle !== undefined) return bundle;
      }
      return undefined;
    },
    getJwtBundle(trustDomain: TrustDomain): JwtBundle | undefined {
      for (const source of sources) {
        const bundle = source.getJwtBundle?.(trustDomain);
        if (bundle !== undefined) return bundle;
      }
      return undefined;
    },
  };
}
