import { generateKeyPair } from "node:crypto";
import { promisify } from "node:util";
import { concatDer, splitDerSequence } from "../spiffe/der.js";
import { parseTrustDomain, spiffeIdFromPath } from "../spiffe/spiffe-id.js";
import { issueX509Svid } from "./ca.js";
import type { IssueX509SvidOptions, KeyType } from "./ca.js";
import type { FaultKind, FaultSet, JwtFault, X509Fault } from "./faults.js";
import { createJwtSigningKey, signJwtSvid } from "./jwt-issuer.js";
import type { Identity } from "./options.js";
import type { TrustDomainAuthority } from "./trust-domain-state.js";

/** One X.509-SVID exactly as it goes on the wire, plus what the logs say about it. */
export interface IssuedSvid {
  readonly spiffeId: string;
  readonly hint: string;
  /** Concatenated DER, leaf first. */
  readonly chainDer: Uint8Array;
  /** PKCS#8 DER. Never logged. */
  readonly privateKeyDer: Uint8Array;
  readonly serialHex: string;
  readonly notAfter: Date;
  /** Faults applied to this SVID, for the push log line. */
  readonly faults: readonly FaultKind[];
}

export interface X509IssueContext {
  readonly authority: TrustDomainAuthority;
  readonly keyType: KeyType;
  readonly ttlSeconds: number;
  readonly backdateSeconds: number;
  readonly faults: FaultSet;
  /** The authority of another trust domain, for the `foreign-leaf` fault. */
  readonly foreignAuthority: (trustDomain: string) => Promise<TrustDomainAuthority>;
  readonly now?: Date;
}

/** Where `foreign-leaf` leaves come from when the fault names no trust domain. */
export const DEFAULT_FOREIGN_TRUST_DOMAIN = "foreign.invalid";

/** The defaults of the `renamed-trust-domain`, `long-chain` and `huge-hint` faults. */
const DEFAULT_RENAMED_TRUST_DOMAIN = "other.invalid";
const DEFAULT_LONG_CHAIN_CERTIFICATES = 1001;
const DEFAULT_HUGE_HINT_BYTES = 3 * 1024 * 1024;

/** The leaf, then `caDer` repeated until the chain holds `certificates` certificates. */
function lengthenChain(chainDer: Uint8Array, caDer: Uint8Array, certificates: number): Uint8Array {
  const [leaf = new Uint8Array()] = splitDerSequence(chainDer);
  return concatDer([leaf, ...Array.from({ length: certificates - 1 }, () => caDer)]);
}

/** How far in the past an `expired-leaf` or `jwt-expired` SVID ended: beyond any validator's leeway. */
const EXPIRED_AGO_MS = 5 * 60_000;

const generateKeyPairAsync = promisify(generateKeyPair);

/** A fresh PKCS#8 key of the agent's key type that matches no certificate. */
async function unrelatedPrivateKeyDer(keyType: KeyType): Promise<Uint8Array> {
  const { privateKey } =
    keyType === "rsa-2048"
      ? await generateKeyPairAsync("rsa", { modulusLength: 2048 })
      : await generateKeyPairAsync("ec", { namedCurve: "P-256" });
  return new Uint8Array(privateKey.export({ type: "pkcs8", format: "der" }));
}

function findFault<K extends X509Fault["kind"]>(faults: readonly X509Fault[], kind: K): Extract<X509Fault, { kind: K }> | undefined {
  return faults.find((fault): fault is Extract<X509Fault, { kind: K }> => fault.kind === kind);
}

