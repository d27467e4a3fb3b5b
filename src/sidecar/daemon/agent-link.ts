import type { WorkloadApiError } from "../../workloadapi/errors.js";
import type { HealthState } from "../health/health-state.js";
import type { Logger } from "../logger.js";

/**
 * What the sidecar says about its link to the agent, as an operator reads it: one line when the
 * agent is lost, one when it is back with how long it was gone (issue 13 item 6), and a refusal
 * for good of a stream that had been serving (item 13), which is reported and retried while
 * the app keeps its files. `monotonicMs` is `performance.now()` unless a test injects a clock.
 */
export class AgentLink {
  readonly #logger: Logger;
  readonly #health: HealthState;
  readonly #monotonicMs: () => number;
  #connected = false;
  #lostAtMs: number | undefined;
  readonly #refused = new Set<string>();

  constructor(logger: Logger, health: HealthState, monotonicMs: () => number = () => performance.now()) {
    this.#logger = logger;
    this.#health = health;
    this.#monotonicMs = monotonicMs;
  }

  /** Connected: some stream is open. Only a change is logged; never before the first connection. */
  setConnected(connected: boolean, target: string): void {
    if (connected === this.#connected) return;
    this.#connected = connected;
    this.#health.setAgentConnected(connected);
    if (!connected) {
      this.#lostAtMs = this.#monotonicMs();
      this.#logger.warn({ agent: target }, "lost the Workload API agent; the files on disk are kept, reconnecting");
      return;
    }
    if (this.#lostAtMs === undefined) return;
    const downSeconds = ((this.#monotonicMs() - this.#lostAtMs) / 1000).toFixed(1);
    this.#lostAtMs = undefined;
    this.#logger.info({ agent: target, downSeconds: Number(downSeconds) }, `the Workload API agent is back after ${downSeconds} s`);
  }

  /**
   * A stream that had delivered ended with a permanent status (InvalidArgument, Unimplemented):
   * the agent changed under a workload that holds valid files. Not ready, counted, logged; the
   * watch retries at its longest delay and the app keeps running on its files until they expire.
   */
  refused(method: string, error: WorkloadApiError, retryInMs: number): void {
    this.#refused.add(method);
    this.#health.setAgentRefusal(method, error.message);
    this.#logger.error(
      { method, status: error.statusName, retryInMs },
      `${error.message}; the app keeps running on the files on disk until they expire, and readiness is false`,
    );
  }

  /** A good update on `method`: a refusal it had is over. */
  delivered(method: string): void {
    if (!this.#refused.delete(method)) return;
    this.#health.setAgentRefusal(method, undefined);
    this.#logger.info({ method }, `the Workload API serves ${method} again`);
  }
}
