import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ConfigError } from "./config-error.js";
import type { ConfigHost } from "./config-host.js";
import { configSyntaxOf, parseConfig } from "./parse-config.js";
import type { SidecarConfig } from "./sidecar-config.js";

const host: ConfigHost = {
  userId: () => undefined,
  groupId: () => undefined,
  readSecretFile: () => "",
};
const X509 = 'svid_file_name = "svid.pem"\nsvid_key_file_name = "svid_key.pem"\nsvid_bundle_file_name = "bundle.pem"\n';
const X509_YAML = "svid_file_name: svid.pem\nsvid_key_file_name: svid_key.pem\nsvid_bundle_file_name: bundle.pem\n";

const SPIFFE_HELPER_CORPUS = join(
  dirname(fileURLToPath(import.meta.url)),
  "../../../test/fixtures/hcl-corpus/spiffe-helper",
);

const parse = (text: string, file = "helper.conf"): SidecarConfig =>
  parseConfig(text, file, { SPIFFE_ENDPOINT_SOCKET: "unix:///run/agent.sock" }, { cwd: "/srv/app", host });

function refuses(text: string, file: string, says: RegExp): ConfigError {
  let caught: unknown;
  try {
    parse(text, file);
  } catch (error: unknown) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  assert.match(caught.message, says);
  return caught;
}

