import { FakeAgentConfigError } from "./errors.js";

/** The Workload API RPCs a call fault can be limited to (names as in the proto). */
export const RPC_NAMES = [
  "FetchX509SVID",
  "FetchX509Bundles",
  "FetchJWTSVID",
  "FetchJWTBundles",
  "ValidateJWTSVID",
] as const;
export type RpcName = (typeof RPC_NAMES)[number];

/** How a stream closed by the `close-stream` fault ends, as the client sees it. */
export const CLOSE_STATUSES = ["ok", "unavailable", "cancelled", "invalid-argument", "unimplemented"] as const;
export type CloseStatus = (typeof CLOSE_STATUSES)[number];

/** Limits a call fault to some RPCs; all of them when absent. */
interface CallScope {
  readonly rpcs?: readonly RpcName[];
}

/** Limits an SVID fault to one identity; every identity when absent. */
interface IdentityScope {
  readonly spiffeId?: string;
}

/**
 * A fault the agent injects until cleared. Call faults change how an RPC answers; X.509 and
 * JWT faults change what is issued, so a client sees exactly the broken SVID it must reject.
 */
export type Fault =
  /** Every matching call fails with `PermissionDenied`, and open streams end with it. */
  | ({ readonly kind: "deny" } & CallScope)
  /** Every matching call fails with `Unavailable`, and open streams end with it. */
  | ({ readonly kind: "unavailable" } & CallScope)
  /** Each response (unary, or each stream message) waits this long before it is sent. */
  | ({ readonly kind: "delay"; readonly delayMs: number } & CallScope)
  /**
   * Matching calls are accepted and never answered: no unary response, no stream message, until
   * the client gives up or the agent stops. Clearing it leaves hung calls hung, as a stuck agent would.
   */
  | ({ readonly kind: "hang" } & CallScope)
  /** A stream ends after this many messages, with `status` (default `ok`). */
  | ({ readonly kind: "close-stream"; readonly afterMessages: number; readonly status?: CloseStatus } & CallScope)
  /** The certificate chain bytes are cut short, so they are not valid DER. */
  | ({ readonly kind: "malformed-der" } & IdentityScope)
  /** The private key sent is a fresh one that does not match the leaf. */
  | ({ readonly kind: "mismatched-key" } & IdentityScope)
  /** The leaf has CA=true and keyCertSign, which X509-SVID §4.1/§4.3 forbid. */
  | ({ readonly kind: "ca-leaf" } & IdentityScope)
  /** The leaf expired before it was sent. */
  | ({ readonly kind: "expired-leaf" } & IdentityScope)
  /** The leaf names and is signed by another trust domain (default `foreign.invalid`). */
  | ({ readonly kind: "foreign-leaf"; readonly trustDomain?: string } & IdentityScope)
  /**
   * The leaf (and the response's `spiffe_id`) names another trust domain (default
   * `other.invalid`) but is signed by this agent's CA and sent with this agent's bundle.
   */
  | ({ readonly kind: "renamed-trust-domain"; readonly trustDomain?: string } & IdentityScope)
  /** The private key has bytes appended after its DER, which OpenSSL alone ignores. */
  | ({ readonly kind: "key-trailing-bytes" } & IdentityScope)
  /** The chain repeats the issuing CA after the leaf until it holds this many certificates (default 1,001). */
  | ({ readonly kind: "long-chain"; readonly certificates?: number } & IdentityScope)
  /** The SVID's hint is this many bytes long (default 3 MiB). */
  | ({ readonly kind: "huge-hint"; readonly bytes?: number } & IdentityScope)
  /** The own trust domain's bundle carries a leaf certificate (not a CA) beside its CAs. */
  | { readonly kind: "non-ca-in-bundle" }
  /** `X509SVIDResponse.svids` is empty, which API §5.2.1 forbids. */
  | { readonly kind: "empty-svids" }
  /** JWT-SVIDs are signed by a key that is not in the bundle, under the real key's `kid`. */
  | ({ readonly kind: "jwt-bad-signature" } & IdentityScope)
  /** JWT-SVIDs carry an audience other than the one requested. */
  | ({ readonly kind: "jwt-wrong-audience" } & IdentityScope)
  /** JWT-SVIDs have already expired when they are sent. */
  | ({ readonly kind: "jwt-expired" } & IdentityScope);

export type FaultKind = Fault["kind"];

export const FAULT_KINDS: readonly FaultKind[] = [
  "deny",
  "unavailable",
  "delay",
  "hang",
  "close-stream",
  "malformed-der",
  "mismatched-key",
  "ca-leaf",
  "expired-leaf",
  "foreign-leaf",
  "renamed-trust-domain",
  "key-trailing-bytes",
  "long-chain",
  "huge-hint",
  "non-ca-in-bundle",
  "empty-svids",
  "jwt-bad-signature",
  "jwt-wrong-audience",
  "jwt-expired",
];

/** Faults that change the X.509-SVIDs issued: setting or clearing one re-issues them. */
const X509_FAULT_KINDS: ReadonlySet<FaultKind> = new Set([
  "malformed-der",
  "mismatched-key",
  "ca-leaf",
  "expired-leaf",
  "foreign-leaf",
  "renamed-trust-domain",
  "key-trailing-bytes",
  "long-chain",
  "huge-hint",
  "non-ca-in-bundle",
  "empty-svids",
]);

export type X509Fault = Extract<
  Fault,
  {
    kind:
      | "malformed-der"
      | "mismatched-key"
      | "ca-leaf"
      | "expired-leaf"
      | "foreign-leaf"
      | "renamed-trust-domain"
      | "key-trailing-bytes"
      | "long-chain"
      | "huge-hint";
  }
