import { createCertificateAuthority, issueX509Svid } from "../../src/fakeagent/ca.js";
import type { CertificateAuthority, IssueX509SvidOptions } from "../../src/fakeagent/ca.js";
import { parseSpiffeId, parseTrustDomain } from "../../src/spiffe/spiffe-id.js";
import type { X509SVID, X509SVIDResponse } from "../../src/workloadapi/generated/workload.js";

/** Test backoff: reconnects within 20-40 ms instead of 1-30 s. */
export const FAST_BACKOFF = { initialMs: 20, maxMs: 40 } as const;

export function caFor(trustDomain: string): Promise<CertificateAuthority> {
  return createCertificateAuthority({ trustDomain: parseTrustDomain(trustDomain) });
}

export interface SvidFixture {
  /** Overrides the `spiffe_id` field, which otherwise names the leaf's own ID. */
  spiffeId?: string;
  hint?: string;
  /** Overrides the `bundle` field (default: the issuing CA's root). */
  bundle?: Uint8Array;
  /** Overrides the key (default: the leaf's own). */
  key?: Uint8Array;
  /** Overrides the chain (default: the leaf and its intermediates). */
  chain?: Uint8Array;
  issue?: Partial<IssueX509SvidOptions>;
}

/** Mints an SVID with `ca` and wraps it as the Workload API's `X509SVID` message. */
export async function x509Svid(ca: CertificateAuthority, id: string, fixture: SvidFixture = {}): Promise<X509SVID> {
  const issued = await issueX509Svid(ca, { spiffeId: parseSpiffeId(id), ttlSeconds: 3600, ...fixture.issue });
  return {
    spiffeId: fixture.spiffeId ?? id,
    x509Svid: Buffer.from(fixture.chain ?? issued.chainDer),
    x509SvidKey: Buffer.from(fixture.key ?? issued.privateKeyDer),
    bundle: Buffer.from(fixture.bundle ?? ca.rootDer),
    hint: fixture.hint ?? "",
  };
}

export function x509Response(svids: X509SVID[], federatedBundles: Record<string, Uint8Array> = {}): X509SVIDResponse {
  const federated: Record<string, Buffer> = {};
  for (const [key, der] of Object.entries(federatedBundles)) federated[key] = Buffer.from(der);
  return { svids, crl: [], federatedBundles: federated };
}

/**
 * Collects events and waits for one that matches, with a timeout guard so a broken feature
 * fails the test with a message instead of hanging it. Tests wait on events, never on time.
 */
export class EventLog<T> {
  readonly entries: T[] = [];
  readonly #waiters = new Set<{ match: (entry: T) => boolean; resolve: (entry: T) => void }>();

  readonly push = (entry: T): void => {
    this.entries.push(entry);
    for (const waiter of this.#waiters) {
      if (waiter.match(entry)) {
        this.#waiters.delete(waiter);
        waiter.resolve(entry);
      }
    }
  };

  /** The first entry from index `from` on that matches, now or later. */
  waitFor(
    match: (entry: T) => boolean,
    label: string,
    options: { from?: number; timeoutMs?: number } = {},
  ): Promise<T> {
    const existing = this.entries.slice(options.from ?? 0).find(match);
    if (existing !== undefined) return Promise.resolve(existing);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`timed out waiting for ${label}; saw ${this.entries.length} entries`));
      }, options.timeoutMs ?? 5000);
      const waiter = {
        match,
        resolve: (entry: T) => {
          clearTimeout(timer);
          resolve(entry);
        },
      };
      this.#waiters.add(waiter);
    });
  }

  count(match: (entry: T) => boolean): number {
    return this.entries.filter(match).length;
  }
}

/** Rejects after `ms` with `label`, so an awaited promise that never settles fails the test. */
export async function within<T>(promise: Promise<T>, label: string, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${label}`)), ms);
  });
  try {
    return await Promise.race([promise, guard]);
  } finally {
    clearTimeout(timer);
  }
}