async function issueOne(context: X509IssueContext, identity: Identity): Promise<IssuedSvid> {
  const spiffeIdText = identity.spiffeId.toString();
  const faults = context.faults.x509Faults(spiffeIdText);
  const now = context.now ?? new Date();
  const options: IssueX509SvidOptions = {
    spiffeId: identity.spiffeId,
    ttlSeconds: context.ttlSeconds,
    backdateSeconds: context.backdateSeconds,
    keyType: context.keyType,
    now,
  };
  let authority = context.authority;
  const foreign = findFault(faults, "foreign-leaf");
  if (foreign !== undefined) {
    authority = await context.foreignAuthority(foreign.trustDomain ?? DEFAULT_FOREIGN_TRUST_DOMAIN);
    options.spiffeId = spiffeIdFromPath(authority.trustDomain, identity.spiffeId.path);
  }
  const renamed = findFault(faults, "renamed-trust-domain");
  if (renamed !== undefined) {
    options.spiffeId = spiffeIdFromPath(parseTrustDomain(renamed.trustDomain ?? DEFAULT_RENAMED_TRUST_DOMAIN), identity.spiffeId.path);
  }
  if (findFault(faults, "ca-leaf") !== undefined) {
    options.isCa = true;
    options.keyUsage = ["digitalSignature", "keyCertSign"];
  }
  if (findFault(faults, "expired-leaf") !== undefined) {
    options.notAfter = new Date(now.getTime() - EXPIRED_AGO_MS);
    options.notBefore = new Date(options.notAfter.getTime() - context.ttlSeconds * 1000);
  }
  const issued = await issueX509Svid(authority.issuingCa, options);
  const privateKeyDer =
    findFault(faults, "mismatched-key") === undefined ? issued.privateKeyDer : await unrelatedPrivateKeyDer(context.keyType);
  // Cutting the last byte leaves the final certificate's DER length pointing past the end.
  const chainDer = findFault(faults, "malformed-der") === undefined ? issued.chainDer : issued.chainDer.subarray(0, issued.chainDer.length - 1);
  const longChain = findFault(faults, "long-chain");
  const hugeHint = findFault(faults, "huge-hint");
  return {
    // The response names what the leaf names, so only the trust domain rule can catch it.
    spiffeId: renamed === undefined ? spiffeIdText : options.spiffeId.toString(),
    hint: hugeHint === undefined ? identity.hint : "h".repeat(hugeHint.bytes ?? DEFAULT_HUGE_HINT_BYTES),
    chainDer: longChain === undefined ? chainDer : lengthenChain(chainDer, authority.issuingCa.certificateDer, longChain.certificates ?? DEFAULT_LONG_CHAIN_CERTIFICATES),
    privateKeyDer: findFault(faults, "key-trailing-bytes") === undefined ? privateKeyDer : concatDer([privateKeyDer, new Uint8Array([0x00, 0x00])]),
    serialHex: issued.serialHex,
    notAfter: issued.notAfter,
    faults: faults.map((fault) => fault.kind),
  };
}

/** Issues one X.509-SVID per identity from the trust domain's issuing CA, with faults applied. */
export function issueX509Svids(context: X509IssueContext, identities: readonly Identity[]): Promise<IssuedSvid[]> {
  return Promise.all(identities.map((identity) => issueOne(context, identity)));
}

export interface MintedJwtSvid {
  readonly spiffeId: string;
  readonly hint: string;
  /** The compact token. Never logged. */
  readonly token: string;
}

export interface JwtMintContext {
  readonly authority: TrustDomainAuthority;
  readonly ttlSeconds: number;
  readonly faults: FaultSet;
  readonly now?: Date;
}

async function mintOne(context: JwtMintContext, identity: Identity, audience: readonly string[]): Promise<MintedJwtSvid> {
  const spiffeIdText = identity.spiffeId.toString();
  const faults: readonly JwtFault[] = context.faults.jwtFaults(spiffeIdText);
  const kinds = new Set(faults.map((fault) => fault.kind));
  const signingKey = context.authority.signingKey;
  const now = context.now ?? new Date();
  const token = await signJwtSvid(signingKey, {
    subject: identity.spiffeId,
    audience: kinds.has("jwt-wrong-audience") ? audience.map((value) => `${value}.wrong-audience`) : [...audience],
    ttlSeconds: context.ttlSeconds,
    now: kinds.has("jwt-expired") ? new Date(now.getTime() - context.ttlSeconds * 1000 - EXPIRED_AGO_MS) : now,
    // A key outside the bundle under the real `kid`: the validator finds the authority, and the signature fails.
    ...(kinds.has("jwt-bad-signature") ? { signWith: await createJwtSigningKey({ alg: signingKey.alg }) } : {}),
  });
  return { spiffeId: spiffeIdText, hint: identity.hint, token };
}

/** Signs one JWT-SVID per identity for `audience`, with faults applied. */
export function mintJwtSvids(context: JwtMintContext, identities: readonly Identity[], audience: readonly string[]): Promise<MintedJwtSvid[]> {
  return Promise.all(identities.map((identity) => mintOne(context, identity, audience)));
}
