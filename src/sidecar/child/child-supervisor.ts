import type { SpawnOptions } from "node:child_process";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { describeError } from "../../errors.js";
import { ChildStartError, conventionalExitCode, describeChildExit } from "./child-exit.js";
import type { ChildExit } from "./child-exit.js";
import { RestartBackoff, stableAfterMs } from "./restart-backoff.js";
import type { RestartBackoffOptions } from "./restart-backoff.js";
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
 * - `running -> waiting`: under `on-renewal`, the child exited; `renew()` starts it again.
 * - `waiting -> starting`: `renew()`.
 * - `running -> starting`: a signal we sent killed the child: it reloads by restarting.
 * - `running -> exited`: the child exited and the policy does not restart it.
 * - `stopping -> exited`: the child has exited (after SIGKILL at worst).
 * `exited` is final; `whenExited()` then holds the exit status for the sidecar.
 */
export type ChildState = "idle" | "starting" | "running" | "waiting" | "restarting" | "stopping" | "exited";

/**
 * What happens when the child exits on its own (DESIGN §6). `on-renewal` is spiffe-helper's
 * `cmd`: the exit is noted and the next renewal starts it again.
 */
export type RestartPolicy = "on-renewal" | "never" | "on-failure" | "always";

/**
 * The result of `signal()` and `renew()`. `starting` means no signal was needed: the next
 * child is being started and will read the files as they are now. `held`: the child started
 * less than the start-up grace ago; the signal goes out once when the grace ends. `started`:
 * `renew()` started an exited child again. `no-signal`: `renew()` without a renew signal found
 * the child running, and left it alone.
 */
export type SignalDelivery = "delivered" | "held" | "starting" | "started" | "no-signal" | "not-running";

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
  /**
   * The configuration's default is `on-renewal`; the class keeps the plain wrapper's.
   * @default "never"
   */
  readonly restartPolicy?: RestartPolicy;
  /**
   * Delays between restarts under `on-failure` and `always`: doubling, ±20% jitter, capped.
   * @default { initialMs: 1000, maxMs: 30000 }
   */
  readonly restartBackoff?: RestartBackoffOptions;
  /**
   * A child that ran at least this long before exiting is restarted after the shortest delay
   * again, so one crash a day does not inherit the delay of a crash loop long gone.
   * @default max(10000, restartBackoff.maxMs)
   */
  readonly stableAfterMs?: number;
  /**
   * Signals (`signal()`, `renew()`) reaching a child younger than this are held and sent once
   * when it is this old, so an app is not killed by a signal it has no handler for yet. The
   * configuration (`cmd_start_grace`) gives 1 s; the class default sends at once.
   * @default 0
   */
  readonly startGraceMs?: number;
  /**
   * How long the watchdog waits between SIGTERM and SIGKILL when it ends the child's group
   * after the sidecar died, and how long leftovers of an exited child get.
   * @default 10000
   */
  readonly gracePeriodMs?: number;
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

const silentLogger: ChildSupervisorLogger = { info: () => undefined, warn: () => undefined };

/** How often a stop checks whether the child's leftovers have gone. */
const GROUP_POLL_MS = 50;

export function shouldRestart(policy: RestartPolicy, exitCode: number): boolean {
  return policy === "always" || (policy === "on-failure" && exitCode !== 0);
}

/** Signals waiting for the start-up grace of one child to end; each is sent once. */
interface HeldSignals {
  readonly child: RunningChild;
  readonly signals: Set<NodeJS.Signals>;
  readonly timer: NodeJS.Timeout;
}

/**
 * Runs the application as the sidecar's child and stays its parent to the end: every child is
 * waited for, so none is left a zombie, and the sidecar learns its exit status (DESIGN §3.7).
 * The child leads its own process group: stopping it stops its descendants too, whatever an
 * exiting child leaves in the group is stopped after it, and a watchdog ends the group if the
 * sidecar dies without doing so (kill -9 included).
 */
export class ChildSupervisor {
  #cmd: string;
  #args: readonly string[];
  readonly #configSource: string;
  readonly #policy: RestartPolicy;
  readonly #backoff: RestartBackoff;
  readonly #stableAfterMs: number;
  readonly #startGraceMs: number;
  readonly #gracePeriodMs: number;
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
  #held: HeldSignals | undefined;
  /** Signals this child was sent (renewals, passed-through ones), to recognise a death by one. */
  #sentToChild = new Set<NodeJS.Signals>();
  #watchdogWarned = false;

