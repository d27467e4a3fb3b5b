import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmod, mkdir, readFile, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { TestContext } from "node:test";
import { startFakeAgent } from "../../src/fakeagent/server.js";
import type { FakeAgent } from "../../src/fakeagent/server.js";
import type { FakeAgentOptions } from "../../src/fakeagent/options.js";
import { sidecarBin } from "../support/run-cli.js";
import { leafSerial, requireTools, sleep, tempDir, waitUntil } from "./support.js";

// The drop-in promise, tested literally: one helper.conf file, read by both programs, each run
// from its own working directory (spiffe-helper resolves a relative cert_dir against it), and
// every file they write compared byte for byte and mode for mode.

const tools = requireTools(["spiffe-helper"]);

const AUDIENCE = "https://api.example.org";

interface Program {
  readonly name: "spiffe-helper" | "spiffe-sidecar";
  readonly file: string;
  readonly args: readonly string[];
}

function programs(configArgs: readonly string[]): Program[] {
  return [
    { name: "spiffe-helper", file: tools.path("spiffe-helper"), args: configArgs },
    { name: "spiffe-sidecar", file: process.execPath, args: [sidecarBin, ...configArgs] },
  ];
}

interface Finished {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly output: string;
}

/** Starts a program in `cwd`; `finished` resolves when it exits, `stop()` sends SIGTERM first. */
function launch(program: Program, cwd: string): { finished: Promise<Finished>; stop: () => Promise<Finished> } {
  const child = spawn(program.file, program.args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const finished = new Promise<Finished>((resolve) => {
    child.once("error", (error) => resolve({ code: null, signal: null, output: `${output}\n${error.message}` }));
    child.once("close", (code, signal) => resolve({ code, signal, output }));
  });
  return {
    finished,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      const result = await finished;
      clearTimeout(timer);
      return result;
    },
  };
}

interface WrittenFile {
  readonly bytes: Buffer;
  readonly mode: string;
}

async function writtenFiles(dir: string): Promise<Map<string, WrittenFile>> {
  const names = (await readdir(dir)).sort();
  const entries = await Promise.all(
    names.map(async (name) => {
      const path = join(dir, name);
      const [bytes, info] = await Promise.all([readFile(path), stat(path)]);
      return [name, { bytes, mode: (info.mode & 0o777).toString(8).padStart(4, "0") }] as const;
    }),
  );
  return new Map(entries);
}

/** Same names, same modes; same bytes except where a fresh fetch must differ (JWT-SVIDs are signed per call). */
function assertSameFiles(
  t: TestContext,
  helper: ReadonlyMap<string, WrittenFile>,
  ours: ReadonlyMap<string, WrittenFile>,
  freshPerFetch: readonly string[] = [],
): void {
  assert.deepEqual([...ours.keys()], [...helper.keys()], "the same file names");
  for (const [name, theirs] of helper) {
    const mine = ours.get(name);
    assert.ok(mine !== undefined);
    const sameBytes = theirs.bytes.equals(mine.bytes);
    t.diagnostic(
      `${name}: mode ${theirs.mode} / ${mine.mode}, ${sameBytes ? "byte-identical" : "different bytes"} (${theirs.bytes.length} B / ${mine.bytes.length} B)`,
    );
    assert.equal(mine.mode, theirs.mode, `${name}: spiffe-sidecar's mode differs from spiffe-helper's`);
    if (!freshPerFetch.includes(name)) assert.ok(sameBytes, `${name} differs between spiffe-helper and spiffe-sidecar`);
  }
}

