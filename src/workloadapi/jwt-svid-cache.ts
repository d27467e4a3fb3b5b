import type { JwtSvid } from "../spiffe/jwt-svid.js";
import type { FetchJwtSvidOptions } from "./jwt-source.js";

/** What a cache fetches through: a `JwtSource`, or anything with its `fetchJwtSvid`. */
export interface JwtSvidFetcher {
  fetchJwtSvid(options: FetchJwtSvidOptions): Promise<JwtSvid>;
}

/** How a `JwtSvidCache` tells time. */
export interface JwtSvidCacheOptions {
  /**
   * The clock that decides when a token is due for renewal.
   * @default () => new Date()
   */
  readonly now?: () => Date;
}

interface Entry {
  readonly svid: Promise<JwtSvid>;
  /** Undefined while the fetch is in flight. */
  renewAt: number | undefined;
}

/**
 * JWT-SVIDs cached per (audience set, identity, hint) until half of each token's lifetime (as
 * left when it was fetched) has passed, so a caller can ask on every request. Concurrent asks for one key share one fetch;
 * a failed fetch is not cached. A picker function is not part of the key: pass `hint` or
 * `spiffeId` to tell identities apart.
 */
export class JwtSvidCache {
  readonly #fetcher: JwtSvidFetcher;
  readonly #now: () => Date;
  readonly #entries = new Map<string, Entry>();

  constructor(fetcher: JwtSvidFetcher, options: JwtSvidCacheOptions = {}) {
    this.#fetcher = fetcher;
    this.#now = options.now ?? (() => new Date());
  }

  /** A cached token for these options, or a fresh one once the cached one is past its half-life. */
  get(options: FetchJwtSvidOptions): Promise<JwtSvid> {
    const key = cacheKey(options);
    const cached = this.#entries.get(key);
    if (cached !== undefined && (cached.renewAt === undefined || this.#now().getTime() < cached.renewAt)) {
      return abortable(cached.svid, options.signal);
    }
    const fetchedAt = this.#now().getTime();
    // The fetch is shared by every caller of this key, so one caller's signal must not end it.
    const { signal, ...shared } = options;
    const svid = this.#fetcher.fetchJwtSvid(shared);
    const entry: Entry = { svid, renewAt: undefined };
    this.#entries.set(key, entry);
    svid.then(
      (value) => {
        // Half of what was left at fetch time, not of exp - iat: an agent may hand out a token it
        // minted earlier (SPIRE caches them), and one already past its half-life would otherwise
        // be fetched again on every ask. For a fresh token the two are the same.
        entry.renewAt = fetchedAt + (value.expiry.getTime() - fetchedAt) / 2;
      },
      () => {
        if (this.#entries.get(key) === entry) this.#entries.delete(key);
      },
    );
    return abortable(svid, signal);
  }

  /** Forgets every token, e.g. after the workload's identities changed. */
  clear(): void {
    this.#entries.clear();
  }

  /** How many keys hold a token or a fetch in flight. */
  get size(): number {
    return this.#entries.size;
  }
}

function cacheKey(options: FetchJwtSvidOptions): string {
  const audiences = [...new Set([options.audience, ...(options.extraAudiences ?? [])])].sort();
  const hint = typeof options.picker === "string" ? options.picker : "";
  return JSON.stringify([audiences, options.spiffeId?.toString() ?? "", hint]);
}

/** `promise`, or the signal's reason if it aborts first; the promise itself runs on. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
