import { mkdir, stat } from "node:fs/promises";
import { resolve, sep } from "node:path";
import { describeError } from "../../errors.js";
import type { JwtBundleSet } from "../../spiffe/jwt-bundle.js";
import type { JwtSvid } from "../../spiffe/jwt-svid.js";
import type { SpiffeId } from "../../spiffe/spiffe-id.js";
import { Backoff, DEFAULT_MAX_BACKOFF_MS, type BackoffOptions } from "../../workloadapi/backoff.js";
import { WorkloadApiClient } from "../../workloadapi/client.js";
import type { X509Context } from "../../workloadapi/decode.js";
import { WorkloadApiResponseError, type WorkloadApiError } from "../../workloadapi/errors.js";
import type { Watch, WatchState } from "../../workloadapi/watch-stream.js";
import type { JwtSvidOutput, SidecarConfig } from "../config/index.js";
import type { NotifyOnKind } from "../config/sidecar-config.js";
import { HealthState } from "../health/health-state.js";
import type { Logger } from "../logger.js";
import type { IdentityState, X509IdentityState } from "../output/identity-state.js";
import type { OutputOptions } from "../output/output-options.js";
import { renderOutputFiles } from "../output/render-outputs.js";
import { changedKindsOf } from "../notify/notify-on.js";
import { boundList, boundText, MAX_MESSAGE_CHARS } from "../../text/bounded-text.js";
import { AtomicFileWriter } from "../writer/atomic-file-writer.js";
import { DirectoryLayoutWriter } from "../writer/directory-layout-writer.js";
import { FileWriteError, type FileWriter } from "../writer/file-writer.js";
import { recoveryTargets } from "../writer/interrupted-update-repair.js";
import { recoverInterruptedWrites } from "../writer/recover-at-start.js";
import { AgentLink } from "./agent-link.js";
import { JwtSvidRefresher } from "./jwt-svid-refresher.js";
import { healthOutputsFromConfig, outputOptionsFromConfig, wantsJwtBundles, wantsX509 } from "./output-plan.js";
import { rejectReasonOf } from "./reject-reason.js";
import { RejectionLog } from "./rejection-log.js";
import { SvidExpiryWatch } from "./svid-expiry-watch.js";

/** How long a JWT-SVID with an unknown key ID waits for the JWT bundles fetched again. */
const JWT_BUNDLE_REFETCH_TIMEOUT_MS = 5_000;

export interface IdentityPipelineOptions {
  readonly config: SidecarConfig;
  readonly logger: Logger;
  /** Reconnect and refresh backoff; tests shorten it. @default 1 s initial, 30 s cap */
  readonly backoff?: BackoffOptions;
  /**
   * The deadline of each unary Workload API call and the first-response timeout of each stream;
   * tests shorten it.
   * @default 30000
   */
  readonly agentTimeoutMs?: number;
  readonly now?: () => Date;
}

/** What a complete write changed, for the application notifier. */
export interface CompletedUpdate {
  readonly changedPaths: readonly string[];
  /** What the changed files carry, for `notify_on`. */
  readonly changedKinds: readonly NotifyOnKind[];
  /** True for the write that first made every configured output present. */
  readonly first: boolean;
  /** The X.509-SVID now on disk, when X.509 outputs are configured (systemd's STATUS= line). */
  readonly x509Svid?: { readonly spiffeId: string; readonly serialHex: string; readonly notAfter: Date };
}

/**
 * The identity pipeline: Workload API streams and JWT refreshes in, validated state, rendered
 * files written atomically out. It knows nothing of child processes; `onUpdate` tells the
 * caller once per write that changed something after every configured output exists.
 */
