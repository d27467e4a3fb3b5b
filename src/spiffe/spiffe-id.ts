import { SpiffeSidecarError } from "../errors.js";

/** A rule of SPIFFE-ID §2 that an input broke; the message names it. */
export class SpiffeIdError extends SpiffeSidecarError {
  readonly code = "ERR_SPIFFE_ID";
}

/** A trust domain name: the authority of a SPIFFE ID (SPIFFE-ID §2.1). */
export interface TrustDomain {
  readonly name: string;
  /** `spiffe://<name>`: the trust domain's own SPIFFE ID, and the Workload API's bundle map key. */
  idString(): string;
  toString(): string;
}

export interface SpiffeId {
  readonly trustDomain: TrustDomain;
  /** Empty for the trust domain's own ID, otherwise `/seg/seg`. */
  readonly path: string;
  toString(): string;
}

const SCHEME_PREFIX = "spiffe://";

/** SPIFFE-ID §2.3 lets implementations cap URIs at 2048 bytes and trust domains at 255. */
export const MAX_SPIFFE_ID_BYTES = 2048;
export const MAX_TRUST_DOMAIN_BYTES = 255;

function isTrustDomainChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x2e || c === 0x2d || c === 0x5f // . - _
  );
}

function isPathSegmentChar(c: number): boolean {
  return isTrustDomainChar(c) || (c >= 0x41 && c <= 0x5a); // plus A-Z
}

function checkTrustDomainName(name: string): void {
  if (name.length === 0) throw new SpiffeIdError("trust domain is missing (SPIFFE-ID §2.1)");
  for (let i = 0; i < name.length; i++) {
    if (!isTrustDomainChar(name.charCodeAt(i))) {
      throw new SpiffeIdError(
        "trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores (SPIFFE-ID §2.1)",
      );
    }
  }
  if (name.length > MAX_TRUST_DOMAIN_BYTES) {
    throw new SpiffeIdError(`trust domain is longer than ${MAX_TRUST_DOMAIN_BYTES} bytes (SPIFFE-ID §2.3)`);
  }
}

/** Checks a path such as `/a/b`; the empty path is valid (the trust domain's own ID). */
export function validatePath(path: string): void {
  if (path === "") return;
  if (!path.startsWith("/")) throw new SpiffeIdError("path must have a leading slash (SPIFFE-ID §2.2)");
  let segmentStart = 1;
  for (let i = 1; i <= path.length; i++) {
    if (i < path.length && path.charCodeAt(i) !== 0x2f) continue;
    const segment = path.slice(segmentStart, i);
    if (segment === "") {
      throw new SpiffeIdError(
        i === path.length
          ? "path cannot have a trailing slash (SPIFFE-ID §2.2)"
          : "path cannot contain empty segments (SPIFFE-ID §2.2)",
      );
    }
    if (segment === "." || segment === "..") {
      throw new SpiffeIdError("path cannot contain dot segments (SPIFFE-ID §2.2)");
    }
    for (let j = 0; j < segment.length; j++) {
      if (!isPathSegmentChar(segment.charCodeAt(j))) {
        throw new SpiffeIdError(
          "path segment characters are limited to letters, numbers, dots, dashes, and underscores (SPIFFE-ID §2.2)",
        );
      }
    }
    segmentStart = i + 1;
  }
}

class ParsedTrustDomain implements TrustDomain {
  constructor(readonly name: string) {}
  idString(): string {
    return SCHEME_PREFIX + this.name;
  }
  toString(): string {
    return this.name;
  }
}

class ParsedSpiffeId implements SpiffeId {
  readonly #text: string;
  constructor(
    readonly trustDomain: TrustDomain,
    readonly path: string,
  ) {
    this.#text = SCHEME_PREFIX + trustDomain.name + path;
  }
  toString(): string {
    return this.#text;
  }
}

/**
 * Parses a SPIFFE ID strictly: lowercase `spiffe://` scheme and trust domain, as go-spiffe
 * and SPIRE do (SPEC.md §2: SPIFFE-ID §2.4 calls the scheme case-insensitive, but every
 * peer we talk to rejects `SPIFFE://`, so accepting it would only defer the failure).
 */
export function parseSpiffeId(text: string): SpiffeId {
  if (text === "") throw new SpiffeIdError("cannot be empty: a SPIFFE ID is required (SPIFFE-ID §2)");
  if (!text.startsWith(SCHEME_PREFIX)) {
    throw new SpiffeIdError("scheme is missing or invalid: a SPIFFE ID must start with 'spiffe://' (SPIFFE-ID §2)");
  }
  if (Buffer.byteLength(text, "utf8") > MAX_SPIFFE_ID_BYTES) {
    throw new SpiffeIdError(`SPIFFE ID is longer than ${MAX_SPIFFE_ID_BYTES} bytes (SPIFFE-ID §2.3)`);
  }
  const rest = text.slice(SCHEME_PREFIX.length);
  const slash = rest.indexOf("/");
  const name = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? "" : rest.slice(slash);
  checkTrustDomainName(name);
  validatePath(path);
  return new ParsedSpiffeId(new ParsedTrustDomain(name), path);
}

/** Accepts a bare trust domain name (`example.org`) or any valid SPIFFE ID. */
export function parseTrustDomain(text: string): TrustDomain {
  if (text.includes(":/")) return parseSpiffeId(text).trustDomain;
  checkTrustDomainName(text);
  return new ParsedTrustDomain(text);
}

/** Builds the ID `spiffe://<td><path>` after validating the path. */
export function spiffeIdFromPath(trustDomain: TrustDomain, path: string): SpiffeId {
  validatePath(path);
  return new ParsedSpiffeId(trustDomain, path);
}

/** True when the ID names a workload rather than the trust domain itself. */
export function hasWorkloadPath(id: SpiffeId): boolean {
  return id.path !== "";
}

export function spiffeIdEquals(a: SpiffeId, b: SpiffeId): boolean {
  return a.toString() === b.toString();
}

export function isMemberOf(id: SpiffeId, trustDomain: TrustDomain): boolean {
  return id.trustDomain.name === trustDomain.name;
}
