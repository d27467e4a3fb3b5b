import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startFakeAgent } from "../../src/fakeagent/server.js";
import type { FakeAgent } from "../../src/fakeagent/server.js";
import { composeX509SvidResponse } from "../../src/fakeagent/responses.js";
import { splitDerSequence } from "../../src/spiffe/der.js";
import { inspectJwtFiles, inspectX509Files, leafSerial, requireTools, runCommand, tempDir } from "./support.js";

const tools = requireTools(["spire-agent"]);

const APP_ID = "spiffe://example.org/app";
const DB_ID = "spiffe://example.org/db";
const AUDIENCE = "interop-audience";

/** The JSON `spire-agent api fetch jwt -output json` prints: the SVIDs, then the bundles. */
type FetchJwtOutput = [{ svids: { spiffe_id: string; svid: string; hint: string }[] }, { bundles: Record<string, string> }];

describe("the real spire-agent CLI as a client of our fake agent", { skip: tools.skip }, () => {
  let scratch: Awaited<ReturnType<typeof tempDir>>;
  let agent: FakeAgent;

  function spireAgent(args: readonly string[]) {
    return runCommand(tools.path("spire-agent"), [...args, "-socketPath", agent.socketPath]);
  }

  before(async () => {
    scratch = await tempDir("cli-");
    agent = await startFakeAgent({
      socketPath: join(scratch.path, "agent.sock"),
      trustDomain: "example.org",
      identities: [{ spiffeId: APP_ID }, { spiffeId: DB_ID, hint: "db" }],
      federatesWith: ["other.org"],
      intermediate: true,
      // Long enough that nothing rotates while the suite compares what it fetched.
      x509TtlSeconds: 3600,
      jwtTtlSeconds: 3600,
    });
  });

  after(async () => {
    await agent?.stop();
    await scratch?.remove();
  });

  it("fetch x509 -write: every SVID, key, bundle and federated bundle, passing inspect", async (t) => {
    const dir = join(scratch.path, "x509");
    await mkdir(dir);
    const result = await spireAgent(["api", "fetch", "x509", "-write", dir]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Received 2 svids/);
    assert.match(result.stdout, new RegExp(`SPIFFE ID:\\t+${APP_ID}\\n`));
    assert.match(result.stdout, new RegExp(`SPIFFE ID:\\t+${DB_ID}\\nHint:\\t+db\\n`));
    assert.deepEqual((await readdir(dir)).sort(), [
      "bundle.0.pem", "bundle.1.pem", "federated_bundle.0.0.pem", "federated_bundle.1.0.pem",
      "svid.0.key", "svid.0.pem", "svid.1.key", "svid.1.pem",
    ]);
    const sent = composeX509SvidResponse(agent.snapshot()).svids;
    for (const [index, expectedId] of [APP_ID, DB_ID].entries()) {
      const report = await inspectX509Files(join(dir, `svid.${index}.pem`), join(dir, `svid.${index}.key`), join(dir, `bundle.${index}.pem`));
      assert.ok(report.verdict.valid, JSON.stringify(report.verdict));
      assert.equal(report.spiffeId, expectedId);
      assert.equal(report.chain?.length, 2, "leaf and intermediate, as sent");
      const sentLeaf = splitDerSequence(sent[index]?.x509Svid ?? new Uint8Array())[0];
      assert.ok(sentLeaf);
      assert.equal(leafSerial(await readFile(join(dir, `svid.${index}.pem`))), new X509Certificate(sentLeaf).serialNumber.toLowerCase());
      t.diagnostic(`spire-agent wrote ${expectedId} serial ${report.serialHex ?? ""}: inspect VALID`);
    }
    const federated = new X509Certificate(await readFile(join(dir, "federated_bundle.0.0.pem")));
    assert.match(federated.subject, /other\.org/);
  });

  it("fetch jwt -audience: a token per identity and the JWT bundles, passing inspect", async (t) => {
    const result = await spireAgent(["api", "fetch", "jwt", "-audience", AUDIENCE, "-output", "json"]);
    assert.equal(result.code, 0, result.stderr);
    const [{ svids }, { bundles }] = JSON.parse(result.stdout) as FetchJwtOutput;
    assert.deepEqual(svids.map((svid) => [svid.spiffe_id, svid.hint]), [[APP_ID, ""], [DB_ID, "db"]]);
    assert.deepEqual(Object.keys(bundles).sort(), ["spiffe://example.org", "spiffe://other.org"]);
    // The bundles are base64 JWKS documents; inspect reads a plain JWKS file.
    const jwks = join(scratch.path, "example.org.jwks");
    await writeFile(jwks, Buffer.from(bundles["spiffe://example.org"] ?? "", "base64"));
    for (const svid of svids) {
      const token = join(scratch.path, `${svid.hint || "default"}.jwt`);
      await writeFile(token, svid.svid);
      const report = await inspectJwtFiles(token, jwks, AUDIENCE);
      assert.ok(report.verdict.valid, JSON.stringify(report.verdict));
      assert.equal(report.spiffeId, svid.spiffe_id);
      t.diagnostic(`spire-agent fetched a JWT-SVID for ${svid.spiffe_id}: inspect VALID`);
    }
  });

  it("validate jwt: our agent accepts its token for the audience and refuses another", async (t) => {
    const fetched = await spireAgent(["api", "fetch", "jwt", "-audience", AUDIENCE, "-output", "json"]);
    const [{ svids }] = JSON.parse(fetched.stdout) as FetchJwtOutput;
    const token = svids[0]?.svid ?? "";
    const accepted = await spireAgent(["api", "validate", "jwt", "-audience", AUDIENCE, "-svid", token]);
    assert.equal(accepted.code, 0, accepted.stderr);
    assert.match(accepted.stdout, /SVID is valid\./);
    assert.match(accepted.stdout, new RegExp(`SPIFFE ID : ${APP_ID}\\n`));
    t.diagnostic(`spire-agent api validate jwt: ${accepted.stdout.trim().split("\n").join(" | ")}`);
    const refused = await spireAgent(["api", "validate", "jwt", "-audience", "someone-else", "-svid", token]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /SVID is not valid: .*audience/);
  });
});