export class IdentityPipeline {
  readonly health: HealthState;
  #config: SidecarConfig;
  readonly #logger: Logger;
  readonly #now: () => Date;
  #client: WorkloadApiClient;
  readonly #writer: FileWriter;
  #outputOptions: OutputOptions;
  #watches: Watch[] = [];
  /** By `refresherKey` of the output, so a reload keeps a refresher whose output is unchanged. */
  readonly #refreshers = new Map<string, JwtSvidRefresher>();
  /** Bumped when the streams are reopened: callbacks of the closed ones are then ignored. */
  #streamGeneration = 0;
  readonly #agentTimeoutMs: number | undefined;
  readonly #jwtSvids = new Map<string, JwtSvid>();
  #x509: X509IdentityState | undefined;
  #jwtBundles: JwtBundleSet | undefined;
  #jwtBundlesArrived: () => void = () => {};
  /** Refreshers waiting for the JWT bundle stream's next message (a key ID they do not know). */
  readonly #jwtBundleWaiters = new Set<() => void>();
  #jwtBundleWatch: Watch | undefined;
  readonly #streams = new Map<string, Watch>();
  readonly #link: AgentLink;
  readonly #jwtBundlesReady: Promise<void>;
  #writtenPaths = new Set<string>();
  #writeChain: Promise<void> = Promise.resolve();
  /** Files of refreshed JWT-SVIDs waiting for `#jwtSvidWrite`, which has not started yet. */
  readonly #pendingJwtSvidFiles = new Set<string>();
  #jwtSvidWrite: Promise<void> | undefined;
  /** A whole-state write for JWT-SVIDs, queued and not started: later tokens ride along. */
  #jwtStateWrite: Promise<void> | undefined;
  /** The X.509-SVID the last whole-state write left on disk, for updates that write only tokens. */
  #writtenX509Svid: CompletedUpdate["x509Svid"];
  #complete = false;
  #stopped = false;
  #updateListener: (update: CompletedUpdate) => Promise<void> = async () => {};
  #fatalListener: (error: WorkloadApiError) => void = () => {};
  #lastProblem: string | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  readonly #rejections: RejectionLog;
  readonly #expiry: SvidExpiryWatch;
  /** Serial of the X.509-SVID last written, to tell a new SVID from a bundle-only change. */
  #writtenSerial: string | undefined;
  /** Trust domain of the X.509-SVID last accepted, to warn when it changes. */
  #acceptedTrustDomain: string | undefined;
  readonly #writeRetryBackoff: Backoff;
  readonly #backoff: BackoffOptions | undefined;

  constructor(options: IdentityPipelineOptions) {
    this.#config = options.config;
    this.#logger = options.logger;
    this.#now = options.now ?? (() => new Date());
    this.#rejections = new RejectionLog(options.logger, this.#now);
    this.#expiry = new SvidExpiryWatch(options.logger, this.#now);
    this.#backoff = options.backoff;
    this.#agentTimeoutMs = options.agentTimeoutMs;
    this.#client = this.#newClient();
    this.#outputOptions = outputOptionsFromConfig(options.config);
    this.#writer =
      options.config.writeLayout === "directory"
        ? new DirectoryLayoutWriter(options.config.certDir)
        : new AtomicFileWriter();
    this.health = new HealthState(healthOutputsFromConfig(options.config));
    this.#jwtBundlesReady = new Promise((resolveReady) => (this.#jwtBundlesArrived = resolveReady));
    this.#link = new AgentLink(options.logger, this.health);
    this.#writeRetryBackoff = new Backoff(options.backoff);
  }

  /** Called once per write that changed files, in order, never concurrently. */
  onUpdate(listener: (update: CompletedUpdate) => Promise<void>): void {
    this.#updateListener = listener;
  }

  /**
   * Called when a stream is refused for good (InvalidArgument, Unimplemented) before its first
   * good update: a configuration error. After one, the refusal is reported, not fatal.
   */
  onFatal(listener: (error: WorkloadApiError) => void): void {
    this.#fatalListener = listener;
  }

  get complete(): boolean {
    return this.#complete;
  }

  /** The latest reason the pipeline could not make progress, for one-shot's timeout message. */
  get lastProblem(): string | undefined {
    return this.#lastProblem;
  }

