import type { ChildSupervisor } from "./child-supervisor.js";

/**
 * Signals that end the sidecar. Each is passed to the child as it came (nginx treats SIGQUIT
 * as a graceful shutdown and SIGTERM as a fast one) and the supervisor stops restarting, so
 * the sidecar exits with the child's status once it is gone (DESIGN §3.7).
 */
export const TERMINATING_SIGNALS = ["SIGTERM", "SIGINT", "SIGQUIT"] as const satisfies readonly NodeJS.Signals[];

/**
 * Signals the sidecar has no use for itself and passes through unchanged, so `kill -HUP` on
 * the sidecar reloads the app as it would without us. SIGUSR1 is left alone: Node reserves it
 * for the inspector.
 */
export const PASS_THROUGH_SIGNALS = ["SIGHUP", "SIGUSR2"] as const satisfies readonly NodeJS.Signals[];

/** The part of `process` this module uses; tests pass an EventEmitter. */
export interface SignalSource {
  on(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

export interface SignalForwardingOptions {
  /**
   * How long the child may take to exit after a terminating signal before SIGKILL.
   * @default 10000
   */
  readonly gracePeriodMs?: number;
  /**
   * Told about the first terminating signal before the child is stopped, so the caller can
   * stop the rest of the sidecar (streams, health server) while the child exits.
   */
  readonly onTerminate?: (signal: NodeJS.Signals) => void;
  /** @default process */
  readonly source?: SignalSource;
}

export interface SignalForwarding {
  /** Removes the listeners; signals then get Node's default handling again. */
  dispose(): void;
}

/**
 * Installs the sidecar's signal handling around a supervised child. While installed, SIGTERM
 * does not kill the sidecar at once: it is forwarded and the caller exits with
 * `supervisor.whenExited()`, after the child is gone, so nothing is orphaned.
 *
 * From a terminal, Ctrl-C reaches the child twice (from the TTY, which signals the whole
 * foreground process group, and from us); apps treat a repeated SIGINT like a single one.
 */
export function forwardSignals(supervisor: ChildSupervisor, options: SignalForwardingOptions = {}): SignalForwarding {
  const source = options.source ?? process;
  const gracePeriodMs = options.gracePeriodMs;
  let terminating = false;

  const onTerminating = (signal: NodeJS.Signals): void => {
    if (!terminating) {
      terminating = true;
      options.onTerminate?.(signal);
    }
    void supervisor.stop({ signal, ...(gracePeriodMs === undefined ? {} : { gracePeriodMs }) });
  };
  const onPassThrough = (signal: NodeJS.Signals): void => {
    supervisor.signal(signal);
  };

  for (const signal of TERMINATING_SIGNALS) source.on(signal, onTerminating);
  for (const signal of PASS_THROUGH_SIGNALS) source.on(signal, onPassThrough);
  return {
    dispose() {
      for (const signal of TERMINATING_SIGNALS) source.off(signal, onTerminating);
      for (const signal of PASS_THROUGH_SIGNALS) source.off(signal, onPassThrough);
    },
  };
}
