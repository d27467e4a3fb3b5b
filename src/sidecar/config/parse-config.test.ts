import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { inspect } from "node:util";
import { ConfigError } from "./config-error.js";
import { parseConfig, type ParseConfigOptions } from "./parse-config.js";
import type { ConfigHost } from "./config-host.js";
import type { SidecarConfig } from "./sidecar-config.js";

const CWD = "/srv/app";
const X509 = "svid_file_name: svid.pem\nsvid_key_file_name: svid_key.pem\nsvid_bundle_file_name: svid_bundle.pem\n";

const host: ConfigHost = {
  userId: (name) => (name === "app" ? 1234 : undefined),
  groupId: (name) => (name === "certs" ? 2345 : undefined),
  readSecretFile: (path) => {
    if (path === `${CWD}/pkcs12.pass`) return "s3cret-from-file\n";
    throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: "ENOENT" });
  },
};

function parse(text: string, env: NodeJS.ProcessEnv = {}, options: ParseConfigOptions = {}): SidecarConfig {
  return parseConfig(text, "helper.yaml", env, { cwd: CWD, host, ...options });
}

describe("parseConfig: spiffe-helper keys and defaults", () => {
  it("gives a minimal config spiffe-helper's defaults", () => {
    const config = parse(X509);
    assert.equal(config.agentAddress, "/tmp/spire-agent/public/api.sock");
    assert.equal(config.cmd, undefined);
    assert.deepEqual(config.cmdArgs, []);
    assert.equal(config.pidFileName, undefined);
    assert.equal(config.renewSignal, undefined, "spiffe-helper sends no signal unless renew_signal is set");
    assert.equal(config.certDir, CWD);
    assert.equal(config.certFileMode, 0o644);
    assert.equal(config.keyFileMode, 0o600);
    assert.equal(config.jwtBundleFileMode, 0o600);
    assert.equal(config.jwtSvidFileMode, 0o600);
    assert.equal(config.daemonMode, true);
    assert.equal(config.includeFederatedDomains, false);
    assert.equal(config.addIntermediatesToBundle, false);
    assert.equal(config.omitExpired, false);
    assert.equal(config.hint, undefined);
    assert.deepEqual(config.jwtSvids, []);
    assert.equal(config.jwtBundleFileName, undefined);
    assert.deepEqual(config.healthChecks, {
      listenerEnabled: false,
      bindAddress: undefined,
      bindPort: 8081,
      livenessPath: "/live",
      readinessPath: "/ready",
      metricsPath: "/metrics",
    });
    assert.deepEqual(config.warnings, []);
    assert.equal(config.sourceFile, "helper.yaml");
  });

  it("gives the extensions their documented defaults", () => {
    const config = parse(X509);
    assert.equal(config.fileOwner, undefined);
    assert.equal(config.fileGroup, undefined);
    assert.equal(config.combinedPemFileName, undefined);
    assert.equal(config.federatedBundleDir, undefined);
    assert.equal(config.jwtBundleFormat, "spiffe-helper");
    assert.equal(config.pkcs12Password, undefined);
    assert.equal(config.writeLayout, "files");
    assert.equal(config.execHook, undefined);
    assert.equal(config.notifyAction, "signal");
    assert.equal(config.restartGracePeriodMs, 10_000);
    assert.equal(config.restartPolicy, "on-renewal");
    assert.equal(config.restartBackoffMaxMs, 30_000);
    assert.equal(config.oneShotTimeoutMs, 60_000);
    assert.equal(config.logLevel, "info");
  });

  it("reads a full spiffe-helper configuration converted from HCL", () => {
    const config = parse(`
agent_address: /run/spire/sockets/agent.sock
cmd: /usr/sbin/nginx
cmd_args: "-g 'daemon off;' -c /etc/nginx/nginx.conf"
cert_dir: /etc/nginx/certs
renew_signal: SIGHUP
svid_file_name: svid.pem
svid_key_file_name: svid_key.pem
svid_bundle_file_name: svid_bundle.pem
jwt_bundle_file_name: cert.jwt
jwt_svids:
  - jwt_audience: your-audience
    jwt_extra_audiences: [extra-1, extra-2]
    jwt_svid_file_name: jwt_svid.token
  - jwt_audience: other
    jwt_svid_file_name: other.token
include_federated_domains: true
add_intermediates_to_bundle: true
omit_expired: true
daemon_mode: true
hint: internal
cert_file_mode: "0444"
key_file_mode: "0400"
jwt_bundle_file_mode: "0444"
jwt_svid_file_mode: "0400"
health_checks:
  listener_enabled: true
  bind_port: 8082
  liveness_path: /healthz
  readiness_path: /readyz
`);
    assert.equal(config.agentAddress, "/run/spire/sockets/agent.sock");
    assert.equal(config.cmd, "/usr/sbin/nginx");
    assert.deepEqual(config.cmdArgs, ["-g", "daemon off;", "-c", "/etc/nginx/nginx.conf"]);
    assert.equal(config.svidFileName, "/etc/nginx/certs/svid.pem");
    assert.equal(config.svidKeyFileName, "/etc/nginx/certs/svid_key.pem");
    assert.equal(config.svidBundleFileName, "/etc/nginx/certs/svid_bundle.pem");
    assert.equal(config.jwtBundleFileName, "/etc/nginx/certs/cert.jwt");
    assert.deepEqual(config.jwtSvids, [
      {
        audience: "your-audience",
        extraAudiences: ["extra-1", "extra-2"],
        fileName: "/etc/nginx/certs/jwt_svid.token",
      },
      { audience: "other", extraAudiences: [], fileName: "/etc/nginx/certs/other.token" },
    ]);
    assert.equal(config.renewSignal, "SIGHUP");
    assert.equal(config.includeFederatedDomains && config.addIntermediatesToBundle && config.omitExpired, true);
    assert.equal(config.hint, "internal");
    assert.deepEqual(
      [config.certFileMode, config.keyFileMode, config.jwtBundleFileMode, config.jwtSvidFileMode],
      [0o444, 0o400, 0o444, 0o400],
    );
    assert.deepEqual(config.healthChecks, {
      listenerEnabled: true,
      bindAddress: undefined,
      bindPort: 8082,
      livenessPath: "/healthz",
      readinessPath: "/readyz",
      metricsPath: "/metrics",
    });
  });

  it("reads every extension", () => {
    const config = parse(`${X509}
file_owner: app
file_group: 2000
combined_pem_file_name: combined.pem
federated_bundle_dir: federated
jwt_bundle_file_name: bundle.jwks
jwt_bundle_format: jwks
pkcs12_keystore_file_name: keystore.p12
pkcs12_truststore_file_name: truststore.p12
pkcs12_password_file: pkcs12.pass
write_layout: directory
cmd: app
cmd_args: [--port, "8443"]
exec_hook: { cmd: /bin/reload, args: "--all 'the things'", timeout: 2s }
notify_action: restart
restart_grace_period: 1500ms
restart_policy: on-failure
restart_backoff_max: 1m
one_shot_timeout: 90s
log_level: debug
health_checks: { bind_address: "::1", bind_port: 0, metrics_path: /prom }
`);
    assert.equal(config.fileOwner, 1234);
    assert.equal(config.fileGroup, 2000);
    assert.equal(config.combinedPemFileName, `${CWD}/combined.pem`);
    assert.equal(config.federatedBundleDir, `${CWD}/federated`);
    assert.equal(config.jwtBundleFormat, "jwks");
    assert.equal(config.pkcs12KeystoreFileName, `${CWD}/keystore.p12`);
    assert.equal(config.pkcs12TruststoreFileName, `${CWD}/truststore.p12`);
    assert.equal(config.pkcs12Password?.reveal(), "s3cret-from-file", "one trailing newline is dropped");
    assert.equal(config.pkcs12PasswordFile, `${CWD}/pkcs12.pass`);
    assert.equal(config.writeLayout, "directory");
    assert.deepEqual(config.cmdArgs, ["--port", "8443"]);
    assert.deepEqual(config.execHook, { cmd: "/bin/reload", args: ["--all", "the things"], timeoutMs: 2000 });
    assert.equal(config.notifyAction, "restart");
    assert.equal(config.restartGracePeriodMs, 1500);
    assert.equal(config.restartPolicy, "on-failure");
    assert.equal(config.restartBackoffMaxMs, 60_000);
    assert.equal(config.oneShotTimeoutMs, 90_000);
    assert.equal(config.logLevel, "debug");
    assert.equal(config.healthChecks.bindAddress, "::1");
    assert.equal(config.healthChecks.bindPort, 0);
    assert.equal(config.healthChecks.metricsPath, "/prom");
  });
});

