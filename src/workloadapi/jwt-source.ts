import type { JwtBundle, JwtBundleSet, JwtBundleSource } from "../spiffe/jwt-bundle.js";
import { validateJwtSvid } from "../spiffe/jwt-svid.js";
import type { JwtSvid } from "../spiffe/jwt-svid.js";
import type { SpiffeId, TrustDomain } from "../spiffe/spiffe-id.js";
import { WorkloadSourceError } from "./errors.js";
import { WorkloadSource } from "./source-base.js";
import type { SourceOptions } from "./source-base.js";
import type { Watch, WatchHandlers } from "./watch-stream.js";

export interface FetchJwtSvidOptions {
  /** The audience the token is for: spiffe-helper's `jwt_audience`. */
  readonly audience: string;
  /** More audiences for the same token: spiffe-helper's `jwt_extra_audiences`. */
  readonly extraAudiences?: readonly string[];
  /** Which identity, when the workload holds several. @default the first the agent returns */
  readonly spiffeId?: string | SpiffeId;
  readonly signal?: AbortSignal;
  /**
   * The instant the token is validated at.
   * @default new Date()
   */
  readonly now?: Date;
}

/**
 * JWT bundles kept current from FetchJWTBundles, plus JWT-SVID fetches that are validated
 * against them, in the manner of go-spiffe's `JWTSource`. It is a JwtBundleSource, so it can
 * be handed to `validateJwtSvid` for tokens from peers.
 */
export class JwtSource extends WorkloadSource<JwtBundleSet> implements JwtBundleSource {
  private constructor(options: SourceOptions) {
    super("JwtSource", options);
  }

  /** Connects and resolves once the first valid set of JWT bundles has arrived. */
  static async create(options: SourceOptions = {}): Promise<JwtSource> {
    const source = new JwtSource(options);
    await source.start(options.signal);
    return source;
  }

  protected openWatch(handlers: WatchHandlers<JwtBundleSet>): Watch {
    return this.client.watchJwtBundles(handlers);
  }

  getJwtBundle(trustDomain: TrustDomain): JwtBundle | undefined {
    return this.current().get(trustDomain);
  }

  /** The latest valid JWT bundles. */
  getJwtBundles(): JwtBundleSet {
    return this.current();
  }

  /**
   * Fetches a JWT-SVID for `audience` (+ `extraAudiences`) and validates it against the current
   * JWT bundles before returning it: signature, subject trust domain, expiry and audience
   * (JWT-SVID §4). Rejects with the `JwtSvidError` of a token that does not validate.
   */
  async fetchJwtSvid(options: FetchJwtSvidOptions): Promise<JwtSvid> {
    // Fails fast on a closed source instead of fetching a token it cannot validate.
    this.current();
    const audience = [options.audience, ...(options.extraAudiences ?? [])];
    const svids = await this.client.fetchJwtSvids({
      audience,
      ...(options.spiffeId === undefined ? {} : { spiffeId: options.spiffeId }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    const svid = svids[0];
    // fetchJwtSvids never resolves to an empty list; the guard satisfies the type checker.
    if (svid === undefined) throw new WorkloadSourceError("the agent returned no JWT-SVID");
    await validateJwtSvid(svid.token, this, {
      audience: options.audience,
      ...(options.now === undefined ? {} : { now: options.now }),
    });
    return svid;
  }
}
