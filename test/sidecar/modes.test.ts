import assert from "node:assert/strict";
import { chmod, chown, lstat, readdir, stat } from "node:fs/promises";
import { describe, it } from "node:test";
import { baseConfig, isUpdate, runSidecar, scratch, startAgent, waitFor, writeConfig, X509_FILES } from "./support.js";

/** Outputs that hold a secret (key_file_mode, jwt_svid_file_mode, jwt_bundle_file_mode default to 0600). */
const SECRET_FILES = ["svid_key.pem", "combined.pem", "db.token", "jwt_bundle.json"];

function modeOf(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, "0");
}

/** The secret outputs and their temp files (`.<name>.tmp-<hex>`), which must be born with the final mode. */
function isSecretPath(name: string): boolean {
  return SECRET_FILES.some((secret) => name === secret || name.startsWith(`.${secret}.tmp-`));
}

describe("file modes and owners", () => {
  it("never lets a secret file, or its temp file, be wider than 0600 during many rotations, whatever the umask", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where, { x509TtlSeconds: 1, jwtTtlSeconds: 1 });
    const config = await writeConfig(where, {
      ...baseConfig(agent, where),
      ...X509_FILES,
      combined_pem_file_name: "combined.pem",
      jwt_bundle_file_name: "jwt_bundle.json",
      jwt_svids: [{ jwt_audience: "db", jwt_svid_file_name: "db.token" }],
    });
    // umask 000 would leave a file created with default permissions world-readable.
    const sidecar = runSidecar(t, config, { umask: "000" });
    await sidecar.waitForLog("the first write", isUpdate);

    let stats = 0;
    let tempsSeen = 0;
    const wide: string[] = [];
    const startUpdates = sidecar.count(isUpdate);
    // As tight a loop as the event loop allows: a wide mode that lasts a moment is caught too.
    const deadline = Date.now() + 30_000;
    while (sidecar.count(isUpdate) < startUpdates + 10) {
      assert.ok(Date.now() < deadline && !sidecar.hasExited, `ten more writes did not come\n${sidecar.tail()}`);
      for (const name of (await readdir(where.certDir)).filter(isSecretPath)) {
        try {
          const mode = (await lstat(where.cert(name))).mode & 0o7777;
          stats += 1;
          if (name.startsWith(".")) tempsSeen += 1;
          if ((mode & ~0o600) !== 0) wide.push(`${name} ${modeOf(mode)}`);
        } catch (error: unknown) {
          // A temp file renamed away between readdir and lstat.
          if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
        }
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    t.diagnostic(`${stats} stats over ${sidecar.count(isUpdate)} writes, ${tempsSeen} of them temp files`);
    assert.deepEqual(wide, []);
    assert.ok(stats > 40, `polled often enough: ${stats}`);
    for (const name of SECRET_FILES) assert.equal(modeOf((await stat(where.cert(name))).mode), "0600", name);
    // Modes are set, not left to the umask: 0644 under umask 000 too.
    assert.equal(modeOf((await stat(where.cert("svid.pem"))).mode), "0644");
  });

  it("restores a mode changed by hand on the next rotation, even for a file whose content did not change", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where, { x509TtlSeconds: 2 });
    const config = await writeConfig(where, { ...baseConfig(agent, where), ...X509_FILES, cert_file_mode: "0640" });
    // umask 077 would strip the group bit from a file created with default permissions.
    const sidecar = runSidecar(t, config, { umask: "077" });
    await sidecar.waitForLog("the first write", isUpdate);
    assert.equal(modeOf((await stat(where.cert("svid.pem"))).mode), "0640");
    assert.equal(modeOf((await stat(where.cert("svid_bundle.pem"))).mode), "0640");

    await chmod(where.cert("svid_key.pem"), 0o644);
    // The bundle's content stays the same across rotations: only the mode needs repairing.
    await chmod(where.cert("svid_bundle.pem"), 0o600);
    const updates = sidecar.count(isUpdate);
    await sidecar.waitForLog("the next rotation", isUpdate, updates + 1);
    await waitFor("the modes put right", async () => {
      const key = modeOf((await stat(where.cert("svid_key.pem"))).mode);
      const bundle = modeOf((await stat(where.cert("svid_bundle.pem"))).mode);
      return key === "0600" && bundle === "0640" ? true : undefined;
    });
  });

  it("gives every output file_owner and file_group on every write", { skip: process.getuid?.() !== 0 && "chown to another user needs root" }, async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where, { x509TtlSeconds: 2 });
    const config = await writeConfig(where, { ...baseConfig(agent, where), ...X509_FILES, file_owner: 4321, file_group: 4322 });
    const sidecar = runSidecar(t, config);
    await sidecar.waitForLog("the first write", isUpdate);
    for (const name of Object.values(X509_FILES)) {
      const { uid, gid } = await stat(where.cert(name));
      assert.deepEqual({ uid, gid }, { uid: 4321, gid: 4322 }, name);
    }
    await chown(where.cert("svid_bundle.pem"), 0, 0);
    await sidecar.waitForLog("the next rotation", isUpdate, sidecar.count(isUpdate) + 1);
    await waitFor("the owner put right", async () => {
      const { uid, gid } = await stat(where.cert("svid_bundle.pem"));
      return uid === 4321 && gid === 4322 ? true : undefined;
    });
  });
});
