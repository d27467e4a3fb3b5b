import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import type { TestContext } from "node:test";
import type { FakeAgent } from "../../src/fakeagent/server.js";
import { parseJwtBundleFile } from "../../src/spiffe/jwt-bundle-file.js";
import { inspectJwtSvid } from "../../src/sidecar/inspect/jwt-report.js";
import { parseTrustDomain } from "../../src/spiffe/spiffe-id.js";
import {
  baseConfig,
  metricSamples,
  runSidecar,
  scratch,
  startAgent,
  subScratch,
  waitFor,
  writeConfig,
  wrote,
  type Scratch,
} from "./support.js";

interface Claims {
  readonly sub: string;
  readonly aud: string | string[];
  readonly exp: number;
  readonly iat: number;
}

/** The claims of a compact JWS; only for reading what the test already validated. */
function claimsOf(token: string): Claims {
  const payload = token.split(".")[1];
  assert.ok(payload !== undefined, "a compact JWS has a payload");
  return JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Claims;
}

function jwtConfig(agent: FakeAgent, where: Scratch, format?: string): Record<string, unknown> {
  return {
    ...baseConfig(agent, where),
    jwt_bundle_file_name: "jwt_bundle.json",
    ...(format === undefined ? {} : { jwt_bundle_format: format }),
    jwt_svids: [{ jwt_audience: "db", jwt_extra_audiences: ["cache"], jwt_svid_file_name: "db.token" }],
  };
}

/** Waits until the JWT-SVID and the JWT bundle are both on disk. */
async function writtenJwtFiles(t: TestContext, agent: FakeAgent, where: Scratch, format?: string): Promise<{ token: string; bundleJson: string }> {
  const sidecar = runSidecar(t, await writeConfig(where, jwtConfig(agent, where, format)));
  await sidecar.waitForLog("the token write", wrote(where.cert("db.token")));
  await sidecar.waitForLog("the JWT bundle write", wrote(where.cert("jwt_bundle.json")));
  return { token: await readFile(where.cert("db.token"), "utf8"), bundleJson: await readFile(where.cert("jwt_bundle.json"), "utf8") };
}

describe("JWT-SVIDs", () => {
  it("refreshes the token before it expires, each one valid against the written bundle", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where, { jwtTtlSeconds: 4 });
    const sidecar = runSidecar(t, await writeConfig(where, jwtConfig(agent, where)));

    const tokens: string[] = [];
    await waitFor("three refreshed tokens", async () => {
      const token = await readFile(where.cert("db.token"), "utf8").catch(() => undefined);
      if (token !== undefined && token !== tokens.at(-1)) tokens.push(token);
      return tokens.length >= 4 ? true : undefined;
    }, 20_000);

    const bundleJson = await readFile(where.cert("jwt_bundle.json"), "utf8");
    for (const [index, token] of tokens.entries()) {
      const report = await inspectJwtSvid({ token, bundleJson, audience: ["db"], now: new Date(claimsOf(token).iat * 1000) });
      assert.deepEqual(report.verdict, { valid: true }, `token ${index}`);
      assert.equal(report.spiffeId, "spiffe://example.org/app");
      assert.deepEqual(claimsOf(token).aud, ["db", "cache"], "the audience plus the extra audiences");
      const previous = tokens[index - 1];
      if (previous !== undefined) {
        // Fetched at half of the remaining lifetime: issued while the previous one was valid.
        assert.ok(claimsOf(token).iat < claimsOf(previous).exp, `token ${index} was fetched before token ${index - 1} expired`);
      }
    }
    assert.ok(!JSON.stringify(sidecar.logs).includes(tokens[0]?.split(".")[2] ?? "unreachable"), "no token in the log");
  });

  it("writes all three jwt_bundle_formats, each parsing back to the agent's keys", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where, { federatesWith: ["partner.org"] });
    const snapshot = agent.snapshot();
    const ownKids = kidsOf(snapshot.jwks.get("example.org"));
    const partnerKids = kidsOf(snapshot.jwks.get("partner.org"));
    const exampleOrg = parseTrustDomain("example.org");

    const results = await Promise.all(
      (["spiffe-helper", "jwks", "spiffe-bundle-map"] as const).map(async (format) => {
        const sub = await subScratch(where, format);
        return { format, ...(await writtenJwtFiles(t, agent, sub, format)) };
      }),
    );
    for (const { format, token, bundleJson } of results) {
      const parsed = parseJwtBundleFile(bundleJson, exampleOrg);
      assert.equal(parsed.format, format);
      const report = await inspectJwtSvid({ token, bundleJson, audience: ["db"], now: new Date() });
      assert.deepEqual(report.verdict, { valid: true }, format);
      assert.deepEqual([...(parsed.bundles.get(exampleOrg)?.authorities.keys() ?? [])].sort(), ownKids, `${format}: own keys`);
    }

    const document = (format: string): Record<string, unknown> =>
      JSON.parse(results.find((result) => result.format === format)?.bundleJson ?? "") as Record<string, unknown>;
    // spiffe-helper: every trust domain the agent sent, as base64 of its JWKS.
    const helper = document("spiffe-helper");
    assert.deepEqual(Object.keys(helper).sort(), ["example.org", "partner.org"]);
    assert.deepEqual(kidsOf(Buffer.from(String(helper["partner.org"]), "base64").toString("utf8")), partnerKids);
    // jwks: the own trust domain only, since include_federated_domains is false.
    const jwks = document("jwks") as { keys: { kid: string }[] };
    assert.deepEqual(jwks.keys.map((key) => key.kid).sort(), ownKids);
    // spiffe-bundle-map: one SPIFFE bundle per trust domain.
    const map = document("spiffe-bundle-map") as { trust_domains: Record<string, unknown> };
    assert.deepEqual(Object.keys(map.trust_domains).sort(), ["example.org", "partner.org"]);
  });

  it("keeps the JWT-SVID expiry in /metrics", async (t) => {
    const where = await scratch(t);
    const agent = await startAgent(t, where);
    const sidecar = runSidecar(
      t,
      await writeConfig(where, { ...jwtConfig(agent, where), health_checks: { listener_enabled: true, bind_port: 0 } }),
    );
    const url = await sidecar.healthUrl();
    await sidecar.waitForLog("the token write", wrote(where.cert("db.token")));
    const token = await readFile(where.cert("db.token"), "utf8");
    const samples = await waitFor("the expiry gauge", async () => {
      const found = await metricSamples(url, "spiffe_sidecar_jwt_svid_expiry_timestamp_seconds");
      return found.length > 0 ? found : undefined;
    });
    assert.deepEqual(samples[0]?.labels, { file: where.cert("db.token") });
    assert.ok((samples[0]?.value ?? 0) >= claimsOf(token).exp, "the gauge shows the token on disk, or a newer one");
  });
});

function kidsOf(jwksJson: string | undefined): string[] {
  assert.ok(jwksJson !== undefined, "the agent has a JWKS for the trust domain");
  return (JSON.parse(jwksJson) as { keys: { kid: string }[] }).keys.map((key) => key.kid).sort();
}
