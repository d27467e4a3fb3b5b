import assert from "node:assert/strict";
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createCertificateAuthority, issueX509Svid } from "../../fakeagent/ca.js";
import { splitDerSequence } from "../../spiffe/der.js";
import { encodePem } from "../../spiffe/pem.js";
import { parseSpiffeId, parseTrustDomain } from "../../spiffe/spiffe-id.js";
import { AtomicFileWriter } from "./atomic-file-writer.js";
import { recoveryTargets, repairInterruptedUpdates } from "./interrupted-update-repair.js";
import { checkKeyPair } from "./key-pair-check.js";
import { contentDigest, updateTempPath } from "./update-temp-name.js";

let root: string;
let counter = 0;
/** Two complete X.509 sets, as an update replaces one with the other: [bundle, cert, key]. */
let oldSet: string[];
let newSet: string[];
const NAMES = ["svid_bundle.pem", "svid.pem", "svid_key.pem"];

async function mintSet(): Promise<string[]> {
  const ca = await createCertificateAuthority({ trustDomain: parseTrustDomain("example.org") });
  const svid = await issueX509Svid(ca, { spiffeId: parseSpiffeId("spiffe://example.org/app"), ttlSeconds: 3600 });
  const cert = splitDerSequence(svid.chainDer).map((der) => encodePem("CERTIFICATE", der)).join("");
  return [encodePem("CERTIFICATE", ca.rootDer), cert, encodePem("PRIVATE KEY", svid.privateKeyDer)];
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), "update-repair-"));
  [oldSet, newSet] = await Promise.all([mintSet(), mintSet()]);
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function freshDir(): Promise<string> {
  const dir = join(root, `d${counter++}`);
  await mkdir(dir);
  return dir;
}

/**
 * A crash state of one 3-file update of the `files` layout, built by the writer's rules:
 * `present` are the indices (1-based) whose temp files exist, `renamed` how many renames were
 * done, `partial` an index whose temp holds only the first half of its bytes.
 */
async function crashState(dir: string, state: { present: number[]; renamed: number; partial?: number }): Promise<void> {
  const update = "00112233445566aa";
  for (const [i, name] of NAMES.entries()) {
    await writeFile(join(dir, name), i < state.renamed ? (newSet[i] ?? "") : (oldSet[i] ?? ""));
  }
  for (const index of state.present) {
    const contents = Buffer.from(newSet[index - 1] ?? "");
    const temp = updateTempPath(join(dir, NAMES[index - 1] ?? ""), update, index, 3, contentDigest(contents));
    await writeFile(temp, index === state.partial ? contents.subarray(0, contents.length >> 1) : contents, { mode: 0o600 });
  }
}

async function visibleSet(dir: string): Promise<"old" | "new" | "mixed"> {
  const texts = await Promise.all(NAMES.map((name) => readFile(join(dir, name), "utf8")));
  if (texts.every((text, i) => text === oldSet[i])) return "old";
  if (texts.every((text, i) => text === newSet[i])) return "new";
  return "mixed";
}

const pairOf = (dir: string) => ({ certPath: join(dir, "svid.pem"), keyPath: join(dir, "svid_key.pem") });

/**
 * Every instant at which a kill -9 can stop the writer, in order: creating temps 1..3 (each
 * possibly half written), all staged, and after each rename; then the states its own clean-up
 * passes through (temps removed last first) and the repair's (renames in order).
 */
const CRASH_POINTS: { name: string; present: number[]; renamed: number; partial?: number; expect: "old" | "new" }[] = [
  { name: "temp 1 half written", present: [1], renamed: 0, partial: 1, expect: "old" },
  { name: "temp 1 written", present: [1], renamed: 0, expect: "old" },
  { name: "temp 2 half written", present: [1, 2], renamed: 0, partial: 2, expect: "old" },
  { name: "temp 3 half written", present: [1, 2, 3], renamed: 0, partial: 3, expect: "old" },
  { name: "all staged, before the first rename", present: [1, 2, 3], renamed: 0, expect: "old" },
  { name: "bundle renamed", present: [2, 3], renamed: 1, expect: "new" },
  { name: "bundle and cert renamed (the failure seen outside)", present: [3], renamed: 2, expect: "new" },
  { name: "all renamed, before the directory fsync", present: [], renamed: 3, expect: "new" },
];

