import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError } from "../config/config-error.js";
import { parseConfig } from "../config/parse-config.js";

const X509 = "svid_file_name: svid.pem\nsvid_key_file_name: svid_key.pem\nsvid_bundle_file_name: svid_bundle.pem\n";

function parse(yaml: string) {
  return parseConfig(`${X509}${yaml}`, "helper.yaml", {}, { cwd: "/srv/app" });
}

describe("verify_reload config", () => {
  it("is off when unset or empty, and takes its defaults when only address is set", () => {
    assert.equal(parse("").verifyReload, undefined);
    assert.equal(parse("verify_reload: {}\n").verifyReload, undefined);
    assert.deepEqual(parse("verify_reload:\n  address: 127.0.0.1:8443\n").verifyReload, {
      host: "127.0.0.1",
      port: 8443,
      serverName: undefined,
      protocol: "tls",
      windowMs: 10_000,
      escalate: "none",
    });
    const postgres = parse("verify_reload:\n  address: '[::1]:5432'\n  server_name: db\n  protocol: postgres\n  window: 30s\n  escalate: restart\n");
    assert.deepEqual(postgres.verifyReload, { host: "::1", port: 5432, serverName: "db", protocol: "postgres", windowMs: 30_000, escalate: "restart" });
  });

  it("warns that it has no effect without svid_file_name", () => {
    const config = parseConfig("jwt_bundle_file_name: b.json\nverify_reload:\n  address: h:1\n", "helper.yaml", {}, { cwd: "/srv/app" });
    assert.deepEqual(config.warnings, ["verify_reload has no effect without svid_file_name: there is no written certificate to compare with"]);
  });

  it("names the key, the file and the fix for a missing or malformed address and a bad value", () => {
    const cases: [string, string, RegExp][] = [
      ["verify_reload:\n  window: 5s\n", "verify_reload.address", /helper\.yaml:5:3: .*is missing, so nothing would be verified; add verify_reload\.address/],
      ["verify_reload:\n  address: localhost\n", "verify_reload.address", /"localhost" is not host:port.*write e\.g\. verify_reload\.address: 127\.0\.0\.1:8443/],
      ["verify_reload:\n  address: h:1\n  protocol: mysql\n", "verify_reload.protocol", /"mysql" is not one of "tls", "postgres"/],
      ["verify_reload:\n  address: h:1\n  escalate: kill\n", "verify_reload.escalate", /"kill" is not one of "none", "signal", "restart"/],
    ];
    for (const [yaml, key, says] of cases) {
      assert.throws(
        () => parse(yaml),
        (error: unknown) => error instanceof ConfigError && error.key === key && says.test(error.message),
        yaml,
      );
    }
  });
});
