import type { JwtBundleSource } from "../../spiffe/jwt-bundle.js";
import { validateJwtSvid, type JwtSvid } from "../../spiffe/jwt-svid.js";
import { Backoff, type BackoffOptions } from "../../workloadapi/backoff.js";
import { WorkloadApiResponseError } from "../../workloadapi/errors.js";
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
  /** A validated token to write; a rejection counts as a failed attempt and is retried. */
  readonly onJwtSvid: (output: JwtSvidOutput, svid: JwtSvid) => Promise<void>;
  readonly onFailure: (output: JwtSvidOutput, error: unknown, retryInMs: number) => void;
  readonly backoff?: BackoffOptions;
  readonly now?: () => Date;
}

/**
 * Keeps one `jwt_svids` entry fresh: fetch for the audience set, validate against the JWT
 * bundle of the token's trust domain (JWT-SVID §4), hand it on, and schedule the next fetch;
 * failures back off exponentially with jitter.
 */
export class JwtSvidRefresher {
  readonly #options: JwtSvidRefresherOptions;
  readonly #backoff: Backoff;
  readonly #abort = new AbortController();
  #timer: NodeJS.Timeout | undefined;

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

  #schedule(delayMs: number): void {
    if (this.#abort.signal.aborted) return;
    this.#timer = setTimeout(() => void this.#refresh(), delayMs);
  }

  async #refresh(): Promise<void> {
    const { output, hint } = this.#options;
    const now = this.#options.now ?? (() => new Date());
    try {
      const bundles = await this.#options.jwtBundles();
      const audience = [output.audience, ...output.extraAudiences];
      const fetched = selectJwtSvid(await this.#options.fetchJwtSvids(audience, this.#abort.signal), hint);
      const validated = await validateJwtSvid(fetched.token, bundles, { audience: output.audience, now: now() });
      if (this.#abort.signal.aborted) return;
      await this.#options.onJwtSvid(output, validated);
      this.#backoff.reset();
      this.#schedule(nextJwtRefreshDelayMs(validated.expiry, now()));
    } catch (error: unknown) {
      if (this.#abort.signal.aborted) return;
      const retryInMs = this.#backoff.next();
      this.#options.onFailure(output, error, retryInMs);
      this.#schedule(retryInMs);
    }
  }
}
