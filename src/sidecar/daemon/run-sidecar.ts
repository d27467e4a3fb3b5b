import { mkdir } from "node:fs/promises";
import { constants as osConstants } from "node:os";
import { describeError } from "../../errors.js";
import type { BackoffOptions } from "../../workloadapi/backoff.js";
import { ChildSupervisor } from "../child/child-supervisor.js";
import { SignalRouter, type SignalSource } from "../child/signal-forwarding.js";
import { checkConfigEnvironment } from "../config/environment-checks.js";
import { loadConfigFile, type SidecarConfig } from "../config/index.js";
import type { HealthServer } from "../health/health-server.js";
import { capNewSpace } from "../heap-tuning.js";
import type { Logger } from "../logger.js";
import type { Notifier, NotifyReason } from "../notify/notifier.js";
import { ReloadVerifier } from "../verify/reload-verifier.js";
import { buildNotifiers, type SidecarNotifiers } from "./build-notifiers.js";
import type { StopConfigWatch } from "./config-file-watch.js";
import { planConfigReload, type ConfigReloadPlan } from "./config-reload.js";
import { SystemdNotifier } from "../systemd/systemd-notifier.js";
import { IdentityPipeline } from "./identity-pipeline.js";

/** Exit codes of `run` and `once` (README "Exit codes"); a supervised child's own code passes through. */
export const SidecarExit = {
  ok: 0,
  /** The agent refused the configuration for good at start-up, a one-shot timed out, or the child could not start. */
  failure: 1,
} as const;

export interface RunSidecarOptions {
  readonly config: SidecarConfig;
  readonly logger: Logger;
  readonly backoff?: BackoffOptions;
  /** Workload API deadline and first-response timeout; tests shorten it. @default 30000 */
  readonly agentTimeoutMs?: number;
  /** Where SIGTERM and friends come from; tests pass an EventEmitter. @default process */
  readonly signals?: SignalSource;
}

function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (osConstants.signals[signal] ?? 0);
}

/**
 * Node does not reap processes it did not start, so as PID 1 (a container without an init)
 * every orphan reparented to us would stay a zombie. The image runs tini; anyone else is told.
 */
function warnIfUnreapedInit(logger: Logger): void {
  if (process.pid !== 1) return;
  logger.warn(
    "running as PID 1: orphaned processes will not be reaped and stay zombies; run under an init such as tini (docker run --init), as the spiffe-sidecar image does",
  );
}

/**
 * Runs the sidecar until it is done: one-shot until every output is written (or the timeout),
 * the daemon until a terminating signal, or until its child exits for good. Resolves with the
 * process exit code; never rejects.
 */
export async function runSidecar(options: RunSidecarOptions): Promise<number> {
  const run = new SidecarRun(options);
  return run.exitCode;
}

class SidecarRun {
  readonly exitCode: Promise<number>;
  /** The running configuration; a reload replaces it. */
  #config: SidecarConfig;
  readonly #logger: Logger;
  readonly #signals: SignalSource;
  readonly #pipeline: IdentityPipeline;
  readonly #supervisor: ChildSupervisor | undefined;
  #notifiers: SidecarNotifiers;
  #stopConfigWatch: StopConfigWatch | undefined;
  /** Reloads run one at a time, in order. */
  #reloads: Promise<void> = Promise.resolve();
  readonly #reloadVerifier: ReloadVerifier | undefined;
  /** Type=notify; a config reload calls its `reloading()` before and `ready()` after. */
  readonly #systemd: SystemdNotifier | undefined;
  #healthServer: HealthServer | undefined;
  #signalRouter: SignalRouter | undefined;
  #childStarted = false;
  #stoppedBySignal = false;
  #finishing = false;
  #oneShotTimer: NodeJS.Timeout | undefined;
  #resolveExit: (code: number) => void = () => {};

