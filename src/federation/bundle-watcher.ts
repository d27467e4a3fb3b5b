import { EventEmitter } from "node:events";
import { describeError } from "../errors.js";
import { parseCertificate } from "../spiffe/certificate.js";
import { jwtBundleFromSpiffeBundle, marshalSpiffeBundle, type SpiffeBundle } from "../spiffe/spiffe-bundle.js";
import type { JwtBundle, JwtBundleSource } from "../spiffe/jwt-bundle.js";
import { parseSpiffeId, type TrustDomain } from "../spiffe/spiffe-id.js";
import { x509BundleFromCertificates, type X509Bundle, type X509BundleSource } from "../spiffe/x509-bundle.js";
import { Backoff, type BackoffOptions } from "../workloadapi/backoff.js";
import { FederationError } from "./errors.js";
import { fetchBundle, parseTrustDomainOption, type BundleEndpointProfile } from "./fetch-bundle.js";

/** What `BundleWatcher.start` accepts. */
export interface BundleWatcherOptions {
  /** The trust domain whose bundle the endpoint serves. */
  readonly trustDomain: string | TrustDomain;
  /** The bundle endpoint URL (https). */
  readonly url: string | URL;
  /**
   * How the endpoint is authenticated. Under `https_spiffe`, `bundles` is only the first trust
   * anchor when the endpoint belongs to the watched trust domain: each bundle fetched then
   * authenticates the next fetch (SPIFFE Federation §5.2.2).
   */
  readonly profile: BundleEndpointProfile;
  /** Deadline of each fetch. @default 10000 */
  readonly timeoutMs?: number;
  /** Largest body accepted. @default 1048576 */
  readonly maxBodyBytes?: number;
  /** Refresh interval when the bundle carries no `spiffe_refresh_hint`. @default 300000 (5 min) */
  readonly defaultRefreshMs?: number;
  /**
   * Shortest refresh interval, whatever the hint says, so that a hint of 0 does not make us
   * poll the endpoint in a loop. @default 10000
   */
  readonly minRefreshMs?: number;
  /** Longest refresh interval, whatever the hint says. @default 86400000 (1 day) */
  readonly maxRefreshMs?: number;
  /** Delays between failed fetches. @default { initialMs: 1000, maxMs: 60000 } */
  readonly backoff?: BackoffOptions;
  /** How long `start` waits for the first bundle before it gives up. @default 30000 */
  readonly readyTimeoutMs?: number;
  /** Aborts `start`'s wait (and stops the watcher). */
  readonly signal?: AbortSignal;
}

/** `update`: a bundle with different content is in force. `error`: a fetch failed; the last bundle stays. */
export interface BundleWatcherEvents {
  update: [SpiffeBundle];
  error: [FederationError];
}

/** What a watcher can tell a health check. */
export interface BundleWatcherStatus {
  /** When a fetch last succeeded. */
  readonly lastSuccessAt: Date | undefined;
  /** The error of the last fetch, when it failed; cleared by a success. */
  readonly lastError: FederationError | undefined;
  /** Failures in a row. */
  readonly consecutiveFailures: number;
  /** When the next fetch is due. */
  readonly nextRefreshAt: Date | undefined;
}

const DEFAULT_REFRESH_MS = 5 * 60_000;
const DEFAULT_MIN_REFRESH_MS = 10_000;
const DEFAULT_MAX_REFRESH_MS = 24 * 60 * 60_000;
const DEFAULT_READY_TIMEOUT_MS = 30_000;
const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1000, maxMs: 60_000 };

/**
 * Keeps a federated trust domain's bundle current from its bundle endpoint, in the manner of
 * go-spiffe's `federation.WatchBundle`: re-fetched at the bundle's refresh hint (bounded),
 * retried with capped exponential backoff after a failure (or a bundle with a lower
 * `spiffe_sequence`) while the last good bundle stays in force. It is an X509BundleSource and
 * a JwtBundleSource for its one trust domain, so it can verify peers of that domain or feed a
 * bundle set.
 */
