import { randomBytes, type JsonWebKey } from "node:crypto";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from "jose";
import { publicJwkMembers } from "../spiffe/jwt-bundle.js";
import type { SpiffeId } from "../spiffe/spiffe-id.js";

/** The JWT-SVID algorithms the fake agent can sign with (a subset of JWT-SVID §2.1). */
export type JwtSigningAlgorithm = "ES256" | "RS256" | "PS256";

/** A JWT authority: the private half signs, `publicJwk` goes into the JWT bundle. */
export interface JwtSigningKey {
  readonly kid: string;
  readonly alg: JwtSigningAlgorithm;
  readonly privateKey: CryptoKey;
  /** The public key with its `kid` and no `use`, as SPIRE serves it (SPEC.md §1.5). */
  readonly publicJwk: JsonWebKey;
}

export interface CreateJwtSigningKeyOptions {
  /** @default "ES256" (SPIRE's default JWT key type is EC P-256) */
  alg?: JwtSigningAlgorithm;
  /** @default 32 random base64url characters */
  kid?: string;
}

/** Generates a fresh key pair (RSA keys are 2048 bits) for signing JWT-SVIDs. */
export async function createJwtSigningKey(options: CreateJwtSigningKeyOptions = {}): Promise<JwtSigningKey> {
  const alg = options.alg ?? "ES256";
  const kid = options.kid ?? randomBytes(24).toString("base64url");
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const publicJwk: JsonWebKey = { ...publicJwkMembers(await exportJWK(publicKey)), kid };
  return { kid, alg, privateKey, publicJwk };
}

export interface SignJwtSvidOptions {
  subject: SpiffeId;
  /** One audience is written as a string, several as a list (as go-jose does for SPIRE). */
  audience: readonly string[];
  /** Lifetime from `now`; a negative value mints an already expired token. */
  ttlSeconds: number;
  /** Sets `iat`, and `exp` = `iat` + `ttlSeconds`. @default new Date() */
  now?: Date;
  /** Header `typ`; `null` leaves it out. @default "JWT" (as SPIRE) */
  typ?: string | null;
  /** Fault: leave `kid` out of the header. @default false */
  omitKid?: boolean;
  /** Fault: write `aud` as a list even for a single audience. @default false */
  audienceAsList?: boolean;
  /** Merged over the standard claims; a claim set to `undefined` is left out (e.g. `{ exp: undefined }`). */
  extraClaims?: Record<string, unknown>;
  /** Merged over the standard header (e.g. `{ alg: "ES384" }` to lie about the algorithm). */
  extraHeader?: Record<string, unknown>;
  /**
   * Fault: sign with this key while the header keeps the issuing key's `kid` and `alg`, so
   * the signature cannot verify against the bundle. It must suit that `alg`.
   */
  signWith?: JwtSigningKey;
}

/** Mints a compact JWT-SVID for `subject`; the fault knobs make deliberately bad ones. */
export async function signJwtSvid(key: JwtSigningKey, options: SignJwtSvidOptions): Promise<string> {
  const issuedAt = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const [onlyAudience, ...moreAudiences] = options.audience;
  const asString = onlyAudience !== undefined && moreAudiences.length === 0 && options.audienceAsList !== true;
  const aud = asString ? onlyAudience : [...options.audience];
  const payload: JWTPayload = {
    sub: options.subject.toString(),
    aud,
    exp: issuedAt + options.ttlSeconds,
    iat: issuedAt,
    ...options.extraClaims,
  };
  const typ = options.typ === undefined ? "JWT" : options.typ;
  const header = {
    alg: key.alg,
    ...(options.omitKid === true ? {} : { kid: key.kid }),
    ...(typ === null ? {} : { typ }),
    ...options.extraHeader,
  };
  return new SignJWT(payload).setProtectedHeader(header).sign((options.signWith ?? key).privateKey);
}

/** The JWK set to serve as the trust domain's JWT bundle: public keys only, each with its `kid`. */
export function publicJwkSet(keys: Iterable<JwtSigningKey>): { keys: JsonWebKey[] } {
  return { keys: [...keys].map((key) => ({ ...key.publicJwk })) };
}
