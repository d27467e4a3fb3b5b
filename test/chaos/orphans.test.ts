import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import type { TestContext } from "node:test";
import { exitOf, fixtures, readLines, waitFor } from "../fixtures/fixture-helpers.js";
import { sidecarBin } from "../support/run-cli.js";
import { baseConfig, runSidecar, scratch, startAgent, writeConfig, X509_FILES, type SidecarProcess } from "../sidecar/support.js";

/** A process as /proc names it: its PID and its start time, so a reused PID is not mistaken for it. */
interface ProcessIdentity {
  readonly pid: number;
  readonly startTime: string;
}

/** State and start time (fields 3 and 22 of /proc/PID/stat), or undefined once the PID is free. */
async function statOf(pid: number): Promise<{ state: string; startTime: string } | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  if (stat === undefined) return undefined;
  // The command name in field 2 may hold spaces: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0] ?? "", startTime: fields[19] ?? "" };
}

/** A process that has already ended gets a start time no running process has. */
async function identify(pid: number): Promise<ProcessIdentity> {
  return { pid, startTime: (await statOf(pid))?.startTime ?? "ended" };
}

/**
 * Alive means running: a zombie has ended and only waits for whoever adopted it (init, or tini
 * in the image) to reap it, which is not the sidecar's to do once it is gone.
 */
async function running(process: ProcessIdentity): Promise<boolean> {
  const stat = await statOf(process.pid);
  return stat !== undefined && stat.startTime === process.startTime && stat.state !== "Z" && stat.state !== "X";
}

async function gone(what: string, processes: readonly ProcessIdentity[]): Promise<void> {
  await waitFor(what, async () => ((await Promise.all(processes.map(running))).some(Boolean) ? undefined : true));
}

/** A sidecar whose child (forker.mjs) has a grandchild (`sleep 1000`); their PIDs once both run. */
async function sidecarWithFamily(
  t: TestContext,
  extraArgs: readonly string[] = [],
  extra: Record<string, unknown> = {},
): Promise<{ sidecar: SidecarProcess; child: ProcessIdentity; grandchild: ProcessIdentity }> {
  const where = await scratch(t);
  const log = where.file("family.log");
  const agent = await startAgent(t, where, { x509TtlSeconds: 3_600 });
  const config = await writeConfig(where, {
    ...baseConfig(agent, where),
    ...X509_FILES,
    cmd: process.execPath,
    cmd_args: [fixtures.forker, "--log", log, ...extraArgs],
    restart_grace_period: "2s",
    ...extra,
  });
  const sidecar = runSidecar(t, config);
  const [started] = await sidecar.waitForLog("the child's start", (line) => line.msg === "child started");
  const childPid = Number(started?.["pid"]);
  const grandchildPid = await waitFor("the grandchild", async () => {
    const line = (await readLines(log)).find((entry) => entry.startsWith("grandchild "));
    return line === undefined ? undefined : Number(line.slice("grandchild ".length));
  });
  const child = await identify(childPid);
  const grandchild = await identify(grandchildPid);
  t.after(async () => {
    for (const leftover of [child, grandchild]) {
      if (await running(leftover)) process.kill(leftover.pid, "SIGKILL");
    }
  });
  return { sidecar, child, grandchild };
}

describe("orphans: the app and what it starts never outlive the sidecar", () => {
  it("kill -9 of the sidecar: the watchdog ends the child and its grandchild", async (t) => {
    const { sidecar, child, grandchild } = await sidecarWithFamily(t);
    assert.equal(await running(child), true);
    assert.equal(await running(grandchild), true);
    sidecar.process.kill("SIGKILL");
    await sidecar.exited;
    await gone("the child and the grandchild after kill -9 of the sidecar", [child, grandchild]);
  });

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`${signal}: the child and its grandchild are gone when the sidecar has exited`, async (t) => {
      const { sidecar, child, grandchild } = await sidecarWithFamily(t);
      assert.deepEqual(await sidecar.stop(signal), { code: 0, signal: null });
      // The sidecar waits for the whole group before it exits: nothing to wait for here.
      assert.equal(await running(child), false);
      assert.equal(await running(grandchild), false);
    });
  }

  it("the child's own exit: what it left in its process group gets SIGTERM, the sidecar keeps running", async (t) => {
    const { sidecar, grandchild } = await sidecarWithFamily(t, ["--exit-after-fork"]);
    await sidecar.waitForLog("the leftovers' SIGTERM", (line) => line.msg === "the child left processes in its process group; sent them SIGTERM");
    await gone("the grandchild after the child's exit", [grandchild]);
    assert.equal(sidecar.hasExited, false, "under on-renewal the child's exit does not end the sidecar");
  });

  // A PID namespace of our own makes the sidecar PID 1, as in a container started without tini.
  const namespaceProbe = spawnSync("unshare", ["--pid", "--fork", "--kill-child", "--mount-proc", "true"], { stdio: "ignore" });
  const noNamespace =
    namespaceProbe.error !== undefined || namespaceProbe.status !== 0 ? "unshare --pid needs privileges this runner lacks" : false;

  it("as PID 1 without an init, the sidecar says orphans will not be reaped", { skip: noNamespace }, async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where, { x509TtlSeconds: 3_600 });
    const config = await writeConfig(where, { ...baseConfig(agent, where), ...X509_FILES });
    const namespaced = spawn("unshare", ["--pid", "--fork", "--kill-child", "--mount-proc", process.execPath, sidecarBin, "run", "-c", config], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { PATH: process.env["PATH"] },
    });
    let output = "";
    namespaced.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    t.after(async () => {
      namespaced.kill("SIGKILL");
      await exitOf(namespaced);
    });
    await waitFor("the PID 1 warning", () => (output.includes("running as PID 1") ? true : undefined));
    assert.match(output, /orphaned processes will not be reaped.*tini/);
  });
});
