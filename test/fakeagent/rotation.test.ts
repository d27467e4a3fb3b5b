import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseCertificate } from "../../src/spiffe/certificate.js";
import { splitDerSequence } from "../../src/spiffe/der.js";
import { parseJwtBundle } from "../../src/spiffe/jwt-bundle.js";
import { JwtBundleSet } from "../../src/spiffe/jwt-bundle.js";
import { JwtSvidError, validateJwtSvid } from "../../src/spiffe/jwt-svid.js";
import { parseTrustDomain } from "../../src/spiffe/spiffe-id.js";
import type { JWTBundlesResponse, JWTSVIDResponse } from "../../src/workloadapi/generated/workload.js";
import { checkMessagesWithModel, checkSvidWithModel, opensslVerify } from "./svid-checks.js";
import { projectClient, rawClient, record, startTestAgent, tempDir, timeout, unaryCall, withHeader } from "./support.js";

const EXAMPLE = parseTrustDomain("example.org");

function rootSerials(bundleDer: Uint8Array): string[] {
  return splitDerSequence(bundleDer).map((der) => parseCertificate(der).serialHex);
}

function kids(response: JWTBundlesResponse): string[] {
  const jwks = response.bundles["spiffe://example.org"];
  return jwks === undefined ? [] : [...parseJwtBundle(EXAMPLE, jwks).authorities.keys()];
}

function headerKid(token: string): unknown {
  const [header = ""] = token.split(".");
  return (JSON.parse(Buffer.from(header, "base64url").toString("utf8")) as Record<string, unknown>)["kid"];
}

describe("fake agent X.509-SVID rotation", () => {
  it("rotates three times in under 5 s with a 2 s TTL, as the client sees it", async (t) => {
    const agent = await startTestAgent(t, { x509TtlSeconds: 2 });
    const client = projectClient(t, agent);
    const serials = new Set<string>();
    let lifetimeMs = 0;
    await timeout(
      new Promise<void>((resolve, reject) => {
        const watch = client.watchX509Context({
          onUpdate(context) {
            const leaf = context.svids[0]?.certificates[0];
            if (leaf === undefined) return reject(new Error("no leaf"));
            serials.add(leaf.serialHex);
            lifetimeMs = leaf.notAfter.getTime() - leaf.notBefore.getTime();
            if (serials.size >= 4) resolve();
          },
          onInvalid: reject,
        });
        t.after(() => watch.close());
      }),
      "three rotations",
      5000,
    );
    // 2 s TTL plus the 5 s NotBefore backdate; X.509's whole seconds round notBefore down and
    // notAfter up, which adds a second unless the SVID was issued on a second boundary.
    assert.ok(lifetimeMs === 7000 || lifetimeMs === 8000, `lifetime ${lifetimeMs} ms`);
  });

  it("pushes a fresh SVID on rotateNow", async (t) => {
    const agent = await startTestAgent(t, { x509TtlSeconds: 3600 });
    const stream = record(t, rawClient(t, agent).fetchX509Svid({}, withHeader()));
    const [first] = await stream.waitForCount(1);
    await agent.rotateNow();
    const [, second] = await stream.waitForCount(2);
    assert.notDeepEqual(second?.svids[0]?.x509Svid, first?.svids[0]?.x509Svid);
  });
});

