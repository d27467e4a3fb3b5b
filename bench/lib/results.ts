import type { FootprintResult } from "../scenarios/footprint.js";
import type { IdleResult } from "../scenarios/idle.js";
import type { OneShotResult } from "../scenarios/one-shot.js";
import type { RotationLatencyResult } from "../scenarios/rotation-latency.js";
import type { FederationResult, JwtRefreshResult } from "../scenarios/scale.js";
import type { Problem } from "./context.js";

export interface Meta {
  readonly date: string;
  readonly mode: "quick" | "full";
  readonly durationSeconds: number;
  readonly machine: { readonly nproc: number; readonly cpuModel: string; readonly memTotalGiB: number; readonly kernel: string };
  readonly loadAverage: { readonly start: string; readonly end: string };
  readonly node: string;
  readonly ours: string;
  readonly helper: string | null;
}

/** One target of issue 16 checked against this run's numbers. */
export interface TargetCheck {
  readonly target: string;
  readonly value: number;
  readonly limit: string;
  /** Undefined when a side is missing (spiffe-helper not installed, scenario skipped). */
  readonly met: boolean | undefined;
}

/** Everything a run measured; written as JSON, NaN as null. */
export interface BenchResults {
  meta: Meta;
  rotation: RotationLatencyResult[];
  oneShot: OneShotResult[];
  footprint?: FootprintResult;
  idle?: IdleResult;
  federation?: FederationResult;
  jwtOneShot?: OneShotResult;
  jwtRefresh?: JwtRefreshResult;
  targets: TargetCheck[];
  problems: Problem[];
}
