import type { Logger } from "pino";
import { splitDerSequence } from "../spiffe/der.js";
import { JwtBundleSet, marshalJwtBundle } from "../spiffe/jwt-bundle.js";
import type { JwtBundleSource } from "../spiffe/jwt-bundle.js";
import { parseTrustDomain } from "../spiffe/spiffe-id.js";
import type { TrustDomain } from "../spiffe/spiffe-id.js";
import { FakeAgentConfigError, FakeAgentStoppedError } from "./errors.js";
import { FaultSet, isX509Fault } from "./faults.js";
import { FederatedBundleFiles } from "./federated-bundle-files.js";
import type { PublishedBundles } from "./federated-bundle-files.js";
import type { Fault, FaultKind } from "./faults.js";
import { issueX509Svids, mintJwtSvids } from "./issuer.js";
import type { IssuedSvid, MintedJwtSvid } from "./issuer.js";
import { checkFaultForTrustDomain } from "./options.js";
import type { Identity, LiveSettings, ResolvedOptions } from "./options.js";
import type { AgentSnapshot } from "./responses.js";
import { halfLifeDelayMs, RotationScheduler, StepTimers } from "./rotation-scheduler.js";
import { StreamHub } from "./subscribers.js";
import { TrustDomainAuthority } from "./trust-domain-state.js";

/** CAs live long: only `rotateCa` replaces them, and a leaf never outlives its CA. */
const CA_TTL_MS = 30 * 24 * 60 * 60 * 1000;

/** Called after each push, e.g. to rewrite the `--write-bundle` file. */
export type PublishListener = (snapshot: AgentSnapshot) => Promise<void>;

/**
 * The fake agent's state and every change to it: identities, authorities, faults, the
 * SVIDs in force, and the rotations that replace them. Changes run one at a time, and each
 * ends with a push of the full state to every open stream.
 */
export class FakeAgentCore {
  readonly hub: StreamHub;
  readonly faults: FaultSet;
  #settings: LiveSettings;
  #svids: readonly IssuedSvid[] = [];
  #snapshot: AgentSnapshot | undefined;
  #stopped = false;
  #lock: Promise<unknown> = Promise.resolve();
  readonly #authorities = new Map<string, TrustDomainAuthority>();
  readonly #rotationsInFlight = new Map<string, Promise<void>>();
  readonly #scheduler: RotationScheduler;
  readonly #steps = new StepTimers();
  readonly #listeners: PublishListener[] = [];
  readonly #bundleFiles: FederatedBundleFiles;

