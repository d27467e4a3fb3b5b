import { isMemberOf, parseSpiffeId, parseTrustDomain, type SpiffeId, type TrustDomain } from "../spiffe/spiffe-id.js";
import type { SpiffeIdAuthorizer } from "./peer-authorization.js";

/*
 * go-spiffe's `tlsconfig.Authorize*` set. Each description reads after "is not allowed by"
 * in a refusal, so the message names the peer's ID and the rule it broke:
 * `peer spiffe://example.org/intruder is not allowed by the rule "one of [spiffe://example.org/client]"`.
 */

function toSpiffeId(id: SpiffeId | string): SpiffeId {
  return typeof id === "string" ? parseSpiffeId(id) : id;
}

function toTrustDomain(trustDomain: TrustDomain | string): TrustDomain {
  return typeof trustDomain === "string" ? parseTrustDomain(trustDomain) : trustDomain;
}

/**
 * Allows any peer whose SVID verified against its trust domain's bundle (go-spiffe
 * `AuthorizeAny`). Authentication without authorization: use it only when every workload of
 * every trusted trust domain may connect.
 */
export function authorizeAny(): SpiffeIdAuthorizer {
  return { description: 'the rule "any SPIFFE ID"', allows: () => true };
}

/** Allows exactly one SPIFFE ID (go-spiffe `AuthorizeID`); a malformed ID throws now, not at the first peer. */
export function authorizeId(allowed: SpiffeId | string): SpiffeIdAuthorizer {
  const expected = toSpiffeId(allowed).toString();
  return { description: `the rule "exactly ${expected}"`, allows: (id) => id.toString() === expected };
}

/** Allows any of the listed SPIFFE IDs (go-spiffe `AuthorizeOneOf`); an empty list allows no one. */
export function authorizeOneOf(...allowed: readonly (SpiffeId | string)[]): SpiffeIdAuthorizer {
  const expected = new Set(allowed.map((id) => toSpiffeId(id).toString()));
  return {
    description: `the rule "one of [${[...expected].join(", ")}]"`,
    allows: (id) => expected.has(id.toString()),
  };
}

/** Allows every SPIFFE ID of one trust domain (go-spiffe `AuthorizeMemberOf`). */
export function authorizeMemberOf(trustDomain: TrustDomain | string): SpiffeIdAuthorizer {
  const expected = toTrustDomain(trustDomain);
  return {
    description: `the rule "member of trust domain ${expected.name}"`,
    allows: (id) => isMemberOf(id, expected),
  };
}

/**
 * Allows the IDs a function accepts (go-spiffe `AdaptMatcher`). `name` says in refusals what
 * the function checks, e.g. `"path under /billing/"`.
 */
export function authorizeMatching(matches: (id: SpiffeId) => boolean, name = "the matcher function"): SpiffeIdAuthorizer {
  return { description: `the rule "${name}"`, allows: matches };
}
