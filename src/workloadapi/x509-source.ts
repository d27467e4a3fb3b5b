import type { TrustDomain } from "../spiffe/spiffe-id.js";
import type { X509Bundle, X509BundleSource } from "../spiffe/x509-bundle.js";
import type { X509Svid } from "../spiffe/x509-svid.js";
import type { X509Context } from "./decode.js";
import { WorkloadSourceError } from "./errors.js";
import { WorkloadSource } from "./source-base.js";
import type { SourceOptions } from "./source-base.js";
import type { Watch, WatchHandlers } from "./watch-stream.js";

/**
 * The workload's X.509-SVIDs and bundles, kept current from FetchX509SVID, in the manner of
 * go-spiffe's `X509Source`. It holds the latest *valid* X509Context: a rejected message is
 * reported as `invalid` and the previous context stays in force. It is an X509BundleSource,
 * so it can be handed straight to `verifyX509Svid`.
 */
export class X509Source extends WorkloadSource<X509Context> implements X509BundleSource {
  private constructor(options: SourceOptions) {
    super("X509Source", options);
  }

  /** Connects and resolves once the first valid X509Context has arrived. */
  static async create(options: SourceOptions = {}): Promise<X509Source> {
    const source = new X509Source(options);
    await source.start(options.signal);
    return source;
  }

  protected openWatch(handlers: WatchHandlers<X509Context>): Watch {
    return this.client.watchX509Context(handlers);
  }

  /** The latest valid X509Context. */
  getX509Context(): X509Context {
    return this.current();
  }

  /**
   * The SVID whose `hint` is `hint`, or without a hint the first SVID: the default identity
   * (Workload API §8). Throws when no SVID carries the hint, naming the hints there are.
   */
  getX509Svid(hint?: string): X509Svid {
    const { svids } = this.current();
    if (hint === undefined || hint === "") {
      const first = svids[0];
      // decodeX509Context never delivers an empty list; the guard satisfies the type checker.
      if (first === undefined) throw new WorkloadSourceError("X509Source holds no X.509-SVID");
      return first;
    }
    const match = svids.find((svid) => svid.hint === hint);
    if (match === undefined) {
      const hints = svids.map((svid) => svid.hint).filter((value) => value !== "");
      throw new WorkloadSourceError(
        `no X.509-SVID with hint ${JSON.stringify(hint)}; the agent sent ${
          hints.length === 0 ? "no hints" : `hints ${hints.map((value) => JSON.stringify(value)).join(", ")}`
        } (check the hint setting against the registration entries)`,
      );
    }
    return match;
  }

  getX509Bundle(trustDomain: TrustDomain): X509Bundle | undefined {
    return this.current().bundles.get(trustDomain);
  }
}
