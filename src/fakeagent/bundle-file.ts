import { randomBytes } from "node:crypto";
import { rename, unlink, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { encodePem } from "../spiffe/pem.js";

/**
 * Writes the trust bundle as PEM for a verifier (`--write-bundle`), atomically: a reader sees
 * the old file or the new one, never a half-written one. Rewritten only when it changes.
 */
export class BundleFileWriter {
  #lastPem: string | undefined;

  constructor(readonly path: string) {}

  async write(authoritiesDer: readonly Uint8Array[]): Promise<boolean> {
    const pem = authoritiesDer.map((der) => encodePem("CERTIFICATE", der)).join("");
    if (pem === this.#lastPem) return false;
    const temporary = join(dirname(this.path), `.${basename(this.path)}.${randomBytes(6).toString("hex")}.tmp`);
    try {
      await writeFile(temporary, pem, { mode: 0o644, flag: "wx" });
      await rename(temporary, this.path);
    } catch (error: unknown) {
      await unlink(temporary).catch(() => undefined);
      throw error;
    }
    this.#lastPem = pem;
    return true;
  }
}
