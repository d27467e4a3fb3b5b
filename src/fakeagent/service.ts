import { status as GrpcStatus } from "@grpc/grpc-js";
import type { Metadata, sendUnaryData, ServerUnaryCall, ServerWritableStream } from "@grpc/grpc-js";
import { setTimeout as sleep } from "node:timers/promises";
import { describeError } from "../errors.js";
import { validateJwtSvid } from "../spiffe/jwt-svid.js";
import type { JwtSvid } from "../spiffe/jwt-svid.js";
import { parseSpiffeId } from "../spiffe/spiffe-id.js";
import type {
  JWTSVIDRequest,
  JWTSVIDResponse,
  SpiffeWorkloadAPIServer,
  ValidateJWTSVIDRequest,
  ValidateJWTSVIDResponse,
} from "../workloadapi/generated/workload.js";
import type { FakeAgentCore } from "./agent.js";
import type { RpcName } from "./faults.js";
import {
  composeJwtBundlesResponse,
  composeX509BundlesResponse,
  composeX509SvidResponse,
  encodeJwtBundlesResponse,
  encodeX509BundlesResponse,
} from "./responses.js";
import { NO_IDENTITY, refusalStatus } from "./subscribers.js";
import type { StreamComposer, StreamStatus } from "./subscribers.js";

/** An RPC answered with a status instead of a response. */
class RpcFailure extends Error {
  constructor(readonly status: StreamStatus) {
    super(status.details);
  }
}

function failure(code: GrpcStatus, details: string): RpcFailure {
  return new RpcFailure({ code, details });
}

/**
 * Endpoint §3: exactly one `workload.spiffe.io` value, equal to `true` (case sensitive), as
 * SPIRE's `verifySecurityHeader` checks it.
 */
function hasSecurityHeader(metadata: Metadata): boolean {
  const values = metadata.get("workload.spiffe.io");
  return values.length === 1 && values[0] === "true";
}

const MISSING_HEADER: StreamStatus = { code: GrpcStatus.INVALID_ARGUMENT, details: "security header missing from request" };

/** Claims SPIRE returns for a subject outside its own trust domain (SPEC.md §1.5). */
const FOREIGN_CLAIMS: ReadonlySet<string> = new Set(["sub", "exp", "aud"]);

