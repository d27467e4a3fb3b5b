import { spawn, spawnSync } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { setTimeout as delay } from "node:timers/promises";
import type { FakeAgent } from "../../src/fakeagent/server.js";
import { inspectX509Svid } from "../../src/sidecar/inspect/x509-report.js";
import { checkKeyPair } from "../../src/sidecar/writer/key-pair-check.js";
import type { KeyPairVerdict } from "../../src/sidecar/writer/file-writer.js";
import { exitOf } from "../fixtures/fixture-helpers.js";
import { runCli, sidecarBin } from "../support/run-cli.js";
import { type Scratch, writeConfig, X509_FILES } from "../sidecar/support.js";

/** `CHAOS_LONG=1` runs the long forms (hundreds of kills, longer hammers) instead of the CI ones. */
export const CHAOS_LONG = process.env["CHAOS_LONG"] === "1";

/** Why a test that needs `command` cannot run here, or undefined when it can. */
export function missingTool(command: string): string | undefined {
  const probe = spawnSync(command, ["-V"], { stdio: "ignore" });
  return probe.error === undefined ? undefined : `${command} is not installed: ${probe.error.message}`;
}

/**
 * Asks the fake agent for a new X.509-SVID again and again until `stop()`, so the sidecar
 * writes many times a second: a kill or a read then lands on a write far more often.
 */
export function pumpRotations(agent: FakeAgent, pauseMs = 20): { stop: () => Promise<number> } {
  let running = true;
  let rotations = 0;
  const loop = (async () => {
    while (running) {
      await agent.rotateNow().catch(() => undefined);
      rotations++;
      await delay(pauseMs);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return rotations;
    },
  };
}

/** The X.509 outputs of a files-layout config: what `inspect` judges after each kill. */
export function x509Config(agentAddress: string, where: Scratch, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { agent_address: agentAddress, cert_dir: where.certDir, log_level: "debug", ...X509_FILES, ...extra };
}

/**
 * The sidecar's own start-up repair and nothing else: `once` against an agent socket that does
 * not exist runs the repair, finds no agent and gives up after a few milliseconds, so the files
 * on disk afterwards are exactly what the repair left.
 */
export async function runStartupRepair(where: Scratch, extra: Record<string, unknown> = {}): Promise<string> {
  const config = await writeConfig(
    where,
    x509Config(`unix://${where.file("no-agent.sock")}`, where, { one_shot_timeout: "50ms", ...extra }),
    "repair.yaml",
  );
  const result = await runCli(sidecarBin, ["once", "-c", config], { PATH: process.env["PATH"] });
  if (!result.stdout.includes("the sidecar will wait for the agent") && result.code !== 1) {
    throw new Error(`the repair run ended unexpectedly (${String(result.code)}):\n${result.stdout}${result.stderr}`);
  }
  return result.stdout;
}

/** What the files on disk are after a kill or a repair. */
export interface SetVerdict {
  /** The cert/key pair as node:crypto sees it. */
  readonly pair: KeyPairVerdict;
  /** `inspect`'s verdict over cert, key and bundle: `VALID` or the rule that failed. */
  readonly inspect: string;
  /** Our temp files still in cert_dir. */
  readonly temps: number;
}

export async function judgeSet(where: Scratch): Promise<SetVerdict> {
  const pair = checkKeyPair({ certPath: where.cert(X509_FILES.svid_file_name), keyPath: where.cert(X509_FILES.svid_key_file_name) });
  const temps = (await readdir(where.certDir)).filter((name) => name.includes(".tmp-")).length;
  if (pair.verdict !== "match") return { pair: pair.verdict, inspect: pair.verdict, temps };
  const [cert, key, bundle] = await Promise.all(
    [X509_FILES.svid_file_name, X509_FILES.svid_key_file_name, X509_FILES.svid_bundle_file_name].map((name) =>
      readFile(where.cert(name), "utf8"),
    ),
  );
  const report = inspectX509Svid({ certificatesPem: cert ?? "", privateKeyPem: key ?? "", bundlePem: bundle ?? "", now: new Date() });
  return { pair: pair.verdict, inspect: report.verdict.valid ? "VALID" : report.verdict.rule, temps };
}

/**
 * `spiffe-sidecar run -c <config>` under strace, which SIGKILLs it as it enters its `killAt`-th
 * rename(2): a kill -9 at an exact point of a write, the rename itself not done. Resolves with
 * the exit once the sidecar is dead (or has exited by itself before reaching that rename).
 */
export async function runUntilKilledAtRename(
  config: string,
  killAt: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const renames = "rename,renameat,renameat2";
  const strace = ["-f", "-qq", "-o", "/dev/null", "-e", `trace=${renames}`, "-e", `inject=${renames}:signal=KILL:when=${killAt}`];
  const child = spawn("strace", [...strace, process.execPath, sidecarBin, "run", "-c", config], {
    env: { PATH: process.env["PATH"] },
    stdio: ["ignore", "ignore", "ignore"],
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  try {
    return await exitOf(child);
  } finally {
    clearTimeout(timer);
  }
}
