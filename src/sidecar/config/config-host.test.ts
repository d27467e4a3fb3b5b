import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { MAX_SECRET_FILE_BYTES, readSmallRegularFile, SecretFileError } from "./config-host.js";

describe("readSmallRegularFile (pkcs12_password_file)", () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sc-secret-"));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const refuses = (path: string, says: RegExp) =>
    assert.throws(
      () => readSmallRegularFile(path),
      (error: unknown) => error instanceof SecretFileError && error.code === "ERR_SECRET_FILE" && says.test(error.message),
    );

  it("reads a regular file", async () => {
    const path = join(dir, "password");
    await writeFile(path, "hunter2\n");
    assert.equal(readSmallRegularFile(path), "hunter2\n");
  });

  it("reads a file of exactly the limit, and refuses one byte more", async () => {
    const path = join(dir, "long");
    await writeFile(path, "x".repeat(MAX_SECRET_FILE_BYTES));
    assert.equal(readSmallRegularFile(path).length, MAX_SECRET_FILE_BYTES);
    await writeFile(path, "x".repeat(MAX_SECRET_FILE_BYTES + 1));
    refuses(path, /larger than 4096 bytes/);
  });

  it("refuses /dev/zero before reading from it", () => {
    refuses("/dev/zero", /it is a device, not a regular file/);
  });

  it("refuses a FIFO without a writer at once instead of blocking", () => {
    const path = join(dir, "fifo");
    execFileSync("mkfifo", [path]);
    // A blocking open would hang this synchronous call, and the test with it.
    refuses(path, /it is a FIFO, not a regular file/);
  });

  it("refuses a directory", () => {
    refuses(dir, /it is a directory/);
  });
});