describe("parseConfig: agent_address fallback (spiffe-helper's order)", () => {
  const socket = "unix:///run/spiffe.sock";
  const spire = "/run/spire.sock";

  it("prefers the configured address over the environment", () => {
    const config = parse(`agent_address: /cfg.sock\n${X509}`, { SPIFFE_ENDPOINT_SOCKET: socket });
    assert.equal(config.agentAddress, "/cfg.sock");
  });

  it("falls back to SPIFFE_ENDPOINT_SOCKET, then SPIRE_AGENT_ADDRESS with a warning, then the default", () => {
    assert.equal(parse(X509, { SPIFFE_ENDPOINT_SOCKET: socket }).agentAddress, socket);
    const fromSpire = parse(X509, { SPIRE_AGENT_ADDRESS: spire });
    assert.equal(fromSpire.agentAddress, spire);
    assert.match(fromSpire.warnings.join("\n"), /SPIRE_AGENT_ADDRESS is deprecated/);
    assert.equal(parse(X509, { SPIFFE_ENDPOINT_SOCKET: "" }).agentAddress, "/tmp/spire-agent/public/api.sock");
    assert.equal(parse(`agent_address: ""\n${X509}`, { SPIFFE_ENDPOINT_SOCKET: socket }).agentAddress, socket);
  });

  it("refuses both variables at once, as spiffe-helper does", () => {
    assert.throws(
      () => parse(X509, { SPIFFE_ENDPOINT_SOCKET: socket, SPIRE_AGENT_ADDRESS: spire }),
      (e: unknown) =>
        e instanceof ConfigError && e.key === "agent_address" && /unset SPIRE_AGENT_ADDRESS/.test(e.message),
    );
  });

  it("names the environment variable when its address is unusable", () => {
    assert.throws(
      () => parse(X509, { SPIFFE_ENDPOINT_SOCKET: "http://agent:80" }),
      (e: unknown) => e instanceof ConfigError && /\(from SPIFFE_ENDPOINT_SOCKET\) is not usable/.test(e.message),
    );
  });
});

