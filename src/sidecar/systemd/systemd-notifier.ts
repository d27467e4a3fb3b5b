import type { Logger } from "../logger.js";
import {
  NOTIFY_ENVIRONMENT_KEYS,
  READY,
  reloadingMessage,
  statusAssignment,
  STOPPING,
  svidStatusText,
  WATCHDOG,
  notifyTargetFrom,
  type NotifyTarget,
  type WrittenSvid,
} from "./notify-protocol.js";
import { SystemdNotifySender } from "./systemd-notify-sender.js";

/** How long shutdown waits for STOPPING=1 (and anything before it) to reach systemd. */
const CLOSE_FLUSH_MS = 6_000;

/**
 * The sidecar's side of `Type=notify`: READY=1 once every output exists, STATUS= on each
 * update, RELOADING=1/READY=1 around a config reload, STOPPING=1 on shutdown, and WATCHDOG=1
 * every half `WATCHDOG_USEC`. Every method returns at once and never throws.
 */
export class SystemdNotifier {
  readonly #sender: SystemdNotifySender;
  #watchdogTimer: NodeJS.Timeout | undefined;
  #ready = false;
  /** After STOPPING=1 nothing else is sent: a late write must not announce READY=1 again. */
  #stopping = false;
  #lastStatus: string | undefined;

  /**
   * A notifier when `env` names a notify socket, else undefined. The notify variables are then
   * removed from `env`, so neither the child nor an exec hook can speak for the unit (which has
   * `NotifyAccess=all`, see the sender).
   */
  static fromEnvironment(logger: Logger, env: NodeJS.ProcessEnv = process.env): SystemdNotifier | undefined {
    const target = notifyTargetFrom(env, process.pid);
    if (target.kind === "absent") return undefined;
    for (const key of NOTIFY_ENVIRONMENT_KEYS) delete env[key];
    if (target.kind === "invalid") {
      logger.warn({ reason: target.reason }, "NOTIFY_SOCKET ignored: systemd will not hear from the sidecar");
      return undefined;
    }
    return new SystemdNotifier(target, logger);
  }

  constructor(target: NotifyTarget, logger: Logger) {
    this.#sender = new SystemdNotifySender(target.socket, logger);
    const intervalMs = target.watchdogPingIntervalMs;
    // The ping proves that timers still fire, i.e. the event loop is not stuck: it stays cheap
    // (one queued message) and is unref'd, since it must not keep a finished sidecar alive.
    if (intervalMs !== undefined) {
      this.#watchdogTimer = setInterval(() => this.#sender.send([WATCHDOG]), intervalMs).unref();
      this.#sender.send([WATCHDOG]);
    }
    logger.info({ notifySocket: target.socket, watchdogPingMs: intervalMs }, "systemd notification enabled");
  }

  /** After a complete write: READY=1 with the status the first time, a STATUS= line later. */
  svidWritten(svid: WrittenSvid | undefined): void {
    if (this.#stopping) return;
    this.#lastStatus = svidStatusText(svid);
    if (this.#ready) {
      this.#sender.send([statusAssignment(this.#lastStatus)]);
      return;
    }
    this.#ready = true;
    this.ready();
  }

  /**
   * Before applying a new configuration; `ready()` when done, whether it applied or not. Before
   * the first complete write it sends nothing: systemd only reloads a running unit.
   */
  reloading(): void {
    if (!this.#ready || this.#stopping) return;
    this.#sender.send([...reloadingMessage(process.hrtime.bigint() / 1000n), statusAssignment("reloading the configuration")]);
  }

  /**
   * READY=1 with the last status, ending a reload. Before the first complete write it sends
   * nothing: the unit is not ready until every output exists.
   */
  ready(): void {
    if (!this.#ready || this.#stopping) return;
    this.#sender.send([READY, statusAssignment(this.#lastStatus ?? svidStatusText(undefined))]);
  }

  /** Once, when the exit is decided or a terminating signal arrives. */
  stopping(): void {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#sender.send([STOPPING, statusAssignment("stopping")]);
  }

  /**
   * Stops the watchdog and waits (bounded) for what is queued, STOPPING=1 last. The pings go on
   * until here: the child's graceful stop may outlast a watchdog period.
   */
  async close(): Promise<void> {
    this.#stopWatchdog();
    await this.#sender.flush(CLOSE_FLUSH_MS);
  }

  #stopWatchdog(): void {
    if (this.#watchdogTimer !== undefined) clearInterval(this.#watchdogTimer);
    this.#watchdogTimer = undefined;
  }
}
