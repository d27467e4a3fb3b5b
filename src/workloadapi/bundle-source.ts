import type { JwtBundle, JwtBundleSet, JwtBundleSource } from "../spiffe/jwt-bundle.js";
import type { SpiffeBundle } from "../spiffe/spiffe-bundle.js";
import type { TrustDomain } from "../spiffe/spiffe-id.js";
import type { X509Bundle, X509BundleSet, X509BundleSource } from "../spiffe/x509-bundle.js";
import type { WorkloadApiError } from "./errors.js";
import { WorkloadSource } from "./source-base.js";
import type { SourceOptions } from "./source-base.js";
import type { Watch, WatchHandlers, WatchState } from "./watch-stream.js";

/** The X.509 and JWT bundles of every trust domain the workload trusts, own and federated. */
export interface WorkloadBundles {
  /** From the X.509 context (FetchX509SVID): the SVIDs' own trust domain plus the federated ones. */
  readonly x509: X509BundleSet;
  /** From FetchJWTBundles. */
  readonly jwt: JwtBundleSet;
}

/**
 * Bundles of every trust domain, X.509 and JWT, kept current from two watches (FetchX509SVID
 * for the X.509 bundles, FetchJWTBundles for the JWT ones), in the manner of go-spiffe's
 * `BundleSource`. It is ready once both have delivered; each later message of either stream is
 * one `update` with both halves. A federated trust domain the agent stops sending disappears.
 * It is an X509BundleSource and a JwtBundleSource, so it verifies X.509-SVIDs and JWT-SVIDs.
 */
export class BundleSource extends WorkloadSource<WorkloadBundles> implements X509BundleSource, JwtBundleSource {
  private constructor(options: SourceOptions) {
    super("BundleSource", options);
  }

  /**
   * Connects and resolves once both the X.509 and the JWT bundles have arrived; rejects with a
   * `SourceNotReadyError` after `timeoutMs`, or when `signal` aborts or the agent refuses for good.
   */
  static async create(options: SourceOptions = {}): Promise<BundleSource> {
    const source = new BundleSource(options);
    await source.start(options.signal, options.timeoutMs);
    return source;
  }

  protected openWatch(handlers: WatchHandlers<WorkloadBundles>): Watch {
    return new PairedWatch(
      handlers,
      (half) => this.client.watchX509Context({ ...half, onUpdate: (context) => half.onUpdate(context.bundles) }),
      (half) => this.client.watchJwtBundles(half),
    );
  }

  /** The earliest `notAfter` among the X.509 authorities; JWT keys carry no expiry. */
  protected expiryOf(bundles: WorkloadBundles): Date | undefined {
    const expiries = bundles.x509.bundles().flatMap((bundle) => bundle.authorities.map((ca) => ca.notAfter.getTime()));
    return expiries.length === 0 ? undefined : new Date(Math.min(...expiries));
  }

  /** The latest bundles, both halves. */
  getBundles(): WorkloadBundles {
    return this.current();
  }

  /** The X.509 bundle of `trustDomain`; `undefined` means untrusted. */
  getX509Bundle(trustDomain: TrustDomain): X509Bundle | undefined {
    return this.current().x509.get(trustDomain);
  }

  /** The JWT bundle of `trustDomain`; `undefined` means untrusted. */
  getJwtBundle(trustDomain: TrustDomain): JwtBundle | undefined {
    return this.current().jwt.get(trustDomain);
  }

  /**
   * Both kinds of authorities of `trustDomain` as one SPIFFE bundle (go-spiffe's
   * `GetBundleForTrustDomain`), e.g. to serve from a bundle endpoint with `marshalSpiffeBundle`;
   * `undefined` when the agent sent neither kind for it.
   */
  getSpiffeBundle(trustDomain: TrustDomain): SpiffeBundle | undefined {
    const x509 = this.getX509Bundle(trustDomain);
    const jwt = this.getJwtBundle(trustDomain);
    if (x509 === undefined && jwt === undefined) return undefined;
    return {
      trustDomain,
      x509Authorities: x509?.authorities.map((authority) => authority.der) ?? [],
      jwtAuthorities: jwt?.authorities ?? new Map(),
    };
  }

  /** Every trust domain with an X.509 or a JWT bundle, sorted by name. */
  trustDomains(): TrustDomain[] {
    const { x509, jwt } = this.current();
    const byName = new Map<string, TrustDomain>();
    for (const trustDomain of [...x509.trustDomains(), ...jwt.trustDomains()]) byName.set(trustDomain.name, trustDomain);
    return [...byName.keys()].sort().flatMap((name) => byName.get(name) ?? []);
  }
}

/** Two watches seen as one: open when both are, failed when either is, updated once both delivered. */
class PairedWatch implements Watch {
  readonly #handlers: WatchHandlers<WorkloadBundles>;
  readonly #x509: Watch;
  readonly #jwt: Watch;
  #latestX509: X509BundleSet | undefined;
  #latestJwt: JwtBundleSet | undefined;
  #lastError: WorkloadApiError | undefined;
  #state: WatchState | undefined;

  constructor(
    handlers: WatchHandlers<WorkloadBundles>,
    openX509: (half: WatchHandlers<X509BundleSet>) => Watch,
    openJwt: (half: WatchHandlers<JwtBundleSet>) => Watch,
  ) {
    this.#handlers = handlers;
    const common = {
      onInvalid: (error: Error) => handlers.onInvalid?.(error),
      onError: (error: WorkloadApiError) => {
        this.#lastError = error;
        handlers.onError?.(error);
      },
      onStateChange: () => this.#updateState(),
    };
    this.#x509 = openX509({
      ...common,
      onUpdate: (bundles) => {
        this.#latestX509 = bundles;
        this.#deliver();
      },
    });
    this.#jwt = openJwt({
      ...common,
      onUpdate: (bundles) => {
        this.#latestJwt = bundles;
        this.#deliver();
      },
    });
    this.#updateState();
  }

  #deliver(): void {
    if (this.#latestX509 === undefined || this.#latestJwt === undefined) return;
    this.#handlers.onUpdate({ x509: this.#latestX509, jwt: this.#latestJwt });
  }

  #updateState(): void {
    // The halves are assigned after open() returns; a state change during open() is read later.
    if (this.#x509 === undefined || this.#jwt === undefined) return;
    const states = [this.#x509.state, this.#jwt.state];
    const state: WatchState | undefined = states.includes("failed")
      ? "failed"
      : states.includes("stopped")
        ? "stopped"
        : states.every((value) => value === "open")
          ? "open"
          : states.includes("backoff")
            ? "backoff"
            : "connecting";
    if (state === this.#state) return;
    this.#state = state;
    // A failed half would leave the source half-fed; end the other one too.
    if (state === "failed") this.close();
    this.#handlers.onStateChange?.(state);
  }

  get state(): WatchState | undefined {
    return this.#state;
  }

  get lastError(): WorkloadApiError | undefined {
    return this.#lastError;
  }

  get retryDelayMs(): number | undefined {
    const delays = [this.#x509.retryDelayMs, this.#jwt.retryDelayMs].filter((value) => value !== undefined);
    return delays.length === 0 ? undefined : Math.min(...delays);
  }

  get delivered(): boolean {
    return this.#x509.delivered && this.#jwt.delivered;
  }

  retryNow(): void {
    this.#x509.retryNow();
    this.#jwt.retryNow();
  }

  restart(): void {
    this.#x509.restart();
    this.#jwt.restart();
  }

  close(): void {
    this.#x509.close();
    this.#jwt.close();
  }
}
