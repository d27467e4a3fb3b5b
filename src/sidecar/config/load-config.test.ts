import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ConfigError } from "./config-error.js";
import { loadConfigFile, MAX_CONFIG_FILE_BYTES } from "./load-config.js";

const X509 = 'svid_file_name = "svid.pem"\nsvid_key_file_name = "svid_key.pem"\nsvid_bundle_file_name = "bundle.pem"\n';

describe("loadConfigFile refuses what could block or grow without bound", () => {
  let directory = "";
  before(async () => {
    directory = await mkdtemp(join(tmpdir(), "spiffe-sidecar-load-"));
  });
  after(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  const refuses = async (path: string, says: RegExp): Promise<void> => {
    await assert.rejects(loadConfigFile(path, {}, { cwd: directory }), (error: unknown) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.equal(error.file, path);
      assert.match(error.message, says);
      return true;
    });
  };

  it("refuses a FIFO without waiting for a writer", async () => {
    const fifo = join(directory, "helper.conf");
    execFileSync("mkfifo", [fifo]);
    await refuses(fifo, /cannot read the configuration file: it is a FIFO, not a regular file/);
    await rm(fifo);
  });

  it("refuses a character device", async () => {
    await refuses("/dev/zero", /cannot read the configuration file: it is a device, not a regular file/);
  });

  it("refuses a file over the size bound, naming it", async () => {
    const path = join(directory, "huge.conf");
    await writeFile(path, `${X509}${"# padding\n".repeat(MAX_CONFIG_FILE_BYTES / 10 + 1)}`);
    await refuses(path, /larger than 1048576 bytes \(1 MiB\), the limit for a configuration/);
  });

  it("refuses text that is not UTF-8", async () => {
    const path = join(directory, "latin1.conf");
    await writeFile(path, Buffer.concat([Buffer.from('cmd = "caf'), Buffer.from([0xe9]), Buffer.from('"\n')]));
    await refuses(path, /it is not UTF-8 text/);
  });

  it("reads a helper.conf at the bound's edge and through a symlink", async () => {
    const path = join(directory, "edge.conf");
    const body = `${X509}cert_file_mode = 0640\n`;
    await writeFile(path, body + "#".repeat(MAX_CONFIG_FILE_BYTES - body.length - 1) + "\n");
    const link = join(directory, "link.conf");
    execFileSync("ln", ["-s", path, link]);
    const config = await loadConfigFile(link, {}, { cwd: directory });
    assert.equal(config.certFileMode, 0o640);
  });
});
