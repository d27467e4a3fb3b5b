/**
 * The sd_notify protocol (sd_notify(3), systemd.service(5) "Type=notify"): what systemd told us
 * in the environment, and the assignments we send back. Pure: no socket, no clock, no process.
 */

/** Where to send, and how often the watchdog wants a ping; from the service's environment. */
export interface NotifyTarget {
  /** `NOTIFY_SOCKET`: a filesystem path, or `@name` for the abstract namespace. */
  readonly socket: string;
  /** Half of `WATCHDOG_USEC`, as sd_watchdog_enabled(3) recommends; undefined when off. */
  readonly watchdogPingIntervalMs: number | undefined;
}

export type NotifyTargetResult =
  | { readonly kind: "absent" }
  | { readonly kind: "invalid"; readonly reason: string }
  | ({ readonly kind: "target" } & NotifyTarget);

/** Variables that name our notify channel: a child or hook must not inherit them (sd_notify(3) `unset_environment`). */
export const NOTIFY_ENVIRONMENT_KEYS = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] as const;

/**
 * Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID`. The watchdog is ours only when
 * `WATCHDOG_PID` is unset or is `ownPid` (sd_watchdog_enabled(3)): otherwise it belongs to the
 * process that started us.
 */
export function notifyTargetFrom(env: NodeJS.ProcessEnv, ownPid: number): NotifyTargetResult {
  const socket = env["NOTIFY_SOCKET"];
  if (socket === undefined || socket === "") return { kind: "absent" };
  if (!socket.startsWith("/") && !socket.startsWith("@")) {
    return { kind: "invalid", reason: `NOTIFY_SOCKET=${socket} is neither an absolute path nor an @abstract name` };
  }
  return { kind: "target", socket, watchdogPingIntervalMs: watchdogPingIntervalMs(env, ownPid) };
}

function watchdogPingIntervalMs(env: NodeJS.ProcessEnv, ownPid: number): number | undefined {
  const usecText = env["WATCHDOG_USEC"];
  if (usecText === undefined || !/^[1-9][0-9]*$/.test(usecText)) return undefined;
  const pidText = env["WATCHDOG_PID"];
  if (pidText !== undefined && pidText !== "" && pidText !== String(ownPid)) return undefined;
  return Math.max(1, Math.floor(Number(usecText) / 2000));
}

/** One `KEY=value` line of a notification; values never hold a newline, which ends an assignment. */
export type NotifyAssignment = `${string}=${string}`;

export const READY: NotifyAssignment = "READY=1";
export const STOPPING: NotifyAssignment = "STOPPING=1";
export const WATCHDOG: NotifyAssignment = "WATCHDOG=1";

/**
 * `RELOADING=1` with `MONOTONIC_USEC=` (CLOCK_MONOTONIC in microseconds): systemd ≥ 253
 * requires the timestamp from Type=notify-reload services, and older ones ignore it.
 */
export function reloadingMessage(monotonicUsec: bigint): readonly NotifyAssignment[] {
  return ["RELOADING=1", `MONOTONIC_USEC=${monotonicUsec}`];
}

export function statusAssignment(text: string): NotifyAssignment {
  return `STATUS=${text.replace(/[\r\n]+/g, " ")}`;
}

/** What `systemctl status` shows for the X.509-SVID last written. */
export interface WrittenSvid {
  readonly spiffeId: string;
  readonly notAfter: Date;
}

export function svidStatusText(svid: WrittenSvid | undefined): string {
  if (svid === undefined) return "identity files up to date";
  return `serving ${svid.spiffeId}, X.509-SVID valid until ${svid.notAfter.toISOString()}`;
}
