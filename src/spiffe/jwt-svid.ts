import { constants, verify, type JsonWebKey, type KeyObject, type VerifyKeyObjectInput, type VerifyPublicKeyInput } from "node:crypto";
import { inspect } from "node:util";
import { RuleViolationError } from "../errors.js";
import { jwtAuthorityPublicKey, type JwtBundleSource } from "./jwt-bundle.js";
import { parseSpiffeId, SpiffeIdError, type SpiffeId } from "./spiffe-id.js";
import { isJsonObject, parseStrictJson, StrictJsonError } from "./strict-json.js";

/** The rule a JWT-SVID broke: stable ids for tests, metrics and logs. */
export type JwtSvidRule =
  | "malformed"
  | "alg-not-allowed"
  | "header"
  | "typ"
  | "kid-missing"
  | "sub-missing"
  | "sub-invalid"
  | "aud-missing"
  | "exp-missing"
  | "claim-invalid"
  | "audience-required"
  | "no-bundle"
  | "unknown-kid"
  | "key-unusable"
  | "signature"
  | "expired"
  | "not-yet-valid"
  | "issued-in-future"
  | "audience";

/** A JWT-SVID that must not be used. The message names the rule; it never contains the token. */
export class JwtSvidError extends RuleViolationError<JwtSvidRule> {
  readonly code = "ERR_JWT_SVID";
}

/** JWT-SVID §2.1: the only algorithms a JWT-SVID may use; anything else (HS256, none) is refused. */
export const JWT_SVID_ALGORITHMS = [
  "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512",
] as const;
export type JwtSvidAlgorithm = (typeof JWT_SVID_ALGORITHMS)[number];

/**
 * Clock skew tolerated on `exp`, `nbf` and `iat`. JWT-SVID §4 allows "a small amount of
 * leeway"; 60 s is go-jose's default, so a token go-spiffe and SPIRE accept is accepted here
 * too, and it is short against SPIRE's default 5-minute JWT-SVID lifetime.
 */
export const DEFAULT_LEEWAY_SECONDS = 60;

export interface JwtSvid {
  readonly id: SpiffeId;
  readonly audience: readonly string[];
  readonly expiry: Date;
  readonly issuedAt?: Date;
  readonly claims: Readonly<Record<string, unknown>>;
  /** The compact token. Redacted from `inspect`, `JSON.stringify` and `toString`. */
  readonly token: string;
  readonly hint: string;
}

const REDACTED = "[REDACTED]";
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const ALLOWED_ALGORITHMS: ReadonlySet<unknown> = new Set(JWT_SVID_ALGORITHMS);
/** ECMAScript dates end at ±8.64e15 ms; a NumericDate beyond that cannot be compared. */
const MAX_NUMERIC_DATE_SECONDS = 8.64e12;

export function isJwtSvidAlgorithm(value: unknown): value is JwtSvidAlgorithm {
  return ALLOWED_ALGORITHMS.has(value);
}

class ParsedJwtSvid implements JwtSvid {
  readonly #token: string;
  readonly issuedAt?: Date;

  constructor(
    token: string,
    readonly id: SpiffeId,
    readonly audience: readonly string[],
    readonly expiry: Date,
    issuedAt: Date | undefined,
    readonly claims: Readonly<Record<string, unknown>>,
    readonly hint: string,
  ) {
    this.#token = token;
    if (issuedAt !== undefined) this.issuedAt = issuedAt;
  }

  get token(): string {
    return this.#token;
  }

  /** What serializers and loggers see: every field but the token. */
  toJSON(): Record<string, unknown> {
    return {
      id: this.id.toString(),
      audience: this.audience,
      expiry: this.expiry.toISOString(),
      ...(this.issuedAt === undefined ? {} : { issuedAt: this.issuedAt.toISOString() }),
      hint: this.hint,
      claims: this.claims,
      token: REDACTED,
    };
  }

  toString(): string {
    return `JwtSvid(${this.id.toString()}, exp ${this.expiry.toISOString()}, token ${REDACTED})`;
  }

