import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { bundleDer, createCertificateAuthority, issueX509Svid, type CertificateAuthority } from "../../src/fakeagent/ca.js";
import { createJwtSigningKey, publicJwkSet, signJwtSvid, type JwtSigningKey } from "../../src/fakeagent/jwt-issuer.js";
import { encodePem } from "../../src/spiffe/pem.js";
import { splitDerSequence } from "../../src/spiffe/der.js";
import { parseSpiffeId, parseTrustDomain } from "../../src/spiffe/spiffe-id.js";
import { runCli, sidecarBin } from "../support/run-cli.js";
import { vectorPath } from "../support/vectors.js";

const trustDomain = parseTrustDomain("example.org");
const workloadId = parseSpiffeId("spiffe://example.org/web");

function certificatesPem(chainDer: Uint8Array): string {
  return splitDerSequence(chainDer)
    .map((der) => encodePem("CERTIFICATE", der))
    .join("");
}

function inspect(...args: string[]) {
  return runCli(sidecarBin, ["inspect", ...args]);
}

describe("spiffe-sidecar inspect (subprocess)", () => {
  let dir: string;
  let ca: CertificateAuthority;
  let jwtKey: JwtSigningKey;
  const file = (name: string) => join(dir, name);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "inspect-"));
    // Backdated so that the expired SVID below was issued inside the CA's lifetime.
    ca = await createCertificateAuthority({
      trustDomain,
      notBefore: new Date(Date.now() - 24 * 3600_000),
      notAfter: new Date(Date.now() + 24 * 3600_000),
    });
    const otherCa = await createCertificateAuthority({ trustDomain });
    const svid = await issueX509Svid(ca, { spiffeId: workloadId, ttlSeconds: 3600 });
    const expired = await issueX509Svid(ca, {
      spiffeId: workloadId,
      ttlSeconds: 60,
      now: new Date(Date.now() - 2 * 3600_000),
    });
    const caLeaf = await issueX509Svid(ca, { spiffeId: workloadId, ttlSeconds: 3600, isCa: true });
    const otherKey = await issueX509Svid(ca, { spiffeId: workloadId, ttlSeconds: 3600 });
    await writeFile(file("svid.pem"), certificatesPem(svid.chainDer));
    await writeFile(file("svid_key.pem"), encodePem("PRIVATE KEY", svid.privateKeyDer));
    await writeFile(file("other_key.pem"), encodePem("PRIVATE KEY", otherKey.privateKeyDer));
    await writeFile(file("bundle.pem"), encodePem("CERTIFICATE", bundleDer(ca)));
    await writeFile(file("other_bundle.pem"), encodePem("CERTIFICATE", bundleDer(otherCa)));
    await writeFile(file("expired.pem"), certificatesPem(expired.chainDer));
    await writeFile(file("ca_leaf.pem"), certificatesPem(caLeaf.chainDer));

    jwtKey = await createJwtSigningKey();
    await writeFile(file("jwks.json"), JSON.stringify(publicJwkSet([jwtKey])));
    await writeFile(file("token.jwt"), await signJwtSvid(jwtKey, { subject: workloadId, audience: ["db"], ttlSeconds: 300 }));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("passes a valid SVID with its key and bundle, printing ID, serial and time left", async () => {
    const result = await inspect("--cert", file("svid.pem"), "--key", file("svid_key.pem"), "--bundle", file("bundle.pem"));
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /SPIFFE ID: +spiffe:\/\/example\.org\/web/);
    assert.match(result.stdout, /Serial: +[0-9a-f]+/);
    assert.match(result.stdout, /Time left: +(59m|1h)/);
    assert.match(result.stdout, /Chain:\n {2}\[0\] leaf spiffe:\/\/example\.org\/web/);
    assert.match(result.stdout, /Verdict: +VALID/);
  });

  it("gives machine-readable output with --json", async () => {
    const result = await inspect("--cert", file("svid.pem"), "--bundle", file("bundle.pem"), "--json");
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as { spiffeId: string; verdict: { valid: boolean }; skippedChecks: string[] };
    assert.equal(report.spiffeId, "spiffe://example.org/web");
    assert.equal(report.verdict.valid, true);
    assert.deepEqual(report.skippedChecks, ["private key (no --key)"]);
  });

  it("exits 1 naming the rule when the key does not match", async () => {
    const result = await inspect("--cert", file("svid.pem"), "--key", file("other_key.pem"));
    assert.equal(result.code, 1);
    assert.match(result.stdout, /INVALID \[key-mismatch\] leaf certificate does not match private key/);
    assert.doesNotMatch(result.stdout + result.stderr, /PRIVATE KEY|BEGIN/);
  });

  it("exits 1 when the chain does not verify to the given bundle (wrong CA)", async () => {
    const result = await inspect("--cert", file("svid.pem"), "--bundle", file("other_bundle.pem"));
    assert.equal(result.code, 1);
    assert.match(result.stdout, /INVALID \[chain-unverified\]/);
  });

  it("exits 1 for an expired SVID, and judges it valid at an earlier --at", async () => {
    const now = await inspect("--cert", file("expired.pem"), "--bundle", file("bundle.pem"));
    assert.equal(now.code, 1);
    assert.match(now.stdout, /INVALID \[expired\] certificate [0-9a-f]+ expired at/);
    assert.match(now.stdout, /Time left: +expired /);
    const earlier = new Date(Date.now() - 2 * 3600_000 + 30_000).toISOString();
    const then = await inspect("--cert", file("expired.pem"), "--bundle", file("bundle.pem"), "--at", earlier);
    assert.equal(then.code, 0, then.stdout);
  });

  it("exits 1 for a leaf that is a CA", async () => {
    const result = await inspect("--cert", file("ca_leaf.pem"));
    assert.equal(result.code, 1);
    assert.match(result.stdout, /INVALID \[leaf-is-ca\] leaf certificate must not have CA flag set to true \(X509-SVID §4\.1\)/);
  });

  it("judges the go-spiffe fixtures by structure at a time they were valid", async () => {
    const good = await inspect(
      "--cert",
      vectorPath("go-spiffe/svid/x509svid/testdata/good-leaf-and-intermediate.pem"),
      "--key",
      vectorPath("go-spiffe/svid/x509svid/testdata/key-pkcs8-ecdsa.pem"),
      "--at",
      "2020-03-24T14:30:00Z",
    );
    assert.equal(good.code, 0, good.stdout);
    const corrupt = await inspect("--cert", vectorPath("go-spiffe/svid/x509svid/testdata/corrupt-cert.pem"));
    assert.equal(corrupt.code, 1);
    assert.match(corrupt.stdout, /INVALID \[/);
    const notPem = await inspect("--cert", vectorPath("go-spiffe/svid/x509svid/testdata/not-pem"));
    assert.equal(notPem.code, 1);
    assert.match(notPem.stdout, /INVALID \[no-certificates\]/);
  });

  it("validates a JWT-SVID against a JWKS without printing the token", async () => {
    const ok = await inspect("--jwt", file("token.jwt"), "--jwt-bundle", file("jwks.json"), "--audience", "db");
    assert.equal(ok.code, 0, ok.stdout);
    assert.match(ok.stdout, /Type: +JWT-SVID/);
    assert.match(ok.stdout, /Audience: +db/);
    const wrongAudience = await inspect("--jwt", file("token.jwt"), "--jwt-bundle", file("jwks.json"), "--audience", "web");
    assert.equal(wrongAudience.code, 1);
    assert.match(wrongAudience.stdout, /INVALID \[audience\]/);
    const token = (await import("node:fs")).readFileSync(file("token.jwt"), "utf8");
    assert.ok(!(ok.stdout + wrongAudience.stdout).includes(token.split(".")[2] ?? "unreachable"));
  });

  it("exits 2 with one line for usage and I/O errors, never a stack trace", async () => {
    const cases: [string[], RegExp][] = [
      [[], /nothing to inspect/],
      [["--cert", file("missing.pem")], /cannot read .*missing\.pem: no such file/],
      [["--cert", file("svid.pem"), "--at", "yesterday"], /--at "yesterday" is not a time/],
      [["--jwt", file("token.jwt")], /--jwt needs --jwt-bundle/],
      [["--bogus"], /Unknown option '--bogus'/],
    ];
    for (const [args, message] of cases) {
      const result = await inspect(...args);
      assert.equal(result.code, 2, args.join(" "));
      assert.match(result.stderr, message);
      assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
    }
  });
});
