import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmod, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { stringify } from "yaml";
import { scratch, spawnSidecar, startAgent, X509_FILES } from "../sidecar/support.js";
import { logMessages, runSidecarIn } from "./cli-support.js";

/** validate, run and once refuse what run cannot work with, in one line naming the key (exit 2). */
describe("validate checks what run needs from the machine", () => {
  let dir = "";
  let certDir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sc-checks-"));
    certDir = join(dir, "certs");
    execFileSync("mkdir", [certDir]);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  let configCount = 0;
  async function writeConfig(config: Record<string, unknown>): Promise<string> {
    const path = join(dir, `config-${configCount++}.yaml`);
    const base = { agent_address: join(dir, "agent.sock"), cert_dir: certDir, ...X509_FILES };
    await writeFile(path, stringify({ ...base, ...config }));
    return path;
  }

  async function assertRefused(command: string, config: Record<string, unknown>, key: string, says: RegExp): Promise<void> {
    const path = await writeConfig(config);
    // Killed after 20 s: a check that blocks (a FIFO) fails instead of stalling the run.
    const result = await runSidecarIn([command, "-c", path], { cwd: dir, timeoutMs: 20_000 });
    assert.equal(result.code, 2, `${command} ${JSON.stringify(config)}: ${result.stdout}${result.stderr}`);
    assert.equal(result.stdout, "", "nothing runs and nothing is logged");
    // Parse-time errors carry the line and column; checks against the machine name the file and key.
    const prefix = `spiffe-sidecar: ${path}`;
    assert.ok(result.stderr.startsWith(prefix), `${prefix}… in ${result.stderr}`);
    const keyPattern = key.replace(/[[\].]/g, "\\$&");
    assert.match(result.stderr.slice(prefix.length), new RegExp(`^(:\\d+:\\d+)?: ${keyPattern}: `));
    assert.match(result.stderr, /^[^\n]+\n$/, "one line");
    assert.match(result.stderr, says);
  }

  it("refuses a missing cert_dir with create_cert_dir: false in validate, run and once, with the fix", async () => {
    for (const command of ["validate", "run", "once"]) {
      await assertRefused(
        command,
        { cert_dir: join(dir, "absent"), create_cert_dir: false },
        "cert_dir",
        /"\S+\/absent" does not exist; create it, or drop create_cert_dir: false to have the sidecar create it \(mode 0755\)/,
      );
    }
  });

  it("refuses a cert_dir that is a file, and an output whose directory is missing", async () => {
    const file = join(dir, "plain-file");
    await writeFile(file, "");
    await assertRefused("validate", { cert_dir: file }, "cert_dir", /is not a directory/);
    await assertRefused("run", { jwt_bundle_file_name: "sub/jwt.json" }, "jwt_bundle_file_name", /"\S+\/certs\/sub" does not exist; create its directory/);
    await assertRefused("validate", { create_cert_dir: true, cert_dir: join(file, "below") }, "cert_dir", /does not exist and cannot be created in "\S+plain-file"/);
  });

  it("refuses a cmd or exec_hook.cmd that is not on PATH or not executable", async () => {
    await assertRefused("validate", { cmd: "no-such-program-sc" }, "cmd", /"no-such-program-sc" is not on PATH \(.+\); give its absolute path/);
    const notExecutable = join(dir, "app.sh");
    await writeFile(notExecutable, "#!/bin/sh\n");
    await chmod(notExecutable, 0o644);
    await assertRefused("run", { cmd: notExecutable }, "cmd", /is not executable; chmod \+x/);
    await assertRefused("validate", { cmd: "./absent-app" }, "cmd", /"\.\/absent-app" does not exist/);
    await assertRefused("validate", { exec_hook: { cmd: "no-such-hook-sc" } }, "exec_hook.cmd", /is not on PATH/);
  });

  it("does not look for cmd when daemon mode is off, since it is ignored then", async () => {
    const path = await writeConfig({ cmd: "no-such-program-sc", daemon_mode: false });
    const result = await runSidecarIn(["validate", "-c", path], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /^warning: cmd is ignored because daemon_mode is false$/m);
  });

  it("refuses a health bind_address that does not resolve or is not this host's", async () => {
    const health = (address: string) => ({ health_checks: { listener_enabled: true, bind_port: 0, bind_address: address } });
    await assertRefused("validate", health("no-such-host.invalid"), "health_checks.bind_address", /"no-such-host\.invalid" does not resolve; give an IP address or host name of this machine/);
    await assertRefused("run", health("198.51.100.7"), "health_checks.bind_address", /"198\.51\.100\.7" is not an address of this host/);
    await assertRefused("validate", health("not an ip"), "health_checks.bind_address", /neither an IP address nor a host name/);
  });

  it("refuses a password file that is a device or a FIFO without reading or blocking", async () => {
    const p12 = { pkcs12_keystore_file_name: "k.p12" };
    await assertRefused("validate", { ...p12, pkcs12_password_file: "/dev/zero" }, "pkcs12_password_file", /cannot read "\/dev\/zero": it is a device, not a regular file/);
    const fifo = join(dir, "password.fifo");
    execFileSync("mkfifo", [fifo]);
    await assertRefused("run", { ...p12, pkcs12_password_file: fifo }, "pkcs12_password_file", /it is a FIFO, not a regular file/);
    const large = join(dir, "password.large");
    await writeFile(large, "x".repeat(5000));
    await assertRefused("validate", { ...p12, pkcs12_password_file: large }, "pkcs12_password_file", /larger than 4096 bytes/);
  });

  it("refuses a NUL in a file name and an exec_hook without cmd", async () => {
    await assertRefused("validate", { svid_key_file_name: "key\0.pem" }, "svid_key_file_name", /"key\\u0000\.pem" contains the control character \\u0000/);
    await assertRefused("validate", { exec_hook: { timeout: "5s" } }, "exec_hook.cmd", /is missing, so the hook would never run/);
  });

  it("only warns about a missing agent socket, and about include_federated_domains", async () => {
    const path = await writeConfig({ include_federated_domains: true });
    const result = await runSidecarIn(["validate", "-c", path], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, new RegExp(`^warning: the agent socket ${join(dir, "agent.sock")} does not exist yet; the sidecar will wait for the agent to create it$`, "m"));
    assert.match(result.stderr, /^warning: include_federated_domains merges every federated trust domain's CAs into svid_bundle_file_name, .* prefer federated_bundle_dir/m);
  });

  it("once against a missing socket names the path first, then the timeout", async () => {
    const path = await writeConfig({ one_shot_timeout: "1s" });
    const result = await runSidecarIn(["once", "-c", path], { cwd: dir });
    assert.equal(result.code, 1, result.stderr);
    const messages = logMessages(result.stdout);
    assert.match(messages[0] ?? "", new RegExp(`^the agent socket ${join(dir, "agent.sock")} does not exist yet`));
    assert.match(messages.at(-1) ?? "", /one-shot timed out after 1s/);
  });
});

describe("create_cert_dir", () => {
  it("by default, once creates a missing cert_dir with mode 0755 and writes into it", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where);
    const certDir = join(where.dir, "new", "certs");
    const path = where.file("create.yaml");
    await writeFile(path, stringify({ agent_address: agent.address, cert_dir: certDir, ...X509_FILES }));
    const validated = await runSidecarIn(["validate", "-c", path], { cwd: where.dir });
    assert.equal(validated.code, 0, validated.stderr);
    const result = await runSidecarIn(["once", "-c", path], { cwd: where.dir, timeoutMs: 20_000 });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.equal((await stat(certDir)).mode & 0o777, 0o755);
    assert.ok((await stat(join(certDir, X509_FILES.svid_file_name))).isFile());
  });
});

