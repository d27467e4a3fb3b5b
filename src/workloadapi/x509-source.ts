import type { TrustDomain } from "../spiffe/spiffe-id.js";
import type { X509Bundle, X509BundleSource } from "../spiffe/x509-bundle.js";
import type { X509Svid } from "../spiffe/x509-svid.js";
import type { X509Context } from "./decode.js";
import { WorkloadSourceError } from "./errors.js";
import { WorkloadSource } from "./source-base.js";
import type { SourceOptions } from "./source-base.js";
import type { Watch, WatchHandlers } from "./watch-stream.js";

/**
 * Chooses the default SVID among those the agent sent (never empty): a hint, or a function
 * that returns one of them (go-spiffe's `WithDefaultX509SVIDPicker`). A function returning
 * `undefined` makes `getX509Svid()` throw.
 */
export type X509SvidPicker = string | ((svids: readonly X509Svid[]) => X509Svid | undefined);

/** What `X509Source.create` accepts: where the agent is, how long to wait, and the default SVID. */
export interface X509SourceOptions extends SourceOptions {
  /**
   * Which SVID `getX509Svid()` returns without an argument.
   * @default the first the agent sends: the default identity (Workload API §8)
   */
  readonly picker?: X509SvidPicker;
}

/**
 * The workload's X.509-SVIDs and bundles, kept current from FetchX509SVID, in the manner of
 * go-spiffe's `X509Source`. It holds the latest *valid* X509Context: a rejected message is
 * reported as `invalid` and the previous context stays in force. It is an X509BundleSource,
 * so it can be handed straight to `verifyX509Svid`.
 */
export class X509Source extends WorkloadSource<X509Context> implements X509BundleSource {
  readonly #picker: X509SvidPicker | undefined;

  private constructor(options: X509SourceOptions) {
    super("X509Source", options);
    this.#picker = options.picker;
  }

  /**
   * Connects and resolves once the first valid X509Context has arrived; rejects with a
   * `SourceNotReadyError` after `timeoutMs`, or when `signal` aborts or the agent refuses for good.
   */
  static async create(options: X509SourceOptions = {}): Promise<X509Source> {
    const source = new X509Source(options);
    await source.start(options.signal, options.timeoutMs);
    return source;
  }

  protected openWatch(handlers: WatchHandlers<X509Context>): Watch {
    return this.client.watchX509Context(handlers);
  }

  /** The earliest `notAfter` of the SVIDs' leaves: past it, some identity in force has lapsed. */
  protected expiryOf(context: X509Context): Date | undefined {
    const expiries = context.svids.flatMap((svid) => svid.certificates[0]?.notAfter.getTime() ?? []);
    return expiries.length === 0 ? undefined : new Date(Math.min(...expiries));
  }

  /** The latest valid X509Context. */
  getX509Context(): X509Context {
    return this.current();
  }

  /**
   * The SVID picked by `pick` (a hint, or a function), else by the `picker` option, else the
   * first SVID: the default identity (Workload API §8). Throws when no SVID carries the hint,
   * naming the hints there are, or when a picker function returns none.
   */
  getX509Svid(pick?: X509SvidPicker): X509Svid {
    const { svids } = this.current();
    const chosen = pick === undefined || pick === "" ? this.#picker : pick;
    if (typeof chosen === "function") {
      const picked = chosen(svids);
      if (picked === undefined) {
        throw new WorkloadSourceError(`the X.509-SVID picker chose none of the ${svids.length} SVIDs the agent sent`);
      }
      return picked;
    }
    if (chosen === undefined || chosen === "") {
      const first = svids[0];
      // decodeX509Context never delivers an empty list; the guard satisfies the type checker.
      if (first === undefined) throw new WorkloadSourceError("X509Source holds no X.509-SVID");
      return first;
    }
    const match = svids.find((svid) => svid.hint === chosen);
    if (match === undefined) {
      const hints = svids.map((svid) => svid.hint).filter((value) => value !== "");
      throw new WorkloadSourceError(
        `no X.509-SVID with hint ${JSON.stringify(chosen)}; the agent sent ${
          hints.length === 0 ? "no hints" : `hints ${hints.map((value) => JSON.stringify(value)).join(", ")}`
        } (check the hint setting against the registration entries)`,
      );
    }
    return match;
  }

  /** Every SVID of the latest valid context, in the agent's order. */
  getX509Svids(): readonly X509Svid[] {
    return this.current().svids;
  }

  /** The X.509 bundle of `trustDomain` (own or federated); `undefined` means untrusted. */
  getX509Bundle(trustDomain: TrustDomain): X509Bundle | undefined {
    return this.current().bundles.get(trustDomain);
  }
}
