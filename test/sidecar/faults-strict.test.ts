import assert from "node:assert/strict";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { describe, it } from "node:test";
import type { Fault } from "../../src/fakeagent/faults.js";
import { fixtures, waitForReady } from "../fixtures/fixture-helpers.js";
import {
  baseConfig,
  isUpdate,
  probe,
  rejectedCount,
  runSidecar,
  scratch,
  snapshotFiles,
  startAgent,
  startWithHealth,
  waitFor,
  writeConfig,
  X509_FILES,
  type LogLine,
} from "./support.js";

interface StrictCase {
  readonly fault: Fault;
  /** The `reason` label of spiffe_sidecar_rejected_updates_total. */
  readonly reason: string;
  /** What the rejection line must say, so the operator learns which rule broke. */
  readonly says: RegExp;
}

// Issue 13: each was written and signalled before (items 8, 14, 15).
const cases: readonly StrictCase[] = [
  { fault: { kind: "key-trailing-bytes" }, reason: "malformed-response", says: /private key .*DER SEQUENCE spans \d+ bytes but \d+ were given/ },
  { fault: { kind: "non-ca-in-bundle" }, reason: "invalid-bundle", says: /certificate 2 \(serial [0-9a-f]+\) is not a CA/ },
  { fault: { kind: "renamed-trust-domain", trustDomain: "other.org" }, reason: "untrusted-chain", says: /belongs to trust domain "example\.org", not to "other\.org"/ },
  { fault: { kind: "long-chain" }, reason: "exceeds-bound", says: /holds 1001 certificates; at most 16 are accepted \(MAX_CHAIN_CERTIFICATES\)/ },
];

const isRejection = (line: LogLine): boolean => line.level === "warn" && line.msg === "X.509 update rejected; the files on disk are kept";

describe("strict validation: hostile X.509 updates are refused, files byte-identical, no signal", { concurrency: 2 }, () => {
  for (const { fault, reason, says } of cases) {
    it(`${fault.kind}: refused as "${reason}" and the app is not told`, async (t) => {
      const where = await scratch(t);
      // Long-lived, so that only the fault's re-issue brings an update.
      const agent = await startAgent(t, where, { x509TtlSeconds: 600 });
      const appLog = where.file("app.log");
      const config = await writeConfig(where, {
        ...baseConfig(agent, where),
        ...X509_FILES,
        cmd: process.execPath,
        cmd_args: [fixtures.signalLogger, "--log", appLog],
        renew_signal: "SIGHUP",
        health_checks: { listener_enabled: true, bind_port: 0 },
      });
      const sidecar = runSidecar(t, config);
      const url = await sidecar.healthUrl();
      await sidecar.waitForLog("the first write", isUpdate);
      await waitForReady(appLog);
      const lastGood = await snapshotFiles(Object.values(X509_FILES).map((name) => where.cert(name)));
      const updatesBefore = sidecar.count(isUpdate);

      await agent.setFault(fault);
      const [rejection] = await sidecar.waitForLog(`a rejection for ${reason}`, (line) => isRejection(line) && line.reason === reason);
      assert.match(String(rejection?.["err"]), says);
      assert.ok((await rejectedCount(url, reason)) >= 1);
      assert.equal(sidecar.count(isUpdate), updatesBefore, "nothing written");
      assert.deepEqual(await snapshotFiles([...lastGood.keys()]), lastGood, "the files are byte-identical");
      assert.doesNotMatch(await readFile(appLog, "utf8"), /SIGHUP/, "the app was not signalled");
      assert.equal((await probe(url, "/ready")).status, 200, "the files on disk are still valid");

      // The same path does write and signal once the agent behaves: the checks above could fail.
      await agent.clearFaults();
      await sidecar.waitForLog("the write after the fault", isUpdate, updatesBefore + 1);
      await waitFor("the app's SIGHUP", async () => ((await readFile(appLog, "utf8")).includes("SIGHUP") ? true : undefined));
    });
  }
});

