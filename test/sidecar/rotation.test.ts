import assert from "node:assert/strict";
import { readFile, realpath, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { exitOf, fixtures, readLines, startSignalLogger, waitForReady } from "../fixtures/fixture-helpers.js";
import {
  baseConfig,
  inspectX509,
  isUpdate,
  onCleanup,
  readX509Files,
  runSidecar,
  scratch,
  startAgent,
  toldApp,
  waitFor,
  writeConfig,
  X509_FILES,
  type LogLine,
  type X509Files,
} from "./support.js";

/** Serial numbers as openssl prints them (upper case, zero-padded) and as we log them, made comparable. */
function normalizeSerial(serial: string): string {
  return serial.toLowerCase().replace(/^0+/, "");
}

function serialOfUpdate(line: LogLine): string {
  const match = /^X\.509-SVID ([0-9a-f]+)$/.exec(String(line.cause));
  assert.ok(match?.[1] !== undefined, `an X.509 update names its serial: ${JSON.stringify(line)}`);
  return normalizeSerial(match[1]);
}

function assertValidSet(files: X509Files, label: string): string {
  const report = inspectX509(files);
  assert.deepEqual(report.verdict, { valid: true }, `${label}: ${JSON.stringify(report.verdict)}`);
  assert.equal(report.spiffeId, "spiffe://example.org/app");
  assert.ok(report.passedChecks.includes("private key matches leaf"), label);
  assert.ok(report.passedChecks.includes("chain to the example.org bundle"), label);
  assert.ok(report.serialHex !== undefined);
  return normalizeSerial(report.serialHex);
}

describe("rotation", () => {
  it("writes a new valid cert, key and bundle on each of at least three rotations, and tells child, pid-file target and hook once per update", async (t) => {
    const where = await scratch(t);
    // Long at first: a renew signal must not reach the child before it has installed its handler.
    const agent = await startAgent(t, where, { x509TtlSeconds: 60 });
    const childLog = where.file("child.log");
    const targetLog = where.file("target.log");
    const hookLog = where.file("hook.log");

    // The pid-file target runs on its own, as an app started by systemd would.
    const target = startSignalLogger(targetLog);
    onCleanup(t, async () => void target.kill("SIGKILL"));
    await writeFile(where.file("app.pid"), `${await waitForReady(targetLog)}\n`);

    const config = await writeConfig(where, {
      ...baseConfig(agent, where),
      ...X509_FILES,
      cmd: process.execPath,
      cmd_args: [fixtures.signalLogger, "--log", childLog],
      renew_signal: "SIGHUP",
      pid_file_name: where.file("app.pid"),
      // The hook records the serial it finds on disk: it must run after the write, once each.
      exec_hook: {
        cmd: "/bin/sh",
        args: ["-c", 'openssl x509 -noout -serial -in "$0" >> "$1"', where.cert("svid.pem"), hookLog],
        timeout: "5s",
      },
    });
    const sidecar = runSidecar(t, config);
    await sidecar.waitForLog("the first write", isUpdate);
    await waitForReady(childLog);
    const first = await readX509Files(where);
    const seen = [{ files: first, serial: assertValidSet(first, "the first set") }];
    // Re-issues at once, then rotates every 1.5 s.
    await agent.update({ x509TtlSeconds: 3 });

    while (seen.length < 4) {
      const previous = seen.at(-1);
      assert.ok(previous !== undefined);
      const files = await waitFor("the next rotation on disk", async () => {
        const current = await readX509Files(where);
        return current.cert === previous.files.cert ? undefined : current;
      });
      const label = `set ${seen.length + 1}`;
      const serial = assertValidSet(files, label);
      assert.notEqual(serial, previous.serial, `${label}: a new certificate`);
      assert.notEqual(files.key, previous.files.key, `${label}: a new key`);
      assert.equal(files.bundle, previous.files.bundle, `${label}: the CA did not rotate, so the bundle is the same`);
      seen.push({ files, serial });
    }

    // No more updates once the agent is gone and the stream has noticed; then count.
    const linesBeforeStop = sidecar.logs.length;
    await agent.stop();
    await sidecar.waitForLogAfter("the stream loss", linesBeforeStop, (line) => line.method === "FetchX509SVID");
    const updates = sidecar.logs.filter(isUpdate);
    await sidecar.waitForLog("hook notifications", toldApp("exec-hook"), updates.length);
    await sidecar.waitForLog("pid-file notifications", toldApp("pid-file"), updates.length);
    await sidecar.waitForLog("child notifications", toldApp("signal-child"), updates.length - 1);

    // SIGTERM is forwarded; the child logs it and exits 0, which becomes the sidecar's status.
    assert.deepEqual(await sidecar.stop(), { code: 0, signal: null });
    target.kill("SIGTERM");
    await exitOf(target);

    assert.ok(updates.length >= 4, `at least three rotations after the first write, got ${updates.length} updates`);
    assert.equal(sidecar.count(toldApp("exec-hook")), updates.length);
    assert.equal(sidecar.count(toldApp("pid-file")), updates.length);
    // The child starts after the first write; it is signalled for every update after that.
    assert.equal(sidecar.count(toldApp("signal-child")), updates.length - 1);
    const childLines = await readLines(childLog);
    assert.equal(childLines.filter((line) => line === "SIGHUP").length, updates.length - 1, childLines.join(","));
    assert.equal(childLines.at(-1), "SIGTERM");
    const targetLines = await readLines(targetLog);
    assert.equal(targetLines.filter((line) => line === "SIGHUP").length, updates.length, targetLines.join(","));

    const hookSerials = (await readLines(hookLog)).map((line) => normalizeSerial(line.replace(/^serial=/, "")));
    // Notifications no longer hold back the next write (a pid file's retries or a slow hook must
    // not delay fresh files), so a hook may find a newer set than the update it was told of, never
    // an older one.
    const updateSerials = updates.map(serialOfUpdate);
    assert.equal(hookSerials.length, updateSerials.length, "the hook ran once per update");
    hookSerials.forEach((serial, index) => {
      const writtenAt = updateSerials.indexOf(serial);
      assert.ok(writtenAt >= index, `hook run ${index + 1} saw ${serial}, written before the update it was told of: ${updateSerials.join(", ")}`);
    });
  });

  it("follows a CA rotation: the bundle changes, and every set on disk verifies against its own bundle", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where, { x509TtlSeconds: 3, rotationOverlapMs: 500 });
    const config = await writeConfig(where, { ...baseConfig(agent, where), ...X509_FILES });
    const sidecar = runSidecar(t, config);
    await sidecar.waitForLog("the first write", isUpdate);
    const original = await readX509Files(where);

    const bundles = new Set<string>([original.bundle]);
    let rotated = false;
    const rotation = agent.rotateCa().then(() => (rotated = true));
    let checked = 0;
    // Every distinct state a reader can see while the CA is replaced must be a valid set.
    let last = original;
    await waitFor("the end of the CA rotation", async () => {
      const files = await readX509Files(where);
      if (files.cert !== last.cert || files.bundle !== last.bundle || files.key !== last.key) {
        assertValidSet(files, `state ${checked}`);
        bundles.add(files.bundle);
        checked += 1;
        last = files;
      }
      return rotated && !files.bundle.includes(firstCertificate(original.bundle)) ? true : undefined;
    });
    await rotation;

    // Old CA; old and new CA (the overlap); new CA only.
    assert.ok(bundles.size >= 3, `the bundle went through the overlap, saw ${bundles.size} bundles`);
    const final = await readX509Files(where);
    assertValidSet(final, "final set");
    assert.ok(!final.bundle.includes(firstCertificate(original.bundle)), "the old CA is retired from the bundle");
    assert.notEqual(final.cert, original.cert);
  });

  it("with write_layout: directory, a reader of ..data always finds a matching set", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where, { x509TtlSeconds: 3 });
    const config = await writeConfig(where, { ...baseConfig(agent, where), ...X509_FILES, write_layout: "directory" });
    const sidecar = runSidecar(t, config);
    await sidecar.waitForLog("the first write", isUpdate);

    // One read per poll, no retry on a mismatch: the symlink swap must make every read whole.
    const serials = new Set<string>();
    await waitFor("three certificates seen through ..data", async () => {
      let version: string;
      let files: X509Files;
      try {
        version = await realpath(where.cert("..data"));
        const [cert, key, bundle] = await Promise.all(
          Object.values(X509_FILES).map((name) => readFile(join(version, name), "utf8")),
        );
        files = { cert: cert ?? "", key: key ?? "", bundle: bundle ?? "" };
      } catch (error: unknown) {
        // The version directory was retired between realpath and read; not a torn read.
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw error;
      }
      serials.add(assertValidSet(files, version));
      return serials.size >= 3 ? true : undefined;
    });
    const certLink = await realpath(where.cert("svid.pem"));
    assert.match(certLink, /\/\.\.\d{4}_\d{2}_\d{2}_[^/]+\/svid\.pem$/, "svid.pem resolves into a version directory");
    assert.equal(sidecar.hasExited, false);
  });
});

function firstCertificate(pem: string): string {
  const end = pem.indexOf("-----END CERTIFICATE-----");
  assert.ok(end > 0, "the bundle holds a certificate");
  return pem.slice(0, end);
}