describe("parseConfig: values", () => {
  it("resolves relative cert_dir and pid_file_name against the working directory", () => {
    const config = parse(`cert_dir: out\npid_file_name: run/app.pid\nrenew_signal: USR1\n${X509}`);
    assert.equal(config.certDir, `${CWD}/out`);
    assert.equal(config.svidFileName, `${CWD}/out/svid.pem`);
    assert.equal(config.pidFileName, `${CWD}/run/app.pid`);
    assert.equal(config.renewSignal, "SIGUSR1");
  });

  it("keeps absolute file names when cert_dir is unset, as spiffe-helper's path.Join does", () => {
    const config = parse("svid_file_name: /a/s.pem\nsvid_key_file_name: /a/k.pem\nsvid_bundle_file_name: /b/b.pem\n");
    assert.deepEqual([config.svidFileName, config.svidKeyFileName, config.svidBundleFileName], [
      "/a/s.pem",
      "/a/k.pem",
      "/b/b.pem",
    ]);
  });

  it("treats null, ~, an empty value and an empty string as unset", () => {
    const config = parse(`${X509}cmd: ~\nhint:\nrenew_signal: ""\ncert_file_mode: null\nhealth_checks:\n`);
    assert.equal(config.cmd, undefined);
    assert.equal(config.hint, undefined);
    assert.equal(config.renewSignal, undefined);
    assert.equal(config.certFileMode, 0o644);
    assert.equal(config.healthChecks.bindPort, 8081);
  });

  it("follows YAML anchors and aliases", () => {
    const config = parse(
      "jwt_svids:\n  - { jwt_audience: &aud api, jwt_svid_file_name: a.token }\n  - { jwt_audience: *aud, jwt_svid_file_name: b.token }\n",
    );
    assert.deepEqual(config.jwtSvids.map((entry) => entry.audience), ["api", "api"]);
  });

  it("lets the command line override daemon_mode, then applies the pid_file_name rule", () => {
    assert.equal(parse(`daemon_mode: true\n${X509}`, {}, { daemonMode: false }).daemonMode, false);
    assert.equal(parse(`daemon_mode: false\n${X509}`, {}, { daemonMode: true }).daemonMode, true);
    assert.throws(
      () => parse(`pid_file_name: app.pid\nrenew_signal: HUP\n${X509}`, {}, { daemonMode: false }),
      (e: unknown) => e instanceof ConfigError && e.key === "pid_file_name" && /daemon_mode is false/.test(e.message),
    );
  });

  it("warns, like spiffe-helper, about settings one-shot mode ignores", () => {
    const config = parse(`daemon_mode: false\ncmd: app\nrenew_signal: HUP\n${X509}`);
    assert.deepEqual(config.warnings, [
      "cmd is ignored because daemon_mode is false",
      "renew_signal is ignored because daemon_mode is false",
    ]);
  });

  it("never shows the PKCS#12 password when the config is printed or logged", () => {
    const config = parse(`${X509}pkcs12_keystore_file_name: k.p12\npkcs12_password: hunter2\n`);
    assert.equal(config.pkcs12Password?.reveal(), "hunter2");
    for (const shown of [JSON.stringify(config), inspect(config, { depth: 5 }), String(config.pkcs12Password)]) {
      assert.doesNotMatch(shown, /hunter2/);
      assert.match(shown, /<redacted>/);
    }
  });
});
