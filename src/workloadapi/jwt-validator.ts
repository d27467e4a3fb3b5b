import { status as Status } from "@grpc/grpc-js";
import type { JwtBundleSource } from "../spiffe/jwt-bundle.js";
import { JwtSvidError, validateJwtSvid } from "../spiffe/jwt-svid.js";
import type { ValidateJwtSvidOptions } from "../spiffe/jwt-svid.js";
import type { WorkloadApiClient, ValidatedJwtClaims } from "./client.js";
import { WorkloadApiError } from "./errors.js";

/**
 * Validates a JWT-SVID for one of `audience` and resolves to its SPIFFE ID and claims. It
 * rejects with an error for which `isJwtSvidRefusal` is true when the token itself is bad
 * (answer 401), and with any other error when the validator could not decide (answer 503).
 */
export type JwtSvidValidator = (token: string, audience: string | readonly string[]) => Promise<ValidatedJwtClaims>;

/**
 * A validator that checks tokens in-process against JWT bundles (a `BundleSource`, a
 * `JwtSource`, or a set read from a file), as go-spiffe's `jwtsvid.ParseAndValidate` does.
 */
export function localJwtSvidValidator(
  bundles: JwtBundleSource,
  options: Pick<ValidateJwtSvidOptions, "leewaySeconds" | "now"> = {},
): JwtSvidValidator {
  return async (token, audience) => {
    const svid = await validateJwtSvid(token, bundles, { ...options, audience });
    return { spiffeId: svid.id, claims: { ...svid.claims } };
  };
}

/**
 * A validator that asks the agent (ValidateJWTSVID, Workload API §6.2.3), for a workload that
 * holds no bundles itself. The RPC takes one audience, so each expected audience is tried in
 * turn until one is accepted.
 */
export function workloadApiJwtSvidValidator(client: Pick<WorkloadApiClient, "validateJwtSvid">): JwtSvidValidator {
  return async (token, audience) => {
    const audiences = typeof audience === "string" ? [audience] : audience;
    let refusal: unknown = new JwtSvidError("audience-required", "at least one non-empty expected audience is required (JWT-SVID §3.2)");
    for (const expected of audiences) {
      try {
        return await client.validateJwtSvid({ audience: expected, token });
      } catch (error: unknown) {
        if (!isJwtSvidRefusal(error)) throw error;
        refusal = error;
      }
    }
    throw refusal;
  };
}

/**
 * Whether a validator's rejection means the token is bad, not that validation could not run:
 * a `JwtSvidError`, or the agent's InvalidArgument (SPIRE answers every refused token with it).
 */
export function isJwtSvidRefusal(error: unknown): boolean {
  return error instanceof JwtSvidError || (error instanceof WorkloadApiError && error.statusCode === Status.INVALID_ARGUMENT);
}