describe("trust domain", { concurrency: 2 }, () => {
  it("trust_domain pins it: an SVID of another trust domain is refused and nothing is written", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where, { trustDomain: "other.org", identities: [{ spiffeId: "spiffe://other.org/app" }], x509TtlSeconds: 600 });
    const config = await writeConfig(where, {
      ...baseConfig(agent, where),
      ...X509_FILES,
      trust_domain: "example.org",
      health_checks: { listener_enabled: true, bind_port: 0 },
    });
    const sidecar = runSidecar(t, config);
    const url = await sidecar.healthUrl();
    const [rejection] = await sidecar.waitForLog("the rejection", (line) => isRejection(line) && line.reason === "trust-domain-mismatch");
    assert.match(String(rejection?.["err"]), /"spiffe:\/\/other\.org\/app" is of trust domain "other\.org", but trust_domain in .*sidecar\.yaml is "example\.org"/);
    const ready = await probe(url, "/ready");
    assert.equal(ready.status, 503);
    assert.deepEqual((ready.body as { spiffe_sidecar: { problems: string[] } }).spiffe_sidecar.problems, ["x509-unwritten"]);
    assert.equal(sidecar.count(isUpdate), 0);
  });

  it("unpinned, a change of trust domain is written with a warning naming both", async (t) => {
    const where = await scratch(t);
    const first = await startAgent(t, where, { x509TtlSeconds: 600 });
    const config = await writeConfig(where, { ...baseConfig(first, where), ...X509_FILES });
    const sidecar = runSidecar(t, config);
    await sidecar.waitForLog("the first write", isUpdate);
    await first.stop();
    await startAgent(t, where, { trustDomain: "other.org", identities: [{ spiffeId: "spiffe://other.org/app" }], x509TtlSeconds: 600 });
    const [warning] = await sidecar.waitForLog("the trust domain warning", (line) => line.level === "warn" && line["previous_trust_domain"] !== undefined);
    assert.equal(warning?.["previous_trust_domain"], "example.org");
    assert.equal(warning?.["trust_domain"], "other.org");
    const [written] = await sidecar.waitForLog("the other.org write", (line) => isUpdate(line) && line["spiffe_id"] === "spiffe://other.org/app");
    assert.match(String(written?.["not_after"]), /^\d{4}-\d\d-\d\dT/);
  });
});

describe("logging that a hostile agent cannot blow up", { concurrency: 2 }, () => {
  it("a 3 MiB hint is cut in the rejection line", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where, { identities: [{ spiffeId: "spiffe://example.org/app", hint: "web" }], x509TtlSeconds: 600 });
    const config = await writeConfig(where, { ...baseConfig(agent, where), ...X509_FILES, hint: "web" });
    const sidecar = runSidecar(t, config);
    await sidecar.waitForLog("the first write", isUpdate);
    await agent.setFault({ kind: "huge-hint" });
    const [rejection] = await sidecar.waitForLog("the hint rejection", (line) => isRejection(line) && line.reason === "hint-not-found");
    const text = JSON.stringify(rejection);
    assert.ok(text.length < 2048, `a ${text.length}-byte log line`);
    assert.match(String(rejection?.["err"]), /no SVID has hint "web" \(hints: "h{20,}…\(3145728 bytes\)"/);
  });

  it("a flood of rejected updates gives one warn line, then one summary with the count", async (t) => {
    const where = await scratch(t);
    const { agent, sidecar, url } = await startWithHealth(t, where, { x509TtlSeconds: 600 });
    await agent.setFault({ kind: "mismatched-key" });
    const flood = 300;
    for (let index = 0; index < flood; index++) await agent.rotateNow();
    await waitFor("every rejection counted", async () => ((await rejectedCount(url, "key-mismatch")) >= flood ? true : undefined));
    const rejectedLines = () => sidecar.logs.filter((line) => line.level === "warn" && line.reason === "key-mismatch");
    assert.equal(rejectedLines().length, 1, "one line while the window is open");
    // SIGTERM logs the summaries still owed before the sidecar exits.
    await sidecar.stop();
    const lines = rejectedLines();
    assert.equal(lines.length, 2, JSON.stringify(lines));
    assert.equal(lines[1]?.["count"], countOf(lines[1]) ?? -1);
    assert.match(String(lines[1]?.msg), /^rejected [\d,]+ more X\.509 updates in the last 30 s \(key-mismatch\)/);
    assert.ok(Number(lines[1]?.["count"]) >= flood, `summary counts ${String(lines[1]?.["count"])}`);
  });
});

