import { describeError } from "../../errors.js";
import type { ChildSupervisor } from "../child/child-supervisor.js";
import { NotifyError, notifyFailed, notifySucceeded } from "./notifier.js";
import type { AppNotifier, NotifyResult } from "./notifier.js";

/**
 * Sends `renew_signal` to the child the sidecar started from `cmd` (spiffe-helper's
 * behaviour). A child that is being started needs no signal: it reads the files as they are.
 */
export class SignalChildNotifier implements AppNotifier {
  readonly kind = "signal-child";
  readonly #supervisor: Pick<ChildSupervisor, "signal" | "pid">;
  readonly #signal: NodeJS.Signals;

  constructor(supervisor: Pick<ChildSupervisor, "signal" | "pid">, signal: NodeJS.Signals) {
    this.#supervisor = supervisor;
    this.#signal = signal;
  }

  notify(): Promise<NotifyResult> {
    return Promise.resolve(this.#send());
  }

  #send(): NotifyResult {
    const pid = this.#supervisor.pid;
    let delivery: ReturnType<ChildSupervisor["signal"]>;
    try {
      delivery = this.#supervisor.signal(this.#signal);
    } catch (error: unknown) {
      const message = `cannot send ${this.#signal} to the child: ${describeError(error)}; check renew_signal`;
      return notifyFailed(new NotifyError(this.kind, "signal-failed", message, { cause: error }));
    }
    switch (delivery) {
      case "delivered":
        return notifySucceeded(this.kind, `sent ${this.#signal} to child ${pid ?? "?"}`);
      case "starting":
        return notifySucceeded(this.kind, "the child is being started and will read the new files");
      case "not-running":
        return notifyFailed(
          new NotifyError(this.kind, "no-child", `cannot send ${this.#signal}: the child from cmd is not running`),
        );
    }
  }
}

/**
 * For apps that cannot reload: restarts the child (SIGTERM, grace period, SIGKILL, start
 * again; DESIGN §6).
 */
export class RestartChildNotifier implements AppNotifier {
  readonly kind = "restart-child";
  readonly #supervisor: Pick<ChildSupervisor, "restart" | "state">;
  readonly #gracePeriodMs: number | undefined;

  constructor(
    supervisor: Pick<ChildSupervisor, "restart" | "state">,
    options: { readonly gracePeriodMs?: number } = {},
  ) {
    this.#supervisor = supervisor;
    this.#gracePeriodMs = options.gracePeriodMs;
  }

  async notify(): Promise<NotifyResult> {
    const state = this.#supervisor.state;
    if (state === "stopping" || state === "exited") {
      return notifyFailed(new NotifyError(this.kind, "no-child", `cannot restart the child: it is ${state}`));
    }
    try {
      await this.#supervisor.restart(this.#gracePeriodMs === undefined ? {} : { gracePeriodMs: this.#gracePeriodMs });
      return notifySucceeded(this.kind, "restarted the child");
    } catch (error: unknown) {
      const message = `cannot restart the child: ${describeError(error)}`;
      return notifyFailed(new NotifyError(this.kind, "restart-failed", message, { cause: error }));
    }
  }
}
