import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { exitOf, scratch, startAgent, waitFor, X509_FILES, type Scratch } from "../sidecar/support.js";
import { sidecarBin } from "../support/run-cli.js";
import { runSidecarIn } from "./cli-support.js";

const packageVersion = (JSON.parse(await readFile(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

describe("spiffe-helper's command line, without an agent", () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sc-flags-"));
  });
  after(() => rm(dir, { recursive: true, force: true }));
  const run = (args: readonly string[]) => runSidecarIn(args, { cwd: dir });

  it("prints the bare version and exits 0 for -version in every spelling, before anything else", async () => {
    for (const args of [["-version"], ["--version"], ["-v"], ["-version=true"], ["-config", "absent.conf", "-version"], ["-daemon-mode=false", "--version"]]) {
      const result = await run(args);
      assert.deepEqual(result, { code: 0, stdout: `${packageVersion}\n`, stderr: "" }, args.join(" "));
    }
  });

  it("prints the usage on stdout and exits 0 for -help, --help, -h and help", async () => {
    for (const args of [["-help"], ["--help"], ["-h"], ["help"], ["-config", "absent.conf", "-help"]]) {
      const result = await run(args);
      assert.equal(result.code, 0, args.join(" "));
      assert.equal(result.stderr, "");
      assert.match(result.stdout, /^spiffe-sidecar: SPIFFE workload identity/);
      assert.match(result.stdout, /spiffe-sidecar \[-config FILE\] \[-daemon-mode=false\]/);
      assert.match(result.stdout, /^Exit codes:$/m);
    }
  });

  it("prints each command's own usage for --help, -help and -h, and exits 0", async () => {
    for (const command of ["run", "once", "validate", "inspect", "demo"]) {
      for (const flag of ["--help", "-help", "-h"]) {
        const result = await run([command, flag]);
        assert.equal(result.code, 0, `${command} ${flag}: ${result.stderr}`);
        assert.ok(result.stdout.startsWith(`usage: spiffe-sidecar ${command}`), `${command} ${flag}: ${result.stdout}`);
      }
    }
    const helpWins = await run(["run", "-c", "absent.yaml", "--help"]);
    assert.equal(helpWins.code, 0);
    assert.match(helpWins.stdout, /^usage: spiffe-sidecar run/);
  });

  it("refuses a bad command line with exit 2 and one message naming what is wrong", async () => {
    const cases: [args: string[], says: RegExp][] = [
      [["-bogus"], /^spiffe-sidecar: flag provided but not defined: -bogus\nrun "spiffe-sidecar -help" for the usage\n$/],
      [["--daemon-mode=maybe"], /invalid boolean value "maybe" for -daemon-mode: use true or false/],
      [["-config"], /flag needs an argument: -config/],
      [["-config", "a.conf", "stray"], /unexpected argument "stray"/],
      [["---config=a"], /bad flag syntax: ---config=a/],
      [["stray"], /^spiffe-sidecar: unknown command "stray"; run "spiffe-sidecar --help" for the list\n$/],
      [["run", "--frob"], /flag provided but not defined: -frob\nusage: spiffe-sidecar run/],
      [["once", "-daemon-mode=false"], /flag provided but not defined: -daemon-mode\nusage: spiffe-sidecar once/],
      [["validate", "-version"], /flag provided but not defined: -version/],
    ];
    for (const [args, says] of cases) {
      const result = await run(args);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.equal(result.stdout, "");
      assert.match(result.stderr, says, args.join(" "));
    }
  });

  it("with no arguments reads ./helper.conf, and without one says so, exit 2", async () => {
    for (const args of [[], ["-daemon-mode=false"], ["run"], ["validate"]]) {
      const result = await run(args);
      assert.equal(result.code, 2, args.join(" "));
      assert.equal(result.stdout, "");
      assert.equal(
        result.stderr,
        `spiffe-sidecar: helper.conf: cannot read the configuration file: no such file (no -config was given, so helper.conf in ${dir} was tried, as spiffe-helper does); pass the file with -config FILE; "spiffe-sidecar -help" shows the usage\n`,
      );
    }
    const named = await run(["-config", "absent.conf"]);
    assert.equal(named.code, 2);
    assert.match(named.stderr, /^spiffe-sidecar: absent\.conf: cannot read the configuration file: no such file; pass its path with -c FILE\n$/);
  });
});