  private constructor(
    readonly options: ResolvedOptions,
    readonly logger: Logger,
  ) {
    this.#settings = options;
    this.faults = new FaultSet(options.faults);
    this.hub = new StreamHub(this.faults);
    this.#scheduler = new RotationScheduler(
      () => this.#exclusive(() => this.#reissue("rotation")),
      (error: unknown) => this.logger.error({ err: error }, "X.509-SVID rotation failed; retrying"),
    );
    this.#bundleFiles = new FederatedBundleFiles(logger, () => this.#onBundleFileEvent());
  }

  /** Creates the authorities and the first SVIDs; nothing is served or scheduled yet. */
  static async create(options: ResolvedOptions, logger: Logger): Promise<FakeAgentCore> {
    const core = new FakeAgentCore(options, logger);
    try {
      await core.#authorityFor(options.trustDomain);
      await core.#prepareFederation(options);
      await core.#bundleFiles.refresh();
      core.#svids = await core.#issue();
      core.#snapshot = core.#buildSnapshot();
      return core;
    } catch (error: unknown) {
      await core.stop();
      throw error;
    }
  }

  get trustDomain(): TrustDomain {
    return this.options.trustDomain;
  }

  get settings(): LiveSettings {
    return this.#settings;
  }

  get snapshot(): AgentSnapshot {
    if (this.#snapshot === undefined) throw new FakeAgentStoppedError();
    return this.#snapshot;
  }

  onPublish(listener: PublishListener): void {
    this.#listeners.push(listener);
  }

  /** Starts the half-life rotation clock. */
  start(): void {
    this.#scheduleRotation();
  }

  /** Clears every timer and stops watching bundle files. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#scheduler.stop();
    this.#steps.stop();
    await this.#bundleFiles.stop();
  }

  /** Re-issues every X.509-SVID now and pushes them; the half-life clock restarts. */
  rotateNow(): Promise<void> {
    return this.#exclusive(() => this.#reissue("rotate-now"));
  }

  /** Publishes a new CA, switches issuance to it after the overlap, then retires the old one. */
  async rotateCa(trustDomainName?: string): Promise<void> {
    await this.#serializeRotation("ca", trustDomainName, async (authority) => {
      const own = authority.trustDomain.name === this.trustDomain.name;
      await this.#exclusive(async () => {
        await authority.addCa();
        await this.#publish("ca-rotation: new CA published", authority);
      });
      if (!(await this.#steps.wait(this.#settings.rotationOverlapMs))) return;
      await this.#exclusive(async () => {
        authority.switchToNewestCa();
        if (own) await this.#reissue("ca-rotation: issuing from the new CA");
      });
      // Leaves signed by the old CA stay verifiable until they would have expired.
      if (!(await this.#steps.wait(Math.max(this.#settings.rotationOverlapMs, this.#settings.x509TtlSeconds * 1000)))) return;
      await this.#exclusive(async () => {
        authority.retireOldCas();
        await this.#publish("ca-rotation: old CA retired", authority);
      });
    });
  }

  /** Publishes a new JWT key, signs with it after the overlap, then retires the old one. */
  async rotateJwtKey(trustDomainName?: string): Promise<void> {
    await this.#serializeRotation("jwt", trustDomainName, async (authority) => {
      await this.#exclusive(async () => {
        await authority.addJwtKey();
        await this.#publish("jwt-key-rotation: new key published", authority);
      });
      if (!(await this.#steps.wait(this.#settings.rotationOverlapMs))) return;
      await this.#exclusive(async () => {
        authority.switchToNewestJwtKey();
        this.logger.info({ event: "jwt-key-rotation", trustDomain: authority.trustDomain.name, kid: authority.signingKey.kid }, "signing JWT-SVIDs with the new key");
      });
      // Tokens signed with the old key stay verifiable until they expire.
      if (!(await this.#steps.wait(Math.max(this.#settings.rotationOverlapMs, this.#settings.jwtTtlSeconds * 1000)))) return;
      await this.#exclusive(async () => {
        authority.retireOldJwtKeys();
        await this.#publish("jwt-key-rotation: old key retired", authority);
      });
    });
  }

  async setFault(fault: Fault): Promise<void> {
    checkFaultForTrustDomain(this.trustDomain, fault);
    await this.#exclusive(async () => {
      this.faults.set(fault);
      this.logger.warn({ event: "fault", fault }, `fault set: ${fault.kind}`);
      await this.#afterFaultChange([fault.kind]);
    });
  }

  clearFaults(kind?: FaultKind): Promise<void> {
    return this.#exclusive(async () => {
      const removed = this.faults.clear(kind).map((fault) => fault.kind);
      if (removed.length > 0) this.logger.info({ event: "fault", cleared: removed }, "faults cleared");
      await this.#afterFaultChange(removed);
    });
  }

  /** Applies new live settings (a config reload); pushes when anything streamed changed. */
  update(settings: LiveSettings): Promise<void> {
    return this.#exclusive(async () => {
      const previous = this.#settings;
      this.#settings = settings;
      await this.#prepareFederation(settings);
      // Configured faults replace all faults only when they changed, so an update of other
      // settings keeps the faults set through `setFault`.
      const changedFaultKinds: FaultKind[] = [];
      if (JSON.stringify(previous.faults) !== JSON.stringify(settings.faults)) {
        changedFaultKinds.push(...this.faults.clear().map((fault) => fault.kind));
        for (const fault of settings.faults) this.faults.set(fault);
        changedFaultKinds.push(...settings.faults.map((fault) => fault.kind));
        this.hub.refuseCovered();
      }
      const reissue =
        identitiesKey(previous.identities) !== identitiesKey(settings.identities) ||
        previous.x509TtlSeconds !== settings.x509TtlSeconds ||
        previous.backdateSeconds !== settings.backdateSeconds ||
        changedFaultKinds.some(isX509Fault);
      if (reissue) await this.#reissue("config change");
      else await this.#publish("config change");
    });
  }

  /** JWT-SVIDs for `audience`, one per identity given (FetchJWTSVID may narrow them to one). */
  mintJwtSvids(audience: readonly string[], identities: readonly Identity[]): Promise<MintedJwtSvid[]> {
    const authority = this.#authorities.get(this.trustDomain.name);
    if (authority === undefined || this.#stopped) return Promise.reject(new FakeAgentStoppedError());
    return mintJwtSvids({ authority, ttlSeconds: this.#settings.jwtTtlSeconds, faults: this.faults }, identities, audience);
  }

  /** The published JWT bundles: the own trust domain's and the federated ones. */
  jwtBundles(): JwtBundleSource {
    return new JwtBundleSet(this.#publishedBundles().map((bundles) => ({ trustDomain: bundles.trustDomain, authorities: bundles.jwtAuthorities })));
  }

  #exclusive<T>(step: () => Promise<T>): Promise<T> {
    if (this.#stopped) return Promise.reject(new FakeAgentStoppedError());
    const run = this.#lock.then(() => (this.#stopped ? Promise.reject(new FakeAgentStoppedError()) : step()));
    this.#lock = run.catch(() => undefined);
    return run;
  }

  /** Rotations of the same kind and trust domain run one after another, never interleaved. */
  #serializeRotation(kind: string, trustDomainName: string | undefined, rotation: (authority: TrustDomainAuthority) => Promise<void>): Promise<void> {
    const authority = this.#streamedAuthority(trustDomainName);
    const key = `${kind} ${authority.trustDomain.name}`;
    const run = (this.#rotationsInFlight.get(key) ?? Promise.resolve()).then(() => rotation(authority));
    const settled = run.catch(() => undefined);
    this.#rotationsInFlight.set(key, settled);
    void settled.then(() => {
      if (this.#rotationsInFlight.get(key) === settled) this.#rotationsInFlight.delete(key);
    });
    return run;
  }

  #streamedAuthority(trustDomainName: string | undefined): TrustDomainAuthority {
    const name = trustDomainName === undefined ? this.trustDomain.name : parseTrustDomain(trustDomainName).name;
    const file = this.#bundleFiles.fileOf(name);
    if (file !== undefined) {
      throw new FakeAgentConfigError(
        `trust domain ${name}'s bundle is read from ${file} (federatedBundleFiles), so this agent holds no CA or JWT key for it; rotate them in the agent that writes that file`,
      );
    }
    const authority = this.#streamedAuthorities().find((candidate) => candidate.trustDomain.name === name);
    if (authority === undefined) {
      throw new FakeAgentConfigError(`trust domain ${name} is neither the agent's own (${this.trustDomain.name}) nor federated; federate with it first`);
    }
    return authority;
  }

  /** The own trust domain's authority, then the federated ones this agent signs for, in configuration order. */
  #streamedAuthorities(): TrustDomainAuthority[] {
    return [this.trustDomain, ...this.#settings.federatesWith]
      .filter((trustDomain) => this.#bundleFiles.fileOf(trustDomain.name) === undefined)
      .map((trustDomain) => this.#authorities.get(trustDomain.name))
      .filter((authority): authority is TrustDomainAuthority => authority !== undefined);
  }

  /** What the streams send per trust domain: the own first, then the federated ones, file-backed or not. */
  #publishedBundles(): PublishedBundles[] {
    return [this.trustDomain, ...this.#settings.federatesWith].flatMap((trustDomain) => {
      if (this.#bundleFiles.fileOf(trustDomain.name) !== undefined) return this.#bundleFiles.published(trustDomain) ?? [];
      return this.#authorities.get(trustDomain.name) ?? [];
    });
  }

  /** Watches the bundle files, and creates a CA and JWT key for every other federated trust domain. */
  async #prepareFederation(settings: LiveSettings): Promise<void> {
    await this.#bundleFiles.configure(settings.federatedBundleFiles);
    const signed = settings.federatesWith.filter((trustDomain) => this.#bundleFiles.fileOf(trustDomain.name) === undefined);
    await Promise.all(signed.map((trustDomain) => this.#authorityFor(trustDomain)));
  }

  /** A watched bundle file changed: push if what it publishes did. */
  #onBundleFileEvent(): void {
    this.#exclusive(async () => {
      if (await this.#bundleFiles.refresh()) await this.#push("federated bundle file changed");
    }).catch((error: unknown) => {
      if (!this.#stopped) this.logger.error({ err: error }, "federated bundle file update failed");
    });
  }

  async #authorityFor(trustDomain: TrustDomain): Promise<TrustDomainAuthority> {
    const existing = this.#authorities.get(trustDomain.name);
    if (existing !== undefined) return existing;
    const authority = await TrustDomainAuthority.create(trustDomain, {
      keyType: this.options.keyType,
      intermediate: this.options.intermediate,
      caTtlMs: CA_TTL_MS,
    });
    this.#authorities.set(trustDomain.name, authority);
    return authority;
  }

  #issue(): Promise<IssuedSvid[]> {
    const own = this.#authorities.get(this.trustDomain.name);
    if (own === undefined) return Promise.reject(new FakeAgentStoppedError());
    return issueX509Svids(
      {
        authority: own,
        keyType: this.options.keyType,
        ttlSeconds: this.#settings.x509TtlSeconds,
        backdateSeconds: this.#settings.backdateSeconds,
        faults: this.faults,
        foreignAuthority: (name) => this.#authorityFor(parseTrustDomain(name)),
      },
      this.#settings.identities,
    );
  }

  async #reissue(reason: string): Promise<void> {
    this.#svids = await this.#issue();
    this.#scheduleRotation();
    await this.#publish(reason);
  }

  #scheduleRotation(): void {
    this.#scheduler.schedule(halfLifeDelayMs(this.#settings.x509TtlSeconds, this.#settings.rotationJitterMs));
  }

  async #afterFaultChange(kinds: readonly FaultKind[]): Promise<void> {
    this.hub.refuseCovered();
    if (kinds.some(isX509Fault)) await this.#reissue("fault change");
  }

  #buildSnapshot(): AgentSnapshot {
    const published = this.#publishedBundles();
    return {
      trustDomain: this.trustDomain,
      hasIdentity: this.#settings.identities.length > 0,
      svids: this.#svids,
      emptySvids: this.faults.emptySvids(),
      x509Authorities: new Map(published.map((bundles) => [bundles.trustDomain.name, this.#withFaults(bundles)])),
      jwks: new Map(published.map((bundles) => [bundles.trustDomain.name, marshalJwtBundle({ trustDomain: bundles.trustDomain, authorities: bundles.jwtAuthorities })])),
    };
  }

  /** The `non-ca-in-bundle` fault: the own bundle also carries the first SVID's leaf, which is no CA. */
  #withFaults(bundles: PublishedBundles): readonly Uint8Array[] {
    if (!this.faults.nonCaInBundle() || bundles.trustDomain.name !== this.trustDomain.name) return bundles.x509Authorities;
    const [leaf] = splitDerSequence(this.#svids[0]?.chainDer ?? new Uint8Array());
    return leaf === undefined ? bundles.x509Authorities : [...bundles.x509Authorities, leaf];
  }

  /** Re-reads the bundle files, so every push carries what they hold now, and pushes. */
  async #publish(reason: string, changed?: TrustDomainAuthority): Promise<void> {
    await this.#bundleFiles.refresh();
    await this.#push(reason, changed);
  }

  async #push(reason: string, changed?: TrustDomainAuthority): Promise<void> {
    const snapshot = this.#buildSnapshot();
    this.#snapshot = snapshot;
    this.hub.publish(snapshot);
    this.logger.info(
      {
        event: "push",
        reason,
        streams: this.hub.size,
        svids: snapshot.svids.map((svid) => ({
          spiffeId: svid.spiffeId,
          serial: svid.serialHex,
          notAfter: svid.notAfter.toISOString(),
          ...(svid.faults.length > 0 ? { faults: svid.faults } : {}),
        })),
        ...(changed === undefined ? {} : { trustDomain: changed.trustDomain.name, caSerials: changed.caSerials, jwtKids: [...changed.jwtAuthorities.keys()] }),
      },
      `pushed update (${reason})`,
    );
    for (const listener of this.#listeners) {
      try {
        await listener(snapshot);
      } catch (error: unknown) {
        this.logger.error({ err: error }, "after-push step failed");
      }
    }
  }
}

function identitiesKey(identities: readonly Identity[]): string {
  return JSON.stringify(identities.map((identity) => [identity.spiffeId.toString(), identity.hint]));
}