/** Local addresses other than 127.0.0.1 that a probe from outside the loopback would use. */
function otherLocalAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((entries) => entries ?? [])
    .filter((entry) => entry.address !== "127.0.0.1" && !entry.address.startsWith("fe80:"))
    .map((entry) => (entry.family === "IPv6" ? `[${entry.address}]` : entry.address));
}

async function answers(host: string, port: string): Promise<boolean> {
  try {
    return (await fetch(`http://${host}:${port}/live`)).status === 200;
  } catch {
    return false;
  }
}

describe("the health listener binds where spiffe-helper's does", () => {
  it("answers on every local address by default, and only on bind_address when set", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where);
    const others = otherLocalAddresses();
    const start = async (bindAddress: string | undefined) => {
      const health = { listener_enabled: true, bind_port: 0, ...(bindAddress === undefined ? {} : { bind_address: bindAddress }) };
      const path = where.file(`health-${bindAddress ?? "all"}.yaml`);
      await writeFile(path, stringify({ agent_address: agent.address, cert_dir: where.certDir, ...X509_FILES, health_checks: health }));
      const sidecar = spawnSidecar(t, ["run", "-c", path]);
      const url = new URL(await sidecar.healthUrl());
      return { sidecar, url };
    };
    const wide = await start(undefined);
    assert.match(wide.url.hostname, /^(\[::\]|0\.0\.0\.0)$/, "bound to every interface");
    assert.ok(await answers("127.0.0.1", wide.url.port));
    for (const address of others) assert.ok(await answers(address, wide.url.port), `answers on ${address}`);
    await wide.sidecar.stop();

    const narrow = await start("127.0.0.1");
    assert.equal(narrow.url.hostname, "127.0.0.1");
    assert.ok(await answers("127.0.0.1", narrow.url.port));
    for (const address of others) assert.equal(await answers(address, narrow.url.port), false, `refused on ${address}`);
    await narrow.sidecar.stop();
  });
});
