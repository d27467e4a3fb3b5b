import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runSidecarIn } from "../cli/cli-support.js";
import { runCli, sidecarBin, type CliResult } from "../support/run-cli.js";

const X509 = "svid_file_name: svid.pem\nsvid_key_file_name: svid_key.pem\nsvid_bundle_file_name: svid_bundle.pem\n";

interface BadConfig {
  readonly name: string;
  readonly yaml: string;
  /** The key the line names, right after the file and position; "" for the whole file. */
  readonly key: string;
  readonly says: RegExp;
  readonly command: "validate" | "run" | "once";
  readonly env?: NodeJS.ProcessEnv;
}

const badConfigs: readonly BadConfig[] = [
  { name: "misspelt key", command: "validate", yaml: `${X509}svid_file_nam: x\n`, key: "svid_file_nam", says: /unknown key "svid_file_nam"; did you mean "svid_file_name"\?$/ },
  { name: "misspelt nested key", command: "run", yaml: `${X509}health_checks:\n  bind_prt: 8081\n`, key: "health_checks.bind_prt", says: /did you mean "bind_port"\?/ },
  { name: "misspelt key in a jwt_svids entry", command: "once", yaml: "jwt_svids:\n  - jwt_audience: a\n    jwt_file_name: a.token\n", key: "jwt_svids[0].jwt_file_name", says: /did you mean "jwt_svid_file_name"\?/ },
  { name: "mode that is not octal", command: "validate", yaml: `${X509}cert_file_mode: "0999"\n`, key: "cert_file_mode", says: /"0999" is not an octal file mode/ },
  { name: "unknown signal", command: "run", yaml: `${X509}renew_signal: SIGHUPP\n`, key: "renew_signal", says: /"SIGHUPP" is not a signal/ },
  { name: "port out of range", command: "run", yaml: `${X509}health_checks: { listener_enabled: true, bind_port: 70000 }\n`, key: "health_checks.bind_port", says: /70000 is not a TCP port/ },
  { name: "incomplete X.509 set", command: "once", yaml: "svid_file_name: svid.pem\nsvid_bundle_file_name: b.pem\n", key: "svid_key_file_name", says: /set all of svid_file_name, svid_key_file_name, svid_bundle_file_name, or none/ },
  { name: "pid_file_name without renew_signal", command: "run", yaml: `${X509}pid_file_name: app.pid\n`, key: "pid_file_name", says: /add e\.g\. renew_signal: SIGHUP/ },
  { name: "duration without a unit", command: "once", yaml: `${X509}one_shot_timeout: 60\n`, key: "one_shot_timeout", says: /60 has no unit; write a duration such as one_shot_timeout: 60s/ },
  { name: "unknown restart_policy", command: "run", yaml: `${X509}cmd: app\nrestart_policy: sometimes\n`, key: "restart_policy", says: /"sometimes" is not one of "on-renewal", "never", "on-failure", "always"/ },
  { name: "restart_policy without cmd", command: "validate", yaml: `${X509}restart_policy: always\n`, key: "restart_policy", says: /no cmd to restart; set cmd/ },
  { name: "unknown log_level", command: "run", yaml: `${X509}log_level: verbose\n`, key: "log_level", says: /"verbose" is not one of/ },
  { name: "unknown jwt_bundle_format", command: "validate", yaml: `${X509}jwt_bundle_format: jwk\n`, key: "jwt_bundle_format", says: /write one of "spiffe-helper", "jwks", "spiffe-bundle-map"/ },
  { name: "unknown write_layout", command: "run", yaml: `${X509}write_layout: atomic\n`, key: "write_layout", says: /write one of "files", "directory"/ },
  { name: "yes for a boolean", command: "run", yaml: `${X509}daemon_mode: yes\n`, key: "daemon_mode", says: /expected true or false, got the string "yes"/ },
  { name: "unusable agent_address", command: "run", yaml: `agent_address: http://agent:8080\n${X509}`, key: "agent_address", says: /"http:\/\/agent:8080" is not usable/ },
  { name: "unusable SPIFFE_ENDPOINT_SOCKET", command: "run", yaml: X509, key: "agent_address", says: /"http:\/\/x:1" \(from SPIFFE_ENDPOINT_SOCKET\) is not usable/, env: { SPIFFE_ENDPOINT_SOCKET: "http://x:1" } },
  { name: "unknown file_owner", command: "run", yaml: `${X509}file_owner: nobody-here\n`, key: "file_owner", says: /no user named "nobody-here" in \/etc\/passwd/ },
  { name: "exec_hook without cmd", command: "validate", yaml: `${X509}exec_hook: { args: [-v] }\n`, key: "exec_hook.cmd", says: /is missing, so the hook would never run/ },
  { name: "NUL in a file name", command: "validate", yaml: `${X509}jwt_bundle_file_name: "jwt\\0.json"\n`, key: "jwt_bundle_file_name", says: /contains the control character \\u0000; remove it from the name/ },
  { name: "unclosed quote in cmd_args", command: "run", yaml: `${X509}cmd: app\ncmd_args: "-g 'daemon off;"\n`, key: "cmd_args", says: /unclosed ' quote/ },
  { name: "duplicate key", command: "validate", yaml: `${X509}hint: a\nhint: b\n`, key: "hint", says: /is written twice in the same map; keep one of them/ },
  { name: "keystore without a password", command: "once", yaml: `${X509}pkcs12_keystore_file_name: k.p12\n`, key: "pkcs12_keystore_file_name", says: /without a password/ },
  { name: "no output at all", command: "run", yaml: "hint: internal\n", key: "", says: /no output is configured/ },
];

describe("bad configurations through the real CLI", () => {
  let dir: string;
  const results = new Map<string, { path: string; result: CliResult }>();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sc-config-"));
    // Four at a time: each is a fresh process, and none touches an agent.
    const queue = badConfigs.map((bad, index) => ({ bad, index }));
    const worker = async (): Promise<void> => {
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
        const path = join(dir, `bad-${next.index}.yaml`);
        await writeFile(path, next.bad.yaml);
        // A config that is accepted after all would run forever; the kill turns that into a failure.
        const result = await runSidecarIn([next.bad.command, "-c", path], { cwd: process.cwd(), env: next.bad.env ?? {}, timeoutMs: 20_000 });
        results.set(next.bad.name, { path, result });
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
  });

  after(() => rm(dir, { recursive: true, force: true }));

  it("has at least 15 cases", () => {
    assert.ok(badConfigs.length >= 15);
  });

  for (const bad of badConfigs) {
    it(`${bad.command}: ${bad.name} exits 2 with one line naming ${bad.key === "" ? "the file" : bad.key}`, () => {
      const entry = results.get(bad.name);
      assert.ok(entry !== undefined);
      const { path, result } = entry;
      assert.equal(result.code, 2, result.stderr);
      assert.equal(result.stdout, "", "nothing runs and nothing is logged");
      assert.match(result.stderr, /^[^\n]+\n$/, `exactly one line: ${JSON.stringify(result.stderr)}`);
      const prefix = `spiffe-sidecar: ${path}`;
      assert.ok(result.stderr.startsWith(prefix), result.stderr);
      const rest = result.stderr.slice(prefix.length).trimEnd();
      const keyPart = bad.key === "" ? "" : `${bad.key.replace(/[[\].]/g, "\\$&")}: `;
      assert.match(rest, new RegExp(`^(:\\d+:\\d+)?: ${keyPart}`), `file, position, then the key: ${rest}`);
      assert.match(rest, bad.says);
    });
  }

  it("answers usage errors with exit 2 and the usage", async () => {
    const unknownFlag = await runCli(sidecarBin, ["run", "--frob"]);
    assert.equal(unknownFlag.code, 2);
    assert.match(unknownFlag.stderr, /^spiffe-sidecar: flag provided but not defined: -frob\nusage: spiffe-sidecar run/);
    const unreadable = await runCli(sidecarBin, ["validate", "-c", join(dir, "absent.yaml")]);
    assert.equal(unreadable.code, 2);
    assert.match(unreadable.stderr, /^spiffe-sidecar: \S+absent\.yaml: cannot read the configuration file: no such file; pass its path with -c FILE\n$/);
    const badFlag = await runCli(sidecarBin, ["run", "-c", join(dir, "bad-0.yaml"), "--daemon-mode=maybe"]);
    assert.equal(badFlag.code, 2);
    assert.match(badFlag.stderr, /invalid boolean value "maybe" for -daemon-mode: use true or false/);
  });

  it("accepts a good configuration with validate, printing every default", async () => {
    const path = join(dir, "good.yaml");
    await writeFile(path, `${X509}agent_address: unix:///run/agent.sock\n`);
    const result = await runCli(sidecarBin, ["validate", "-c", path], { PATH: process.env["PATH"] });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^key_file_mode: "0600"$/m);
    assert.match(result.stdout, /^daemon_mode: true$/m);
    assert.match(result.stdout, /^create_cert_dir: true$/m);
    assert.match(result.stdout, /^ {2}bind_address: null$/m, "unset: every interface, as spiffe-helper");
    assert.match(result.stderr, /^warning: the agent socket \/run\/agent\.sock does not exist yet/m);
  });
});