/** helper.conf as JSON, which spiffe-helper's HCL reader and ours both take. */
async function writeHelperConf(where: Scratch, agentAddress: string, extra: Record<string, unknown> = {}, name = "helper.conf"): Promise<void> {
  const config = { agent_address: agentAddress, cert_dir: "certs", ...X509_FILES, ...extra };
  await writeFile(where.file(name), `${JSON.stringify(config, null, 2)}\n`);
}

async function writtenSet(where: Scratch): Promise<boolean> {
  const present = await Promise.all(Object.values(X509_FILES).map((name) => stat(where.cert(name)).then(() => true, () => false)));
  return present.every(Boolean);
}

describe("spiffe-helper's command line against an agent", () => {
  it("with no arguments runs ./helper.conf from the working directory", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where);
    await writeHelperConf(where, agent.address, { daemon_mode: false });
    const result = await runSidecarIn([], { cwd: where.dir, timeoutMs: 20_000 });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.ok(await writtenSet(where), "the X.509 files are in ./certs");
  });

  it("turns daemon mode off with -daemon-mode in every spelling and order, over the file", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where);
    const spellings = [
      ["-daemon-mode=false"],
      ["-daemon-mode", "false"],
      ["--daemon-mode=0"],
      ["--daemon-mode", "F"],
      ["-config", "other.conf", "-daemon-mode", "false"],
      ["-daemon-mode=false", "--config=other.conf"],
      ["-c", "other.conf", "--daemon-mode=false"],
      ["run", "-daemon-mode", "false"],
      ["run", "--config", "other.conf", "-daemon-mode=false"],
    ];
    for (const args of spellings) {
      // Each run must write the files anew; create_cert_dir brings the directory back.
      await rm(where.certDir, { recursive: true, force: true });
      await writeHelperConf(where, agent.address, { daemon_mode: true, create_cert_dir: true });
      await writeHelperConf(where, agent.address, { daemon_mode: true, create_cert_dir: true }, "other.conf");
      // A daemon would never exit: the kill after 20 s turns that into code null.
      const result = await runSidecarIn(args, { cwd: where.dir, timeoutMs: 20_000 });
      assert.equal(result.code, 0, `${args.join(" ")}: ${result.stdout}${result.stderr}`);
      assert.ok(await writtenSet(where), args.join(" "));
    }
  });

  it("with no arguments runs spiffe-helper's own helper.conf as a daemon, until SIGTERM", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where);
    // spiffe-helper's root helper.conf (see test/fixtures/spiffe-helper/README.md), pointed at the fake agent.
    const example = await readFile(new URL("../fixtures/spiffe-helper/helper.conf", import.meta.url), "utf8");
    const pointed = example.replace(/^agent_address = ".*"$/m, `agent_address = "${agent.address}"`);
    assert.notEqual(pointed, example, "the example names an agent_address");
    await writeFile(where.file("helper.conf"), pointed);
    const sidecar = spawn(process.execPath, [sidecarBin], { cwd: where.dir, env: { PATH: process.env["PATH"] }, stdio: "ignore" });
    const exited = exitOf(sidecar);
    t.after(() => void sidecar.kill("SIGKILL"));
    await waitFor("the X.509 files in ./certs", async () => ((await writtenSet(where)) ? true : undefined));
    assert.equal(sidecar.exitCode, null, "still running: daemon mode is the default");
    sidecar.kill("SIGTERM");
    assert.deepEqual(await exited, { code: 0, signal: null });
  });
});
