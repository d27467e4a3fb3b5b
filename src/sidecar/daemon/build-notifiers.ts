import type { ChildSupervisor } from "../child/child-supervisor.js";
import type { SidecarConfig } from "../config/index.js";
import type { HealthState } from "../health/health-state.js";
import type { Logger } from "../logger.js";
import { RestartChildNotifier, SignalChildNotifier } from "../notify/child-notifiers.js";
import { CoalescingNotifier } from "../notify/coalescing-notifier.js";
import { CompositeNotifier } from "../notify/composite-notifier.js";
import { ExecHookNotifier } from "../notify/exec-hook-notifier.js";
import type { AppNotifier, Notifier, NotifyReason, NotifyResult } from "../notify/notifier.js";
import { PidFileNotifier } from "../notify/pid-file-notifier.js";

export interface SidecarNotifiers {
  /** Every configured way of telling the application, for updates after the first. */
  readonly all: Notifier;
  /**
   * All but the supervised child, for the first complete write: the child is started then,
   * and must not get a reload signal before it has installed its handler.
   */
  readonly external: Notifier;
}

/** Counts each failed outcome in the health metrics; the notifiers themselves never throw. */
class CountingNotifier implements Notifier {
  constructor(
    readonly inner: Notifier,
    readonly health: HealthState,
  ) {}

  async notify(reason: NotifyReason): Promise<NotifyResult> {
    const result = await this.inner.notify(reason);
    this.health.recordNotifyResult(result);
    return result;
  }
}

function childNotifier(config: SidecarConfig, supervisor: ChildSupervisor | undefined): AppNotifier | undefined {
  if (supervisor === undefined) return undefined;
  if (config.notifyAction === "restart") {
    return new RestartChildNotifier(supervisor, { gracePeriodMs: config.restartGracePeriodMs });
  }
  return config.renewSignal === undefined ? undefined : new SignalChildNotifier(supervisor, config.renewSignal);
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
 * One notification per complete update (DESIGN §6): updates arriving while one is being
 * delivered coalesce into a single follow-up.
 */
export function buildNotifiers(
  config: SidecarConfig,
  supervisor: ChildSupervisor | undefined,
  logger: Logger,
  health: HealthState,
): SidecarNotifiers {
  const external = externalNotifiers(config);
  const child = childNotifier(config, supervisor);
  const wrap = (notifiers: AppNotifier[]): Notifier =>
    new CountingNotifier(new CoalescingNotifier(new CompositeNotifier(notifiers, { logger })), health);
  return { all: wrap(child === undefined ? external : [child, ...external]), external: wrap(external) };
}