/** The count a summary line states in words, to check it agrees with its field. */
function countOf(line: LogLine | undefined): number | undefined {
  const match = /^rejected ([\d,]+) more/.exec(String(line?.msg));
  return match?.[1] === undefined ? undefined : Number(match[1].replaceAll(",", ""));
}

describe("health on a failed write", () => {
  it("a write that fails (cert_dir replaced by a file) keeps /live 200 and turns /ready 503 with the reason", async (t) => {
    const where = await scratch(t);
    const { agent, sidecar, url } = await startWithHealth(t, where, { x509TtlSeconds: 600 });
    // Root ignores directory modes, so the write is made to fail another way: cert_dir
    // becomes a file, and every path inside it answers ENOTDIR, as a vanished mount would.
    await rename(where.certDir, where.file("certs.saved"));
    await writeFile(where.certDir, "not a directory\n");
    await agent.rotateNow();
    await sidecar.waitForLog("the failed write", (line) => line.msg === "writing identity files failed; the previous files are kept");
    const ready = await probe(url, "/ready");
    assert.equal(ready.status, 503);
    const body = ready.body as { spiffe_sidecar: { problems: string[]; reasons: Record<string, string> } };
    assert.deepEqual(body.spiffe_sidecar.problems, ["x509-write-failed"]);
    assert.match(body.spiffe_sidecar.reasons["x509-write-failed"] ?? "", /certs is not a directory/);
    assert.doesNotMatch(JSON.stringify(ready.body), /PRIVATE KEY|BEGIN/);
    assert.equal((await probe(url, "/live")).status, 200, "a restart cannot fix a disk: liveness stays up");

    // The directory comes back: the retried write succeeds and readiness follows.
    await rm(where.certDir);
    await mkdir(where.certDir);
    await waitFor("readiness after the retried write", async () => ((await probe(url, "/ready")).status === 200 ? true : undefined));
  });
});

describe("operator log lines (issue 12 item 5)", { concurrency: 2 }, () => {
  it("a new SVID names its SPIFFE ID, serial and notAfter; a CA-only change says 'X.509 bundle changed'", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where, { x509TtlSeconds: 600 });
    const config = await writeConfig(where, { ...baseConfig(agent, where), ...X509_FILES });
    const sidecar = runSidecar(t, config);
    const [first] = await sidecar.waitForLog("the first write", isUpdate);
    const issued = agent.snapshot().svids[0];
    assert.equal(first?.["spiffe_id"], "spiffe://example.org/app");
    assert.equal(first?.["serial"], issued?.serialHex);
    assert.equal(first?.["not_after"], issued?.notAfter.toISOString());

    // The first step of a CA rotation publishes the new CA beside the old one, SVID unchanged;
    // the later steps wait out the SVID's 600 s lifetime, so the rotation ends with the agent.
    const rotation = agent.rotateCa();
    const [bundleOnly] = await sidecar.waitForLog("a bundle-only update", (line) => isUpdate(line) && line.cause === "X.509 bundle changed");
    assert.deepEqual(bundleOnly?.changed, [where.cert(X509_FILES.svid_bundle_file_name)]);
    assert.equal(bundleOnly?.["spiffe_id"], undefined, "an unchanged SVID is not named as if it were new");
    await agent.stop();
    await rotation;
  });

  it("one error line when the SVID on disk expires with no valid successor", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where, { x509TtlSeconds: 600 });
    const config = await writeConfig(where, { ...baseConfig(agent, where), ...X509_FILES });
    const sidecar = runSidecar(t, config);
    await sidecar.waitForLog("the first write", isUpdate);
    // A 2 s SVID is written, then every later one is broken: the written one runs out.
    await agent.update({ x509TtlSeconds: 2 });
    const serial = agent.snapshot().svids[0]?.serialHex;
    await agent.setFault({ kind: "mismatched-key" });
    await sidecar.waitForLog("the short SVID's write", (line) => isUpdate(line) && line["serial"] === serial);
    const isExpiry = (line: LogLine): boolean => line.level === "error" && String(line.msg).startsWith("the X.509-SVID on disk has expired");
    const [expiry] = await sidecar.waitForLog("the expiry line", isExpiry);
    assert.equal(expiry?.["serial"], serial);
    assert.equal(sidecar.count(isExpiry), 1);
  });
});
