import type { JwtBundleSource } from "../../spiffe/jwt-bundle.js";
import { JwtSvidError, validateJwtSvid, type JwtSvid } from "../../spiffe/jwt-svid.js";
import { Backoff, type BackoffOptions } from "../../workloadapi/backoff.js";
import { WorkloadApiError, WorkloadApiResponseError } from "../../workloadapi/errors.js";
import type { JwtSvidOutput } from "../config/index.js";

/** The shortest wait between two fetches of a token that is still valid, so a 1 s TTL cannot spin. */
export const MIN_JWT_REFRESH_MS = 250;

/**
 * When to fetch the next token: at half of the remaining lifetime, never later (DESIGN §2), so
 * a token on disk always has at least half of its life left after a successful refresh.
 */
export function nextJwtRefreshDelayMs(expiry: Date, now: Date): number {
  return Math.max(MIN_JWT_REFRESH_MS, Math.floor((expiry.getTime() - now.getTime()) / 2));
}

/** Picks the token to write: the one with the configured hint, else the first (Workload API §8). */
export function selectJwtSvid(svids: readonly JwtSvid[], hint: string | undefined): JwtSvid {
  const chosen = hint === undefined ? svids[0] : svids.find((svid) => svid.hint === hint);
  if (chosen === undefined) {
    throw new WorkloadApiResponseError(
      hint === undefined ? "no-svids" : "hint-not-found",
      hint === undefined
        ? "FetchJWTSVID returned no JWT-SVIDs"
        : `FetchJWTSVID returned no JWT-SVID with hint "${hint}" (hints: ${svids.map((svid) => JSON.stringify(svid.hint)).join(", ")})`,
    );
  }
  return chosen;
}

export interface JwtSvidRefresherOptions {
  readonly output: JwtSvidOutput;
  readonly hint: string | undefined;
  readonly fetchJwtSvids: (audience: readonly string[], signal: AbortSignal) => Promise<JwtSvid[]>;
  /** Resolves with the JWT bundles once the first valid bundle update has arrived. */
  readonly jwtBundles: () => Promise<JwtBundleSource>;
  /**
   * Fetches the JWT bundles again (or waits briefly for the stream's next message) and resolves
   * with the newest: for a token signed by a key the bundles held so far do not know, as after
   * an agent restart with new keys, where the token can arrive before the new bundle does.
   */
  readonly refetchJwtBundles: () => Promise<JwtBundleSource>;
  /** A validated token to write; a rejection counts as a failed attempt and is retried. */
  readonly onJwtSvid: (output: JwtSvidOutput, svid: JwtSvid) => Promise<void>;
  readonly onFailure: (output: JwtSvidOutput, error: unknown, retryInMs: number) => void;
  readonly backoff?: BackoffOptions;
  readonly now?: () => Date;
}

/**
 * Keeps one `jwt_svids` entry fresh: fetch for the audience set, validate against the JWT
 * bundle of the token's trust domain (JWT-SVID §4), hand it on, and schedule the next fetch;
 * failures back off exponentially with jitter. Each fetch has the client's deadline, so an
 * agent that never answers costs one deadline and a retry, not the token (issue 13 item 7).
 */
export class JwtSvidRefresher {
  readonly #options: JwtSvidRefresherOptions;
  readonly #backoff: Backoff;
  readonly #abort = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  /** True while the timer is a retry after a failure, not the next planned refresh. */
  #retrying = false;
  /** A fetch is under way: nothing else starts one. */
  #fetching = false;
  /** The token last handed on, to judge against new JWT bundles. */
  #current: JwtSvid | undefined;

  constructor(options: JwtSvidRefresherOptions) {
    this.#options = options;
    this.#backoff = new Backoff(options.backoff);
  }

  start(): void {
    void this.#refresh();
  }

  stop(): void {
    this.#abort.abort();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }

  /** After a failure, fetches now instead of at the end of the backoff delay (the agent is back). */
  retryNow(): void {
    if (!this.#retrying || this.#abort.signal.aborted) return;
    clearTimeout(this.#timer);
    this.#retrying = false;
    void this.#refresh();
  }

  /**
   * New JWT bundles arrived. A held token whose key (or trust domain) they no longer carry is
   * one no peer can verify any more, as after an agent restart with new keys: fetch its
   * replacement now rather than at its planned refresh.
   */
  async onJwtBundles(bundles: JwtBundleSource): Promise<void> {
    const held = this.#current;
    if (held === undefined || this.#fetching || this.#abort.signal.aborted) return;
    try {
      await validateJwtSvid(held, bundles, { audience: this.#options.output.audience, now: held.issuedAt ?? new Date(0) });
    } catch (error: unknown) {
      if (!isUnknownKey(error) || this.#fetching || this.#current !== held) return;
      clearTimeout(this.#timer);
      this.#retrying = false;
      void this.#refresh();
    }
  }

  #schedule(delayMs: number, retrying: boolean): void {
    if (this.#abort.signal.aborted) return;
    this.#retrying = retrying;
    this.#timer = setTimeout(() => {
      this.#retrying = false;
      void this.#refresh();
    }, delayMs);
  }

  /**
   * Validates (the token as the client decoded it, not decoded again), and for a key ID (or
   * trust domain) the bundles do not know, once more after a refetch.
   */
  async #validate(svid: JwtSvid, audience: string, now: () => Date): Promise<JwtSvid> {
    const bundles = await this.#options.jwtBundles();
    try {
      return await validateJwtSvid(svid, bundles, { audience, now: now() });
    } catch (error: unknown) {
      if (!isUnknownKey(error)) throw error;
      const refetched = await this.#options.refetchJwtBundles();
      return validateJwtSvid(svid, refetched, { audience, now: now() });
    }
  }

  async #refresh(): Promise<void> {
    this.#fetching = true;
    try {
      await this.#fetchAndHandOn();
    } finally {
      this.#fetching = false;
    }
  }

  async #fetchAndHandOn(): Promise<void> {
    const { output, hint } = this.#options;
    const now = this.#options.now ?? (() => new Date());
    try {
      await this.#options.jwtBundles();
      const audience = [output.audience, ...output.extraAudiences];
      const fetched = selectJwtSvid(await this.#options.fetchJwtSvids(audience, this.#abort.signal), hint);
      const validated = await this.#validate(fetched, output.audience, now);
      if (this.#abort.signal.aborted) return;
      await this.#options.onJwtSvid(output, validated);
      this.#current = validated;
      this.#backoff.reset();
      this.#schedule(nextJwtRefreshDelayMs(validated.expiry, now()), false);
    } catch (error: unknown) {
      if (this.#abort.signal.aborted) return;
      // A permanent refusal (InvalidArgument, Unimplemented) is retried only as often as the cap allows.
      const permanent = error instanceof WorkloadApiError && !error.retryable;
      const retryInMs = permanent ? this.#backoff.maxMs : this.#backoff.next();
      this.#options.onFailure(output, error, retryInMs);
      this.#schedule(retryInMs, true);
    }
  }
}

/** The bundles lack the token's key ID or its trust domain: newer bundles may have them. */
function isUnknownKey(error: unknown): boolean {
  return error instanceof JwtSvidError && (error.rule === "unknown-kid" || error.rule === "no-bundle");
}