  constructor(options: RunSidecarOptions) {
    this.#config = options.config;
    this.#logger = options.logger;
    this.#signals = options.signals ?? process;
    this.#pipeline = new IdentityPipeline({
      config: options.config,
      logger: options.logger,
      ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
      ...(options.agentTimeoutMs === undefined ? {} : { agentTimeoutMs: options.agentTimeoutMs }),
    });
    const { cmd, daemonMode } = options.config;
    this.#supervisor =
      cmd !== undefined && daemonMode
        ? new ChildSupervisor({
            cmd,
            args: options.config.cmdArgs,
            configSource: options.config.sourceFile,
            restartPolicy: options.config.restartPolicy,
            // A restart_backoff_max under the usual 1 s first wait means every wait is that long.
            restartBackoff: { maxMs: options.config.restartBackoffMaxMs },
            startGraceMs: options.config.cmdStartGraceMs,
            gracePeriodMs: options.config.restartGracePeriodMs,
            logger: options.logger,
          })
        : undefined;
    this.#notifiers = buildNotifiers(options.config, this.#supervisor, options.logger, this.#pipeline.health);
    this.#reloadVerifier = this.#buildReloadVerifier();
    // A one-shot run belongs in a Type=oneshot unit, which has no notify socket.
    this.#systemd = options.config.daemonMode ? SystemdNotifier.fromEnvironment(options.logger) : undefined;
    const exit = new Promise<number>((resolveExit) => (this.#resolveExit = resolveExit));
    this.exitCode = this.#start().then(
      () => exit,
      (error: unknown) => this.#finish(SidecarExit.failure, `cannot start: ${describeError(error)}`).then(() => exit),
    );
    this.exitCode = this.exitCode.then(async (code) => {
      await this.#shutdown();
      return code;
    });
  }

  #buildReloadVerifier(): ReloadVerifier | undefined {
    const { verifyReload, svidFileName, daemonMode } = this.#config;
    if (verifyReload === undefined || svidFileName === undefined || !daemonMode) return undefined;
    const supervisor = this.#supervisor;
    return new ReloadVerifier({
      config: verifyReload,
      svidFile: svidFileName,
      outcome: this.#pipeline.health,
      logger: this.#logger,
      restartChild: supervisor === undefined ? undefined : () => supervisor.restart({ gracePeriodMs: this.#config.restartGracePeriodMs }),
    });
  }

  /**
   * Tells the app, and once it was told of a new X.509-SVID checks that it serves it; neither
   * is awaited, so neither holds back the next write.
   */
  #notifyAndVerify(notifier: Notifier, reason: NotifyReason): void {
    const notified = notifier.notify(reason);
    const verifier = this.#reloadVerifier;
    const svidFile = this.#config.svidFileName;
    if (verifier === undefined || svidFile === undefined || !reason.changedPaths.includes(svidFile)) return;
    void notified.then(() => verifier.verify(() => this.#notifiers.all.notify(reason)));
  }

  async #start(): Promise<void> {
    this.#signalRouter = new SignalRouter({
      source: this.#signals,
      logger: this.#logger,
      gracePeriodMs: this.#config.restartGracePeriodMs,
      onTerminate: this.#onTerminatingSignal,
      // A one-shot run has no configuration to keep: SIGHUP stays ignored there.
      ...(this.#config.daemonMode ? { onReload: () => void this.#reload("SIGHUP") } : {}),
    });
    warnIfUnreapedInit(this.#logger);
    this.#pipeline.onFatal((error) => void this.#finish(SidecarExit.failure, error.message));
    this.#pipeline.onUpdate(async (update) => {
      await this.#onUpdate(update.first, {
        changedPaths: update.changedPaths,
        changedKinds: update.changedKinds,
        svid: update.x509Svid,
      });
      // After the child started on the first write: READY=1 means the app has its files.
      this.#systemd?.svidWritten(update.x509Svid);
    });
    if (!this.#config.daemonMode) {
      const timeoutMs = this.#config.oneShotTimeoutMs;
      this.#oneShotTimer = setTimeout(() => void this.#finish(SidecarExit.failure, this.#oneShotTimeoutMessage(timeoutMs)), timeoutMs);
    } else if (this.#config.healthChecks.listenerEnabled) {
      const health = this.#config.healthChecks;
      // The health listener and the config watch (chokidar) are loaded by the daemon only: a
      // one-shot never uses them and would pay their loading (issue 16).
      const { startHealthServer } = await import("../health/health-server.js");
      this.#healthServer = await startHealthServer({
        state: this.#pipeline.health,
        bindAddress: health.bindAddress,
        port: health.bindPort,
        livenessPath: health.livenessPath,
        readinessPath: health.readinessPath,
        metricsPath: health.metricsPath,
      });
      this.#logger.info({ url: this.#healthServer.url }, "health listener started");
    }
    // Opt-in: spiffe-helper never creates cert_dir, and creating it could hide a mistyped path.
    if (this.#config.createCertDir) await mkdir(this.#config.certDir, { recursive: true, mode: 0o755 });
    await this.#pipeline.start();
    if (this.#config.daemonMode) {
      const { watchConfigFile } = await import("./config-file-watch.js");
      this.#stopConfigWatch = await watchConfigFile(this.#config.sourceFile, () => this.#reload("file changed"));
      // Not earlier: the start-up would scavenge more often (heap-tuning.ts).
      capNewSpace();
    }
    this.#logger.info(
      { agentAddress: this.#config.agentAddress, mode: this.#config.daemonMode ? "daemon" : "one-shot" },
      "spiffe-sidecar started",
    );
  }

  #oneShotTimeoutMessage(timeoutMs: number): string {
    const problem = this.#pipeline.lastProblem ?? "the agent sent nothing";
    return `one-shot timed out after ${timeoutMs / 1000}s before every output was written; last problem: ${problem} (raise one_shot_timeout in ${this.#config.sourceFile} if the agent is slow)`;
  }

  /**
   * SIGTERM or SIGINT (SIGQUIT too with a child). Without a running child the sidecar exits at
   * once; with one, the router stops the child and the sidecar exits when it is gone.
   */
  readonly #onTerminatingSignal = (signal: NodeJS.Signals): void => {
    this.#stoppedBySignal = true;
    this.#systemd?.stopping();
    if (this.#childStarted) return;
    const code = this.#config.daemonMode ? SidecarExit.ok : signalExitCode(signal);
    void this.#finish(code, `received ${signal}`, "info");
  };

  async #onUpdate(first: boolean, reason: NotifyReason): Promise<void> {
    if (this.#finishing) return;
    if (!this.#config.daemonMode) {
      await this.#finish(SidecarExit.ok, "every output is written", "info");
      return;
    }
    // Notifications are not awaited: one held back by notify_min_interval or a pid file's
    // retries must not hold back the next write (each notifier queues and coalesces its own).
    if (first && this.#supervisor !== undefined) {
      await this.#startChild(this.#supervisor);
      this.#notifyAndVerify(this.#notifiers.external, reason);
      return;
    }
    this.#notifyAndVerify(this.#notifiers.all, reason);
  }

  /** The child starts after the first complete write, so it never reads missing files. */
  async #startChild(supervisor: ChildSupervisor): Promise<void> {
    if (this.#finishing || this.#stoppedBySignal) return;
    this.#signalRouter?.attach(supervisor);
    this.#childStarted = true;
    supervisor.whenExited().then(
      (code) => void this.#finish(this.#exitCodeFor(code), `the child exited with status ${code}`, "info"),
      (error: unknown) => void this.#finish(SidecarExit.failure, describeError(error)),
    );
    try {
      await supervisor.start();
    } catch (error: unknown) {
      await this.#finish(SidecarExit.failure, describeError(error));
    }
  }

  /**
   * Under `on-renewal` the child's exits are not the sidecar's: stopped by a signal it exits
   * 0, as spiffe-helper does. The other policies pass the child's status on.
   */
  #exitCodeFor(childStatus: number): number {
    return this.#config.restartPolicy === "on-renewal" && this.#stoppedBySignal ? SidecarExit.ok : childStatus;
  }

  async #finish(code: number, reason: string, level: "info" | "error" = "error"): Promise<void> {
    if (this.#finishing) return;
    this.#finishing = true;
    this.#systemd?.stopping();
    this.#logger[level]({ exitCode: code }, `spiffe-sidecar exiting: ${reason}`);
    this.#resolveExit(code);
  }

  /**
   * Reads the configuration file again (it changed, or SIGHUP came with no child) and applies
   * what changed, live where it can (config-reload.ts). A file that does not parse or fails
   * the environment checks is refused with its file:line:col message; the running
   * configuration stays.
   */
  #reload(trigger: string): Promise<void> {
    this.#reloads = this.#reloads.then(() => this.#reloadOnce(trigger)).catch((error: unknown) => {
      this.#logger.error({ trigger, err: describeError(error) }, "applying the reloaded configuration failed");
    });
    return this.#reloads;
  }

  /**
   * Every reload, even one that changes nothing or is refused, is bracketed by RELOADING=1 and
   * READY=1: systemd's Type=notify-reload sends SIGHUP and waits for both.
   */
  async #reloadOnce(trigger: string): Promise<void> {
    if (this.#finishing) return;
    this.#systemd?.reloading();
    try {
      await this.#readAndApply(trigger);
    } finally {
      this.#systemd?.ready();
    }
  }

  async #readAndApply(trigger: string): Promise<void> {
    let next: SidecarConfig;
    let warnings: string[];
    try {
      next = await loadConfigFile(this.#config.sourceFile, process.env, { daemonMode: this.#config.daemonMode });
      warnings = [...next.warnings, ...(await checkConfigEnvironment(next))];
    } catch (error: unknown) {
      this.#logger.error({ trigger }, `configuration reload refused, the running configuration stays: ${describeError(error)}`);
      return;
    }
    const plan = planConfigReload(this.#config, next);
    if (plan.changes.length === 0) {
      this.#logger.info({ trigger }, "configuration reloaded: nothing changed");
      return;
    }
    for (const warning of warnings) this.#logger.warn(warning);
    await this.#applyReload(plan, trigger);
  }

  /** Only what the plan needs: the streams and the child are left alone unless it says so. */
  async #applyReload(plan: ConfigReloadPlan, trigger: string): Promise<void> {
    const next = plan.applied;
    this.#config = next;
    this.#logger.level = next.logLevel;
    // Before the outputs are written again, so that write is told through the new settings.
    if (plan.rebuildNotifiers) {
      this.#notifiers.close();
      this.#notifiers = buildNotifiers(next, this.#supervisor, this.#logger, this.#pipeline.health);
    }
    if (next.createCertDir) await mkdir(next.certDir, { recursive: true, mode: 0o755 });
    await this.#pipeline.applyConfig(next, { restartStreams: plan.restartStreams });
    const restarted: string[] = plan.restartStreams ? ["agent streams"] : [];
    if (plan.restartChild && this.#supervisor !== undefined) {
      this.#supervisor.setCommand(next.cmd ?? "", next.cmdArgs);
      if (this.#childStarted) {
        restarted.push("child");
        await this.#supervisor.restart({ gracePeriodMs: next.restartGracePeriodMs });
      }
    }
    const changed = plan.changes.map((change) => snakeCase(change.key));
    if (plan.needsSidecarRestart.length > 0) {
      this.#logger.warn(
        { keys: plan.needsSidecarRestart.map(snakeCase) },
        "these settings changed but take effect only when the sidecar is restarted; their running values stay",
      );
    }
    this.#logger.info({ trigger, changed, restarted }, "configuration reloaded");
  }

  async #shutdown(): Promise<void> {
    await this.#stopConfigWatch?.();
    await this.#reloads;
    if (this.#oneShotTimer !== undefined) clearTimeout(this.#oneShotTimer);
    // Streams stop first, so nothing is written or signalled once the exit is decided.
    await this.#pipeline.stop();
    this.#notifiers.close();
    this.#reloadVerifier?.close();
    if (this.#childStarted && this.#supervisor !== undefined) {
      await this.#supervisor.stop({ gracePeriodMs: this.#config.restartGracePeriodMs });
    }
    await this.#healthServer?.close();
    await this.#systemd?.close();
    // Last: until the process exits, a signal is still logged rather than killing it silently.
    this.#signalRouter?.dispose();
  }
}

/** A `SidecarConfig` key as the file spells it (`certFileMode` is `cert_file_mode`). */
function snakeCase(key: string): string {
  return key.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}
