import { causeOption } from "./jwt-bundle.js";
import { indent, marshalSpiffeBundle, SpiffeBundleError, spiffeBundleFromJson, type SpiffeBundle } from "./spiffe-bundle.js";
import { parseTrustDomain, SpiffeIdError, type TrustDomain } from "./spiffe-id.js";
import { isJsonObject, parseStrictJson, StrictJsonError } from "./strict-json.js";

const TRUST_DOMAINS = "trust_domains";

function mapError(message: string, cause?: unknown): SpiffeBundleError {
  return new SpiffeBundleError(`SPIFFE bundle map: ${message}`, causeOption(cause));
}

/**
 * Parses a SPIFFE bundle map, `{"trust_domains": {"<name>": <bundle>, ...}}` (Trust Domain
 * & Bundle §5), keyed by trust domain name. A name listed twice is rejected (§5.1.1, §6.3):
 * `JSON.parse` would silently keep the last one, so the strict parser is used.
 */
export function parseBundleMap(json: string | Uint8Array): Map<string, SpiffeBundle> {
  let document: unknown;
  try {
    document = parseStrictJson(json);
  } catch (error: unknown) {
    if (!(error instanceof StrictJsonError)) throw error;
    if (error.duplicateMember !== undefined && error.path === `/${TRUST_DOMAINS}`) {
      throw mapError(
        `trust domain ${JSON.stringify(error.duplicateMember)} appears more than once (Trust Domain & Bundle §5.1.1)`,
      );
    }
    throw mapError(`not valid JSON: ${error.message}`, error);
  }
  if (!isJsonObject(document)) throw mapError("must be a JSON object (Trust Domain & Bundle §5)");
  const entries = document[TRUST_DOMAINS];
  if (!isJsonObject(entries)) {
    throw mapError(`the "${TRUST_DOMAINS}" member must be set to an object (Trust Domain & Bundle §5.1)`);
  }
  const bundles = new Map<string, SpiffeBundle>();
  for (const [name, bundleJson] of Object.entries(entries)) {
    bundles.set(name, spiffeBundleFromJson(trustDomainKey(name), bundleJson));
  }
  return bundles;
}

/**
 * Keys are bare trust domain names (§5.1.1). `spiffe://` forms are refused too, or
 * `example.org` and `spiffe://example.org` could name one trust domain twice.
 */
function trustDomainKey(name: string): TrustDomain {
  let trustDomain: TrustDomain;
  try {
    trustDomain = parseTrustDomain(name);
  } catch (error: unknown) {
    if (!(error instanceof SpiffeIdError)) throw error;
    throw mapError(`key ${JSON.stringify(name)} is not a trust domain name: ${error.message}`, error);
  }
  if (trustDomain.name !== name) {
    throw mapError(`key ${JSON.stringify(name)} must be a bare trust domain name such as "example.org" (§5.1.1)`);
  }
  return trustDomain;
}

/**
 * Marshals bundles as an indented bundle map, trust domains in name order so the output is
 * stable. Accepts the map `parseBundleMap` returns or any collection of bundles.
 */
export function marshalBundleMap(bundles: ReadonlyMap<string, SpiffeBundle> | Iterable<SpiffeBundle>): string {
  const byName = new Map<string, SpiffeBundle>();
  const entries: (readonly [string | undefined, SpiffeBundle])[] = isBundleMap(bundles)
    ? [...bundles]
    : [...bundles].map((bundle) => [undefined, bundle] as const);
  for (const [key, bundle] of entries) {
    const name = bundle.trustDomain.name;
    if (key !== undefined && key !== name) {
      throw mapError(`key ${JSON.stringify(key)} holds the bundle of trust domain "${name}"`);
    }
    if (byName.has(name)) throw mapError(`trust domain "${name}" appears more than once (§5.1.1)`);
    byName.set(name, bundle);
  }
  const members = [...byName]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, bundle]) => `${JSON.stringify(name)}: ${marshalSpiffeBundle(bundle)}`);
  const body = members.length === 0 ? "{}" : `{\n${members.map((member) => indent(member, "  ")).join(",\n")}\n}`;
  return `{\n${indent(`"${TRUST_DOMAINS}": ${body}`, "  ")}\n}`;
}

function isBundleMap(
  bundles: ReadonlyMap<string, SpiffeBundle> | Iterable<SpiffeBundle>,
): bundles is ReadonlyMap<string, SpiffeBundle> {
  return bundles instanceof Map;
}
