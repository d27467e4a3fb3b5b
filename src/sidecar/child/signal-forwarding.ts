import type { ChildSupervisor } from "./child-supervisor.js";

/**
 * Signals that end the sidecar when it has a child. Each is passed to the child's process
 * group as it came (nginx treats SIGQUIT as a graceful shutdown and SIGTERM as a fast one) and
 * the supervisor stops restarting, so the sidecar exits once the child is gone (DESIGN §3.7).
 * Without a child only SIGTERM and SIGINT end the sidecar: a stray SIGQUIT must not.
 */
export const TERMINATING_SIGNALS = ["SIGTERM", "SIGINT", "SIGQUIT"] as const satisfies readonly NodeJS.Signals[];

/**
 * Signals the sidecar has no use for itself and passes to the child unchanged, so `kill -HUP`
 * on the sidecar reloads the app as it would without us. A listener on SIGUSR1 also keeps Node
 * from opening its inspector port on it.
 */
export const PASS_THROUGH_SIGNALS = ["SIGHUP", "SIGUSR1", "SIGUSR2"] as const satisfies readonly NodeJS.Signals[];

/**
 * Signals whose default action would end the sidecar with no word, and which mean nothing to
 * it: each is logged and otherwise ignored (issue 13, item 4). SIGPIPE is ignored by Node
 * already; SIGSEGV and its kind cannot be caught; SIGTSTP, SIGTTIN and SIGTTOU keep their job
 * control meaning (the sidecar stops like any process, and SIGCONT resumes it).
 */
export const IGNORED_SIGNALS = [
  "SIGALRM",
  "SIGVTALRM",
  "SIGPROF",
  "SIGIO",
  "SIGPWR",
  "SIGXCPU",
  "SIGXFSZ",
] as const satisfies readonly NodeJS.Signals[];

/**
 * V8's sampling profiler (`--cpu-prof`, `--prof`) ticks with SIGPROF: a listener on it takes
 * the ticks from V8 (an empty profile) and removing it at exit resets SIGPROF to its default,
 * so the next tick killed the sidecar before the profile was written (2026-12-06, `exit null
 * SIGPROF` under `BENCH_NODE_ARGS=--cpu-prof`).
 */
export function profilerOwnsSigprof(execArgv: readonly string[], nodeOptions = ""): boolean {
  // Only the flags that start a profiler: `--cpu-prof-interval` and the like merely configure
  // one, and Node 24's test runner passes every option's default to its children.
  return [...execArgv, ...nodeOptions.split(/\s+/)].some((arg) => arg === "--prof" || arg === "--cpu-prof");
}

export const HANDLED_SIGNALS: readonly NodeJS.Signals[] = [
  ...TERMINATING_SIGNALS,
  ...PASS_THROUGH_SIGNALS,
  ...IGNORED_SIGNALS.filter((signal) => signal !== "SIGPROF" || !profilerOwnsSigprof(process.execArgv, process.env["NODE_OPTIONS"])),
];