  [inspect.custom](depth: number, options: Parameters<typeof inspect>[1]): string {
    if (depth < 0) return this.toString();
    return `JwtSvid ${inspect(this.toJSON(), { ...options, depth: depth - 1 })}`;
  }
}

type SvidFields = Omit<JwtSvid, "token" | "hint">;

interface DecodedToken {
  readonly alg: JwtSvidAlgorithm;
  readonly kid: string;
  readonly fields: SvidFields;
  /** The base64url signature segment; everything before its dot is the signing input. */
  readonly signatureSegment: string;
}

/** What `parseInsecureJwtSvid` decoded, so that validating its result does not decode the token again. */
const decodedBySvid = new WeakMap<JwtSvid, DecodedToken>();

/** A value from the token, quoted and cut short, for a message (never the whole token). */
function quote(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function decodeSegment(segment: string, what: string): Record<string, unknown> {
  if (!BASE64URL.test(segment)) {
    throw new JwtSvidError("malformed", `JWT ${what} is not base64url without padding (RFC 7515 §2)`);
  }
  let value: unknown;
  try {
    value = parseStrictJson(Buffer.from(segment, "base64url"));
  } catch (error: unknown) {
    if (!(error instanceof StrictJsonError)) throw error;
    throw new JwtSvidError("malformed", `JWT ${what} is not valid JSON: ${error.message} (RFC 7519 §7.2)`);
  }
  if (!isJsonObject(value)) throw new JwtSvidError("malformed", `JWT ${what} must be a JSON object (RFC 7519 §7.2)`);
  return value;
}

function splitCompact(token: string): [string, string, string] {
  if (token.trimStart().startsWith("{")) {
    throw new JwtSvidError("malformed", "JWS JSON Serialization must not be used; a JWT-SVID is compact (JWT-SVID §1)");
  }
  const parts = token.split(".");
  if (parts.length !== 3) {
    throw new JwtSvidError(
      "malformed",
      `a JWT-SVID is three base64url parts joined by dots; this has ${parts.length} (JWT-SVID §1, RFC 7515 §7.1)`,
    );
  }
  const [header = "", claims = "", signature = ""] = parts;
  return [header, claims, signature];
}

/**
 * Header rules. `alg` is checked before anything else is trusted (JWT-SVID §4). Other
 * headers are tolerated although §2 forbids issuers to add them: go-spiffe and SPIRE accept
 * them, and the key comes from the bundle by `kid` whatever else the header says. `crit`
 * is the exception, since it would oblige us to process an extension we do not know.
 */
function checkHeader(header: Record<string, unknown>): { alg: JwtSvidAlgorithm; kid: string } {
  const alg = header["alg"];
  if (!isJwtSvidAlgorithm(alg)) {
    throw new JwtSvidError(
      "alg-not-allowed",
      `algorithm ${alg === undefined ? "(none given)" : quote(alg)} is not allowed: ` +
        `a JWT-SVID must use ${JWT_SVID_ALGORITHMS.join(", ")} (JWT-SVID §2.1)`,
    );
  }
  if (header["crit"] !== undefined || header["b64"] !== undefined) {
    throw new JwtSvidError("header", 'header "crit"/"b64" extensions are not allowed in a JWT-SVID (JWT-SVID §2)');
  }
  const typ = header["typ"];
  if (typ !== undefined && typ !== "JWT" && typ !== "JOSE") {
    throw new JwtSvidError("typ", `header "typ" must be "JWT" or "JOSE", not ${quote(typ)} (JWT-SVID §2.3)`);
  }
  const kid = header["kid"];
  if (typeof kid !== "string" || kid === "") {
    throw new JwtSvidError(
      "kid-missing",
      'header has no key ID ("kid"): JWT-SVID §2.2 makes it optional, but go-spiffe and SPIRE require it to pick the signing key',
    );
  }
  return { alg, kid };
}

function readNumericDate(claims: Record<string, unknown>, name: string): Date | undefined {
  const value = claims[name];
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !(Math.abs(value) <= MAX_NUMERIC_DATE_SECONDS)) {
    throw new JwtSvidError("claim-invalid", `claim "${name}" must be a NumericDate in seconds (RFC 7519 §2)`);
  }
  return new Date(value * 1000);
}

