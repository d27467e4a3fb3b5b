import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError } from "./config-error.js";
import { parseConfig } from "./parse-config.js";
import type { SidecarConfig } from "./sidecar-config.js";

const X509 = "svid_file_name: svid.pem\nsvid_key_file_name: svid_key.pem\nsvid_bundle_file_name: svid_bundle.pem\n";
const host = { userId: () => undefined, groupId: () => undefined, readSecretFile: () => "" };

function parse(text: string, file = "helper.yaml"): SidecarConfig {
  return parseConfig(text, file, {}, { cwd: "/srv/app", host });
}

describe("notify_on and spiffe_bundle_map_file_name in the config", () => {
  it("defaults notify_on to what spiffe-helper signals on: X.509 updates only", () => {
    assert.deepEqual(parse(X509).notifyOn, ["x509", "bundles"]);
  });

  it("reads a list from YAML and from spiffe-helper's HCL, an empty one meaning none", () => {
    assert.deepEqual(parse(`${X509}notify_on: [jwt_svid, x509]\n`).notifyOn, ["jwt_svid", "x509"]);
    assert.deepEqual(parse(`${X509}notify_on: []\n`).notifyOn, []);
    const hcl = 'svid_file_name = "svid.pem"\nsvid_key_file_name = "k.pem"\nsvid_bundle_file_name = "b.pem"\nnotify_on = ["jwt_bundle"]\n';
    assert.deepEqual(parse(hcl, "helper.conf").notifyOn, ["jwt_bundle"]);
  });

  it("names the file, line, item and the allowed values for an unknown kind", () => {
    assert.throws(
      () => parse(`${X509}notify_on: [x509, jwt]\n`),
      (error: unknown) =>
        error instanceof ConfigError &&
        /^helper\.yaml:4:\d+: notify_on\[1\]: "jwt" is not one of "x509", "bundles", "jwt_svid", "jwt_bundle"/.test(error.message),
    );
  });

  it("refuses a kind listed twice and a bare string", () => {
    assert.throws(() => parse(`${X509}notify_on: [x509, x509]\n`), /notify_on\[1\]: "x509" is listed twice/);
    assert.throws(() => parse(`${X509}notify_on: x509\n`), /notify_on: expected a list of strings/);
  });

  it("resolves spiffe_bundle_map_file_name against cert_dir, and it alone asks for X.509", () => {
    const config = parse("cert_dir: certs\nspiffe_bundle_map_file_name: bundle_map.json\n");
    assert.equal(config.spiffeBundleMapFileName, "/srv/app/certs/bundle_map.json");
    assert.throws(
      () => parse(`${X509}spiffe_bundle_map_file_name: svid_bundle.pem\n`),
      /spiffe_bundle_map_file_name.*svid_bundle_file_name|svid_bundle_file_name.*spiffe_bundle_map_file_name/,
    );
  });
});