  async start(): Promise<void> {
    await prepareDirectories(this.#config);
    const jwtSvidPaths = healthOutputsFromConfig(this.#config).jwtSvidPaths;
    await recoverInterruptedWrites(this.#writer, recoveryTargets(this.#outputOptions, jwtSvidPaths), this.#logger);
    this.#openStreams();
  }

  /**
   * Runs on a reloaded configuration (planned by `planConfigReload`): outputs are rendered
   * again with the new options, JWT refreshers of removed audiences stop and new ones start.
   * The agent streams are reopened only when `restartStreams` says so (a new agent address or
   * hint, a stream now needed or no longer). Files of outputs no longer configured stay on
   * disk: identity is never deleted. Resolves once the new outputs are written (or the write
   * failed, and is retried as a stream update's is).
   */
  async applyConfig(next: SidecarConfig, options: { readonly restartStreams: boolean }): Promise<void> {
    this.#config = next;
    this.#outputOptions = outputOptionsFromConfig(next);
    this.health.setOutputs(healthOutputsFromConfig(next));
    await prepareDirectories(next);
    if (options.restartStreams) {
      this.#closeStreams();
      this.#client = this.#newClient();
      this.#openStreams();
    } else {
      this.#syncRefreshers();
    }
    if (this.#x509 === undefined && this.#jwtBundles === undefined && this.#jwtSvids.size === 0) return;
    this.#applyWithRetry("configuration reload");
    await this.#writeChain;
  }

  #newClient(): WorkloadApiClient {
    const timeoutMs = this.#agentTimeoutMs;
    return new WorkloadApiClient({
      address: this.#config.agentAddress,
      ...(this.#backoff === undefined ? {} : { backoff: this.#backoff }),
      ...(timeoutMs === undefined ? {} : { rpcTimeoutMs: timeoutMs, firstResponseTimeoutMs: timeoutMs }),
    });
  }

  #openStreams(): void {
    const generation = ++this.#streamGeneration;
    const current = (): boolean => generation === this.#streamGeneration;
    if (wantsX509(this.#config)) {
      const watch = this.#client.watchX509Context({
        onUpdate: (context) => current() && this.#onX509Context(context),
        onInvalid: (error) => current() && this.#reject("X.509 update", error),
        onError: (error) => current() && this.#onStreamError("FetchX509SVID", error),
        onStateChange: (state) => current() && this.#onStreamState(state),
      });
      this.#watches.push(watch);
      this.#streams.set("FetchX509SVID", watch);
    }
    if (wantsJwtBundles(this.#config)) {
      this.#jwtBundleWatch = this.#client.watchJwtBundles({
        onUpdate: (bundles) => current() && this.#onJwtBundles(bundles),
        onInvalid: (error) => current() && this.#reject("JWT bundle update", error),
        onError: (error) => current() && this.#onStreamError("FetchJWTBundles", error),
        onStateChange: (state) => current() && this.#onStreamState(state),
      });
      this.#watches.push(this.#jwtBundleWatch);
      this.#streams.set("FetchJWTBundles", this.#jwtBundleWatch);
    }
    this.#syncRefreshers();
    // The watches retry by themselves when the socket reappears; the JWT refreshes are told here.
    this.#client.onAgentSocketAppeared(() => {
      for (const refresher of this.#refreshers.values()) refresher.retryNow();
    });
  }

