import type { ChildSupervisor } from "../child/child-supervisor.js";
import type { SidecarConfig } from "../config/index.js";
import type { HealthState } from "../health/health-state.js";
import type { Logger } from "../logger.js";
import { RestartChildNotifier, SignalChildNotifier } from "../notify/child-notifiers.js";
import { CoalescingNotifier } from "../notify/coalescing-notifier.js";
import { CompositeNotifier, logNotifyOutcome } from "../notify/composite-notifier.js";
import { ExecHookNotifier } from "../notify/exec-hook-notifier.js";
import type { AppNotifier, Notifier, NotifyOptions, NotifyReason, NotifyResult } from "../notify/notifier.js";
import { NotifyOnFilter } from "../notify/notify-on.js";
import { PidFileNotifier } from "../notify/pid-file-notifier.js";

export interface SidecarNotifiers {
  /** Every configured way of telling the application, for updates after the first. */
  readonly all: Notifier;
  /**
   * All but the supervised child, for the first complete write: the child is started then,
   * and must not get a reload signal before it has installed its handler.
   */
  readonly external: Notifier;
  /** At shutdown: drops notifications still waiting for their interval. */
  close(): void;
}

/**
 * Logs and counts (health metrics) each outcome of one notifier once per time it really ran:
 * it sits under the coalescing queue, whose merged callers share one result.
 */
class ReportingNotifier implements AppNotifier {
  readonly kind: AppNotifier["kind"];

  constructor(
    readonly inner: AppNotifier,
    readonly logger: Logger,
    readonly health: HealthState,
  ) {
    this.kind = inner.kind;
  }

  async notify(reason: NotifyReason, options?: NotifyOptions): Promise<NotifyResult> {
    const result = await this.inner.notify(reason, options);
    for (const outcome of result.outcomes) logNotifyOutcome(this.logger, outcome, reason);
    this.health.recordNotifyResult(result);
    return result;
  }
}

function childNotifier(config: SidecarConfig, supervisor: ChildSupervisor | undefined): AppNotifier | undefined {
  if (supervisor === undefined) return undefined;
  if (config.notifyAction === "restart") {
    return new RestartChildNotifier(supervisor, { gracePeriodMs: config.restartGracePeriodMs });
  }
  // Under on-renewal a renewal also starts an exited child again, renew_signal or not.
  if (config.renewSignal === undefined && config.restartPolicy !== "on-renewal") return undefined;
  return new SignalChildNotifier(supervisor, config.renewSignal);
}

function externalNotifiers(config: SidecarConfig): AppNotifier[] {
  const notifiers: AppNotifier[] = [];
  if (config.pidFileName !== undefined && config.renewSignal !== undefined) {
    notifiers.push(new PidFileNotifier({ pidFilePath: config.pidFileName, signal: config.renewSignal }));
  }
  if (config.execHook !== undefined) {
    notifiers.push(
      new ExecHookNotifier({
        command: config.execHook.cmd,
        args: config.execHook.args,
        timeoutMs: config.execHook.timeoutMs,
        configKey: "exec_hook",
      }),
    );
  }
  return notifiers;
}

/**
 * One notification per complete update (DESIGN §6), and at most one per notify_min_interval:
 * each notifier has its own coalescing queue, so updates arriving while it is busy, or within
 * the interval, coalesce into a single follow-up for the newest files, and a slow notifier
 * (the pid file's retries) never delays another. `all` and `external` share the queues.
 * Only updates that change a kind `notify_on` lists reach them.
 */
export function buildNotifiers(
  config: SidecarConfig,
  supervisor: ChildSupervisor | undefined,
  logger: Logger,
  health: HealthState,
): SidecarNotifiers {
  const queues: CoalescingNotifier[] = [];
  const coalesce = (notifier: AppNotifier): AppNotifier => {
    const queue = new CoalescingNotifier(new ReportingNotifier(notifier, logger, health), {
      minIntervalMs: config.notifyMinIntervalMs,
    });
    queues.push(queue);
    return { kind: notifier.kind, notify: (reason) => queue.notify(reason) };
  };
  const external = externalNotifiers(config).map(coalesce);
  const childNotifierFound = childNotifier(config, supervisor);
  const child = childNotifierFound === undefined ? undefined : coalesce(childNotifierFound);
  // notify_on is applied before the queues: a skipped update neither waits nor starts an interval.
  const wrap = (notifiers: AppNotifier[]): Notifier =>
    new NotifyOnFilter(new CompositeNotifier(notifiers), config.notifyOn, logger);
  return {
    all: wrap(child === undefined ? external : [child, ...external]),
    external: wrap(external),
    close: () => {
      for (const queue of queues) queue.close();
    },
  };
}
