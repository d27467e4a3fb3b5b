import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError } from "./config-error.js";
import { parseConfig, type ParseConfigOptions } from "./parse-config.js";
import type { ConfigHost } from "./config-host.js";

const X509 = "svid_file_name: svid.pem\nsvid_key_file_name: svid_key.pem\nsvid_bundle_file_name: svid_bundle.pem\n";

const host: ConfigHost = {
  userId: (name) => (name === "app" ? 1234 : undefined),
  groupId: (name) => (name === "certs" ? 2345 : undefined),
  readSecretFile: (path) => {
    throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: "ENOENT" });
  },
};

interface BadConfig {
  /** What the case shows. */
  readonly name: string;
  readonly yaml: string;
  /** The `key` the error must carry. */
  readonly key: string;
  /** A fragment of the message, usually the fix. */
  readonly says: RegExp;
  /** `line:col` where the error must point, when the case is about position. */
  readonly at?: string;
  readonly options?: ParseConfigOptions;
}

const badConfigs: readonly BadConfig[] = [
  { name: "misspelt top-level key", yaml: `${X509}svid_file_nam: x\n`, key: "svid_file_nam", says: /unknown key "svid_file_nam"; did you mean "svid_file_name"\?$/, at: "4:1" },
  { name: "unknown key far from any", yaml: `${X509}frobnicate: 1\n`, key: "frobnicate", says: /unknown key "frobnicate"; remove it; config.example.yaml lists every key/ },
  { name: "misspelt nested key", yaml: `${X509}health_checks:\n  bind_prt: 8081\n`, key: "health_checks.bind_prt", says: /unknown key "bind_prt" in health_checks; did you mean "bind_port"\?/, at: "5:3" },
  { name: "unknown key in a jwt_svids entry", yaml: "jwt_svids:\n  - jwt_audience: a\n    jwt_file_name: a.token\n", key: "jwt_svids[0].jwt_file_name", says: /did you mean "jwt_svid_file_name"\?/, at: "3:5" },
  { name: "nested key at the top level", yaml: `${X509}bind_port: 8081\n`, key: "bind_port", says: /not a key at the top level; move it under health_checks:/ },
  { name: "top-level key inside a section", yaml: `${X509}health_checks:\n  cmd: x\n`, key: "health_checks.cmd", says: /not a key of health_checks; move it to the top level/ },
  { name: "mode as a decimal number", yaml: `${X509}key_file_mode: 384\n`, key: "key_file_mode", says: /384 is read by YAML as the number 384, not as an octal mode; write 0600 or "0600"/, at: "4:16" },
  { name: "mode as a decimal-looking number", yaml: `${X509}cert_file_mode: 644\n`, key: "cert_file_mode", says: /644 is read by YAML as the number 644, not as an octal mode; write 0644 or "0644"/ },
  { name: "mode as a hex number", yaml: `${X509}cert_file_mode: 0x1a4\n`, key: "cert_file_mode", says: /0x1a4 is read by YAML as the number 420.*write 0644 or "0644"/ },
  { name: "unquoted octal mode with an 8", yaml: `${X509}cert_file_mode: 0648\n`, key: "cert_file_mode", says: /0648 is read by YAML as the number 648/ },
  { name: "mode with non-octal digits", yaml: `${X509}jwt_svid_file_mode: "0999"\n`, key: "jwt_svid_file_mode", says: /"0999" is not an octal file mode; write three octal digits such as "0640"/ },
  { name: "mode with setuid bits", yaml: `${X509}cert_file_mode: "0o7777"\n`, key: "cert_file_mode", says: /setuid, setgid or sticky bits.*"0777"/ },
  { name: "unknown signal", yaml: `${X509}renew_signal: SIGHUPP\n`, key: "renew_signal", says: /"SIGHUPP" is not a signal this platform knows; use a name such as SIGHUP/ },
  { name: "uncatchable signal", yaml: `${X509}renew_signal: KILL\n`, key: "renew_signal", says: /SIGKILL cannot be caught/ },
  { name: "negative port", yaml: `${X509}health_checks: { bind_port: -1 }\n`, key: "health_checks.bind_port", says: /-1 is not a TCP port; write a port number from 1 to 65535/ },
  { name: "port too large", yaml: `${X509}health_checks: { bind_port: 70000 }\n`, key: "health_checks.bind_port", says: /70000 is not a TCP port/ },
  { name: "port as a string", yaml: `${X509}health_checks: { bind_port: "8081" }\n`, key: "health_checks.bind_port", says: /expected an integer, got the string "8081"/ },
  { name: "jwt_svids entry without jwt_audience", yaml: "jwt_svids:\n  - jwt_svid_file_name: a.token\n", key: "jwt_svids[0].jwt_audience", says: /is required in every jwt_svids entry; add the audience/, at: "2:5" },
  { name: "jwt_svids entry without a file", yaml: "jwt_svids:\n  - jwt_audience: a\n  - jwt_audience: b\n", key: "jwt_svids[0].jwt_svid_file_name", says: /add the token's file/ },
  { name: "partial X.509 set", yaml: "svid_file_name: svid.pem\nsvid_bundle_file_name: b.pem\n", key: "svid_key_file_name", says: /unset while svid_file_name is set.*set all of svid_file_name, svid_key_file_name, svid_bundle_file_name, or none/, at: "1:17" },
  { name: "no outputs", yaml: "hint: internal\n", key: "", says: /no output is configured; set svid_file_name, svid_key_file_name and svid_bundle_file_name, or jwt_svids, or jwt_bundle_file_name/ },
  { name: "empty file", yaml: "# nothing yet\n", key: "", says: /the configuration is empty; set at least the outputs/ },
  { name: "pid_file_name without renew_signal", yaml: `${X509}pid_file_name: app.pid\n`, key: "pid_file_name", says: /without renew_signal.*add e.g. renew_signal: SIGHUP/ },
  { name: "pid_file_name in one-shot mode", yaml: `${X509}pid_file_name: app.pid\nrenew_signal: HUP\ndaemon_mode: false\n`, key: "pid_file_name", says: /daemon_mode is false/ },
  { name: "YAML syntax error", yaml: `${X509}jwt_svids: [a,\nhint: x\n`, key: "", says: /YAML syntax error: .*; fix the YAML at this position/, at: "5:1" },
  { name: "top level is a list", yaml: "- svid_file_name: a\n", key: "", says: /the top level must be a map of keys, got a list/ },
  { name: "top level is a scalar", yaml: "svid.pem\n", key: "", says: /the top level must be a map of keys, got the string "svid.pem"/ },
  { name: "duration without a unit", yaml: `${X509}one_shot_timeout: 60\n`, key: "one_shot_timeout", says: /60 has no unit; write a duration such as one_shot_timeout: 60s/ },
  { name: "malformed duration", yaml: `${X509}restart_grace_period: 10 seconds\n`, key: "restart_grace_period", says: /"10 seconds" is not a duration; write a number with a unit/ },
  { name: "zero timeout", yaml: `${X509}exec_hook: { cmd: x, timeout: 0s }\n`, key: "exec_hook.timeout", says: /not longer than zero/ },
  { name: "unknown restart_policy", yaml: `${X509}cmd: app\nrestart_policy: sometimes\n`, key: "restart_policy", says: /"sometimes" is not one of "on-renewal", "never", "on-failure", "always"/ },
  { name: "restart_policy without cmd", yaml: `${X509}restart_policy: always\n`, key: "restart_policy", says: /no cmd to restart; set cmd/ },
  { name: "notify_action restart without cmd", yaml: `${X509}notify_action: restart\n`, key: "notify_action", says: /no cmd to restart; set cmd, or use notify_action: "signal"/ },
  { name: "unknown log_level", yaml: `${X509}log_level: verbose\n`, key: "log_level", says: /"verbose" is not one of "fatal", "error", "warn", "info", "debug", "trace", "silent"/ },
  { name: "unknown jwt_bundle_format", yaml: `${X509}jwt_bundle_format: jwk\n`, key: "jwt_bundle_format", says: /write one of "spiffe-helper", "jwks", "spiffe-bundle-map"/ },
  { name: "unknown write_layout", yaml: `${X509}write_layout: atomic\n`, key: "write_layout", says: /write one of "files", "directory"/ },
  { name: "boolean written as yes", yaml: `${X509}daemon_mode: yes\n`, key: "daemon_mode", says: /expected true or false, got the string "yes"; write daemon_mode: true or daemon_mode: false/ },
  { name: "string written as a number", yaml: `${X509}hint: 123\n`, key: "hint", says: /expected a string, got 123; write a quoted string/ },
  { name: "jwt_svids as a map", yaml: "jwt_svids: { jwt_audience: a }\n", key: "jwt_svids", says: /expected a list of maps, got a map/ },
  { name: "jwt_extra_audiences as a string", yaml: "jwt_svids:\n  - { jwt_audience: a, jwt_svid_file_name: a.t, jwt_extra_audiences: b }\n", key: "jwt_svids[0].jwt_extra_audiences", says: /expected a list of strings/ },
  { name: "health_checks as a scalar", yaml: `${X509}health_checks: true\n`, key: "health_checks", says: /expected a map of keys, got true/ },
  { name: "duplicate key", yaml: `${X509}hint: a\nhint: b\n`, key: "hint", says: /is written twice in the same map; keep one of them/, at: "5:1" },
  { name: "two outputs on one path", yaml: "jwt_svids:\n  - { jwt_audience: a, jwt_svid_file_name: t.jwt }\n  - { jwt_audience: b, jwt_svid_file_name: ./t.jwt }\n", key: "jwt_svids[1].jwt_svid_file_name", says: /is also the path of jwt_svids\[0\]\.jwt_svid_file_name; give each file its own name/ },
  { name: "keystore without a password", yaml: `${X509}pkcs12_keystore_file_name: k.p12\n`, key: "pkcs12_keystore_file_name", says: /without a password; add pkcs12_password_file/ },
  { name: "password twice", yaml: `${X509}pkcs12_keystore_file_name: k.p12\npkcs12_password: a\npkcs12_password_file: p\n`, key: "pkcs12_password", says: /keep only pkcs12_password_file/ },
  { name: "unreadable password file", yaml: `${X509}pkcs12_keystore_file_name: k.p12\npkcs12_password_file: missing.pass\n`, key: "pkcs12_password_file", says: /cannot read "\/srv\/app\/missing.pass".*point it at a readable file/ },
  { name: "unknown user", yaml: `${X509}file_owner: nobody-here\n`, key: "file_owner", says: /no user named "nobody-here" in \/etc\/passwd; write a user name or a numeric id/ },
  { name: "unknown group", yaml: `${X509}file_group: nogroup-here\n`, key: "file_group", says: /no group named "nogroup-here" in \/etc\/group/ },
  { name: "negative owner id", yaml: `${X509}file_owner: -5\n`, key: "file_owner", says: /-5 is not a user/ },
  { name: "absolute name with cert_dir", yaml: `cert_dir: /certs\n${X509}jwt_bundle_file_name: /etc/b.json\n`, key: "jwt_bundle_file_name", says: /absolute while cert_dir is set.*write a name relative to cert_dir/ },
  { name: "directory layout with a nested name", yaml: `${X509}write_layout: directory\njwt_bundle_file_name: jwt/b.json\n`, key: "jwt_bundle_file_name", says: /not directly in cert_dir.*write a plain file name, or use write_layout: files/ },
  { name: "bundle directory is cert_dir", yaml: `${X509}federated_bundle_dir: .\n`, key: "federated_bundle_dir", says: /is cert_dir or contains it.*a directory of its own/ },
  { name: "output inside the bundle directory", yaml: `${X509}federated_bundle_dir: fed\ncombined_pem_file_name: fed/c.pem\n`, key: "combined_pem_file_name", says: /inside federated_bundle_dir/ },
  { name: "health path without a slash", yaml: `${X509}health_checks: { liveness_path: live }\n`, key: "health_checks.liveness_path", says: /"live" is not an absolute URL path/ },
  { name: "two health endpoints on one path", yaml: `${X509}health_checks: { readiness_path: /live }\n`, key: "health_checks", says: /must differ, got "\/live", "\/live", "\/metrics"; give each endpoint its own path/ },
  { name: "bad bind_address", yaml: `${X509}health_checks: { bind_address: "not an ip" }\n`, key: "health_checks.bind_address", says: /neither an IP address nor a host name/ },
  { name: "exec_hook args without cmd", yaml: `${X509}exec_hook: { args: [-v] }\n`, key: "exec_hook.cmd", says: /is missing, so the hook would never run; add exec_hook.cmd/, at: "4:12" },
  { name: "exec_hook timeout without cmd", yaml: `${X509}exec_hook:\n  timeout: 5s\n`, key: "exec_hook.cmd", says: /is missing, so the hook would never run/ },
  { name: "NUL in an output name", yaml: `svid_file_name: "svid\\0.pem"\nsvid_key_file_name: k.pem\nsvid_bundle_file_name: b.pem\n`, key: "svid_file_name", says: /"svid\\u0000.pem" contains the control character \\u0000; remove it/, at: "1:17" },
  { name: "newline in cert_dir", yaml: `cert_dir: "certs\\n"\n${X509}`, key: "cert_dir", says: /contains the control character \\u000a/ },
  { name: "tab in pid_file_name", yaml: `${X509}pid_file_name: "app\\t.pid"\nrenew_signal: HUP\n`, key: "pid_file_name", says: /control character \\u0009/ },
  { name: "NUL in the password file name", yaml: `${X509}pkcs12_keystore_file_name: k.p12\npkcs12_password_file: "p\\0"\n`, key: "pkcs12_password_file", says: /control character \\u0000/ },
  { name: "escape in cmd", yaml: `${X509}cmd: "app\\e"\n`, key: "cmd", says: /control character \\u001b/ },
  { name: "NUL in exec_hook.cmd", yaml: `${X509}exec_hook: { cmd: "hook\\0" }\n`, key: "exec_hook.cmd", says: /control character \\u0000/ },
  { name: "NUL in a jwt_svids file name", yaml: 'jwt_svids:\n  - { jwt_audience: a, jwt_svid_file_name: "a\\0" }\n', key: "jwt_svids[0].jwt_svid_file_name", says: /control character \\u0000/ },
  { name: "unclosed quote in cmd_args", yaml: `${X509}cmd: app\ncmd_args: "-g 'daemon off;"\n`, key: "cmd_args", says: /unclosed ' quote; close the quote, or write the arguments as a YAML list/ },
  { name: "unusable agent_address", yaml: `agent_address: http://agent:8080\n${X509}`, key: "agent_address", says: /"http:\/\/agent:8080" is not usable: .*write a socket path, unix:\/\/\/path/, at: "1:16" },
  { name: "a key that is not a name", yaml: `${X509}123: x\n`, key: "", says: /a key must be a plain name, got 123/ },
];

describe("parseConfig rejects bad configurations with one actionable line", () => {
  assert.ok(badConfigs.length >= 20);
  for (const bad of badConfigs) {
    it(`${bad.name}: ${bad.key === "" ? "(whole file)" : bad.key}`, () => {
      let caught: unknown;
      try {
        parseConfig(bad.yaml, "helper.yaml", {}, { cwd: "/srv/app", host, ...bad.options });
      } catch (error: unknown) {
        caught = error;
      }
      assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
      assert.equal(caught.code, "ERR_CONFIG");
      assert.equal(caught.key, bad.key, caught.message);
      assert.equal(caught.file, "helper.yaml");
      assert.match(caught.message, bad.says);
      assert.doesNotMatch(caught.message, /[\r\n]/, "the message is one line");
      const prefix = bad.key === "" ? "" : `${bad.key.replace(/[[\].]/g, "\\$&")}: `;
      assert.match(caught.message, new RegExp(`^helper\\.yaml(:\\d+:\\d+)?: ${prefix}`), "file, position, key");
      if (bad.at !== undefined) assert.ok(caught.message.startsWith(`helper.yaml:${bad.at}: `), caught.message);
    });
  }
});
