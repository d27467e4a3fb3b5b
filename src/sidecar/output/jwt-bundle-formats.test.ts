import assert from "node:assert/strict";
import type { JsonWebKey } from "node:crypto";
import { before, describe, it } from "node:test";
import { createCertificateAuthority, issueX509Svid } from "../../fakeagent/ca.js";
import { createJwtSigningKey, signJwtSvid, type JwtSigningKey } from "../../fakeagent/jwt-issuer.js";
import { parseBundleMap } from "../../spiffe/bundle-map.js";
import { JwtBundleSet, parseJwtBundle, type JwtBundle } from "../../spiffe/jwt-bundle.js";
import { parseInsecureJwtSvid } from "../../spiffe/jwt-svid.js";
import { parseSpiffeId, parseTrustDomain } from "../../spiffe/spiffe-id.js";
import { parseX509BundleDer, X509BundleSet } from "../../spiffe/x509-bundle.js";
import { parseX509SvidDer } from "../../spiffe/x509-svid.js";
import type { IdentityState } from "./identity-state.js";
import { renderJwks, renderSpiffeHelperJwtBundle } from "./jwt-bundle-formats.js";
import type { OutputOptions } from "./output-options.js";
import { renderOutputFiles } from "./render-outputs.js";

const OPTIONS: OutputOptions = {
  certDir: "/certs",
  jwtBundleFileName: "jwt_bundle.json",
  certFileMode: 0o644,
  keyFileMode: 0o600,
  jwtBundleFileMode: 0o640,
  jwtSvidFileMode: 0o600,
  addIntermediatesToBundle: false,
  includeFederatedDomains: false,
  omitExpired: false,
};

let keys: JwtSigningKey[];
let bundles: JwtBundleSet;

function bundleOf(name: string, authorities: readonly JwtSigningKey[]): JwtBundle {
  return { trustDomain: parseTrustDomain(name), authorities: new Map(authorities.map((key) => [key.kid, key.publicJwk])) };
}

before(async () => {
  keys = await Promise.all([
    createJwtSigningKey({ kid: "b-key" }),
    createJwtSigningKey({ kid: "a-key", alg: "RS256" }),
    createJwtSigningKey({ kid: "fed-key" }),
  ]);
  const [b, a, fed] = keys as [JwtSigningKey, JwtSigningKey, JwtSigningKey];
  bundles = new JwtBundleSet([bundleOf("zeta.org", [fed]), bundleOf("example.org", [b, a])]);
});

function render(state: Partial<IdentityState>, options: Partial<OutputOptions>): string | undefined {
  const files = renderOutputFiles({ jwtSvids: new Map(), jwtBundles: bundles, ...state }, { ...OPTIONS, ...options }, new Date());
  const file = files.find((candidate) => candidate.path === "/certs/jwt_bundle.json");
  return file === undefined ? undefined : Buffer.from(file.contents).toString("utf8");
}

const authorityIds = (bundle: JwtBundle | undefined): string[] => [...(bundle?.authorities.keys() ?? [])].sort();

