import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";

/** How much of each scenario to run. */
export interface BenchCounts {
  readonly rotations: number;
  readonly warmupRotations: number;
  readonly oneShotRuns: number;
  readonly oneShotOnDisk: boolean;
  /** RSS and CPU checkpoints, in rotations; growth is measured between the last two. */
  readonly footprintCheckpoints: readonly number[];
  readonly idleSeconds: number;
  readonly federatedTrustDomains: number;
  readonly federatedRotations: number;
  readonly jwtAudiences: number;
  readonly jwtOneShotRuns: number;
  readonly jwtRefreshSeconds: number;
}

export const FULL_COUNTS: BenchCounts = {
  rotations: 300,
  warmupRotations: 10,
  oneShotRuns: 30,
  oneShotOnDisk: true,
  footprintCheckpoints: [1000, 10_000],
  idleSeconds: 60,
  federatedTrustDomains: 1000,
  federatedRotations: 20,
  jwtAudiences: 50,
  jwtOneShotRuns: 10,
  jwtRefreshSeconds: 30,
};

export const QUICK_COUNTS: BenchCounts = {
  rotations: 40,
  warmupRotations: 3,
  oneShotRuns: 6,
  oneShotOnDisk: false,
  footprintCheckpoints: [250, 1000],
  idleSeconds: 20,
  federatedTrustDomains: 1000,
  federatedRotations: 3,
  jwtAudiences: 50,
  jwtOneShotRuns: 2,
  jwtRefreshSeconds: 8,
};

/** Something that shows a tool is functionally broken, not merely slow. */
export interface Problem {
  readonly tool: string;
  readonly scenario: string;
  readonly message: string;
}

export interface BenchContext {
  readonly counts: BenchCounts;
  /** The spiffe-helper binary, or undefined when it is not installed (its columns stay empty). */
  readonly helper: string | undefined;
  readonly problems: Problem[];
  log(message: string): void;
}

export function reportProblem(context: BenchContext, tool: string, scenario: string, message: string): void {
  context.problems.push({ tool, scenario, message });
  context.log(`  problem: ${tool} in ${scenario}: ${message}`);
}

/** A fresh directory under `parent`, removed after `body` whatever happens. */
export async function withTempDir<T>(parent: string, prefix: string, body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(parent, prefix));
  try {
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A value the harness itself stored; a missing one is a bug in the harness, not in a tool. */
export function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`bench: ${what} is missing`);
  return value;
}

/** The contender whose turn it is: the order turns by one each round, so none is always first. */
export function turnOf<T>(items: readonly T[], round: number, turn: number): T {
  return must(items[(round + turn) % items.length], "contender");
}