  constructor(options: ChildSupervisorOptions) {
    this.#cmd = options.cmd;
    this.#args = options.args ?? [];
    this.#configSource = options.configSource ?? "the configuration";
    this.#policy = options.restartPolicy ?? "never";
    this.#backoff = new RestartBackoff(options.restartBackoff);
    this.#stableAfterMs = options.stableAfterMs ?? stableAfterMs(this.#backoff.maxMs);
    this.#startGraceMs = options.startGraceMs ?? 0;
    this.#gracePeriodMs = options.gracePeriodMs ?? DEFAULT_GRACE_PERIOD_MS;
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

  /** How many times a child was started again, by the policy, a renewal or `restart()`. */
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

  /**
   * Sends `signal` to the running child, once its start-up grace is over; never throws for a
   * missing one. Used for the renew signal and for signals passed through from the sidecar.
   */
  signal(signal: NodeJS.Signals): SignalDelivery {
    const child = this.#child;
    if (this.#state === "running" && child !== undefined) {
      const heldForMs = this.#startGraceMs - (performance.now() - child.startedAt);
      if (heldForMs > 0) return this.#hold(child, signal, heldForMs);
      if (this.#send(child, signal)) return "delivered";
    }
    if (this.#state === "starting" || this.#state === "restarting") return "starting";
    this.#logger.warn({ signal, state: this.#state }, `cannot send ${signal}: no child is running`);
    return "not-running";
  }

  /**
   * Tells the app about a renewal as spiffe-helper does: a running child gets `signal` (none
   * when it is undefined); under `on-renewal` an exited child is started again instead.
   */
  renew(signal: NodeJS.Signals | undefined): SignalDelivery {
    if (this.#state === "waiting") {
      this.#restarts += 1;
      // A failure settles whenExited(), which ends the sidecar with the reason.
      this.#launch().catch(() => undefined);
      return "started";
    }
    if (signal !== undefined) return this.signal(signal);
    if (this.#state === "running") return "no-signal";
    if (this.#state === "starting" || this.#state === "restarting") return "starting";
    return "not-running";
  }

  /**
   * The command the next start (or restart) runs, after a configuration reload changed it; a
   * running child keeps its own until restarted.
   */
  setCommand(cmd: string, args: readonly string[]): void {
    this.#cmd = cmd;
    this.#args = args;
  }

  /**
   * Restarts the child for an app that cannot reload: SIGTERM to its group, up to
   * `gracePeriodMs` for it to exit, SIGKILL, start again. Resolves once the new child has started.
   */
  restart(options: { readonly gracePeriodMs?: number } = {}): Promise<void> {
    const child = this.#child;
    switch (this.#state) {
      case "idle":
        return this.start();
      case "starting":
        return this.#launching ?? Promise.resolve();
      case "waiting":
        this.#restarts += 1;
        return this.#launch();
      case "restarting":
        if (this.#restartTimer === undefined) return this.#restartInFlight ?? Promise.resolve();
        this.#clearRestartTimer();
        this.#restarts += 1;
        return this.#launch();
      case "running":
        if (child === undefined) return Promise.resolve();
        return this.#restartRunning(child, options.gracePeriodMs ?? this.#gracePeriodMs);
      case "stopping":
      case "exited":
        this.#logger.warn({ state: this.#state }, "restart ignored: the child is being stopped or has exited");
        return Promise.resolve();
    }
  }

  /**
   * Stops the child and its descendants for good (sidecar shutdown): `signal` to its group,
   * grace period, SIGKILL. Resolves with the exit status, like `whenExited()`, once the group
   * is gone. A second call while stopping passes its signal on, so a second Ctrl-C reaches the app.
   */
  stop(options: StopOptions = {}): Promise<number> {
    const request = {
      signal: options.signal ?? "SIGTERM",
      gracePeriodMs: options.gracePeriodMs ?? this.#gracePeriodMs,
    };
    const child = this.#child;
    switch (this.#state) {
      case "idle":
        this.#finish(undefined);
        break;
      case "stopping":
        if (child !== undefined) this.#signalGroup(child, request.signal);
        break;
      case "starting":
        // #adopt() terminates the child as soon as the OS has started it.
        this.#stopRequest = request;
        this.#setState("stopping");
        break;
      case "waiting":
      case "restarting":
      case "running":
        this.#clearHeld();
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
    const group = {
      gracePeriodMs: this.#gracePeriodMs,
      onWatchdogUnavailable: (error: Error) => this.#warnNoWatchdog(error),
    };
    const launching = RunningChild.spawn(this.#cmd, this.#args, this.#spawnOptions, group).then(
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
    this.#sentToChild = new Set();
    void child.exited.then((exit) => this.#onChildExit(child, exit));
    const stopRequest = this.#stopRequest;
    if (this.#state === "stopping" && stopRequest !== undefined) {
      void this.#terminate(child, stopRequest.signal, stopRequest.gracePeriodMs);
      return;
    }
    this.#setState("running");
    this.#logger.info({ pid: child.pid, cmd: this.#cmd }, "child started");
  }

  #hold(child: RunningChild, signal: NodeJS.Signals, heldForMs: number): SignalDelivery {
    const held = this.#held;
    if (held !== undefined && held.child === child) {
      held.signals.add(signal);
      return "held";
    }
    this.#clearHeld();
    const timer = setTimeout(() => {
      this.#held = undefined;
      if (this.#child !== child || this.#state !== "running") return;
      for (const next of signals) this.#send(child, next);
      this.#logger.info({ pid: child.pid, signals: [...signals] }, "start-up grace over: sent the held signal");
    }, heldForMs);
    const signals = new Set<NodeJS.Signals>([signal]);
    this.#held = { child, signals, timer };
    this.#logger.info(
      { pid: child.pid, signal, heldForMs: Math.ceil(heldForMs) },
      `holding ${signal} until the child is ${this.#startGraceMs} ms old (cmd_start_grace)`,
    );
    return "held";
  }

  #clearHeld(): void {
    if (this.#held === undefined) return;
    clearTimeout(this.#held.timer);
    this.#held = undefined;
  }

  #send(child: RunningChild, signal: NodeJS.Signals): boolean {
    if (!child.kill(signal)) return false;
    this.#sentToChild.add(signal);
    return true;
  }

  #onChildExit(child: RunningChild, exit: ChildExit): void {
    if (this.#child !== child) return;
    this.#child = undefined;
    this.#lastExit = exit;
    if (this.#held?.child === child) this.#clearHeld();
    const fields = { pid: child.pid, exitStatus: conventionalExitCode(exit) };
    switch (this.#state) {
      case "stopping":
        // #terminate() settles the group and then finishes.
        this.#logger.info(fields, `child ${describeChildExit(exit)}`);
        return;
      case "running":
        void this.#settleLeftovers(child, { alreadySignalled: false });
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
    if (exit.signal !== null && this.#sentToChild.has(exit.signal)) {
      // The app's answer to a reload signal was to die of it: it reloads by restarting.
      this.#logger.warn(
        fields,
        `child ${describeChildExit(exit)}, a signal the sidecar sent it; starting it again to load the new files`,
      );
      this.#restarts += 1;
      this.#launch().catch(() => undefined);
      return;
    }
    if (this.#policy === "on-renewal") {
      this.#setState("waiting");
      this.#logger.info(
        fields,
        `child ${describeChildExit(exit)}; restart policy "on-renewal" starts it again at the next renewal`,
      );
      return;
    }
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
    this.#clearHeld();
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

  /** `signal` to the child's group, SIGKILL to it after the grace period; waits until it is gone. */
  async #terminate(child: RunningChild, signal: NodeJS.Signals, gracePeriodMs: number): Promise<ChildExit> {
    const deadline = performance.now() + gracePeriodMs;
    this.#signalGroup(child, signal);
    const killTimer = setTimeout(() => {
      this.#logger.warn(
        { pid: child.pid, gracePeriodMs },
        `child did not exit within ${gracePeriodMs} ms of ${signal}; sending SIGKILL`,
      );
      this.#signalGroup(child, "SIGKILL");
    }, gracePeriodMs);
    let exit: ChildExit;
    try {
      exit = await child.exited;
    } finally {
      clearTimeout(killTimer);
    }
    await this.#settleLeftovers(child, { alreadySignalled: true, deadline });
    if (this.#state === "stopping") this.#finish(exit);
    return exit;
  }

  /**
   * After the child exited: whatever it left in its group gets SIGTERM (unless a stop already
   * sent its signal to the whole group) and SIGKILL once the grace period is over, so nothing
   * it started outlives it. Daemons that left the group (setsid) are not ours to stop.
   */
  async #settleLeftovers(
    child: RunningChild,
    options: { readonly alreadySignalled: boolean; readonly deadline?: number },
  ): Promise<void> {
    const leftovers = options.alreadySignalled ? child.groupAlive : this.#signalGroup(child, "SIGTERM");
    if (leftovers) {
      if (!options.alreadySignalled) {
        this.#logger.warn({ pid: child.pid }, "the child left processes in its process group; sent them SIGTERM");
      }
      const deadline = options.deadline ?? performance.now() + this.#gracePeriodMs;
      while (child.groupAlive && performance.now() < deadline) await sleep(GROUP_POLL_MS);
      if (child.groupAlive) {
        this.#logger.warn({ pid: child.pid }, "processes the child left did not exit in time; sending them SIGKILL");
        this.#signalGroup(child, "SIGKILL");
      }
    }
    child.releaseWatchdog();
  }

  /** Signals the child's group, falling back to the child alone if a member may not be signalled. */
  #signalGroup(child: RunningChild, signal: NodeJS.Signals): boolean {
    try {
      return child.killGroup(signal);
    } catch (error: unknown) {
      this.#logger.warn(
        { pid: child.pid, signal },
        `cannot send ${signal} to the child's process group (${describeError(error)}); sending it to the child alone`,
      );
      return child.kill(signal);
    }
  }

  #warnNoWatchdog(error: Error): void {
    if (this.#watchdogWarned) return;
    this.#watchdogWarned = true;
    this.#logger.warn(
      { error: describeError(error) },
      "cannot start the watchdog (/bin/sh): if the sidecar is killed with SIGKILL, the child keeps running",
    );
  }

  #finish(exit: ChildExit | undefined): void {
    this.#clearRestartTimer();
    this.#clearHeld();
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