export function createWorkloadApiService(core: FakeAgentCore): SpiffeWorkloadAPIServer {
  /** The checks every RPC makes first: header (before anything else, as SPIRE), then call faults. */
  function preflight(metadata: Metadata, rpc: RpcName): StreamStatus | undefined {
    if (!hasSecurityHeader(metadata)) return MISSING_HEADER;
    const refusal = core.faults.refusal(rpc);
    return refusal === undefined ? undefined : refusalStatus(refusal);
  }

  function stream<Request, Response>(composer: StreamComposer<Response>) {
    return (call: ServerWritableStream<Request, Response>): void => {
      const refused = preflight(call.metadata, composer.rpc) ?? (core.snapshot.hasIdentity ? undefined : NO_IDENTITY);
      if (refused !== undefined) {
        core.logger.debug({ rpc: composer.rpc, code: refused.code }, "stream refused");
        call.emit("error", { code: refused.code, details: refused.details });
        return;
      }
      if (core.faults.hangs(composer.rpc)) {
        core.logger.debug({ rpc: composer.rpc }, "stream accepted and left unanswered (injected fault: hang)");
        return;
      }
      core.logger.debug({ rpc: composer.rpc }, "stream opened");
      core.hub.subscribe(call, composer, core.snapshot);
    };
  }

  function unary<Request, Response>(rpc: RpcName, handle: (request: Request) => Promise<Response>) {
    return (call: ServerUnaryCall<Request, Response>, callback: sendUnaryData<Response>): void => {
      const answer = async (): Promise<Response> => {
        const refused = preflight(call.metadata, rpc);
        if (refused !== undefined) throw new RpcFailure(refused);
        if (core.faults.hangs(rpc)) {
          core.logger.debug({ rpc }, "call accepted and left unanswered (injected fault: hang)");
          return new Promise<never>(() => {});
        }
        const response = await handle(call.request);
        const delayMs = core.faults.delayMs(rpc);
        if (delayMs > 0) await sleep(delayMs);
        return response;
      };
      answer().then(
        (response) => callback(null, response),
        (error: unknown) => {
          const status = error instanceof RpcFailure ? error.status : { code: GrpcStatus.UNAVAILABLE, details: describeError(error) };
          core.logger.debug({ rpc, code: status.code }, "call failed");
          callback({ code: status.code, details: status.details });
        },
      );
    };
  }

  async function fetchJwtSvid(request: JWTSVIDRequest): Promise<JWTSVIDResponse> {
    if (request.audience.length === 0) throw failure(GrpcStatus.INVALID_ARGUMENT, "audience must be specified");
    let identities = core.settings.identities;
    if (request.spiffeId !== "") {
      let requested: string;
      try {
        requested = parseSpiffeId(request.spiffeId).toString();
      } catch (error: unknown) {
        throw failure(GrpcStatus.INVALID_ARGUMENT, `invalid requested SPIFFE ID: ${describeError(error)}`);
      }
      identities = identities.filter((identity) => identity.spiffeId.toString() === requested);
    }
    if (identities.length === 0) throw failure(GrpcStatus.PERMISSION_DENIED, "no identity issued");
    const minted = await core.mintJwtSvids(request.audience, identities);
    return { svids: minted.map((svid) => ({ spiffeId: svid.spiffeId, svid: svid.token, hint: svid.hint })) };
  }

  async function validateJwt(request: ValidateJWTSVIDRequest): Promise<ValidateJWTSVIDResponse> {
    if (request.audience === "") throw failure(GrpcStatus.INVALID_ARGUMENT, "audience must be specified");
    if (request.svid === "") throw failure(GrpcStatus.INVALID_ARGUMENT, "svid must be specified");
    let svid: JwtSvid;
    try {
      svid = await validateJwtSvid(request.svid, core.jwtBundles(), { audience: request.audience });
    } catch (error: unknown) {
      // SPIRE answers every validation failure with InvalidArgument and the reason.
      throw failure(GrpcStatus.INVALID_ARGUMENT, describeError(error));
    }
    return { spiffeId: svid.id.toString(), claims: claimsStruct(svid, core.trustDomain.name) };
  }

  function unimplemented(call: ServerWritableStream<unknown, unknown>): void {
    const status = hasSecurityHeader(call.metadata)
      ? { code: GrpcStatus.UNIMPLEMENTED, details: "the WIT-SVID profile is not supported (Workload API §7)" }
      : MISSING_HEADER;
    call.emit("error", status);
  }

  return {
    fetchX509Svid: stream({ rpc: "FetchX509SVID", compose: composeX509SvidResponse }),
    fetchX509Bundles: stream({
      rpc: "FetchX509Bundles",
      compose: composeX509BundlesResponse,
      encodeForDedup: encodeX509BundlesResponse,
    }),
    fetchJwtBundles: stream({
      rpc: "FetchJWTBundles",
      compose: composeJwtBundlesResponse,
      encodeForDedup: encodeJwtBundlesResponse,
    }),
    fetchJwtsvid: unary("FetchJWTSVID", fetchJwtSvid),
    validateJwtsvid: unary("ValidateJWTSVID", validateJwt),
    fetchWitsvid: unimplemented,
    fetchWitBundles: unimplemented,
  };
}

/** The token's claims for the response Struct: `aud` always a list, foreign subjects filtered. */
function claimsStruct(svid: JwtSvid, ownTrustDomain: string): Record<string, unknown> {
  const claims: Record<string, unknown> = { ...svid.claims, aud: [...svid.audience] };
  if (svid.id.trustDomain.name === ownTrustDomain) return claims;
  return Object.fromEntries(Object.entries(claims).filter(([name]) => FOREIGN_CLAIMS.has(name)));
}
