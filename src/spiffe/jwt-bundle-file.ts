import { parseBundleMap } from "./bundle-map.js";
import { JwtBundleError, jwtBundleFromJwkSet, JwtBundleSet, parseJwtBundle } from "./jwt-bundle.js";
import { jwtBundleFromSpiffeBundle } from "./spiffe-bundle.js";
import { parseTrustDomain, type TrustDomain } from "./spiffe-id.js";
import { isJsonObject, parseStrictJson } from "./strict-json.js";

/** The three JWT bundle file formats the sidecar can write (`jwt_bundle_format`). */
export type JwtBundleFileFormat = "spiffe-helper" | "jwks" | "spiffe-bundle-map";

export interface JwtBundleFile {
  readonly format: JwtBundleFileFormat;
  readonly bundles: JwtBundleSet;
}

function fromSpiffeHelperMap(document: Record<string, unknown>): JwtBundleSet {
  const bundles = new JwtBundleSet();
  for (const [name, encoded] of Object.entries(document)) {
    if (typeof encoded !== "string") {
      throw new JwtBundleError(
        `JWT bundle file: the value for "${name}" is not a base64 string; expected spiffe-helper's map of trust domain to base64 JWKS, a JWKS, or a SPIFFE bundle map`,
      );
    }
    bundles.set(parseJwtBundle(parseTrustDomain(name), Buffer.from(encoded, "base64")));
  }
  return bundles;
}

/**
 * Reads a JWT bundle file in any of the formats we write, telling them apart by shape: a
 * JWKS has `keys`, a SPIFFE bundle map has `trust_domains`, and spiffe-helper's file maps
 * trust domain names to base64 strings. A plain JWKS names no trust domain, so it is taken
 * as the bundle of `trustDomainForJwks` (the token's own).
 */
export function parseJwtBundleFile(text: string, trustDomainForJwks: TrustDomain): JwtBundleFile {
  const document = parseStrictJson(text);
  if (!isJsonObject(document)) {
    throw new JwtBundleError("JWT bundle file is not a JSON object");
  }
  if ("keys" in document) {
    return { format: "jwks", bundles: new JwtBundleSet([jwtBundleFromJwkSet(trustDomainForJwks, document)]) };
  }
  if ("trust_domains" in document) {
    const bundles = new JwtBundleSet();
    for (const bundle of parseBundleMap(text).values()) bundles.set(jwtBundleFromSpiffeBundle(bundle));
    return { format: "spiffe-bundle-map", bundles };
  }
  return { format: "spiffe-helper", bundles: fromSpiffeHelperMap(document) };
}
