import type { BenchAgent } from "./bench-agent.js";
import { ProbeTimeoutError } from "./probe-channel.js";
import type { ProbeChannel } from "./probe-channel.js";
import { elapsedMs } from "./stats.js";

export const ROTATION_TIMEOUT_MS = 10_000;

export type StepOutcome =
  | { readonly kind: "ok"; readonly latencyMs: number; readonly readMs: number }
  | { readonly kind: "bad"; readonly error: string }
  | { readonly kind: "timeout" };

/** Tallies of what the probe saw, beside the latencies. */
export class StepTally {
  readonly latenciesMs: number[] = [];
  readonly readsMs: number[] = [];
  readonly errors: string[] = [];
  timeouts = 0;
  /** Reports nobody asked for: a second signal for one update. */
  extraReloads = 0;

  add(outcome: StepOutcome): void {
    if (outcome.kind === "ok") {
      this.latenciesMs.push(outcome.latencyMs);
      this.readsMs.push(outcome.readMs);
    } else if (outcome.kind === "bad") {
      this.errors.push(outcome.error);
    } else {
      this.timeouts += 1;
    }
  }

  get failures(): number {
    return this.errors.length + this.timeouts;
  }
}

/** Waits for the probe's report on an update that started at `from`. */
export async function awaitReload(probe: ProbeChannel, from: bigint): Promise<StepOutcome> {
  try {
    const reload = await probe.nextReload(ROTATION_TIMEOUT_MS);
    if (reload.error !== undefined) return { kind: "bad", error: reload.error };
    return { kind: "ok", latencyMs: elapsedMs(from, reload.t), readMs: elapsedMs(reload.signalled, reload.t) };
  } catch (error: unknown) {
    if (error instanceof ProbeTimeoutError) return { kind: "timeout" };
    return { kind: "bad", error: error instanceof Error ? error.message : String(error) };
  }
}

/** One rotation through a sidecar: the agent pushes, the sidecar writes and signals, the probe reads. */
export async function sidecarRotation(agent: BenchAgent, probe: ProbeChannel, tally: StepTally): Promise<StepOutcome> {
  tally.extraReloads += probe.drain().length;
  const pushedAt = await agent.rotate();
  const outcome = await awaitReload(probe, pushedAt);
  tally.add(outcome);
  return outcome;
}