function readSubject(claims: Record<string, unknown>): SpiffeId {
  const sub = claims["sub"];
  if (typeof sub !== "string" || sub === "") {
    throw new JwtSvidError("sub-missing", 'claim "sub" must be set to the SPIFFE ID (JWT-SVID §3.1)');
  }
  try {
    return parseSpiffeId(sub);
  } catch (error: unknown) {
    if (!(error instanceof SpiffeIdError)) throw error;
    throw new JwtSvidError("sub-invalid", `claim "sub" is not a valid SPIFFE ID: ${error.message} (JWT-SVID §3.1)`, {
      cause: error,
    });
  }
}

function readAudience(claims: Record<string, unknown>): readonly string[] {
  const aud = claims["aud"];
  if (aud === undefined || aud === "" || (Array.isArray(aud) && aud.length === 0)) {
    throw new JwtSvidError("aud-missing", 'claim "aud" must be present with one or more values (JWT-SVID §3.2)');
  }
  const audience: string[] = [];
  for (const value of Array.isArray(aud) ? (aud as unknown[]) : [aud]) {
    if (typeof value !== "string" || value === "") {
      throw new JwtSvidError("claim-invalid", 'claim "aud" must be a string or a list of strings (RFC 7519 §4.1.3)');
    }
    audience.push(value);
  }
  return Object.freeze(audience);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const member of Object.values(value)) deepFreeze(member);
    Object.freeze(value);
  }
  return value;
}

function decodeToken(token: string): DecodedToken {
  if (typeof token !== "string" || token === "") throw new JwtSvidError("malformed", "JWT-SVID is empty");
  const [headerSegment, claimsSegment, signatureSegment] = splitCompact(token);
  const { alg, kid } = checkHeader(decodeSegment(headerSegment, "header"));
  const claims = deepFreeze(decodeSegment(claimsSegment, "payload"));
  if (!BASE64URL.test(signatureSegment)) {
    throw new JwtSvidError("malformed", "JWT signature is missing or not base64url (RFC 7515 §7.1)");
  }
  const id = readSubject(claims);
  const audience = readAudience(claims);
  const expiry = readNumericDate(claims, "exp");
  if (expiry === undefined) {
    throw new JwtSvidError("exp-missing", 'claim "exp" must be set; tokens without it are rejected (JWT-SVID §3.3)');
  }
  readNumericDate(claims, "nbf");
  const issuedAt = readNumericDate(claims, "iat");
  const fields = { id, audience, expiry, claims, ...(issuedAt === undefined ? {} : { issuedAt }) };
  return { alg, kid, fields, signatureSegment };
}

function toSvid(token: string, fields: SvidFields, hint: string): JwtSvid {
  return new ParsedJwtSvid(token, fields.id, fields.audience, fields.expiry, fields.issuedAt, fields.claims, hint);
}

/**
 * Decodes a JWT-SVID and checks its header and claim shape (alg, typ, kid, sub, aud, exp)
 * without verifying the signature: for a token the Workload API has just handed over.
 * Never authorize on the result; use `validateJwtSvid` for tokens from a peer.
 */
export function parseInsecureJwtSvid(token: string, options: { hint?: string } = {}): JwtSvid {
  const decoded = decodeToken(token);
  const svid = toSvid(token, decoded.fields, options.hint ?? "");
  decodedBySvid.set(svid, decoded);
  return svid;
}

export interface ValidateJwtSvidOptions {
  /** The audiences this validator identifies with; the token must name at least one (JWT-SVID §3.2). */
  audience: string | readonly string[];
  /** @default new Date() */
  now?: Date;
  /** @default DEFAULT_LEEWAY_SECONDS (60) */
  leewaySeconds?: number;
}

