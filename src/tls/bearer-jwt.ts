import { readFile } from "node:fs/promises";
import { describeError } from "../errors.js";
import { parseJwtBundleFile, type JwtBundleFile } from "../spiffe/jwt-bundle-file.js";
import type { JwtBundleSource } from "../spiffe/jwt-bundle.js";
import { JwtSvidError, validateJwtSvid, type JwtSvid } from "../spiffe/jwt-svid.js";
import { parseTrustDomain } from "../spiffe/spiffe-id.js";
import { PeerAuthenticationError } from "./errors.js";

export interface BearerJwtSvidOptions {
  /** `jwt_bundle_file_name`, in any `jwt_bundle_format` the sidecar writes; read on every call. */
  readonly jwtBundleFile: string;
  /** The audiences this service answers to; the token must name one (JWT-SVID §3.2). */
  readonly audience: string | readonly string[];
  /**
   * The trust domain of a plain JWKS bundle file (`jwt_bundle_format: jwks`), which names none.
   * @default none: a JWKS file is refused
   */
  readonly jwksTrustDomain?: string;
  /** @default new Date() */
  readonly now?: Date;
}

/** The scheme of RFC 6750 §2.1; auth schemes are case-insensitive (RFC 9110 §11.1). */
const BEARER = /^Bearer +(\S+)\s*$/i;
/** Stands in for the trust domain when the file turns out not to be a plain JWKS. */
const NO_JWKS_TRUST_DOMAIN = parseTrustDomain("jwks-trust-domain-not-given.invalid");

/** The token of an `Authorization: Bearer <token>` header. */
export function bearerToken(authorizationHeader: string | undefined): string {
  if (authorizationHeader === undefined || authorizationHeader.trim() === "") {
    throw new PeerAuthenticationError("no-bearer-token", "no Authorization header: send the JWT-SVID as `Authorization: Bearer <token>` (RFC 6750 §2.1)");
  }
  const token = BEARER.exec(authorizationHeader)?.[1];
  if (token === undefined) {
    // Nothing of the header is quoted: without a scheme its first word may be a credential.
    throw new PeerAuthenticationError(
      "no-bearer-token",
      "the Authorization header is not `Bearer <token>`; send the JWT-SVID in that form (RFC 6750 §2.1)",
    );
  }
  return token;
}

/** Reads a JWT bundle file into bundles by trust domain. */
export async function readJwtBundleFile(path: string, jwksTrustDomain?: string): Promise<JwtBundleSource> {
  const trustDomain = jwksTrustDomain === undefined ? undefined : parseTrustDomain(jwksTrustDomain);
  const unavailable = (detail: string, cause?: unknown): PeerAuthenticationError =>
    new PeerAuthenticationError("jwt-bundle-unavailable", `JWT bundle file ${path}: ${detail}`, cause === undefined ? {} : { cause });
  let file: JwtBundleFile;
  try {
    file = parseJwtBundleFile(await readFile(path, "utf8"), trustDomain ?? NO_JWKS_TRUST_DOMAIN);
  } catch (error: unknown) {
    throw unavailable(describeError(error), error);
  }
  if (file.format === "jwks" && trustDomain === undefined) {
    throw unavailable("it is a plain JWKS, which names no trust domain; pass jwksTrustDomain, or write it with jwt_bundle_format spiffe-helper or spiffe-bundle-map");
  }
  return file.bundles;
}

/**
 * Validates the JWT-SVID of an `Authorization: Bearer` header against the JWT bundle file the
 * sidecar writes: signature by the subject's own trust domain's key, `exp`, and audience
 * (JWT-SVID §4). The file is read on each call, so a rotated key counts at once.
 * Rejects with a `PeerAuthenticationError`; for a bad token its `cause` is the `JwtSvidError`
 * naming the rule (`audience`, `expired`, `signature`, ...).
 */
export async function validateBearerJwtSvid(authorizationHeader: string | undefined, options: BearerJwtSvidOptions): Promise<JwtSvid> {
  const token = bearerToken(authorizationHeader);
  const bundles = await readJwtBundleFile(options.jwtBundleFile, options.jwksTrustDomain);
  try {
    return await validateJwtSvid(token, bundles, { audience: options.audience, ...(options.now === undefined ? {} : { now: options.now }) });
  } catch (error: unknown) {
    if (!(error instanceof JwtSvidError)) throw error;
    throw new PeerAuthenticationError("invalid-jwt-svid", `bearer JWT-SVID refused: ${error.message}`, { cause: error });
  }
}