describe("fake agent CA rotation", () => {
  it("publishes the new CA first, switches issuance, then retires the old one; every SVID always chains to its bundle", async (t) => {
    const dir = await tempDir(t);
    const agent = await startTestAgent(t, { x509TtlSeconds: 2, rotationOverlapMs: 300, intermediate: true });
    const raw = rawClient(t, agent);
    const svids = record(t, raw.fetchX509Svid({}, withHeader()));
    const bundles = record(t, raw.fetchX509Bundles({}, withHeader()));
    const [first] = await svids.waitForCount(1);
    await bundles.waitForCount(1);
    const [oldRoot] = rootSerials(first?.svids[0]?.bundle ?? Buffer.alloc(0));
    await timeout(agent.rotateCa(), "the CA rotation");
    const last = await svids.waitFor((message) => rootSerials(message.svids[0]?.bundle ?? Buffer.alloc(0)).length === 1 && !rootSerials(message.svids[0]?.bundle ?? Buffer.alloc(0)).includes(oldRoot ?? ""), "the old CA retired");
    const [newRoot] = rootSerials(last.svids[0]?.bundle ?? Buffer.alloc(0));
    assert.ok(oldRoot !== undefined && newRoot !== undefined && oldRoot !== newRoot);

    // The invariant, message by message, with our model and with openssl.
    checkMessagesWithModel(svids.received());
    for (const { message, receivedAt } of svids.received()) {
      for (const svid of message.svids) await opensslVerify(dir, svid, receivedAt);
    }

    // During the overlap both CAs are published, and issuance moved to the new one while the old one stayed.
    const overlap = svids.received().filter(({ message }) => rootSerials(message.svids[0]?.bundle ?? Buffer.alloc(0)).length === 2);
    const issuers = overlap.flatMap(({ message, receivedAt }) => message.svids.map((svid) => checkSvidWithModel(svid, receivedAt).rootSerial));
    assert.ok(issuers.includes(oldRoot), "an SVID from the old CA was sent with both CAs in the bundle");
    assert.ok(issuers.includes(newRoot), "an SVID from the new CA was sent with both CAs in the bundle");

    // The bundle stream shows the three steps, and never the same bundle twice in a row.
    const sequence = bundles.messages.map((message) => rootSerials(message.bundles["spiffe://example.org"] ?? Buffer.alloc(0)));
    assert.deepEqual(sequence, [[oldRoot], [oldRoot, newRoot], [newRoot]]);
  });

  it("rotates JWT keys with the same overlap: old tokens verify until the old key is retired", async (t) => {
    const agent = await startTestAgent(t, { jwtTtlSeconds: 1, rotationOverlapMs: 200 });
    const raw = rawClient(t, agent);
    const bundles = record(t, raw.fetchJwtBundles({}, withHeader()));
    const fetchToken = async (): Promise<string> => {
      const response = await unaryCall<JWTSVIDResponse>((callback) => raw.fetchJwtsvid({ audience: ["aud"], spiffeId: "" }, withHeader(), callback));
      return response.svids[0]?.svid ?? "";
    };
    const [first] = await bundles.waitForCount(1);
    const [oldKid] = kids(first ?? { bundles: {} });
    // The overlap is about keys, not time: the 1 s token is checked at the moment it was fetched,
    // so a loaded machine that takes over a second to reach the check cannot fail it.
    const fetchedAt = new Date();
    const oldToken = await fetchToken();
    assert.equal(headerKid(oldToken), oldKid);

    const rotation = agent.rotateJwtKey();
    const both = await bundles.waitFor((message) => kids(message).length === 2, "both JWT keys published");
    const overlapSet = new JwtBundleSet([parseJwtBundle(EXAMPLE, both.bundles["spiffe://example.org"] ?? "")]);
    await validateJwtSvid(oldToken, overlapSet, { audience: "aud", leewaySeconds: 0, now: fetchedAt });
    await timeout(rotation, "the JWT key rotation");

    const final = await bundles.waitFor((message) => kids(message).length === 1 && !kids(message).includes(oldKid ?? ""), "the old key retired");
    const [newKid] = kids(final);
    const finalSet = new JwtBundleSet([parseJwtBundle(EXAMPLE, final.bundles["spiffe://example.org"] ?? "")]);
    const newToken = await fetchToken();
    assert.equal(headerKid(newToken), newKid);
    await validateJwtSvid(newToken, finalSet, { audience: "aud" });
    await assert.rejects(validateJwtSvid(oldToken, finalSet, { audience: "aud" }), (error: unknown) => error instanceof JwtSvidError && error.rule === "unknown-kid");
    assert.deepEqual(bundles.messages.map(kids), [[oldKid], [oldKid, newKid], [newKid]]);
  });
});

describe("fake agent SVIDs pass openssl verify", () => {
  const variants = [
    { name: "EC P-256, issued by the root", keyType: "ec-p256", intermediate: false },
    { name: "EC P-256, with an intermediate", keyType: "ec-p256", intermediate: true },
    { name: "RSA 2048, with an intermediate", keyType: "rsa-2048", intermediate: true },
  ] as const;
  for (const variant of variants) {
    it(variant.name, async (t) => {
      const dir = await tempDir(t);
      const agent = await startTestAgent(t, {
        keyType: variant.keyType,
        intermediate: variant.intermediate,
        identities: [{ spiffeId: "spiffe://example.org/a" }, { spiffeId: "spiffe://example.org/b", hint: "b" }],
      });
      const stream = record(t, rawClient(t, agent).fetchX509Svid({}, withHeader()));
      await stream.waitForCount(1);
      await agent.rotateNow();
      await stream.waitForCount(2);
      for (const { message, receivedAt } of stream.received()) {
        assert.equal(message.svids.length, 2);
        for (const svid of message.svids) {
          assert.equal(splitDerSequence(svid.x509Svid).length, variant.intermediate ? 2 : 1);
          checkSvidWithModel(svid, receivedAt);
          await opensslVerify(dir, svid, receivedAt);
        }
      }
    });
  }
});