/**
 * Validates a JWT-SVID as JWT-SVID §4 and go-spiffe's `ParseAndValidate` do: alg allowed,
 * header and claim shape, the bundle of the subject's trust domain (Workload API §6.3), the
 * key named by `kid`, the signature, then `exp`/`nbf`/`iat` against `now` with leeway, and
 * the audience. Resolves to the SVID, or rejects with a `JwtSvidError` naming the rule.
 *
 * `token` may be what `parseInsecureJwtSvid` returned (a token just fetched from the Workload
 * API): it is then not decoded again, and is itself the result.
 */
export async function validateJwtSvid(
  token: string | JwtSvid,
  bundles: JwtBundleSource,
  options: ValidateJwtSvidOptions,
): Promise<JwtSvid> {
  const expected = expectedAudiences(options.audience);
  const leewaySeconds = options.leewaySeconds ?? DEFAULT_LEEWAY_SECONDS;
  if (!Number.isFinite(leewaySeconds) || leewaySeconds < 0) {
    throw new RangeError("leewaySeconds must be a non-negative number of seconds");
  }
  const parsed = typeof token === "string" ? undefined : decodedBySvid.get(token);
  const compact = typeof token === "string" ? token : token.token;
  const { alg, kid, fields, signatureSegment } = parsed ?? decodeToken(compact);
  const trustDomain = fields.id.trustDomain;
  const bundle = bundles.getJwtBundle(trustDomain);
  if (bundle === undefined) {
    throw new JwtSvidError(
      "no-bundle",
      `no JWT bundle for trust domain "${trustDomain.name}": the token is untrusted (Workload API §6.3)`,
    );
  }
  const jwk = bundle.authorities.get(kid);
  if (jwk === undefined) {
    throw new JwtSvidError(
      "unknown-kid",
      `no JWT authority with key ID ${quote(kid)} in trust domain "${trustDomain.name}" (JWT-SVID §4)`,
    );
  }
  verifySignature(compact, signatureSegment, jwk, alg, `${quote(kid)} of trust domain "${trustDomain.name}"`);
  checkTimes(fields, options.now ?? new Date(), leewaySeconds);
  if (!fields.audience.some((value) => expected.includes(value))) {
    throw new JwtSvidError(
      "audience",
      `audience ${quote(fields.audience)} does not contain any expected audience ${quote(expected)} (JWT-SVID §3.2)`,
    );
  }
  if (typeof token === "string") return toSvid(compact, fields, "");
  return parsed === undefined ? toSvid(compact, fields, token.hint) : token;
}

function expectedAudiences(audience: string | readonly string[]): readonly string[] {
  const expected = typeof audience === "string" ? [audience] : audience;
  if (expected.length === 0 || expected.some((value) => value === "")) {
    throw new JwtSvidError("audience-required", "at least one non-empty expected audience is required (JWT-SVID §3.2)");
  }
  return expected;
}

/** What each JWT-SVID algorithm needs of its key and signature (RFC 7518 §3.1). */
interface AlgorithmParameters {
  readonly hash: "sha256" | "sha384" | "sha512";
  readonly keyType: "rsa" | "ec";
  /** ES*: the one curve of the algorithm, as OpenSSL names it, and its IEEE P1363 signature length. */
  readonly curve?: { readonly name: string; readonly signatureBytes: number };
  /** PS*: RSASSA-PSS with MGF1 of the same hash and a salt as long as the hash (RFC 7518 §3.5). */
  readonly pssSaltBytes?: number;
}

const ALGORITHM_PARAMETERS: Readonly<Record<JwtSvidAlgorithm, AlgorithmParameters>> = {
  RS256: { hash: "sha256", keyType: "rsa" },
  RS384: { hash: "sha384", keyType: "rsa" },
  RS512: { hash: "sha512", keyType: "rsa" },
  PS256: { hash: "sha256", keyType: "rsa", pssSaltBytes: 32 },
  PS384: { hash: "sha384", keyType: "rsa", pssSaltBytes: 48 },
  PS512: { hash: "sha512", keyType: "rsa", pssSaltBytes: 64 },
  ES256: { hash: "sha256", keyType: "ec", curve: { name: "prime256v1", signatureBytes: 64 } },
  ES384: { hash: "sha384", keyType: "ec", curve: { name: "secp384r1", signatureBytes: 96 } },
  ES512: { hash: "sha512", keyType: "ec", curve: { name: "secp521r1", signatureBytes: 132 } },
};

