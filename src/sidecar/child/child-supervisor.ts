import type { SpawnOptions } from "node:child_process";
import { performance } from "node:perf_hooks";
import { Backoff } from "../../workloadapi/backoff.js";
import type { BackoffOptions } from "../../workloadapi/backoff.js";
import { ChildStartError, conventionalExitCode, describeChildExit } from "./child-exit.js";
import type { ChildExit } from "./child-exit.js";
import { RunningChild } from "./running-child.js";

/**
 * Where the supervised child is in its life. Transitions:
 * - `idle -> starting`: `start()`.
 * - `starting -> running`: the OS started the process.
 * - `starting -> exited`: it could not be started (`ChildStartError`; `whenExited()` rejects).
 * - `running -> restarting`: the child exited and the policy restarts it (after a backoff
 *   delay), or `restart()` was called (SIGTERM, grace period, SIGKILL).
 * - `restarting -> starting`: the delay is over, or the old child has exited.
 * - `starting | running | restarting -> stopping`: `stop()`; nothing is restarted any more.
 * - `running -> exited`: the child exited and the policy does not restart it.
 * - `stopping -> exited`: the child has exited (after SIGKILL at worst).
 * `exited` is final; `whenExited()` then holds the exit status for the sidecar.
 */
export type ChildState = "idle" | "starting" | "running" | "restarting" | "stopping" | "exited";

/** What happens when the child exits on its own (DESIGN §6). */
export type RestartPolicy = "never" | "on-failure" | "always";

/**
 * The result of `signal()`. `starting` means no signal was needed: the next child is being
 * started and will read the files as they are now.
 */
export type SignalDelivery = "delivered" | "starting" | "not-running";

/** The part of a pino logger the supervisor uses. */
export interface ChildSupervisorLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface ChildSupervisorOptions {
  /** The program to run (spiffe-helper's `cmd`); looked up on PATH, never run by a shell. */
  readonly cmd: string;
  /**
   * Its arguments (spiffe-helper's `cmd_args`, already split into words).
   * @default []
   */
  readonly args?: readonly string[];
  /**
   * Where `cmd` was configured, named in the message when it cannot be started.
   * @default "the configuration"
   */
  readonly configSource?: string;
  /** @default "never" */
  readonly restartPolicy?: RestartPolicy;
  /**
   * Delays between restarts under `on-failure` and `always`.
   * @default { initialMs: 1000, maxMs: 30000 }
   */
  readonly restartBackoff?: BackoffOptions;
  /**
   * A child that ran at least this long before exiting is restarted after the shortest delay
   * again, so one crash a day does not inherit the delay of a crash loop long gone.
   * @default 10000
   */
  readonly stableAfterMs?: number;
  /** @default process.cwd() */
  readonly cwd?: string;
  /** @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * The child's stdin, stdout and stderr are the sidecar's own, so the app logs as if it ran
   * alone; `ignore` is for tests.
   * @default "inherit"
   */
  readonly stdio?: "inherit" | "ignore";
  readonly logger?: ChildSupervisorLogger;
  /** Called on every transition, after the state has changed. */
  readonly onStateChange?: (state: ChildState, previous: ChildState) => void;
}

export interface StopOptions {
  /**
   * How long the child may take to exit after `signal` before it gets SIGKILL.
   * @default 10000
   */
  readonly gracePeriodMs?: number;
  /**
   * The first signal sent; a forwarded SIGINT stays SIGINT.
   * @default "SIGTERM"
   */
  readonly signal?: NodeJS.Signals;
}

export const DEFAULT_GRACE_PERIOD_MS = 10_000;
export const DEFAULT_STABLE_AFTER_MS = 10_000;

const silentLogger: ChildSupervisorLogger = { info: () => undefined, warn: () => undefined };

export function shouldRestart(policy: RestartPolicy, exitCode: number): boolean {
  return policy === "always" || (policy === "on-failure" && exitCode !== 0);
}

/**
 * Runs the application as the sidecar's child and stays its parent to the end: every child is
 * waited for, so none is left a zombie, and the sidecar learns its exit status (DESIGN §3.7).
 */
