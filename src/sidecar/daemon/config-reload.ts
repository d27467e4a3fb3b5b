import { Secret, type SidecarConfig } from "../config/index.js";
import { wantsJwtBundles, wantsX509 } from "./output-plan.js";

/**
 * What applying a changed key takes: `live` re-renders the outputs or rebuilds the notifiers
 * in place; `streams` reopens the Workload API streams (and JWT refreshes); `child` restarts
 * the supervised child with its new command; `sidecar` cannot be applied by a reload, so the
 * running value stays until the sidecar is restarted. `none` keys are bookkeeping.
 */
export type ReloadEffect = "live" | "streams" | "child" | "sidecar" | "none";

/**
 * The keys a change of which is more than a re-render or a rebuild of the notifiers. Every other
 * key is `live`: output names, modes, owners and formats are read at each write, notify
 * settings when the notifiers are built, the log level by the logger.
 */
const KEY_EFFECTS: Readonly<Partial<Record<keyof SidecarConfig, ReloadEffect>>> = {
  sourceFile: "none",
  warnings: "none",
  agentAddress: "streams",
  // The hint picks the SVID out of each X.509 context, and is sent with every JWT fetch.
  hint: "streams",
  cmd: "child",
  cmdArgs: "child",
  // The supervisor, the writer and the health listener are built once from these.
  daemonMode: "sidecar",
  writeLayout: "sidecar",
  healthChecks: "sidecar",
  restartPolicy: "sidecar",
  restartBackoffMaxMs: "sidecar",
  restartGracePeriodMs: "sidecar",
  cmdStartGraceMs: "sidecar",
  oneShotTimeoutMs: "sidecar",
  // The reload verifier is built once, beside the notifiers it follows.
  verifyReload: "sidecar",
};

/** The keys whose change rebuilds the notifiers. */
const NOTIFY_KEYS: readonly (keyof SidecarConfig)[] = [
  "pidFileName",
  "renewSignal",
  "execHook",
  "notifyAction",
  "notifyOn",
  "notifyMinIntervalMs",
];

export interface ConfigChange {
  /** The camelCase key of `SidecarConfig`. */
  readonly key: keyof SidecarConfig;
  readonly effect: Exclude<ReloadEffect, "none">;
}

export interface ConfigReloadPlan {
  /** Every key whose value differs, with what it takes; empty when the file changed nothing. */
  readonly changes: readonly ConfigChange[];
  /** The configuration to run from now on: the new one, but keys only a restart applies keep their running value. */
  readonly applied: SidecarConfig;
  readonly restartStreams: boolean;
  readonly restartChild: boolean;
  readonly rebuildNotifiers: boolean;
  /** Changed keys a reload cannot apply, for the warning. */
  readonly needsSidecarRestart: readonly (keyof SidecarConfig)[];
}

function sameValue(current: unknown, next: unknown): boolean {
  if (current instanceof Secret || next instanceof Secret) {
    return current instanceof Secret && next instanceof Secret && current.reveal() === next.reveal();
  }
  return JSON.stringify(current) === JSON.stringify(next);
}

/** The effect of one changed key; adding or removing the child altogether is a sidecar restart. */
function effectOf(key: keyof SidecarConfig, current: SidecarConfig, next: SidecarConfig): ReloadEffect {
  if (key === "cmd" && (current.cmd === undefined) !== (next.cmd === undefined)) return "sidecar";
  return KEY_EFFECTS[key] ?? "live";
}

/**
 * What changed between the running configuration and a reloaded one, and what applying it
 * takes. Pure: the caller does the restarts the plan asks for, and nothing else.
 */
export function planConfigReload(current: SidecarConfig, next: SidecarConfig): ConfigReloadPlan {
  const changes: ConfigChange[] = [];
  const kept: Partial<Record<keyof SidecarConfig, unknown>> = {};
  const keys = new Set([...Object.keys(current), ...Object.keys(next)] as (keyof SidecarConfig)[]);
  for (const key of keys) {
    if (sameValue(current[key], next[key])) continue;
    const effect = effectOf(key, current, next);
    if (effect === "none") continue;
    changes.push({ key, effect });
    if (effect === "sidecar") kept[key] = current[key];
  }
  // A child added or removed takes a sidecar restart, and its arguments wait with it.
  const childAddedOrRemoved = "cmd" in kept;
  if (childAddedOrRemoved) kept["cmdArgs"] = current.cmdArgs;
  const applied = { ...next, ...kept } as SidecarConfig;
  // A stream that was not needed (or no longer is) opens or closes with the outputs.
  const streamsNeeded = wantsX509(current) !== wantsX509(applied) || wantsJwtBundles(current) !== wantsJwtBundles(applied);
  const has = (effect: ReloadEffect): boolean => changes.some((change) => change.effect === effect);
  return {
    changes,
    applied,
    restartStreams: has("streams") || streamsNeeded,
    restartChild: has("child") && !childAddedOrRemoved,
    rebuildNotifiers: changes.some((change) => NOTIFY_KEYS.includes(change.key)),
    needsSidecarRestart: changes.filter((change) => change.effect === "sidecar").map((change) => change.key),
  };
}