/** RFC 7518 §3.3 and §3.5: RSA keys below 2048 bits MUST NOT be used (jose and go-jose refuse them too). */
const MIN_RSA_MODULUS_BITS = 2048;

/** The authority's key, when it is of the type (and curve, or size) the algorithm needs. */
function verificationKey(jwk: JsonWebKey, alg: JwtSvidAlgorithm, authority: string): KeyObject {
  const unusable = (cause?: unknown): JwtSvidError =>
    new JwtSvidError("key-unusable", `JWT authority ${authority} cannot verify ${alg} signatures`, cause === undefined ? undefined : { cause });
  let key: KeyObject;
  try {
    key = jwtAuthorityPublicKey(jwk);
  } catch (error: unknown) {
    throw unusable(error);
  }
  const { keyType, curve } = ALGORITHM_PARAMETERS[alg];
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType !== keyType) throw unusable();
  if (curve !== undefined && details?.namedCurve !== curve.name) throw unusable();
  if (keyType === "rsa" && (details?.modulusLength ?? 0) < MIN_RSA_MODULUS_BITS) throw unusable();
  return key;
}

/**
 * Checks the JWS signature (RFC 7515 §5.2) with OpenSSL on this thread. jose went through
 * WebCrypto, a thread-pool job per token, and was a third of the CPU of a JWT-SVID refresh
 * (profile of 50 audiences, 2026-12-06).
 */
function verifySignature(token: string, signatureSegment: string, jwk: JsonWebKey, alg: JwtSvidAlgorithm, authority: string): void {
  const key = verificationKey(jwk, alg, authority);
  const { hash, curve, pssSaltBytes } = ALGORITHM_PARAMETERS[alg];
  const signature = Buffer.from(signatureSegment, "base64url");
  const signingInput = Buffer.from(token.slice(0, token.length - signatureSegment.length - 1), "latin1");
  const input: VerifyKeyObjectInput | VerifyPublicKeyInput =
    curve !== undefined
      ? { key, dsaEncoding: "ieee-p1363" }
      : pssSaltBytes !== undefined
        ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: pssSaltBytes }
        : { key };
  const fails = (cause?: unknown): JwtSvidError =>
    new JwtSvidError("signature", `signature does not verify with JWT authority ${authority} (RFC 7515 §5.2)`, cause === undefined ? undefined : { cause });
  // A P1363 signature has exactly one length per curve; OpenSSL is not asked about others.
  if (curve !== undefined && signature.length !== curve.signatureBytes) throw fails();
  let valid: boolean;
  try {
    valid = verify(hash, signingInput, input, signature);
  } catch (error: unknown) {
    throw fails(error);
  }
  if (!valid) throw fails();
}

/** go-jose `Claims.ValidateWithLeeway` semantics: each bound is widened by the leeway. */
function checkTimes(fields: SvidFields, now: Date, leewaySeconds: number): void {
  const leewayMs = leewaySeconds * 1000;
  const at = `at ${now.toISOString()} with ${leewaySeconds}s leeway`;
  if (now.getTime() - leewayMs > fields.expiry.getTime()) {
    throw new JwtSvidError("expired", `token expired at ${fields.expiry.toISOString()}, checked ${at} (JWT-SVID §3.3)`);
  }
  const notBefore = readNumericDate(fields.claims, "nbf");
  if (notBefore !== undefined && now.getTime() + leewayMs < notBefore.getTime()) {
    throw new JwtSvidError(
      "not-yet-valid",
      `token is not valid before ${notBefore.toISOString()}, checked ${at} (RFC 7519 §4.1.5)`,
    );
  }
  if (fields.issuedAt !== undefined && now.getTime() + leewayMs < fields.issuedAt.getTime()) {
    throw new JwtSvidError(
      "issued-in-future",
      `token was issued in the future (${fields.issuedAt.toISOString()}), checked ${at} (RFC 7519 §4.1.6)`,
    );
  }
}