/** The part of `process` this module uses; tests pass an EventEmitter. */
export interface SignalSource {
  on(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

/** The part of a pino logger the router uses. */
export interface SignalLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface SignalRouterOptions {
  /**
   * Told about the first SIGTERM or SIGINT (or SIGQUIT with a child) before the child is
   * stopped, so the caller can stop the rest of the sidecar (streams, health server) while the
   * child exits, or exit at once when there is none.
   */
  readonly onTerminate: (signal: NodeJS.Signals) => void;
  /**
   * Told about a SIGHUP while no child is attached: the sidecar reloads its configuration.
   * Without it such a SIGHUP is logged and ignored. With a child, SIGHUP is the child's.
   */
  readonly onReload?: (signal: NodeJS.Signals) => void;
  /**
   * How long the child may take to exit after a terminating signal before SIGKILL.
   * @default the supervisor's
   */
  readonly gracePeriodMs?: number;
  readonly logger?: SignalLogger;
  /** @default process */
  readonly source?: SignalSource;
}

const silentLogger: SignalLogger = { info: () => undefined, warn: () => undefined };

function isOneOf<T extends string>(value: string, list: readonly T[]): value is T {
  return (list as readonly string[]).includes(value);
}

/**
 * The sidecar's signal handling, installed for its whole life: every catchable signal whose
 * default would end it is handled on purpose and logged, none kills it silently. Before a
 * child is attached (or with none configured) SIGTERM and SIGINT shut it down and the rest are
 * ignored; once `attach()`ed, signals are forwarded to the child as `forwardSignals` says.
 */
export class SignalRouter {
  readonly #options: SignalRouterOptions;
  readonly #source: SignalSource;
  readonly #logger: SignalLogger;
  #supervisor: ChildSupervisor | undefined;
  #terminating = false;

  constructor(options: SignalRouterOptions) {
    this.#options = options;
    this.#source = options.source ?? process;
    this.#logger = options.logger ?? silentLogger;
    for (const signal of HANDLED_SIGNALS) this.#source.on(signal, this.#onSignal);
  }

  /** From now on signals reach this child; call it before the child is started. */
  attach(supervisor: ChildSupervisor): void {
    this.#supervisor = supervisor;
  }

  /** Removes the listeners; signals then get Node's default handling again. */
  dispose(): void {
    for (const signal of HANDLED_SIGNALS) this.#source.off(signal, this.#onSignal);
  }

  readonly #onSignal = (signal: NodeJS.Signals): void => {
    const supervisor = this.#supervisor;
    if (supervisor === undefined) {
      this.#withoutChild(signal);
      return;
    }
    if (isOneOf(signal, TERMINATING_SIGNALS)) {
      if (this.#terminating) {
        this.#logger.info({ signal }, `received ${signal} again: passing it to the child`);
      } else {
        this.#terminating = true;
        this.#logger.info({ signal }, `received ${signal}: stopping the child and its process group, then the sidecar`);
        this.#options.onTerminate(signal);
      }
      const gracePeriodMs = this.#options.gracePeriodMs;
      void supervisor.stop({ signal, ...(gracePeriodMs === undefined ? {} : { gracePeriodMs }) });
      return;
    }
    if (isOneOf(signal, PASS_THROUGH_SIGNALS)) {
      this.#logger.info({ signal, pid: supervisor.pid }, `received ${signal}: passing it to the child`);
      supervisor.signal(signal);
      return;
    }
    this.#logger.warn({ signal }, `received ${signal}: ignored, it means nothing to the sidecar`);
  };

  #withoutChild(signal: NodeJS.Signals): void {
    if (signal === "SIGTERM" || signal === "SIGINT") {
      if (this.#terminating) {
        this.#logger.info({ signal }, `received ${signal} again: already shutting down`);
        return;
      }
      this.#terminating = true;
      this.#options.onTerminate(signal);
      return;
    }
    const onReload = this.#options.onReload;
    if (signal === "SIGHUP" && onReload !== undefined) {
      this.#logger.info({ signal }, `received ${signal}: there is no child to pass it to, so the sidecar reloads its configuration`);
      onReload(signal);
      return;
    }
    const why =
      signal === "SIGHUP"
        ? "ignored: there is no child to pass it to, and the sidecar does not reload its configuration"
        : "ignored: there is no child to pass it to";
    this.#logger.warn({ signal }, `received ${signal}: ${why}`);
  }
}

export interface SignalForwardingOptions {
  /** @default the supervisor's grace period */
  readonly gracePeriodMs?: number;
  /** Told about the first terminating signal before the child is stopped. */
  readonly onTerminate?: (signal: NodeJS.Signals) => void;
  readonly logger?: SignalLogger;
  /** @default process */
  readonly source?: SignalSource;
}

export interface SignalForwarding {
  /** Removes the listeners; signals then get Node's default handling again. */
  dispose(): void;
}

/**
 * Installs signal handling around a supervised child. While installed, SIGTERM does not kill
 * the sidecar at once: it is forwarded to the child's group and the caller exits with
 * `supervisor.whenExited()`, after the child is gone, so nothing is orphaned. The child leads
 * its own process group, outside the terminal's foreground group, so Ctrl-C reaches it once,
 * through us.
 */
export function forwardSignals(supervisor: ChildSupervisor, options: SignalForwardingOptions = {}): SignalForwarding {
  const router = new SignalRouter({
    onTerminate: options.onTerminate ?? (() => undefined),
    ...(options.gracePeriodMs === undefined ? {} : { gracePeriodMs: options.gracePeriodMs }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(options.source === undefined ? {} : { source: options.source }),
  });
  router.attach(supervisor);
  return router;
}