describe("JWT bundle in spiffe-helper's format", () => {
  it("maps each trust domain to the base64 of a go-jose JWKS, in Go's byte order", () => {
    const [, a] = keys as [JwtSigningKey, JwtSigningKey];
    const single = new JwtBundleSet([bundleOf("example.org", [a])]);
    const { n, e } = a.publicJwk;
    const jwks = `{"keys":[{"kty":"RSA","kid":"a-key","n":"${String(n)}","e":"${String(e)}"}]}`;
    assert.equal(renderSpiffeHelperJwtBundle(single), `{"example.org":"${Buffer.from(jwks).toString("base64")}"}`);
  });

  it("round-trips every trust domain, keys sorted by key ID", () => {
    const text = render({}, {}) ?? "";
    const outer = JSON.parse(text) as Record<string, string>;
    assert.deepEqual(Object.keys(outer), ["example.org", "zeta.org"]);
    const example = Buffer.from(outer["example.org"] ?? "", "base64").toString("utf8");
    assert.deepEqual((JSON.parse(example) as { keys: JsonWebKey[] }).keys.map((key) => key["kid"]), ["a-key", "b-key"]);
    assert.deepEqual(authorityIds(parseJwtBundle(parseTrustDomain("example.org"), example)), ["a-key", "b-key"]);
    assert.ok(!text.endsWith("\n"), "Go's json.Marshal writes no trailing newline");
  });

  it("orders names as Go sorts strings, not as JavaScript orders integer-like keys", () => {
    const [b] = keys as [JwtSigningKey];
    const text = renderSpiffeHelperJwtBundle(new JwtBundleSet(["9", "10", "a.org"].map((name) => bundleOf(name, [b]))));
    assert.deepEqual([...text.matchAll(/"([^"]+)":/g)].map((match) => match[1]), ["10", "9", "a.org"]);
  });

  it("escapes <, > and & as Go does", () => {
    const [b] = keys as [JwtSigningKey];
    const odd: JwtBundle = { trustDomain: parseTrustDomain("example.org"), authorities: new Map([["<k&>", b.publicJwk]]) };
    const jwks = Buffer.from(JSON.parse(renderSpiffeHelperJwtBundle(new JwtBundleSet([odd])))["example.org"] as string, "base64");
    assert.match(jwks.toString("utf8"), /"kid":"\\u003ck\\u0026\\u003e"/);
  });
});

describe("JWT bundle as a plain JWKS", () => {
  it("holds the own trust domain only, taken from the JWT-SVIDs", async () => {
    const subject = parseSpiffeId("spiffe://example.org/web");
    const token = await signJwtSvid(keys[0] as JwtSigningKey, { subject, audience: ["x"], ttlSeconds: 60 });
    const text = render({ jwtSvids: new Map([["t", parseInsecureJwtSvid(token)]]) }, { jwtBundleFormat: "jwks" }) ?? "";
    assert.deepEqual(authorityIds(parseJwtBundle(parseTrustDomain("example.org"), text)), ["a-key", "b-key"]);
    assert.ok(text.endsWith("}\n"));
  });

  it("holds the own trust domain taken from the X.509-SVID", async () => {
    const td = parseTrustDomain("zeta.org");
    const ca = await createCertificateAuthority({ trustDomain: td });
    const issued = await issueX509Svid(ca, { spiffeId: parseSpiffeId("spiffe://zeta.org/w"), ttlSeconds: 60 });
    const svid = parseX509SvidDer(issued.chainDer, issued.privateKeyDer);
    const x509 = { svid, bundles: new X509BundleSet([parseX509BundleDer(td, ca.rootDer)]) };
    const text = render({ x509 }, { jwtBundleFormat: "jwks" }) ?? "";
    assert.deepEqual(authorityIds(parseJwtBundle(td, text)), ["fed-key"]);
  });

  it("holds every trust domain with includeFederatedDomains, in name order", () => {
    const text = render({}, { jwtBundleFormat: "jwks", includeFederatedDomains: true }) ?? "";
    const kids = (JSON.parse(text) as { keys: JsonWebKey[] }).keys.map((key) => key["kid"]);
    assert.deepEqual(kids, ["a-key", "b-key", "fed-key"]);
    assert.equal(renderJwks(bundles.bundles()), text);
  });

  it("waits while the own trust domain is unknown", () => {
    assert.equal(render({}, { jwtBundleFormat: "jwks" }), undefined);
  });
});

describe("JWT bundle as a SPIFFE bundle map", () => {
  it("round-trips every trust domain's jwt-svid keys through parseBundleMap", () => {
    const text = render({}, { jwtBundleFormat: "spiffe-bundle-map" }) ?? "";
    const map = parseBundleMap(text);
    assert.deepEqual([...map.keys()], ["example.org", "zeta.org"]);
    assert.deepEqual([...(map.get("example.org")?.jwtAuthorities.keys() ?? [])], ["a-key", "b-key"]);
    assert.deepEqual(map.get("zeta.org")?.x509Authorities, []);
    assert.match(text, /"use": "jwt-svid"/);
  });

  it("is written with the JWT bundle mode and group", () => {
    const options: OutputOptions = { ...OPTIONS, jwtBundleFormat: "spiffe-bundle-map" };
    const [file] = renderOutputFiles({ jwtSvids: new Map(), jwtBundles: bundles }, options, new Date());
    assert.deepEqual([file?.mode, file?.group], [0o640, "jwt-bundle"]);
  });
});
