import { marshalBundleMap, parseBundleMap } from "../../spiffe/bundle-map.js";
import type { SpiffeBundle } from "../../spiffe/spiffe-bundle.js";
import { describeError } from "../../errors.js";
import type { X509IdentityState } from "./identity-state.js";
import { OutputRenderError, type OutputOptions } from "./output-options.js";
import { trustDomainCertificates } from "./x509-pem.js";

type BundleMapSelection = Pick<OutputOptions, "addIntermediatesToBundle" | "includeFederatedDomains" | "omitExpired">;

/**
 * The SPIFFE bundle map gRPC reads as `spiffe_trust_bundle_map_file` (gRFC A87): every trust
 * domain of the last X.509 update, own and federated, each holding its X.509 authorities as
 * `x509-svid` keys with one `x5c` certificate. gRPC picks the bundle by the peer's trust
 * domain, so unlike the merged PEM bundle a federated CA never vouches for another trust
 * domain, and every federated domain is listed whatever `include_federated_domains` says.
 * A87 reads only `kty`, `use` and `x5c` and drops a whole bundle over one bad key; no
 * `spiffe_refresh_hint` or `jwt-svid` key is written (the Workload API's X.509 bundles carry
 * neither). `omit_expired` leaves expired CAs out, as in the PEM bundles.
 *
 * Parsed back before it is returned: a map our own parser refuses, or that does not hold
 * exactly the authorities rendered, never reaches disk.
 */
export function renderGrpcBundleMap(x509: X509IdentityState, options: BundleMapSelection, now: Date): string {
  const bundles: SpiffeBundle[] = x509.bundles.bundles().map((bundle) => ({
    trustDomain: bundle.trustDomain,
    x509Authorities: trustDomainCertificates(bundle, options, now).map((certificate) => certificate.der),
    jwtAuthorities: new Map(),
  }));
  const json = `${marshalBundleMap(bundles)}\n`;
  checkRoundTrip(json, bundles);
  return json;
}

function checkRoundTrip(json: string, rendered: readonly SpiffeBundle[]): void {
  let parsed: Map<string, SpiffeBundle>;
  try {
    parsed = parseBundleMap(json);
  } catch (error: unknown) {
    throw new OutputRenderError(`the SPIFFE bundle map rendered for gRPC does not parse: ${describeError(error)}`, {
      cause: error,
    });
  }
  const mismatch = rendered.find((bundle) => !sameAuthorities(bundle, parsed.get(bundle.trustDomain.name)));
  if (mismatch !== undefined || parsed.size !== rendered.length) {
    const which = mismatch === undefined ? "its trust domains" : `trust domain "${mismatch.trustDomain.name}"`;
    throw new OutputRenderError(`the SPIFFE bundle map rendered for gRPC does not read back the same: ${which} differ`);
  }
}

function sameAuthorities(rendered: SpiffeBundle, parsed: SpiffeBundle | undefined): boolean {
  if (parsed === undefined || parsed.jwtAuthorities.size !== 0) return false;
  if (parsed.x509Authorities.length !== rendered.x509Authorities.length) return false;
  return rendered.x509Authorities.every((der, index) => {
    const other = parsed.x509Authorities[index];
    return other !== undefined && Buffer.from(der).equals(other);
  });
}