export class BundleWatcher extends EventEmitter<BundleWatcherEvents> implements X509BundleSource, JwtBundleSource {
  /** The one trust domain this watcher holds a bundle for. */
  readonly trustDomain: TrustDomain;
  readonly #options: BundleWatcherOptions;
  readonly #backoff: Backoff;
  readonly #limits: { readonly defaultMs: number; readonly minMs: number; readonly maxMs: number };
  #profile: BundleEndpointProfile;
  #bundle: SpiffeBundle | undefined;
  #x509: X509Bundle | undefined;
  #marshalled = "";
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<SpiffeBundle> | undefined;
  #closed = false;
  #lastSuccessAt: Date | undefined;
  #lastError: FederationError | undefined;
  #nextRefreshAt: Date | undefined;

  private constructor(options: BundleWatcherOptions) {
    super();
    this.#options = options;
    this.trustDomain = typeof options.trustDomain === "string" ? parseTrustDomainOption(options.trustDomain) : options.trustDomain;
    this.#profile = options.profile;
    this.#backoff = new Backoff(options.backoff ?? DEFAULT_BACKOFF);
    const minMs = options.minRefreshMs ?? DEFAULT_MIN_REFRESH_MS;
    const maxMs = options.maxRefreshMs ?? DEFAULT_MAX_REFRESH_MS;
    if (!(minMs > 0 && maxMs >= minMs && maxMs <= 2 ** 31 - 1)) {
      throw new FederationError("invalid-options", `refresh bounds must satisfy 0 < minRefreshMs <= maxRefreshMs <= 2^31-1, got ${minMs} and ${maxMs}`);
    }
    this.#limits = { defaultMs: options.defaultRefreshMs ?? DEFAULT_REFRESH_MS, minMs, maxMs };
  }

  /**
   * Starts watching and resolves once the first bundle has been fetched. Failed first fetches
   * are retried with backoff until `readyTimeoutMs` or `signal`; then the watcher is closed
   * and the promise rejects with the last fetch's error as the cause.
   */
  static async start(options: BundleWatcherOptions): Promise<BundleWatcher> {
    const watcher = new BundleWatcher(options);
    const readyTimeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
    await new Promise<void>((resolve, reject) => {
      const giveUp = (why: string): void => {
        cleanup();
        watcher.close();
        const last = watcher.#lastError;
        reject(new FederationError(last === undefined ? "timeout" : last.rule, `no bundle for "${watcher.trustDomain.name}" from ${String(options.url)} ${why}${last === undefined ? "" : `: ${last.message}`}`, { cause: last }));
      };
      const timer = setTimeout(() => giveUp(`within ${readyTimeoutMs} ms`), readyTimeoutMs);
      const onAbort = (): void => giveUp("before the wait was aborted");
      const onUpdate = (): void => {
        cleanup();
        resolve();
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", onAbort);
        watcher.off("update", onUpdate);
      };
      if (options.signal?.aborted === true) {
        giveUp("before the wait was aborted");
        return;
      }
      options.signal?.addEventListener("abort", onAbort, { once: true });
      watcher.on("update", onUpdate);
      watcher.#schedule(0);
    });
    return watcher;
  }

