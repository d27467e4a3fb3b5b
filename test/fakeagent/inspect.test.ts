import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { splitDerSequence } from "../../src/spiffe/der.js";
import { encodePem } from "../../src/spiffe/pem.js";
import { X509Source } from "../../src/workloadapi/x509-source.js";
import { JwtSource } from "../../src/workloadapi/jwt-source.js";
import { composeX509SvidResponse } from "../../src/fakeagent/responses.js";
import { runCli, sidecarBin } from "../support/run-cli.js";
import { pemOf } from "./svid-checks.js";
import { startTestAgent, tempDir, timeout, type TestAgentOptions } from "./support.js";

/** Fetches the agent's X.509-SVID as a workload would, writes it as files and runs `inspect`. */
async function inspectIssuedSvid(t: TestContext, options: TestAgentOptions): Promise<string> {
  const agent = await startTestAgent(t, { x509TtlSeconds: 60, ...options });
  const dir = await tempDir(t);
  const raw = composeX509SvidResponse(agent.snapshot()).svids[0];
  assert.ok(raw, "the agent issued an SVID");
  await writeFile(join(dir, "svid.pem"), pemOf(splitDerSequence(raw.x509Svid)));
  await writeFile(join(dir, "key.pem"), encodePem("PRIVATE KEY", raw.x509SvidKey));
  await writeFile(join(dir, "bundle.pem"), pemOf(splitDerSequence(raw.bundle)));
  const result = await runCli(sidecarBin, [
    "inspect",
    "--cert", join(dir, "svid.pem"),
    "--key", join(dir, "key.pem"),
    "--bundle", join(dir, "bundle.pem"),
  ]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  return result.stdout;
}

describe("every SVID the fake agent issues passes spiffe-sidecar inspect", () => {
  for (const [name, options] of [
    ["EC P-256 from the root", {}],
    ["EC P-256 from an intermediate", { intermediate: true }],
    ["RSA-2048 from an intermediate", { keyType: "rsa-2048", intermediate: true }],
  ] as const) {
    it(name, async (t) => {
      const stdout = await inspectIssuedSvid(t, options);
      assert.match(stdout, /SPIFFE ID: +spiffe:\/\/example\.org\/app/);
      assert.match(stdout, /Verdict: +VALID/);
      if ("intermediate" in options) assert.match(stdout, /\[1\] CA spiffe:\/\/example\.org/);
    });
  }

  it("and so does an SVID received over the Workload API, after a rotation", async (t) => {
    const agent = await startTestAgent(t, { x509TtlSeconds: 60 });
    const source = await timeout(X509Source.create({ address: agent.address }), "first X.509 update");
    t.after(() => source.close());
    const rotated = new Promise<void>((resolve) => source.once("update", () => resolve()));
    await agent.rotateNow();
    await timeout(rotated, "rotated SVID");
    const svid = source.getX509Svid();
    const dir = await tempDir(t);
    await writeFile(join(dir, "svid.pem"), svid.certificates.map((c) => encodePem("CERTIFICATE", c.der)).join(""));
    await writeFile(join(dir, "key.pem"), encodePem("PRIVATE KEY", svid.privateKey.export({ format: "der", type: "pkcs8" })));
    const bundle = source.getX509Bundle(svid.id.trustDomain);
    assert.ok(bundle);
    await writeFile(join(dir, "bundle.pem"), pemOf(bundle.authorities.map((a) => a.der)));
    const result = await runCli(sidecarBin, ["inspect", "--cert", join(dir, "svid.pem"), "--key", join(dir, "key.pem"), "--bundle", join(dir, "bundle.pem")]);
    assert.equal(result.code, 0, result.stdout);
  });

  it("and its JWT-SVIDs pass inspect against the JWT bundle it serves", async (t) => {
    const agent = await startTestAgent(t);
    const source = await timeout(JwtSource.create({ address: agent.address }), "first JWT bundle update");
    t.after(() => source.close());
    const svid = await source.fetchJwtSvid({ audience: "db" });
    const bundle = source.getJwtBundle(svid.id.trustDomain);
    assert.ok(bundle);
    const dir = await tempDir(t);
    await writeFile(join(dir, "token.jwt"), svid.token);
    await writeFile(join(dir, "jwks.json"), JSON.stringify({ keys: [...bundle.authorities].map(([kid, jwk]) => ({ ...jwk, kid })) }));
    const result = await runCli(sidecarBin, ["inspect", "--jwt", join(dir, "token.jwt"), "--jwt-bundle", join(dir, "jwks.json"), "--audience", "db"]);
    assert.equal(result.code, 0, result.stdout);
    assert.match(result.stdout, /SPIFFE ID: +spiffe:\/\/example\.org\/app/);
  });
});