export class ChildSupervisor {
  readonly #cmd: string;
  readonly #args: readonly string[];
  readonly #configSource: string;
  readonly #policy: RestartPolicy;
  readonly #backoff: Backoff;
  readonly #stableAfterMs: number;
  readonly #spawnOptions: SpawnOptions;
  readonly #logger: ChildSupervisorLogger;
  readonly #onStateChange: ((state: ChildState, previous: ChildState) => void) | undefined;
  readonly #exited: Promise<number>;
  #resolveExited: (exitCode: number) => void = () => undefined;
  #rejectExited: (error: unknown) => void = () => undefined;
  #state: ChildState = "idle";
  #child: RunningChild | undefined;
  #lastExit: ChildExit | undefined;
  #restarts = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  #launching: Promise<void> | undefined;
  #restartInFlight: Promise<void> | undefined;
  #stopRequest: Required<StopOptions> | undefined;

  constructor(options: ChildSupervisorOptions) {
    this.#cmd = options.cmd;
    this.#args = options.args ?? [];
    this.#configSource = options.configSource ?? "the configuration";
    this.#policy = options.restartPolicy ?? "never";
    this.#backoff = new Backoff(options.restartBackoff);
    this.#stableAfterMs = options.stableAfterMs ?? DEFAULT_STABLE_AFTER_MS;
    this.#spawnOptions = {
      stdio: options.stdio ?? "inherit",
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      ...(options.env === undefined ? {} : { env: options.env }),
    };
    this.#logger = options.logger ?? silentLogger;
    this.#onStateChange = options.onStateChange;
    this.#exited = new Promise<number>((resolve, reject) => {
      this.#resolveExited = resolve;
      this.#rejectExited = reject;
    });
    // A start failure is reported through start()/restart() too; nobody has to await this one.
    this.#exited.catch(() => undefined);
  }

  get state(): ChildState {
    return this.#state;
  }

  /** The current child's PID, while there is one. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** How many times a child was started again, by the policy or by `restart()`. */
  get restarts(): number {
    return this.#restarts;
  }

  /**
   * Settles when the supervisor reaches `exited`: with the exit status the sidecar should exit
   * with (the child's code, or 128 + signal number), or rejected with `ChildStartError`.
   */
  whenExited(): Promise<number> {
    return this.#exited;
  }

  /** Starts the child; resolves once the OS has started it. Later calls do nothing. */
  start(): Promise<void> {
    if (this.#state !== "idle") return this.#launching ?? Promise.resolve();
    return this.#launch();
  }

  /** Sends `signal` (the renew signal) to the running child; never throws for a missing one. */
  signal(signal: NodeJS.Signals): SignalDelivery {
    const child = this.#child;
    if (this.#state === "running" && child !== undefined && child.kill(signal)) return "delivered";
    if (this.#state === "starting" || this.#state === "restarting") return "starting";
    this.#logger.warn({ signal, state: this.#state }, `cannot send ${signal}: no child is running`);
    return "not-running";
  }

  /**
   * Restarts the child for an app that cannot reload: SIGTERM, up to `gracePeriodMs` for it to
   * exit, SIGKILL, start again. Resolves once the new child has started.
   */
  restart(options: { readonly gracePeriodMs?: number } = {}): Promise<void> {
    const child = this.#child;
    switch (this.#state) {
      case "idle":
        return this.start();
      case "starting":
        return this.#launching ?? Promise.resolve();
      case "restarting":
        if (this.#restartTimer === undefined) return this.#restartInFlight ?? Promise.resolve();
        this.#clearRestartTimer();
        this.#restarts += 1;
        return this.#launch();
      case "running":
        if (child === undefined) return Promise.resolve();
        return this.#restartRunning(child, options.gracePeriodMs ?? DEFAULT_GRACE_PERIOD_MS);
      case "stopping":
      case "exited":
        this.#logger.warn({ state: this.#state }, "restart ignored: the child is being stopped or has exited");
        return Promise.resolve();
    }
  }

  /**
   * Stops the child for good (sidecar shutdown): `signal`, grace period, SIGKILL. Resolves with
   * the exit status, like `whenExited()`. A second call while stopping passes its signal on, so
   * a second Ctrl-C reaches the app.
   */
  stop(options: StopOptions = {}): Promise<number> {
    const request = {
      signal: options.signal ?? "SIGTERM",
      gracePeriodMs: options.gracePeriodMs ?? DEFAULT_GRACE_PERIOD_MS,
    };
    const child = this.#child;
    switch (this.#state) {
      case "idle":
        this.#finish(undefined);
        break;
      case "stopping":
        child?.kill(request.signal);
        break;
      case "starting":
        // #adopt() terminates the child as soon as the OS has started it.
        this.#stopRequest = request;
        this.#setState("stopping");
        break;
      case "restarting":
      case "running":
        if (child === undefined) {
          this.#finish(this.#lastExit);
          break;
        }
        this.#stopRequest = request;
        this.#setState("stopping");
        void this.#terminate(child, request.signal, request.gracePeriodMs);
        break;
      case "exited":
        break;
    }
    return this.#exited;
  }

  #launch(): Promise<void> {
    this.#setState("starting");
    const launching = RunningChild.spawn(this.#cmd, this.#args, this.#spawnOptions).then(
      (child) => {
        this.#launching = undefined;
        this.#adopt(child);
      },
      (error: unknown) => {
        this.#launching = undefined;
        const startError = new ChildStartError(this.#cmd, this.#configSource, error);
        this.#setState("exited");
        this.#rejectExited(startError);
        throw startError;
      },
    );
    this.#launching = launching;
    return launching;
  }

  #adopt(child: RunningChild): void {
    this.#child = child;
    void child.exited.then((exit) => this.#onChildExit(child, exit));
    const stopRequest = this.#stopRequest;
    if (this.#state === "stopping" && stopRequest !== undefined) {
      void this.#terminate(child, stopRequest.signal, stopRequest.gracePeriodMs);
      return;
    }
    this.#setState("running");
    this.#logger.info({ pid: child.pid, cmd: this.#cmd }, "child started");
  }

  #onChildExit(child: RunningChild, exit: ChildExit): void {
    if (this.#child !== child) return;
    this.#child = undefined;
    this.#lastExit = exit;
    const fields = { pid: child.pid, exitStatus: conventionalExitCode(exit) };
    switch (this.#state) {
      case "stopping":
        this.#logger.info(fields, `child ${describeChildExit(exit)}`);
        this.#finish(exit);
        return;
      case "running":
        this.#afterUnexpectedExit(child, exit);
        return;
      default:
        // "restarting": restart() is waiting for this exit and starts the next child itself.
        return;
    }
  }

  #afterUnexpectedExit(child: RunningChild, exit: ChildExit): void {
    const exitStatus = conventionalExitCode(exit);
    const fields = { pid: child.pid, exitStatus, restartPolicy: this.#policy };
    if (!shouldRestart(this.#policy, exitStatus)) {
      this.#logger.info(fields, `child ${describeChildExit(exit)}; restart policy "${this.#policy}" ends the sidecar`);
      this.#finish(exit);
      return;
    }
    if (performance.now() - child.startedAt >= this.#stableAfterMs) this.#backoff.reset();
    const delayMs = this.#backoff.next();
    this.#setState("restarting");
    this.#logger.warn({ ...fields, delayMs }, `child ${describeChildExit(exit)}; restarting in ${delayMs} ms`);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      this.#restarts += 1;
      // A failure has already settled whenExited(); nothing else waits for this start.
      this.#launch().catch(() => undefined);
    }, delayMs);
  }

  #restartRunning(child: RunningChild, gracePeriodMs: number): Promise<void> {
    this.#setState("restarting");
    const flight = (async () => {
      const exit = await this.#terminate(child, "SIGTERM", gracePeriodMs);
      this.#logger.info({ pid: child.pid }, `child ${describeChildExit(exit)} for a restart`);
      if (this.#state !== "restarting") return;
      this.#restarts += 1;
      await this.#launch();
    })().finally(() => {
      this.#restartInFlight = undefined;
    });
    this.#restartInFlight = flight;
    return flight;
  }

  async #terminate(child: RunningChild, signal: NodeJS.Signals, gracePeriodMs: number): Promise<ChildExit> {
    child.kill(signal);
    const killTimer = setTimeout(() => {
      this.#logger.warn(
        { pid: child.pid, gracePeriodMs },
        `child did not exit within ${gracePeriodMs} ms of ${signal}; sending SIGKILL`,
      );
      child.kill("SIGKILL");
    }, gracePeriodMs);
    try {
      return await child.exited;
    } finally {
      clearTimeout(killTimer);
    }
  }

  #finish(exit: ChildExit | undefined): void {
    this.#clearRestartTimer();
    this.#setState("exited");
    this.#resolveExited(exit === undefined ? 0 : conventionalExitCode(exit));
  }

  #clearRestartTimer(): void {
    if (this.#restartTimer === undefined) return;
    clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
  }

  #setState(next: ChildState): void {
    const previous = this.#state;
    if (previous === next) return;
    this.#state = next;
    this.#onStateChange?.(next, previous);
  }
}