  /** The bundle in force. */
  get bundle(): SpiffeBundle {
    if (this.#bundle === undefined) throw new FederationError("closed", `the watcher of "${this.trustDomain.name}" holds no bundle`);
    return this.#bundle;
  }

  /** The X.509 authorities, for the watched trust domain only. */
  getX509Bundle(trustDomain: TrustDomain): X509Bundle | undefined {
    return trustDomain.name === this.trustDomain.name ? this.#x509 : undefined;
  }

  /** The JWT authorities, for the watched trust domain only. */
  getJwtBundle(trustDomain: TrustDomain): JwtBundle | undefined {
    if (trustDomain.name !== this.trustDomain.name || this.#bundle === undefined) return undefined;
    return jwtBundleFromSpiffeBundle(this.#bundle);
  }

  /** For a health check: last success, last error and when the next fetch is due. */
  status(): BundleWatcherStatus {
    return {
      lastSuccessAt: this.#lastSuccessAt,
      lastError: this.#lastError,
      consecutiveFailures: this.#backoff.attempts,
      nextRefreshAt: this.#nextRefreshAt,
    };
  }

  /**
   * Fetches now (joining a fetch already under way) and reschedules from the result, as
   * `spire-server federation refresh` does. Rejects with the fetch's error.
   */
  refresh(): Promise<SpiffeBundle> {
    if (this.#closed) return Promise.reject(new FederationError("closed", `the watcher of "${this.trustDomain.name}" is closed`));
    clearTimeout(this.#timer);
    this.#inFlight ??= this.#fetchOnce().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  /** Stops refreshing. The last bundle stays readable. Idempotent. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#nextRefreshAt = undefined;
  }

  #schedule(delayMs: number): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#nextRefreshAt = new Date(Date.now() + delayMs);
    this.#timer = setTimeout(() => {
      this.refresh().catch(() => {
        // Reported through `error` and status(); the schedule is already set.
      });
    }, delayMs);
  }

  async #fetchOnce(): Promise<SpiffeBundle> {
    let bundle: SpiffeBundle;
    let x509: X509Bundle;
    try {
      bundle = await fetchBundle(this.trustDomain, this.#options.url, {
        profile: this.#profile,
        ...(this.#options.timeoutMs === undefined ? {} : { timeoutMs: this.#options.timeoutMs }),
        ...(this.#options.maxBodyBytes === undefined ? {} : { maxBodyBytes: this.#options.maxBodyBytes }),
      });
      x509 = toX509Bundle(bundle);
      checkFresher(bundle, this.#bundle);
    } catch (error: unknown) {
      const failure = error instanceof FederationError ? error : new FederationError("invalid-bundle", describeError(error), { cause: error });
      this.#lastError = failure;
      this.#schedule(this.#backoff.next());
      if (this.listenerCount("error") > 0) this.emit("error", failure);
      throw failure;
    }
    if (this.#closed) return bundle;
    this.#backoff.reset();
    this.#lastError = undefined;
    this.#lastSuccessAt = new Date();
    this.#profile = nextProfile(this.#profile, this.trustDomain, x509);
    this.#schedule(this.#refreshDelayMs(bundle));
    const marshalled = marshalSpiffeBundle(bundle);
    if (marshalled !== this.#marshalled) {
      this.#marshalled = marshalled;
      this.#bundle = bundle;
      this.#x509 = x509;
      this.emit("update", bundle);
    }
    return bundle;
  }

  #refreshDelayMs(bundle: SpiffeBundle): number {
    const hintMs = bundle.refreshHintSeconds === undefined ? this.#limits.defaultMs : bundle.refreshHintSeconds * 1000;
    return Math.min(this.#limits.maxMs, Math.max(this.#limits.minMs, hintMs));
  }
}

/**
 * Under `https_spiffe`, an endpoint of the watched trust domain is authenticated with that
 * domain's latest bundle, so the anchor follows its CA rotations (Federation §5.2.2). An
 * endpoint of another trust domain keeps the caller's anchor.
 */
function nextProfile(profile: BundleEndpointProfile, trustDomain: TrustDomain, fetched: X509Bundle): BundleEndpointProfile {
  if (profile.type !== "https_spiffe") return profile;
  const endpointId = typeof profile.endpointSpiffeId === "string" ? parseSpiffeId(profile.endpointSpiffeId) : profile.endpointSpiffeId;
  if (endpointId.trustDomain.name !== trustDomain.name) return profile;
  return { ...profile, bundles: fetched };
}

/**
 * A bundle older than the one in force (by `spiffe_sequence`, Trust Domain & Bundle §4.1.1 and
 * Federation §4.2), say from a lagging replica behind the endpoint's load balancer, must not
 * roll our keys back.
 */
function checkFresher(fetched: SpiffeBundle, inForce: SpiffeBundle | undefined): void {
  if (inForce?.sequence === undefined || fetched.sequence === undefined || fetched.sequence >= inForce.sequence) return;
  throw new FederationError(
    "stale-bundle",
    `bundle of "${fetched.trustDomain.name}" has spiffe_sequence ${fetched.sequence.toString()}, older than ${inForce.sequence.toString()} in force; kept the newer one`,
  );
}

function toX509Bundle(bundle: SpiffeBundle): X509Bundle {
  try {
    return x509BundleFromCertificates(bundle.trustDomain, bundle.x509Authorities.map((der) => parseCertificate(der)));
  } catch (error: unknown) {
    throw new FederationError("invalid-bundle", `bundle of "${bundle.trustDomain.name}" holds an unusable X.509 authority: ${describeError(error)}`, { cause: error });
  }
}
