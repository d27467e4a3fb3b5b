import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse as parseYaml } from "yaml";
import { effectiveConfigYaml } from "./effective-config.js";
import { parseConfig } from "./parse-config.js";
import type { ConfigHost } from "./config-host.js";
import { allConfigKeys } from "./schema.js";
import type { SidecarConfig } from "./sidecar-config.js";

const host: ConfigHost = {
  userId: () => undefined,
  groupId: () => undefined,
  readSecretFile: () => "from-file\n",
};

function parse(text: string, sourceName = "helper.yaml"): SidecarConfig {
  return parseConfig(text, sourceName, { SPIFFE_ENDPOINT_SOCKET: "unix:///run/agent.sock" }, { cwd: "/srv/app", host });
}

/** Comparable form: the Secret is compared by its text, and the source name is not part of the config. */
function comparable(config: SidecarConfig): unknown {
  const { sourceFile: _sourceFile, pkcs12Password, ...rest } = config;
  return { ...rest, pkcs12Password: pkcs12Password?.reveal() };
}

const FULL = `
cmd: /usr/sbin/nginx
cmd_args: "-g 'daemon off;'"
renew_signal: usr1
cert_dir: out
svid_file_name: svid.pem
svid_key_file_name: key.pem
svid_bundle_file_name: bundle.pem
jwt_bundle_file_name: jwt/bundle.json
jwt_svids:
  - { jwt_audience: a, jwt_extra_audiences: [b, c], jwt_svid_file_name: a.token }
include_federated_domains: true
hint: internal
key_file_mode: "0640"
health_checks: { listener_enabled: true, bind_port: 0 }
file_owner: 1000
file_group: 1000
combined_pem_file_name: combined.pem
federated_bundle_dir: federated
jwt_bundle_format: spiffe-bundle-map
pkcs12_truststore_file_name: trust.p12
pkcs12_password_file: /run/secrets/p12
exec_hook: { cmd: /bin/true, args: [-x], timeout: 1m30s }
restart_policy: always
one_shot_timeout: 500ms
log_level: warn
`;

describe("effectiveConfigYaml", () => {
  it("prints every key of the schema, defaults included", () => {
    const printed = parseYaml(effectiveConfigYaml(parse("jwt_bundle_file_name: b.json\n"))) as Record<string, unknown>;
    const printedKeys = Object.entries(printed).flatMap(([key, value]) => {
      if (key === "jwt_svids") return [key];
      if (typeof value === "object" && value !== null && !Array.isArray(value)) {
        return [key, ...Object.keys(value).map((child) => `${key}.${child}`)];
      }
      return [key];
    });
    const expected = allConfigKeys().filter((key) => !key.startsWith("jwt_svids[]"));
    assert.deepEqual(printedKeys, expected);
  });

  it("prints modes as quoted octal strings, durations with units and resolved paths", () => {
    const text = effectiveConfigYaml(parse(FULL, "conf/helper.yaml"));
    assert.match(text, /^# Effective configuration of conf\/helper.yaml/);
    assert.match(text, /^cert_file_mode: "0644"$/m);
    assert.match(text, /^key_file_mode: "0640"$/m);
    assert.match(text, /^agent_address: unix:\/\/\/run\/agent.sock$/m);
    assert.match(text, /^cert_dir: \/srv\/app\/out$/m);
    assert.match(text, /^jwt_bundle_file_name: jwt\/bundle.json$/m);
    assert.match(text, /^renew_signal: SIGUSR1$/m);
    assert.match(text, /^ {2}timeout: 1m30s$/m);
    assert.match(text, /^one_shot_timeout: 500ms$/m);
    assert.match(text, /^pkcs12_password: null$/m, "a password from a file is shown by its file");
    assert.match(text, /^pkcs12_password_file: \/run\/secrets\/p12$/m);
  });

  it("parses back to the same configuration", () => {
    for (
      const source of [
        FULL,
        "jwt_bundle_file_name: b.json\n",
        "svid_file_name: /a/s\nsvid_key_file_name: /a/k\nsvid_bundle_file_name: /b/b\n",
      ]
    ) {
      const config = parse(source);
      assert.deepEqual(comparable(parse(effectiveConfigYaml(config))), comparable(config), source);
    }
  });

  it("redacts an inline PKCS#12 password", () => {
    const text = effectiveConfigYaml(parse("pkcs12_keystore_file_name: k.p12\npkcs12_password: hunter2\n"));
    assert.doesNotMatch(text, /hunter2/);
    assert.match(text, /^pkcs12_password: <redacted>$/m);
  });
});
