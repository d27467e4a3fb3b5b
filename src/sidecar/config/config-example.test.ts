import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ConfigError } from "./config-error.js";
import { lookupIdInDatabase } from "./config-host.js";
import { loadConfigFile } from "./load-config.js";
import { allConfigKeys, configSchema } from "./schema.js";
import type { Field, Schema } from "./schema-fields.js";

const EXAMPLE_PATH = fileURLToPath(new URL("../../../config.example.yaml", import.meta.url));

function fieldsOf(schema: Schema, prefix = ""): [key: string, field: Field<unknown>][] {
  return Object.entries(schema).flatMap(([name, field]): [string, Field<unknown>][] => [
    [`${prefix}${name}`, field],
    ...(field.children === undefined ? [] : fieldsOf(field.children, `${prefix}${name}.`)),
  ]);
}

describe("config.example.yaml", () => {
  let example = "";
  before(async () => {
    example = await readFile(EXAMPLE_PATH, "utf8");
  });

  it("parses with the loader, with no warnings", async () => {
    const config = await loadConfigFile(EXAMPLE_PATH, {}, { cwd: "/srv/app" });
    assert.equal(config.svidFileName, "/srv/app/certs/svid.pem");
    assert.equal(config.jwtBundleFileName, "/srv/app/certs/jwt_bundle.json");
    assert.deepEqual(config.warnings, []);
  });

  it("documents every key of the schema", () => {
    const missing = allConfigKeys()
      .map((key) => key.split(".").at(-1) ?? key)
      .filter((name) => !new RegExp(`^[#\\s-]*${name}:`, "m").test(example));
    assert.deepEqual(missing, []);
  });

  it("carries each key's documentation line from the schema", () => {
    const missing = fieldsOf(configSchema)
      .filter(([, field]) => !example.includes(field.doc.replace(/\.$/, "")))
      .map(([key]) => key);
    assert.deepEqual(missing, []);
  });

  it("states each default that differs from unset", () => {
    for (const [key, field] of fieldsOf(configSchema)) {
      const shown = field.format(field.defaultValue);
      if (shown === null || Array.isArray(shown) || typeof shown === "object") continue;
      const text = typeof shown === "string" && /^0\d+$/.test(shown) ? `"${shown}"` : String(shown);
      const durationText = text.replace(/^1m$/, "60s");
      assert.ok(
        example.includes(`Default: ${text}`) || example.includes(`Default: ${durationText}`),
        `${key}: Default: ${text}`,
      );
    }
  });
});

describe("loadConfigFile", () => {
  let directory = "";
  before(async () => {
    directory = await mkdtemp(join(tmpdir(), "spiffe-sidecar-config-"));
  });
  after(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it("reads a file and resolves the password file on the real machine", async () => {
    const path = join(directory, "helper.yaml");
    await writeFile(join(directory, "p12.pass"), "changeit\n");
    await writeFile(
      path,
      `pkcs12_keystore_file_name: k.p12\npkcs12_password_file: ${join(directory, "p12.pass")}\nfile_owner: 0\n`,
    );
    const config = await loadConfigFile(path, {}, { cwd: directory });
    assert.equal(config.pkcs12Password?.reveal(), "changeit");
    assert.equal(config.pkcs12KeystoreFileName, join(directory, "k.p12"));
    assert.equal(config.fileOwner, 0);
    assert.equal(config.sourceFile, path);
  });

  it("names the missing file and the -c flag", async () => {
    const path = join(directory, "missing.yaml");
    await assert.rejects(
      loadConfigFile(path),
      (e: unknown) =>
        e instanceof ConfigError && e.file === path &&
        e.message === `${path}: cannot read the configuration file: no such file; pass its path with -c FILE`,
    );
  });

  it("reports a directory given as the file", async () => {
    await assert.rejects(
      loadConfigFile(directory),
      (e: unknown) => e instanceof ConfigError && /it is a directory/.test(e.message),
    );
  });
});

describe("lookupIdInDatabase", () => {
  const passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1234:1234::/home/app:/bin/sh\nbroken:x:notanumber:1\n";

  it("finds a name's id and nothing for unknown or malformed entries", () => {
    assert.equal(lookupIdInDatabase(passwd, "root"), 0);
    assert.equal(lookupIdInDatabase(passwd, "app"), 1234);
    assert.equal(lookupIdInDatabase(passwd, "nobody"), undefined);
    assert.equal(lookupIdInDatabase(passwd, "broken"), undefined);
    assert.equal(lookupIdInDatabase(passwd, "x"), undefined);
  });
});
