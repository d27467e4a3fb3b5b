import type { JwtBundle, JwtBundleSet, JwtBundleSource } from "../spiffe/jwt-bundle.js";
import { validateJwtSvid } from "../spiffe/jwt-svid.js";
import type { JwtSvid } from "../spiffe/jwt-svid.js";
import type { SpiffeId, TrustDomain } from "../spiffe/spiffe-id.js";
import { WorkloadSourceError } from "./errors.js";
import { JwtSvidCache } from "./jwt-svid-cache.js";
import { WorkloadSource } from "./source-base.js";
import type { SourceOptions } from "./source-base.js";
import type { Watch, WatchHandlers } from "./watch-stream.js";

/**
 * Chooses one JWT-SVID among those the agent returned (never empty): a hint, or a function
 * (go-spiffe's `WithDefaultJWTSVIDPicker`). A function returning `undefined` fails the fetch.
 */
export type JwtSvidPicker = string | ((svids: readonly JwtSvid[]) => JwtSvid | undefined);

/** What `JwtSource.create` accepts: where the agent is, how long to wait, and the default SVID. */
export interface JwtSourceOptions extends SourceOptions {
  /**
   * Which token `fetchJwtSvid` returns when neither `spiffeId` nor `picker` is passed.
   * @default the first the agent returns
   */
  readonly picker?: JwtSvidPicker;
}

/** Which JWT-SVID to fetch: its audiences, and which identity when the workload holds several. */
export interface FetchJwtSvidOptions {
  /** The audience the token is for: spiffe-helper's `jwt_audience`. */
  readonly audience: string;
  /** More audiences for the same token: spiffe-helper's `jwt_extra_audiences`. */
  readonly extraAudiences?: readonly string[];
  /** Which identity, when the workload holds several. @default the first the agent returns */
  readonly spiffeId?: string | SpiffeId;
  /** Picks among the tokens of every identity (ignored with `spiffeId`). @default the source's `picker` */
  readonly picker?: JwtSvidPicker;
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
  readonly #picker: JwtSvidPicker | undefined;
  readonly #cache = new JwtSvidCache(this);

  private constructor(options: JwtSourceOptions) {
    super("JwtSource", options);
    this.#picker = options.picker;
  }

  /**
   * Connects and resolves once the first valid set of JWT bundles has arrived; rejects with a
   * `SourceNotReadyError` after `timeoutMs`, or when `signal` aborts or the agent refuses for good.
   */
  static async create(options: JwtSourceOptions = {}): Promise<JwtSource> {
    const source = new JwtSource(options);
    await source.start(options.signal, options.timeoutMs);
    return source;
  }

  protected openWatch(handlers: WatchHandlers<JwtBundleSet>): Watch {
    return this.client.watchJwtBundles(handlers);
  }

  /** JWT bundles do not expire; tokens carry their own `exp`. */
  protected expiryOf(): Date | undefined {
    return undefined;
  }

  /** The JWT bundle of `trustDomain` (own or federated); `undefined` means untrusted. */
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
    const svid = options.spiffeId === undefined ? pickJwtSvid(svids, options.picker ?? this.#picker) : svids[0];
    // fetchJwtSvids never resolves to an empty list; the guard satisfies the type checker.
    if (svid === undefined) throw new WorkloadSourceError("the agent returned no JWT-SVID");
    await validateJwtSvid(svid, this, {
      audience: options.audience,
      ...(options.now === undefined ? {} : { now: options.now }),
    });
    return svid;
  }

  /**
   * Fetches a JWT-SVID for `audience` of every identity the workload holds (or of `spiffeId`),
   * each validated like `fetchJwtSvid`'s, in the agent's order (go-spiffe's `FetchJWTSVIDs`).
   */
  async fetchJwtSvids(options: Omit<FetchJwtSvidOptions, "picker">): Promise<JwtSvid[]> {
    this.current();
    const svids = await this.client.fetchJwtSvids({
      audience: [options.audience, ...(options.extraAudiences ?? [])],
      ...(options.spiffeId === undefined ? {} : { spiffeId: options.spiffeId }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    for (const svid of svids) {
      await validateJwtSvid(svid, this, {
        audience: options.audience,
        ...(options.now === undefined ? {} : { now: options.now }),
      });
    }
    return svids;
  }

  /**
   * Like `fetchJwtSvid`, but a token is reused for the same audiences and identity (or hint)
   * until half of its lifetime has passed, as SPIRE's own agents refresh them.
   */
  async getJwtSvid(options: FetchJwtSvidOptions): Promise<JwtSvid> {
    // A closed source hands out no token, cached or not.
    this.current();
    return this.#cache.get(options);
  }
}

/** The token a picker chooses; without one the first. Throws when a hint matches none. */
function pickJwtSvid(svids: readonly JwtSvid[], picker: JwtSvidPicker | undefined): JwtSvid | undefined {
  if (typeof picker === "function") {
    const picked = picker(svids);
    if (picked === undefined) throw new WorkloadSourceError(`the JWT-SVID picker chose none of the ${svids.length} tokens the agent returned`);
    return picked;
  }
  if (picker === undefined || picker === "") return svids[0];
  const match = svids.find((svid) => svid.hint === picker);
  if (match === undefined) {
    const hints = svids.map((svid) => JSON.stringify(svid.hint)).filter((hint) => hint !== '""');
    throw new WorkloadSourceError(
      `no JWT-SVID with hint ${JSON.stringify(picker)}; the agent sent ${hints.length === 0 ? "no hints" : `hints ${hints.join(", ")}`}`,
    );
  }
  return match;
}