describe("repairInterruptedUpdates", () => {
  for (const point of CRASH_POINTS) {
    it(`leaves a matching set after a crash at: ${point.name}`, async () => {
      const dir = await freshDir();
      await crashState(dir, point);
      const report = await repairInterruptedUpdates([dir]);
      assert.equal(await visibleSet(dir), point.expect);
      assert.equal(checkKeyPair(pairOf(dir)).verdict, "match");
      assert.deepEqual((await readdir(dir)).sort(), [...NAMES].sort(), "no temp file is left");
      assert.deepEqual(report.problems, []);
      assert.equal(report.rolledForward.length, point.expect === "new" ? 3 - point.renamed : 0);
      const again = await repairInterruptedUpdates([dir]);
      assert.deepEqual(again, { rolledForward: [], removed: [], discarded: [], problems: [] }, "a second run has nothing to do");
    });
  }

  it("finishes an update spread over two directories only once temp 1 is gone", async () => {
    const dir = await freshDir();
    const other = join(dir, "federated");
    await mkdir(other);
    const update = "abcdefabcdef0123";
    await writeFile(join(dir, "svid.pem"), "old cert");
    await writeFile(updateTempPath(join(other, "a.org.pem"), update, 1, 2, contentDigest(Buffer.from("new a"))), "new a");
    await writeFile(updateTempPath(join(dir, "svid.pem"), update, 2, 2, contentDigest(Buffer.from("new cert"))), "new cert");
    await repairInterruptedUpdates([dir, other]);
    assert.equal(await readFile(join(dir, "svid.pem"), "utf8"), "old cert", "temp 1 elsewhere means nothing was visible yet");
    assert.deepEqual(await readdir(other), []);
  });

  it("discards a temp whose bytes fail its name's digest, and says so", async () => {
    const dir = await freshDir();
    await crashState(dir, { present: [3], renamed: 2 });
    const [temp = ""] = (await readdir(dir)).filter((name) => name.includes(".tmp-"));
    await writeFile(join(dir, temp), "tampered");
    const report = await repairInterruptedUpdates([dir]);
    assert.deepEqual(report.discarded, [join(dir, temp)]);
    assert.equal(checkKeyPair(pairOf(dir)).verdict, "mismatch", "the check names the set the repair could not settle");
  });

  it("removes stale temps and temp symlinks without following them, and leaves a directory alone", async () => {
    const dir = await freshDir();
    const outside = join(root, `outside-${counter++}`);
    await writeFile(outside, "not ours");
    await writeFile(join(dir, ".svid.pem.tmp-0123456789abcdef"), "old-style temp");
    await symlink(outside, join(dir, ".svid_key.pem.tmp-1111111111111111"));
    await mkdir(join(dir, ".x.pem.tmp-2222222222222222"));
    await writeFile(join(dir, ".hidden"), "keep");
    const report = await repairInterruptedUpdates([dir]);
    assert.deepEqual((await readdir(dir)).sort(), [".hidden", ".x.pem.tmp-2222222222222222"]);
    assert.equal(await readFile(outside, "utf8"), "not ours");
    assert.equal(report.removed.length, 2);
    assert.match(report.problems.join("\n"), /is a directory under a temp file name; left alone/);
  });

  it("skips a directory that does not exist yet", async () => {
    const report = await repairInterruptedUpdates([join(root, "absent")]);
    assert.deepEqual(report, { rolledForward: [], removed: [], discarded: [], problems: [] });
  });
});

describe("AtomicFileWriter.recover", () => {
  it("settles the crash seen outside (new cert, old key, the new key in a temp) and checks the pair", async () => {
    const dir = await freshDir();
    await crashState(dir, { present: [3], renamed: 2 });
    assert.equal(checkKeyPair(pairOf(dir)).verdict, "mismatch");
    const targets = recoveryTargets({ certDir: dir, svidFileName: "svid.pem", svidKeyFileName: "svid_key.pem", ...MODES });
    const report = await new AtomicFileWriter().recover(targets);
    assert.deepEqual(report.rolledForward, [join(dir, "svid_key.pem")]);
    assert.deepEqual(report.keyPairs, [{ ...pairOf(dir), verdict: "match" }]);
    assert.equal((await lstat(join(dir, "svid_key.pem"))).mode & 0o777, 0o600);
  });

  it("names every output directory, cert_dir first", () => {
    const targets = recoveryTargets(
      { certDir: "/certs", svidFileName: "svid.pem", federatedBundleDir: "fed", jwtBundleFileName: "/jwt/b.json", ...MODES },
      ["/tokens/t.jwt"],
    );
    assert.deepEqual(targets.directories, ["/certs", "/certs/fed", "/jwt", "/tokens"]);
    assert.deepEqual(targets.keyPairs, []);
  });
});

const MODES = {
  certFileMode: 0o644,
  keyFileMode: 0o600,
  jwtBundleFileMode: 0o644,
  jwtSvidFileMode: 0o600,
  addIntermediatesToBundle: false,
  includeFederatedDomains: false,
  omitExpired: false,
};