  /** Closes the streams, refreshers and client of the current agent; files stay as they are. */
  #closeStreams(): void {
    this.#streamGeneration += 1;
    for (const watch of this.#watches) watch.close();
    for (const refresher of this.#refreshers.values()) refresher.stop();
    this.#client.close();
    this.#watches = [];
    this.#streams.clear();
    this.#refreshers.clear();
    this.#jwtBundleWatch = undefined;
  }

  /** One refresher per configured JWT-SVID output: removed ones stop (their token is no longer written), new ones start. */
  #syncRefreshers(): void {
    const wanted = new Map(this.#config.jwtSvids.map((output) => [refresherKey(output), output]));
    for (const [key, refresher] of this.#refreshers) {
      if (wanted.has(key)) continue;
      refresher.stop();
      this.#refreshers.delete(key);
    }
    const fileNames = new Set(this.#config.jwtSvids.map((output) => output.fileName));
    for (const fileName of this.#jwtSvids.keys()) if (!fileNames.has(fileName)) this.#jwtSvids.delete(fileName);
    for (const [key, output] of wanted) if (!this.#refreshers.has(key)) this.#startRefresher(key, output);
  }

  /** Stops streams and refreshes and waits for a write in progress; files stay as they are. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    for (const watch of this.#watches) watch.close();
    for (const refresher of this.#refreshers.values()) refresher.stop();
    this.#client.close();
    await this.#writeChain;
    this.#expiry.stop();
    this.#rejections.stop();
  }

  #startRefresher(key: string, output: JwtSvidOutput): void {
    const refresher = new JwtSvidRefresher({
      output,
      hint: this.#config.hint,
      fetchJwtSvids: (audience, signal) => this.#client.fetchJwtSvids({ audience, signal }),
      jwtBundles: async () => {
        await this.#jwtBundlesReady;
        return this.#currentJwtBundles();
      },
      refetchJwtBundles: () => this.#refetchJwtBundles(),
      onJwtSvid: (entry, svid) => {
        this.#jwtSvids.set(entry.fileName, svid);
        return this.#applyJwtSvid(entry.fileName, `JWT-SVID for ${entry.audience}`);
      },
      onFailure: (entry, error, retryInMs) => {
        if (error instanceof WorkloadApiResponseError || isValidationError(error)) {
          this.#reject(`JWT-SVID for ${entry.audience}`, error);
        }
        const detail = boundText(describeError(error), MAX_MESSAGE_CHARS);
        this.#noteProblem(`JWT-SVID for audience "${entry.audience}": ${detail}`);
        this.#logger.warn({ audience: entry.audience, retryInMs, err: detail }, "JWT-SVID refresh failed");
      },
      ...(this.#backoff === undefined ? {} : { backoff: this.#backoff }),
      now: this.#now,
    });
    this.#refreshers.set(key, refresher);
    refresher.start();
  }

  /**
   * Asks the JWT bundle stream for the full state again and waits for it, at most
   * JWT_BUNDLE_REFETCH_TIMEOUT_MS; resolves with the newest bundles either way.
   */
  async #refetchJwtBundles(): Promise<JwtBundleSet> {
    let done: () => void = () => {};
    const arrived = new Promise<void>((resolveArrived) => (done = resolveArrived));
    this.#jwtBundleWaiters.add(done);
    const timer = setTimeout(done, JWT_BUNDLE_REFETCH_TIMEOUT_MS);
    this.#logger.info("a JWT-SVID is signed by a key the JWT bundles do not hold; fetching the JWT bundles again");
    this.#jwtBundleWatch?.restart();
    await arrived;
    clearTimeout(timer);
    this.#jwtBundleWaiters.delete(done);
    return this.#currentJwtBundles();
  }

  #currentJwtBundles(): JwtBundleSet {
    if (this.#jwtBundles === undefined) throw new RangeError("JWT bundles are read before they arrived");
    return this.#jwtBundles;
  }

  #onX509Context(context: X509Context): void {
    this.#link.delivered("FetchX509SVID");
    this.health.setStreamStuck("FetchX509SVID", undefined);
    const hint = this.#config.hint;
    const svid = hint === undefined ? context.svids[0] : context.svids.find((candidate) => candidate.hint === hint);
    if (svid === undefined) {
      // Hints come from the agent: each is cut, and only the first few are listed.
      const hints = boundList(context.svids.map((candidate) => candidate.hint));
      this.#reject("X.509 update", new WorkloadApiResponseError("hint-not-found", `no SVID has hint "${hint}" (hints: ${hints})`));
      return;
    }
    if (!this.#acceptTrustDomain(svid.id)) return;
    const serial = svid.certificates[0]?.serialHex ?? "";
    const cause = serial === this.#x509?.svid.certificates[0]?.serialHex ? "X.509 bundle changed" : `X.509-SVID ${serial}`;
    this.#x509 = { svid, bundles: context.bundles };
    this.#applyWithRetry(cause);
  }

  /**
   * `trust_domain` pins the SVID's trust domain: another is refused. Unpinned, a change is
   * allowed (an agent can be moved to another trust domain) but never silent (issue 13.14).
   */
  #acceptTrustDomain(id: SpiffeId): boolean {
    const trustDomain = id.trustDomain.name;
    const pinned = this.#config.trustDomain;
    if (pinned !== undefined && trustDomain !== pinned) {
      const message =
        `the X.509-SVID "${id.toString()}" is of trust domain "${trustDomain}", but trust_domain in ` +
        `${this.#config.sourceFile} is "${pinned}"`;
      this.#reject("X.509 update", new WorkloadApiResponseError("trust-domain-mismatch", message));
      return false;
    }
    const previous = this.#acceptedTrustDomain;
    if (previous !== undefined && previous !== trustDomain) {
      this.#logger.warn(
        { previous_trust_domain: previous, trust_domain: trustDomain, spiffe_id: id.toString() },
        `the X.509-SVID's trust domain changed from "${previous}" to "${trustDomain}"; set trust_domain to refuse such a change`,
      );
    }
    this.#acceptedTrustDomain = trustDomain;
    return true;
  }

  #onJwtBundles(bundles: JwtBundleSet): void {
    this.health.setStreamStuck("FetchJWTBundles", undefined);
    this.#jwtBundles = bundles;
    this.#jwtBundlesArrived();
    this.#link.delivered("FetchJWTBundles");
    for (const waiter of this.#jwtBundleWaiters) waiter();
    for (const refresher of this.#refreshers.values()) void refresher.onJwtBundles(bundles);
    if (this.#config.jwtBundleFileName !== undefined) this.#applyWithRetry("JWT bundles");
  }

  /**
   * Stream updates have no caller to retry for them, so a failed write (a full disk, a
   * directory made read-only) is tried again with backoff until it succeeds or a newer update
   * supersedes it; the previous files stay in place meanwhile.
   */
  #applyWithRetry(cause: string): void {
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#apply(cause).then(
      () => this.#writeRetryBackoff.reset(),
      () => {
        if (this.#stopped) return;
        this.#retryTimer = setTimeout(() => this.#applyWithRetry(`retry of ${cause}`), this.#writeRetryBackoff.next());
      },
    );
  }

  #onStreamError(method: string, error: WorkloadApiError): void {
    // A first-response timeout: the agent accepted the call and sent nothing. Readiness names it.
    if (error.statusName === "DEADLINE_EXCEEDED") this.health.setStreamStuck(method, error.message);
    this.#noteProblem(`${method}: ${error.message}`);
    const watch = this.#streams.get(method);
    // Before any good update a permanent status is a configuration error; after one, the app
    // keeps its valid files and the refusal is reported (issue 13 item 13).
    if (!error.retryable && watch?.delivered === true) {
      this.#link.refused(method, error, this.#backoff?.maxMs ?? DEFAULT_MAX_BACKOFF_MS);
      return;
    }
    if (!error.retryable) {
      this.#logger.error({ method, status: error.statusName }, error.message);
      this.#fatalListener(error);
      return;
    }
    this.#logger.warn({ method, status: error.statusName }, error.message);
  }

  #onStreamState(state: WatchState): void {
    // Our own close at stop is not the agent going away: saying so would mislead an operator.
    if (this.#stopped) return;
    const connected = this.#watches.some((watch) => watch.state === "open") || state === "open";
    this.#link.setConnected(connected, this.#config.agentAddress);
  }

  #reject(what: string, error: unknown): void {
    const reason = rejectReasonOf(error);
    // The message may quote what the agent sent (IDs, keys of bundle maps): cut to a bound.
    const detail = boundText(describeError(error), MAX_MESSAGE_CHARS);
    this.health.recordRejectedUpdate(reason);
    this.#noteProblem(`${what} rejected: ${detail}`);
    this.#rejections.record(what, reason, detail);
  }