describe("spiffe-helper and spiffe-sidecar reading the same helper.conf", { skip: tools.skip }, () => {
  let scratch: Awaited<ReturnType<typeof tempDir>>;
  let runs = 0;

  before(async () => {
    scratch = await tempDir("helperconf-");
  });

  after(async () => {
    await scratch?.remove();
  });

  async function startAgent(t: TestContext, options: Partial<FakeAgentOptions>): Promise<FakeAgent> {
    runs += 1;
    const agent = await startFakeAgent({
      socketPath: join(scratch.path, `agent-${runs}.sock`),
      trustDomain: "example.org",
      identities: [{ spiffeId: "spiffe://example.org/app" }],
      x509TtlSeconds: 3600,
      jwtTtlSeconds: 3600,
      ...options,
    });
    t.after(() => agent.stop());
    return agent;
  }

  /** A working directory per program, each with the `certs` folder the config names. */
  async function workDirs(): Promise<Record<Program["name"], string>> {
    const dirs = { "spiffe-helper": join(scratch.path, `helper-${runs}`), "spiffe-sidecar": join(scratch.path, `sidecar-${runs}`) };
    for (const dir of Object.values(dirs)) await mkdir(join(dir, "certs"), { recursive: true });
    return dirs;
  }

  it("one-shot, octal modes, a JWT block: the same files with the same modes", async (t) => {
    const agent = await startAgent(t, {});
    const conf = join(scratch.path, `octal-${runs}.conf`);
    await writeFile(
      conf,
      [
        `# Written as an operator would: leading-zero modes are octal in HCL v1.`,
        `agent_address = "${agent.socketPath}"`,
        `cert_dir = "certs"`,
        `svid_file_name = "svid.pem"`,
        `svid_key_file_name = "svid_key.pem"`,
        `svid_bundle_file_name = "svid_bundle.pem"`,
        `jwt_bundle_file_name = "jwt_bundle.json"`,
        `cert_file_mode = 0640`,
        `key_file_mode = 0400`,
        `jwt_bundle_file_mode = 0604`,
        `jwt_svid_file_mode = 0440`,
        `daemon_mode = false`,
        `jwt_svids = [{`,
        `  jwt_audience = "${AUDIENCE}"`,
        `  jwt_svid_file_name = "api.token"`,
        `}]`,
        ``,
      ].join("\n"),
    );
    const dirs = await workDirs();
    const results = new Map<string, Map<string, WrittenFile>>();
    for (const program of programs(["-config", conf])) {
      const run = await launch(program, dirs[program.name]).finished;
      assert.equal(run.code, 0, `${program.name} exited ${String(run.code)}:\n${run.output}`);
      results.set(program.name, await writtenFiles(join(dirs[program.name], "certs")));
    }
    const helper = results.get("spiffe-helper");
    const ours = results.get("spiffe-sidecar");
    assert.ok(helper !== undefined && ours !== undefined);
    assert.equal(ours.get("svid_key.pem")?.mode, "0400");
    assertSameFiles(t, helper, ours, ["api.token"]);
  });

  it("cmd is launched again at each renewal after it has exited, as spiffe-helper does", async (t) => {
    // 4 s SVIDs renew about every 2 s: a few renewals within the run.
    const agent = await startAgent(t, { x509TtlSeconds: 4 });
    const dirs = await workDirs();
    const conf = join(scratch.path, `relaunch-${runs}.conf`);
    // The MySQL example's shape: a command that applies the new files once and exits.
    const script = join(scratch.path, "record-launch.sh");
    await writeFile(script, `#!/bin/sh\nopenssl x509 -noout -serial -in certs/svid.pem >> launches.log\n`);
    await chmod(script, 0o755);
    await writeFile(
      conf,
      [
        `agent_address = "${agent.socketPath}"`,
        `cmd = "${script}"`,
        `cmd_args = ""`,
        `renew_signal = ""`,
        `cert_dir = "certs"`,
        `svid_file_name = "svid.pem"`,
        `svid_key_file_name = "svid_key.pem"`,
        `svid_bundle_file_name = "svid_bundle.pem"`,
        ``,
      ].join("\n"),
    );
    const running = programs(["-config", conf]).map((program) => ({ program, handle: launch(program, dirs[program.name]) }));
    await sleep(9_000);
    for (const { program, handle } of running) {
      const result = await handle.stop();
      const launches = (await readFile(join(dirs[program.name], "launches.log"), "utf8").catch(() => ""))
        .split("\n")
        .filter((line) => line !== "");
      const serials = new Set(launches);
      t.diagnostic(`${program.name}: cmd launched ${launches.length} times, for ${serials.size} distinct SVIDs; exit ${String(result.code)}`);
      // It stayed up across the child's exits until we stopped it.
      assert.notEqual(result.code, null, `${program.name} was killed:\n${result.output}`);
      assert.ok(launches.length >= 3, `${program.name} launched cmd ${launches.length} times:\n${result.output}`);
      assert.ok(serials.size >= 3, `${program.name}: each launch should see a renewed SVID`);
    }
  });

  it("no arguments in a directory holding spiffe-helper's own helper.conf: the same files", async (t) => {
    const agent = await startAgent(t, {});
    const dirs = await workDirs();
    // spiffe-helper's root helper.conf (test/fixtures/spiffe-helper/README.md), pointed at the fake agent.
    const example = await readFile(new URL("../fixtures/spiffe-helper/helper.conf", import.meta.url), "utf8");
    const pointed = example.replace(/^agent_address = .*$/m, `agent_address = "${agent.socketPath}"`);
    assert.notEqual(pointed, example, "the example names an agent_address to replace");
    const running = [];
    for (const program of programs([])) {
      await writeFile(join(dirs[program.name], "helper.conf"), pointed);
      running.push({ program, handle: launch(program, dirs[program.name]) });
    }
    for (const { program } of running) {
      await waitUntil(`${program.name}'s svid_bundle.pem`, async () =>
        (await stat(join(dirs[program.name], "certs", "svid_bundle.pem")).catch(() => undefined)) === undefined ? undefined : true,
      );
    }
    // Both wrote their set; give a straggling rename a moment before reading the sets.
    await sleep(500);
    const helper = await writtenFiles(join(dirs["spiffe-helper"], "certs"));
    const ours = await writtenFiles(join(dirs["spiffe-sidecar"], "certs"));
    assertSameFiles(t, helper, ours);
    const serial = leafSerial(ours.get("svid.pem")?.bytes ?? Buffer.alloc(0));
    t.diagnostic(`both serve serial ${serial}`);
    const exits = [];
    for (const { program, handle } of running) {
      const result = await handle.stop();
      exits.push(`${program.name} ${String(result.code)}`);
      assert.equal(result.code, 0, `${program.name} on SIGTERM exited ${String(result.code)}:\n${result.output}`);
    }
    t.diagnostic(`SIGTERM: ${exits.join(", ")}`);
  });
});