describe("parseConfig reads spiffe-helper's helper.conf (HCL v1)", () => {
  it("reads octal, hex and quoted modes as spiffe-helper does", () => {
    const config = parse(`${X509}cert_file_mode = 0640\nkey_file_mode = "0400"\njwt_svid_file_mode = 0x180\n`);
    assert.equal(config.certFileMode, 0o640);
    assert.equal(config.keyFileMode, 0o400);
    assert.equal(config.jwtSvidFileMode, 0o600);
    assert.deepEqual(config.warnings, []);
  });

  it("keeps a decimal mode's meaning (444 is 0674) with one warning naming the mode and the fix", () => {
    const config = parse(`${X509}cert_file_mode = 444\n`);
    assert.equal(config.certFileMode, 0o674);
    assert.deepEqual(config.warnings, [
      "helper.conf:4:18: cert_file_mode: 444 is decimal, which is mode 0674 (spiffe-helper reads it the same way); " +
        "write 0444 for mode 0444, or write 0674 to keep this mode without this warning",
    ]);
  });

  it("gives zero modes and a zero bind_port spiffe-helper's defaults", () => {
    const config = parse(`${X509}cert_file_mode = 0\nhealth_checks { listener_enabled = true\n bind_port = 0 }\n`);
    assert.equal(config.certFileMode, 0o644);
    assert.equal(config.healthChecks.bindPort, 8081);
  });

  it("refuses 08 and a negative mode, at file:line:col", () => {
    refuses(`${X509}key_file_mode = 0648\n`, "helper.conf", /^helper\.conf:4:17: HCL syntax error .*illegal octal number; a leading 0 makes a number octal/);
    refuses(`${X509}key_file_mode = 08\n`, "helper.conf", /^helper\.conf:4:17: key_file_mode: 08 starts with 0, which makes it octal/);
    refuses(`${X509}key_file_mode = -0600\n`, "helper.conf", /^helper\.conf:4:17: key_file_mode: -0600 is negative/);
  });

  it("matches keys case-insensitively; the last repeated key wins", () => {
    const config = parse(`${X509}CERT_DIR = "a"\ncert_dir = "b"\nRenew_Signal = "SIGHUP"\n`);
    assert.equal(config.certDir, "/srv/app/b");
    assert.equal(config.renewSignal, "SIGHUP");
  });

  it("reads health_checks as a block or an object, and jwt_svids as a list of objects", () => {
    const text =
      'health_checks = {\n  listener_enabled = true\n  liveness_path = "/healthz"\n}\n' +
      'jwt_svids = [{jwt_audience = "db", jwt_svid_file_name = "db.token", jwt_extra_audiences = ["x"]}]\n';
    const config = parse(text);
    assert.equal(config.healthChecks.listenerEnabled, true);
    assert.equal(config.healthChecks.livenessPath, "/healthz");
    assert.deepEqual(
      config.jwtSvids.map((jwt) => [jwt.audience, jwt.extraAudiences, jwt.fileName]),
      [["db", ["x"], "/srv/app/db.token"]],
    );
  });

  it("refuses jwt_svids written as a block, which hcl v1 splits into one entry per key", () => {
    const text = `${X509}jwt_svids {\n  jwt_audience = "db"\n  jwt_svid_file_name = "db.token"\n}\n`;
    refuses(text, "helper.conf", /^helper\.conf:4:1: jwt_svids: is written as a block, .*; write it in HCL as a list of objects: jwt_svids = \[\{/);
    assert.equal(parse(`${X509}jwt_svids {}\n`).jwtSvids.length, 0);
    const json = '{"svid_file_name": "s.pem", "jwt_svids": [{"jwt_audience": "a", "jwt_svid_file_name": "t"}]}';
    refuses(json, "helper.conf", /^helper\.conf:1:\d+: jwt_svids: is a list of objects in JSON, .*one entry per key/);
  });

  it("refuses unknown keys with the nearest valid key and its position, as for YAML", () => {
    const error = refuses(`${X509}svid_bundel_file_name = "x"\n`, "helper.conf", /did you mean "svid_bundle_file_name"\?/);
    assert.equal(error.key, "svid_bundel_file_name");
    assert.deepEqual(error.position, { line: 4, column: 1 });
    refuses(`${X509}health_checks { listener_enabled = true\n  bind_adress = "0.0.0.0" }\n`, "helper.conf", /^helper\.conf:5:3: health_checks\.bind_adress: unknown key "bind_adress" in health_checks; did you mean "bind_address"\?/);
    refuses(`${X509}"quoted_unknown" = 1\n`, "helper.conf", /unknown key "quoted_unknown"/);
  });

  it("gives every syntax error a file:line:col", () => {
    refuses(`${X509}cmd = "unterminated\n`, "helper.conf", /^helper\.conf:4:\d+: HCL syntax error/);
    refuses(`${X509}health_checks {\n  listener_enabled = true\n`, "helper.conf", /^helper\.conf:\d+:\d+: HCL syntax error .*object expected closing RBRACE/);
  });

  it("says so when a .conf file holds YAML", () => {
    refuses(X509_YAML, "helper.conf", /^helper\.conf:1:15: HCL syntax error .*illegal char; this file looks like YAML: name it \.yaml/);
  });

  it("reads the JSON flavour of helper.conf", () => {
    const config = parse('{"svid_file_name": "s.pem", "svid_key_file_name": "k.pem", "svid_bundle_file_name": "b.pem", "cert_file_mode": "0640"}');
    assert.equal(config.certFileMode, 0o640);
  });

  it("refuses the configs spiffe-helper's own tests refuse for unknown keys", () => {
    for (const index of [0, 1, 2]) {
      const name = `cmd__spiffe-helper__config__config_test.go__TestDetectsUnknownConfig_${index}.conf`;
      refuses(readFileSync(join(SPIFFE_HELPER_CORPUS, name), "utf8"), name, /unknown key "(foo|bar)"/);
    }
  });

  it("reads every spiffe-helper example and fixture config that spiffe-helper itself accepts", () => {
    const corpus = SPIFFE_HELPER_CORPUS;
    // test/sidecar/* carry a `timeout` key spiffe-helper refuses; helper_windows.conf names a Windows pipe.
    const configs = readdirSync(corpus).filter(
      (name) => /helper(_\w+)?\.conf$/.test(name) && !name.startsWith("test__sidecar") && name !== "helper_windows.conf",
    );
    assert.ok(configs.length >= 10);
    for (const name of configs) {
      const config = parse(readFileSync(join(corpus, name), "utf8"), name);
      assert.ok(config.svidFileName !== undefined || config.jwtSvids.length > 0, name);
    }
  });
});

describe("configSyntaxOf chooses the format by extension, then by content", () => {
  it("follows the extension whatever the file holds", () => {
    assert.equal(configSyntaxOf(X509_YAML, "helper.conf"), "hcl");
    assert.equal(configSyntaxOf(X509, "x.HCL"), "hcl");
    assert.equal(configSyntaxOf(X509, "sidecar.yaml"), "yaml");
    assert.equal(configSyntaxOf("{}", "sidecar.yml"), "yaml");
  });

  it("sniffs other names: key = value, blocks and // comments are HCL, { is hcl's JSON, key: value YAML", () => {
    assert.equal(configSyntaxOf(`# spiffe-helper\n\n${X509}`, "helper"), "hcl");
    assert.equal(configSyntaxOf('health_checks {\n listener_enabled = true\n}\n', "config"), "hcl");
    assert.equal(configSyntaxOf('"cmd" = "x"\n', "config"), "hcl");
    assert.equal(configSyntaxOf("// note\ncmd: x\n", "config"), "hcl");
    assert.equal(configSyntaxOf('  {"cmd": "x"}', "config.json"), "hcl");
    assert.equal(configSyntaxOf(`# sidecar\n${X509_YAML}`, "config"), "yaml");
    assert.equal(configSyntaxOf('cmd_args: "a=b"\n', "config"), "yaml");
  });

  it("never gives an HCL file without an extension a YAML error", () => {
    const config = parse(`${X509}cert_file_mode = 0600\n`, "/etc/spiffe/helper");
    assert.equal(config.certFileMode, 0o600);
  });
});

describe("YAML modes never change meaning silently", () => {
  it("reads an unquoted 0644 and 0o644 as octal, and a quoted \"0644\" too", () => {
    const config = parse(`${X509_YAML}cert_file_mode: 0640\nkey_file_mode: 0o400\njwt_svid_file_mode: "0600"\n`, "c.yaml");
    assert.equal(config.certFileMode, 0o640);
    assert.equal(config.keyFileMode, 0o400);
    assert.equal(config.jwtSvidFileMode, 0o600);
  });

  it("refuses a decimal-looking 644 with the fix", () => {
    refuses(`${X509_YAML}cert_file_mode: 644\n`, "c.yaml", /^c\.yaml:4:17: cert_file_mode: 644 is read by YAML as the number 644, not as an octal mode; write 0644 or "0644"$/);
  });
});
