import type { IncomingMessage, ServerResponse } from "node:http";
import { describeError } from "../errors.js";
import type { JwtBundleSource } from "../spiffe/jwt-bundle.js";
import type { SpiffeId } from "../spiffe/spiffe-id.js";
import { bearerToken } from "../tls/bearer-jwt.js";
import { PeerAuthenticationError } from "../tls/errors.js";
import type { SpiffeIdAuthorizer } from "../tls/peer-authorization.js";
import { boundText } from "../text/bounded-text.js";
import type { ValidatedJwtClaims } from "../workloadapi/client.js";
import { isJwtSvidRefusal, localJwtSvidValidator } from "../workloadapi/jwt-validator.js";
import type { JwtSvidValidator } from "../workloadapi/jwt-validator.js";

/** The caller a bearer JWT-SVID proved: its SPIFFE ID and the token's claims (never the token). */
export type BearerIdentity = ValidatedJwtClaims;

/** What `jwtSvidBearer` checks: the audience, where tokens are validated, and who may call. */
export interface JwtSvidBearerOptions {
  /** The audiences this service answers to; the token must name one (JWT-SVID §3.2). */
  readonly audience: string | readonly string[];
  /**
   * Where tokens are checked: JWT bundles (a `BundleSource`, a `JwtSource`) validated in-process,
   * or a `JwtSvidValidator` such as `workloadApiJwtSvidValidator(client)`. One is required.
   */
  readonly bundles?: JwtBundleSource;
  /** Takes precedence over `bundles`; see `JwtSvidValidator` for how refusals are told apart. */
  readonly validator?: JwtSvidValidator;
  /**
   * Which SPIFFE IDs may call, once the token is valid; a refused ID gets 403.
   * @default any valid token
   */
  readonly authorize?: SpiffeIdAuthorizer | ((id: SpiffeId) => boolean);
  /** The `realm` of the `WWW-Authenticate` challenge (RFC 6750 §3). @default "spiffe" */
  readonly realm?: string;
  /** Told of each refused request (for a log line); the error never holds the token. */
  readonly onRefused?: (error: PeerAuthenticationError, request: IncomingMessage) => void;
}

/** Express-style middleware: `next()` runs once the caller is authenticated. */
export type JwtSvidBearerMiddleware = (request: IncomingMessage, response: ServerResponse, next: () => void) => void;

const identities = new WeakMap<IncomingMessage, BearerIdentity>();

/** The identity `jwtSvidBearer` proved for this request; `undefined` before or without it. */
export function bearerIdentityOf(request: IncomingMessage): BearerIdentity | undefined {
  return identities.get(request);
}

/**
 * Middleware that lets a request through only with `Authorization: Bearer <JWT-SVID>` valid
 * for `audience` and allowed by `authorize`. Missing or bad token: 401 with a RFC 6750
 * `WWW-Authenticate` challenge; valid token of a refused ID: 403 (`insufficient_scope`,
 * RFC 6750 §3.1); a validator that cannot decide (agent down): 503. The reason is in the
 * body and the challenge; the token never is. Works as Express middleware and, through
 * `withJwtSvidBearer`, as a plain `node:http` handler.
 */
export function jwtSvidBearer(options: JwtSvidBearerOptions): JwtSvidBearerMiddleware {
  const validator = options.validator ?? (options.bundles === undefined ? undefined : localJwtSvidValidator(options.bundles));
  if (validator === undefined) throw new TypeError("jwtSvidBearer needs `bundles` (a BundleSource or JwtSource) or a `validator`");
  const authorize = options.authorize;
  const allows = authorize === undefined ? undefined : typeof authorize === "function" ? authorize : (id: SpiffeId) => authorize.allows(id);
  const realm = headerSafe(options.realm ?? "spiffe");
  return (request, response, next) => {
    const refuse = (status: number, error: PeerAuthenticationError, challenge: string): void => {
      options.onRefused?.(error, request);
      response.statusCode = status;
      response.setHeader("WWW-Authenticate", challenge);
      response.setHeader("Content-Type", "text/plain; charset=utf-8");
      response.setHeader("Cache-Control", "no-store");
      response.end(`${error.message}\n`);
    };
    let token: string;
    try {
      token = bearerToken(request.headers.authorization);
    } catch (error: unknown) {
      if (!(error instanceof PeerAuthenticationError)) throw error;
      // RFC 6750 §3.1: a request without credentials gets a challenge with no error code.
      refuse(401, error, `Bearer realm="${realm}"`);
      return;
    }
    // A custom validator that throws instead of rejecting still gets an answer, not a hung request.
    Promise.resolve()
      .then(() => validator(token, options.audience))
      .then(
      (identity) => {
        if (allows !== undefined && !allows(identity.spiffeId)) {
          const rule = authorize !== undefined && typeof authorize !== "function" ? authorize.description : "the authorization function";
          const error = new PeerAuthenticationError("not-authorized", `${identity.spiffeId.toString()} is not allowed by ${rule}`);
          refuse(403, error, challenge(realm, "insufficient_scope", error.message));
          return;
        }
        identities.set(request, identity);
        next();
      },
      (cause: unknown) => {
        if (isJwtSvidRefusal(cause)) {
          const error = new PeerAuthenticationError("invalid-jwt-svid", `bearer JWT-SVID refused: ${describeError(cause)}`, { cause });
          refuse(401, error, challenge(realm, "invalid_token", error.message));
          return;
        }
        options.onRefused?.(new PeerAuthenticationError("jwt-bundle-unavailable", `cannot validate the bearer JWT-SVID now: ${describeError(cause)}`, { cause }), request);
        response.statusCode = 503;
        response.setHeader("Content-Type", "text/plain; charset=utf-8");
        response.end("cannot validate the bearer JWT-SVID now; retry later\n");
      },
    );
  };
}

/**
 * A `node:http` request listener that runs `handler` with the caller's identity once
 * `jwtSvidBearer(options)` has let the request through.
 */
export function withJwtSvidBearer(
  options: JwtSvidBearerOptions,
  handler: (request: IncomingMessage, response: ServerResponse, identity: BearerIdentity) => void,
): (request: IncomingMessage, response: ServerResponse) => void {
  const middleware = jwtSvidBearer(options);
  return (request, response) =>
    middleware(request, response, () => {
      const identity = bearerIdentityOf(request);
      // The middleware sets the identity before calling next; the guard satisfies the type checker.
      if (identity !== undefined) handler(request, response, identity);
    });
}

function challenge(realm: string, error: string, description: string): string {
  return `Bearer realm="${realm}", error="${error}", error_description="${headerSafe(boundText(description, 200))}"`;
}

/** RFC 6750 §3: `error_description` may hold only %x20-21 / %x23-5B / %x5D-7E. */
function headerSafe(text: string): string {
  return text.replace(/[^\x20-\x7e]|["\\]/g, "'");
}