  #noteProblem(problem: string): void {
    this.#lastProblem = boundText(problem, MAX_MESSAGE_CHARS);
  }

  /** Renders and writes the whole state; writes run one at a time, in arrival order. */
  #apply(cause: string): Promise<void> {
    return this.#chain(() => this.#writeState(cause));
  }

  #chain(write: () => Promise<void>): Promise<void> {
    const next = this.#writeChain.then(write);
    this.#writeChain = next.catch(() => {});
    return next;
  }

  /**
   * A refreshed JWT-SVID is one file of its own. Once every output is on disk, and unless the
   * `directory` layout needs the whole set in each version, only the tokens refreshed since the
   * last write are rendered and written, together: with 50 audiences, writing the whole state
   * per token re-rendered, hashed and lstat'ed 50 files each time, the larger part of a
   * refresh's CPU (profile of 2026-12-06).
   */
  #applyJwtSvid(fileName: string, cause: string): Promise<void> {
    if (!this.#complete || this.#config.writeLayout === "directory") {
      // The whole state is read when the write starts, so one queued write serves every token
      // that arrives before then: 50 tokens at start-up were 50 writes of up to 50 files each.
      this.#jwtStateWrite ??= this.#chain(() => {
        this.#jwtStateWrite = undefined;
        return this.#writeState(cause);
      });
      return this.#jwtStateWrite;
    }
    this.#pendingJwtSvidFiles.add(fileName);
    this.#jwtSvidWrite ??= this.#chain(() => {
      this.#jwtSvidWrite = undefined;
      const jwtSvids = new Map<string, JwtSvid>();
      for (const name of this.#pendingJwtSvidFiles) {
        const svid = this.#jwtSvids.get(name);
        // A token of an output a reload removed is no longer written.
        if (svid !== undefined) jwtSvids.set(name, svid);
      }
      this.#pendingJwtSvidFiles.clear();
      return this.#writeState(jwtSvids.size > 1 ? `${jwtSvids.size} JWT-SVIDs` : cause, jwtSvids);
    });
    return this.#jwtSvidWrite;
  }

  /** Writes the whole state, or with `onlyJwtSvids` those tokens alone. */
  async #writeState(cause: string, onlyJwtSvids?: ReadonlyMap<string, JwtSvid>): Promise<void> {
    if (this.#stopped) return;
    const now = this.#now();
    // A copy: a token or SVID arriving while this write awaits must not be recorded as written by it.
    const state: IdentityState =
      onlyJwtSvids === undefined ? { x509: this.#x509, jwtBundles: this.#jwtBundles, jwtSvids: new Map(this.#jwtSvids) } : { jwtSvids: onlyJwtSvids };
    const files = renderOutputFiles(state, this.#outputOptions, now);
    const paths = files.map((file) => file.path);
    let changed: string[];
    let removed: string[];
    this.health.recordWriteStarted(now);
    try {
      changed = (await this.#writer.writeFiles(files)).changed;
      removed = onlyJwtSvids === undefined ? await this.#removeVanished(paths) : [];
    } catch (error: unknown) {
      const detail = describeError(error);
      this.#recordWriteFailure(state, paths, detail);
      this.#noteProblem(`writing files failed: ${detail}`);
      this.#logger.error({ cause, err: detail }, "writing identity files failed; the previous files are kept");
      throw error;
    } finally {
      this.health.recordWriteSettled();
    }
    this.#recordWritten(state, paths, now);
    if (onlyJwtSvids === undefined) this.#writtenX509Svid = writtenSvidOf(state);
    if (changed.length > 0) this.#logger.info({ cause, changed, ...this.#takeNewSvidFields(state) }, "identity files updated");
    // Completion is judged even when nothing changed: a one-shot run over files that are
    // already current must still finish.
    const first = !this.#complete && this.#allOutputsWritten();
    if (first) this.#complete = true;
    if (!first && !(this.#complete && changed.length + removed.length > 0)) return;
    // At the first complete write every output is new to the app, whatever this write changed.
    const notified = first ? files : files.filter((file) => changed.includes(file.path));
    // A removed federated bundle file is a bundle change too: spiffe-helper signals every X.509 update.
    const groups = [...notified.map((file) => file.group), ...removed.map(() => "x509-bundle" as const)];
    const changedPaths = [...notified.map((file) => file.path), ...removed];
    const x509Svid = this.#writtenX509Svid;
    await this.#updateListener({ changedPaths, changedKinds: changedKindsOf(groups), first, ...(x509Svid === undefined ? {} : { x509Svid }) });
  }

  /** Only per-trust-domain bundle files come and go with the agent's state (Workload API §4.4). */
  async #removeVanished(paths: readonly string[]): Promise<string[]> {
    const federatedDir = this.#config.federatedBundleDir;
    const current = new Set(paths);
    const vanished =
      federatedDir === undefined
        ? []
        : [...this.#writtenPaths].filter((path) => !current.has(path) && path.startsWith(resolve(federatedDir) + sep));
    this.#writtenPaths = current;
    if (vanished.length === 0) return [];
    const removed = await this.#writer.removeFiles(vanished);
    this.#logger.info({ removed }, "removed bundle files of trust domains the agent no longer sends");
    return removed;
  }

  /**
   * What an operator needs to follow rotations: the SPIFFE ID, serial and notAfter of an
   * X.509-SVID written for the first time; nothing when only a bundle changed (issue 12.5).
   */
  #takeNewSvidFields(state: IdentityState): Record<string, string> {
    const svid = state.x509?.svid;
    const leaf = svid?.certificates[0];
    if (svid === undefined || leaf === undefined || leaf.serialHex === this.#writtenSerial) return {};
    this.#writtenSerial = leaf.serialHex;
    return { spiffe_id: svid.id.toString(), serial: leaf.serialHex, not_after: leaf.notAfter.toISOString() };
  }

  #recordWritten(state: IdentityState, paths: readonly string[], now: Date): void {
    const svid = state.x509?.svid;
    const leaf = svid?.certificates[0];
    if (svid !== undefined && leaf !== undefined) {
      this.health.recordX509Written({ serialHex: leaf.serialHex, notAfter: leaf.notAfter }, now);
      this.#expiry.watch({ spiffeId: svid.id.toString(), serialHex: leaf.serialHex, notAfter: leaf.notAfter });
    }
    const jwtBundlePath = this.#jwtBundlePath();
    if (jwtBundlePath !== undefined && paths.includes(jwtBundlePath)) this.health.recordJwtBundleWritten(now);
    for (const [fileName, svid] of state.jwtSvids) {
      this.health.recordJwtSvidWritten(resolve(this.#config.certDir, fileName), svid.expiry, now);
    }
  }

  #recordWriteFailure(state: IdentityState, paths: readonly string[], detail: string): void {
    if (state.x509 !== undefined) this.health.recordX509WriteFailed(detail);
    const jwtPaths = [this.#jwtBundlePath(), ...[...state.jwtSvids.keys()].map((name) => resolve(this.#config.certDir, name))];
    for (const path of jwtPaths) if (path !== undefined && paths.includes(path)) this.health.recordJwtWriteFailed(path, detail);
  }

  #jwtBundlePath(): string | undefined {
    const name = this.#config.jwtBundleFileName;
    return name === undefined ? undefined : resolve(this.#config.certDir, name);
  }

  #allOutputsWritten(): boolean {
    const statuses = this.health.fileWriteStatuses();
    return (
      (statuses.x509_write_status === undefined || statuses.x509_write_status === "written") &&
      Object.values(statuses.jwt_write_status).every((status) => status === "written")
    );
  }
}

/**
 * `cert_dir` must exist, as in spiffe-helper: creating it would hide a mistyped path. The
 * per-trust-domain bundle directory is ours to manage, so it is created when missing.
 */
async function prepareDirectories(config: SidecarConfig): Promise<void> {
  try {
    if (!(await stat(config.certDir)).isDirectory()) throw new Error("not a directory");
  } catch (error: unknown) {
    throw new FileWriteError(
      `cert_dir ${config.certDir} ${isMissing(error) ? "does not exist" : "is not a usable directory"}; create it or fix cert_dir in ${config.sourceFile}`,
      config.certDir,
      error instanceof Error && "code" in error ? String(error.code) : undefined,
      { cause: error },
    );
  }
  if (config.federatedBundleDir !== undefined) await mkdir(config.federatedBundleDir, { recursive: true, mode: 0o755 });
}

function writtenSvidOf(state: IdentityState): CompletedUpdate["x509Svid"] {
  const svid = state.x509?.svid;
  const leaf = svid?.certificates[0];
  if (svid === undefined || leaf === undefined) return undefined;
  return { spiffeId: svid.id.toString(), serialHex: leaf.serialHex, notAfter: leaf.notAfter };
}

/** A refresher serves one output as configured: a changed audience or file is a new refresher. */
function refresherKey(output: JwtSvidOutput): string {
  return JSON.stringify([output.fileName, output.audience, output.extraAudiences]);
}

function isMissing(error: unknown): boolean {
  return error instanceof Error && "code" in error && error.code === "ENOENT";
}

function isValidationError(error: unknown): boolean {
  return error instanceof Error && "code" in error && (error.code === "ERR_JWT_SVID" || error.code === "ERR_JWT_BUNDLE");
}
