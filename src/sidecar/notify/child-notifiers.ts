import { describeError } from "../../errors.js";
import type { ChildSupervisor } from "../child/child-supervisor.js";
import { NotifyError, notifyFailed, notifySucceeded } from "./notifier.js";
import type { AppNotifier, NotifyResult } from "./notifier.js";

/**
 * Tells the child the sidecar started from `cmd` about a renewal, as spiffe-helper does: a
 * running child gets `renew_signal` (nothing when it is unset); under `restart_policy:
 * on-renewal` a child that has exited is started again. A child that is being started needs
 * no signal: it reads the files as they are.
 */
export class SignalChildNotifier implements AppNotifier {
  readonly kind = "signal-child";
  readonly #supervisor: Pick<ChildSupervisor, "renew" | "pid">;
  readonly #signal: NodeJS.Signals | undefined;

  constructor(supervisor: Pick<ChildSupervisor, "renew" | "pid">, signal: NodeJS.Signals | undefined) {
    this.#supervisor = supervisor;
    this.#signal = signal;
  }

  notify(): Promise<NotifyResult> {
    return Promise.resolve(this.#send());
  }

  #send(): NotifyResult {
    const pid = this.#supervisor.pid;
    const signal = this.#signal ?? "a signal";
    let delivery: ReturnType<ChildSupervisor["renew"]>;
    try {
      delivery = this.#supervisor.renew(this.#signal);
    } catch (error: unknown) {
      const message = `cannot send ${signal} to the child: ${describeError(error)}; check renew_signal`;
      return notifyFailed(new NotifyError(this.kind, "signal-failed", message, { cause: error }));
    }
    switch (delivery) {
      case "delivered":
        return notifySucceeded(this.kind, `sent ${signal} to child ${pid ?? "?"}`);
      case "held":
        return notifySucceeded(this.kind, `${signal} to child ${pid ?? "?"} goes out when its start-up grace ends`);
      case "starting":
        return notifySucceeded(this.kind, "the child is being started and will read the new files");
      case "started":
        return notifySucceeded(this.kind, "the child had exited; started it again (restart_policy: on-renewal)");
      case "no-signal":
        return notifySucceeded(this.kind, "the child is running and no renew_signal is set: nothing sent");
      case "not-running":
        return notifyFailed(
          new NotifyError(this.kind, "no-child", `cannot send ${signal}: the child from cmd is not running`),
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
