import type { JsonWebKey } from "node:crypto";
import { publicJwkMembers } from "../spiffe/jwt-bundle.js";
import type { TrustDomain } from "../spiffe/spiffe-id.js";
import { createCertificateAuthority } from "./ca.js";
import type { CertificateAuthority, KeyType } from "./ca.js";
import { createJwtSigningKey } from "./jwt-issuer.js";
import type { JwtSigningKey } from "./jwt-issuer.js";

/** A root CA and the CA that signs leaves: the root itself, or an intermediate under it. */
export interface CaGeneration {
  readonly root: CertificateAuthority;
  readonly issuer: CertificateAuthority;
}

export interface TrustDomainAuthorityOptions {
  readonly keyType: KeyType;
  readonly intermediate: boolean;
  /** Lifetime of each CA; long, because only `rotateCa` replaces them. */
  readonly caTtlMs: number;
}

/**
 * The signing material of one trust domain: its CA generations (oldest first) and JWT keys.
 * A rotation moves through three steps, each of which the agent pushes: publish the new
 * authority, switch issuance to it, retire the old ones. Issuance only ever uses an authority
 * that is already published, so every SVID chains to (or verifies against) the bundle sent with it.
 */
export class TrustDomainAuthority {
  #cas: CaGeneration[];
  #issuingCa: CaGeneration;
  #jwtKeys: JwtSigningKey[];
  #signingKey: JwtSigningKey;

  private constructor(
    readonly trustDomain: TrustDomain,
    readonly options: TrustDomainAuthorityOptions,
    ca: CaGeneration,
    jwtKey: JwtSigningKey,
  ) {
    this.#cas = [ca];
    this.#issuingCa = ca;
    this.#jwtKeys = [jwtKey];
    this.#signingKey = jwtKey;
  }

  static async create(trustDomain: TrustDomain, options: TrustDomainAuthorityOptions): Promise<TrustDomainAuthority> {
    const [ca, jwtKey] = await Promise.all([createCaGeneration(trustDomain, options), createJwtKey(options.keyType)]);
    return new TrustDomainAuthority(trustDomain, options, ca, jwtKey);
  }

  /** The CA that signs new leaves. */
  get issuingCa(): CertificateAuthority {
    return this.#issuingCa.issuer;
  }

  /** The key that signs new JWT-SVIDs. */
  get signingKey(): JwtSigningKey {
    return this.#signingKey;
  }

  /** The root certificates of the X.509 bundle, DER, oldest first. */
  get x509Authorities(): readonly Uint8Array[] {
    return this.#cas.map((generation) => generation.root.rootDer);
  }

  /** Serials of the published roots, for log lines. */
  get caSerials(): readonly string[] {
    return this.#cas.map((generation) => generation.root.serialHex);
  }

  /** The JWT bundle's keys by `kid`. */
  get jwtAuthorities(): ReadonlyMap<string, JsonWebKey> {
    return new Map(this.#jwtKeys.map((key) => [key.kid, publicJwkMembers(key.publicJwk)]));
  }

  /** Rotation step 1: publish a new CA without issuing from it yet. */
  async addCa(): Promise<CaGeneration> {
    const generation = await createCaGeneration(this.trustDomain, this.options);
    this.#cas = [...this.#cas, generation];
    return generation;
  }

  /** Rotation step 2: issue from the newest published CA. */
  switchToNewestCa(): void {
    this.#issuingCa = this.#cas.at(-1) ?? this.#issuingCa;
  }

  /** Rotation step 3: stop publishing every CA but the issuing one. */
  retireOldCas(): void {
    this.#cas = [this.#issuingCa];
  }

  async addJwtKey(): Promise<JwtSigningKey> {
    const key = await createJwtKey(this.options.keyType);
    this.#jwtKeys = [...this.#jwtKeys, key];
    return key;
  }

  switchToNewestJwtKey(): void {
    this.#signingKey = this.#jwtKeys.at(-1) ?? this.#signingKey;
  }

  retireOldJwtKeys(): void {
    this.#jwtKeys = [this.#signingKey];
  }
}

async function createCaGeneration(trustDomain: TrustDomain, options: TrustDomainAuthorityOptions): Promise<CaGeneration> {
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(notBefore.getTime() + options.caTtlMs);
  const root = await createCertificateAuthority({ trustDomain, keyType: options.keyType, notBefore, notAfter });
  if (!options.intermediate) return { root, issuer: root };
  const issuer = await createCertificateAuthority({ trustDomain, keyType: options.keyType, parent: root, notBefore, notAfter });
  return { root, issuer };
}

function createJwtKey(keyType: KeyType): Promise<JwtSigningKey> {
  return createJwtSigningKey({ alg: keyType === "rsa-2048" ? "RS256" : "ES256" });
}