>;
export type JwtFault = Extract<Fault, { kind: "jwt-bad-signature" | "jwt-wrong-audience" | "jwt-expired" }>;

export function isX509Fault(kind: FaultKind): boolean {
  return X509_FAULT_KINDS.has(kind);
}

/** The status an RPC is refused with while a `deny` or `unavailable` fault holds. */
export interface CallRefusal {
  readonly kind: "deny" | "unavailable";
  readonly message: string;
}

/** Checks a fault passed through the library API (callers may be plain JavaScript). */
export function validateFault(fault: Fault): void {
  if (!FAULT_KINDS.includes(fault.kind)) {
    throw new FakeAgentConfigError(`unknown fault kind "${String(fault.kind)}"; use one of: ${FAULT_KINDS.join(", ")}`);
  }
  if ("rpcs" in fault && fault.rpcs !== undefined) {
    for (const rpc of fault.rpcs) {
      if (!RPC_NAMES.includes(rpc)) {
        throw new FakeAgentConfigError(`fault "${fault.kind}": unknown RPC "${String(rpc)}"; use one of: ${RPC_NAMES.join(", ")}`);
      }
    }
  }
  if (fault.kind === "delay" && !(Number.isFinite(fault.delayMs) && fault.delayMs >= 0)) {
    throw new FakeAgentConfigError(`fault "delay": delay must be zero or more milliseconds, got ${String(fault.delayMs)}`);
  }
  if (fault.kind === "long-chain" && fault.certificates !== undefined && !(Number.isInteger(fault.certificates) && fault.certificates >= 1)) {
    throw new FakeAgentConfigError(`fault "long-chain": certificates must be a whole number of 1 or more, got ${String(fault.certificates)}`);
  }
  if (fault.kind === "huge-hint" && fault.bytes !== undefined && !(Number.isInteger(fault.bytes) && fault.bytes >= 0)) {
    throw new FakeAgentConfigError(`fault "huge-hint": bytes must be a whole number of 0 or more, got ${String(fault.bytes)}`);
  }
  if (fault.kind === "close-stream") {
    if (!(Number.isInteger(fault.afterMessages) && fault.afterMessages >= 0)) {
      throw new FakeAgentConfigError(
        `fault "close-stream": after_messages must be a whole number of messages (0 or more), got ${String(fault.afterMessages)}`,
      );
    }
    if (fault.status !== undefined && !CLOSE_STATUSES.includes(fault.status)) {
      throw new FakeAgentConfigError(`fault "close-stream": status must be one of ${CLOSE_STATUSES.join(", ")}`);
    }
  }
}

function coversRpc(fault: Fault, rpc: RpcName): boolean {
  return !("rpcs" in fault) || fault.rpcs === undefined || fault.rpcs.includes(rpc);
}

function coversIdentity(fault: Fault, spiffeId: string): boolean {
  return !("spiffeId" in fault) || fault.spiffeId === undefined || fault.spiffeId === spiffeId;
}

/** The faults in force: at most one of each kind, the latest `set` winning. */
export class FaultSet {
  readonly #byKind = new Map<FaultKind, Fault>();

  constructor(faults: Iterable<Fault> = []) {
    for (const fault of faults) this.set(fault);
  }

  set(fault: Fault): void {
    validateFault(fault);
    this.#byKind.set(fault.kind, fault);
  }

  /** Clears one kind, or every fault. Returns the faults that were removed. */
  clear(kind?: FaultKind): Fault[] {
    const removed = [...this.#byKind.values()].filter((fault) => kind === undefined || fault.kind === kind);
    for (const fault of removed) this.#byKind.delete(fault.kind);
    return removed;
  }

  list(): Fault[] {
    return [...this.#byKind.values()];
  }

  refusal(rpc: RpcName): CallRefusal | undefined {
    const deny = this.#byKind.get("deny");
    if (deny !== undefined && coversRpc(deny, rpc)) {
      return { kind: "deny", message: "no identity issued (injected fault: deny)" };
    }
    const unavailable = this.#byKind.get("unavailable");
    if (unavailable !== undefined && coversRpc(unavailable, rpc)) {
      return { kind: "unavailable", message: "workload endpoint unavailable (injected fault: unavailable)" };
    }
    return undefined;
  }

  delayMs(rpc: RpcName): number {
    const delay = this.#byKind.get("delay");
    return delay?.kind === "delay" && coversRpc(delay, rpc) ? delay.delayMs : 0;
  }

  hangs(rpc: RpcName): boolean {
    const hang = this.#byKind.get("hang");
    return hang !== undefined && coversRpc(hang, rpc);
  }

  closeStream(rpc: RpcName): { afterMessages: number; status: CloseStatus } | undefined {
    const close = this.#byKind.get("close-stream");
    if (close?.kind !== "close-stream" || !coversRpc(close, rpc)) return undefined;
    return { afterMessages: close.afterMessages, status: close.status ?? "ok" };
  }

  emptySvids(): boolean {
    return this.#byKind.has("empty-svids");
  }

  nonCaInBundle(): boolean {
    return this.#byKind.has("non-ca-in-bundle");
  }

  x509Faults(spiffeId: string): X509Fault[] {
    return this.list().filter(
      (fault): fault is X509Fault =>
        isX509Fault(fault.kind) && fault.kind !== "empty-svids" && fault.kind !== "non-ca-in-bundle" && coversIdentity(fault, spiffeId),
    );
  }

  jwtFaults(spiffeId: string): JwtFault[] {
    return this.list().filter(
      (fault): fault is JwtFault => fault.kind.startsWith("jwt-") && coversIdentity(fault, spiffeId),
    );
  }
}
