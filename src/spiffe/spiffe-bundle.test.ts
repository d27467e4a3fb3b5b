import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { describe, it } from "node:test";
import { readVector, readVectorJson } from "../../test/support/vectors.js";
import {
  jwtBundleFromSpiffeBundle,
  marshalSpiffeBundle,
  parseSpiffeBundle,
  SpiffeBundleError,
  type SpiffeBundle,
} from "./spiffe-bundle.js";
import { parseTrustDomain } from "./spiffe-id.js";

const EXAMPLE = parseTrustDomain("example.org");

interface Jwk {
  kid?: string;
  use?: string;
  x5c?: string[];
  [member: string]: unknown;
}
type EdgeCases = Record<string, { keys: Jwk[]; expect: string }>;

const edgeCases = readVectorJson<EdgeCases>("generated/spiffe-bundle-edge-cases.json");
const exampleJson = readVector("generated/spiffe-bundle-example.org.json").toString("utf8");
const example = JSON.parse(exampleJson) as { keys: Jwk[] };
const exampleCa = example.keys[0]?.x5c?.[0] ?? "";

function parse(document: unknown): SpiffeBundle {
  return parseSpiffeBundle(EXAMPLE, typeof document === "string" ? document : JSON.stringify(document));
}

function assertBundleError(document: unknown, message: RegExp): void {
  assert.throws(
    () => parse(document),
    (error: unknown) => error instanceof SpiffeBundleError && error.code === "ERR_SPIFFE_BUNDLE" && message.test(error.message),
    String(message),
  );
}

function goSpiffe(name: string): SpiffeBundle {
  return parseSpiffeBundle(EXAMPLE, readVector(`go-spiffe/bundle/spiffebundle/testdata/${name}.json`));
}

describe("parseSpiffeBundle: every case of generated/spiffe-bundle-edge-cases.json", () => {
  const expected: Record<string, { x509: number; jwt: number } | RegExp> = {
    "unknown-use-ignored": { x509: 1, jwt: 0 },
    "missing-use-ignored": { x509: 1, jwt: 0 },
    "unknown-kty-ignored": { x509: 1, jwt: 0 },
    "empty-keys": { x509: 0, jwt: 0 },
    "x509-without-x5c-ignored": { x509: 0, jwt: 0 },
    "jwt-without-kid": /JWT authority at index 0 has no key ID: "kid" must be set \(JWT-SVID §6\.1\)/,
    "x509-with-kid": { x509: 1, jwt: 0 },
  };

  it("has an expectation here for each case in the file", () => {
    assert.deepEqual(Object.keys(edgeCases).sort(), Object.keys(expected).sort());
  });

  for (const [name, outcome] of Object.entries(expected)) {
    it(`${name}: ${edgeCases[name]?.expect ?? ""}`, () => {
      const document = { keys: edgeCases[name]?.keys };
      if (outcome instanceof RegExp) return assertBundleError(document, outcome);
      const bundle = parse(document);
      assert.equal(bundle.x509Authorities.length, outcome.x509);
      assert.equal(bundle.jwtAuthorities.size, outcome.jwt);
      if (outcome.x509 === 1) {
        assert.deepEqual(Buffer.from(bundle.x509Authorities[0] ?? []), Buffer.from(exampleCa, "base64"));
      }
    });
  }
});

describe("parseSpiffeBundle against go-spiffe spiffebundle testdata", () => {
  it("spiffebundle_valid_1.json: one CA and one JWT authority, no sequence or hint", () => {
    const bundle = goSpiffe("spiffebundle_valid_1");
    assert.equal(bundle.x509Authorities.length, 1);
    assert.deepEqual([...bundle.jwtAuthorities.keys()], ["C6vs25welZOx6WksNYfbMfiw9l96pMnD"]);
    assert.equal(bundle.sequence, undefined);
    assert.equal(bundle.refreshHintSeconds, undefined);
    assert.equal("sequence" in bundle, false);
  });

  it("spiffebundle_valid_2.json: refresh hint 60 s, sequence 1, six JWT authorities", () => {
    const bundle = goSpiffe("spiffebundle_valid_2");
    assert.equal(bundle.refreshHintSeconds, 60);
    assert.equal(bundle.sequence, 1n);
    assert.equal(bundle.jwtAuthorities.size, 6);
    assert.equal(bundle.x509Authorities.length, 1);
  });

  it("spiffebundle_valid_with_wit.json: wit-svid keys are ignored as an unknown use", () => {
    const bundle = goSpiffe("spiffebundle_valid_with_wit");
    assert.deepEqual([...bundle.jwtAuthorities.keys()], ["IRsID4VIM3T11TsK43Ny1DgCD5UNWhva", "qjwWkiMpkHzIxsSrAsLxSZ2WZ8AyMESx"]);
  });

  it("spiffebundle_missing_kid.json: rejected", () => {
    assert.throws(() => goSpiffe("spiffebundle_missing_kid"), /index 1 has no key ID/);
  });

  it("spiffebundle_no_keys.json: rejected, keys must be present", () => {
    assert.throws(() => goSpiffe("spiffebundle_no_keys"), /"keys" member must be present; an empty list is valid/);
  });

  it("spiffebundle_multiple_x509.json: only the first x5c value is used (X509-SVID §6.2; go-spiffe errors)", () => {
    const raw = readVectorJson<{ keys: Jwk[] }>("go-spiffe/bundle/spiffebundle/testdata/spiffebundle_multiple_x509.json");
    const bundle = goSpiffe("spiffebundle_multiple_x509");
    assert.equal(raw.keys[0]?.x5c?.length, 2);
    assert.equal(bundle.x509Authorities.length, 1);
    assert.deepEqual(Buffer.from(bundle.x509Authorities[0] ?? []), Buffer.from(raw.keys[0]?.x5c?.[0] ?? "", "base64"));
  });
});

describe("parseSpiffeBundle: generated example.org and other.org bundles", () => {
  it("reads example.org and marshals it back byte for byte", () => {
    const bundle = parseSpiffeBundle(EXAMPLE, exampleJson);
    assert.equal(bundle.sequence, 1n);
    assert.equal(bundle.refreshHintSeconds, 300);
    assert.equal(bundle.x509Authorities.length, 1);
    assert.match(new X509Certificate(bundle.x509Authorities[0] ?? new Uint8Array()).subject, /example\.org root/);
    assert.deepEqual([...bundle.jwtAuthorities.keys()], ["kid-es256-1", "kid-rs256-1"]);
    assert.equal(marshalSpiffeBundle(bundle), exampleJson);
  });

  it("reads other.org", () => {
    const json = readVector("generated/spiffe-bundle-other.org.json").toString("utf8");
    const bundle = parseSpiffeBundle(parseTrustDomain("other.org"), json);
    assert.equal(bundle.sequence, 7n);
    assert.deepEqual([...bundle.jwtAuthorities.keys()], ["kid-other-1"]);
    assert.equal(marshalSpiffeBundle(bundle), json);
  });

  it("gives its JWT authorities as a JWT bundle of the same trust domain", () => {
    const jwt = jwtBundleFromSpiffeBundle(parseSpiffeBundle(EXAMPLE, exampleJson));
    assert.equal(jwt.trustDomain, EXAMPLE);
    assert.deepEqual([...jwt.authorities.keys()], ["kid-es256-1", "kid-rs256-1"]);
    assert.equal(jwt.authorities.get("kid-es256-1")?.["use"], undefined);
  });
});

describe("spiffe_sequence and spiffe_refresh_hint", () => {
  const withSequence = (literal: string): string => `{"keys": [], "spiffe_sequence": ${literal}}`;

  it("keeps 64-bit sequence numbers exact where JSON.parse would round them", () => {
    assert.equal(parse(withSequence("9007199254740993")).sequence, 9007199254740993n);
    assert.equal(parse(withSequence("18446744073709551615")).sequence, 2n ** 64n - 1n);
    assert.equal(parse(withSequence("0")).sequence, 0n);
    const marshalled = marshalSpiffeBundle(parse(withSequence("18446744073709551615")));
    assert.match(marshalled, /"spiffe_sequence": 18446744073709551615,/);
  });

  it("rejects sequences that are negative, beyond 64 bits or not integers", () => {
    for (const literal of ["-1", "18446744073709551616", "1.5", '"1"', "null"]) {
      assertBundleError(withSequence(literal), /"spiffe_sequence" must be an integer from 0 to 2\^64-1 \(Trust Domain & Bundle §4\.1\.1\)/);
    }
  });

  it("reads the refresh hint in seconds and rejects anything but a whole non-negative number", () => {
    assert.equal(parse({ keys: [], spiffe_refresh_hint: 0 }).refreshHintSeconds, 0);
    for (const hint of [-1, 1.5, "60", 1e300]) {
      assertBundleError({ keys: [], spiffe_refresh_hint: hint }, /"spiffe_refresh_hint" must be a whole, non-negative number of seconds/);
    }
  });
});

describe("parseSpiffeBundle: malformed x509-svid entries and documents", () => {
  const x509 = (x5c: unknown): unknown => ({ keys: [{ kty: "EC", use: "x509-svid", x5c }] });

  it("rejects x5c that is not an array or not standard base64", () => {
    assertBundleError(x509(exampleCa), /"x5c" must be an array/);
    assertBundleError(x509([exampleCa.replaceAll("+", "-").replaceAll("/", "_")]), /standard base64 DER, not base64url/);
    assertBundleError(x509([42]), /standard base64/);
  });

  it("rejects a certificate with trailing bytes, which Node's X509Certificate would accept", () => {
    const padded = Buffer.concat([Buffer.from(exampleCa, "base64"), Buffer.from([0, 0])]).toString("base64");
    assertBundleError(x509([padded]), /"x5c" is not a single DER certificate \(X509-SVID §6\.1\)/);
  });

  it("rejects well-formed DER that is not a certificate", () => {
    assertBundleError(x509([Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]).toString("base64")]), /does not hold a parsable X\.509 certificate/);
  });

  it("ignores an empty x5c list", () => {
    assert.equal(parse(x509([])).x509Authorities.length, 0);
  });

  it("rejects documents that are not bundles", () => {
    assertBundleError("[]", /must be a JSON object/);
    assertBundleError({ keys: {} }, /"keys" must be an array/);
    assertBundleError({ keys: ["x"] }, /key at index 0 is not a JSON object/);
    assertBundleError("{", /is not valid JSON/);
    assertBundleError({ keys: [{ kty: "EC", use: "jwt-svid", kid: "a", crv: "P-256", x: "AA", y: "AA" }] }, /"a" is not a valid EC public key/);
  });

  it("rejects a duplicate JWT key ID", () => {
    const key = example.keys[1];
    assertBundleError({ keys: [key, key] }, /key ID "kid-es256-1" appears more than once/);
  });
});

describe("marshalSpiffeBundle", () => {
  it("writes use, a standard-base64 x5c, kid, sequence and refresh hint, and parses back", () => {
    const bundle = parseSpiffeBundle(EXAMPLE, exampleJson);
    const written = JSON.parse(marshalSpiffeBundle({ ...bundle, sequence: 42n, refreshHintSeconds: 30 })) as Record<string, unknown>;
    assert.deepEqual(Object.keys(written), ["spiffe_sequence", "spiffe_refresh_hint", "keys"]);
    assert.equal(written["spiffe_sequence"], 42);
    assert.equal(written["spiffe_refresh_hint"], 30);
    const keys = written["keys"] as Jwk[];
    assert.deepEqual(keys.map((key) => [key.use, key.kid]), [["x509-svid", undefined], ["jwt-svid", "kid-es256-1"], ["jwt-svid", "kid-rs256-1"]]);
    assert.deepEqual(keys[0]?.x5c, [exampleCa]);
  });

  it("leaves out the optional members and writes an empty keys list", () => {
    const empty = marshalSpiffeBundle({ trustDomain: EXAMPLE, x509Authorities: [], jwtAuthorities: new Map() });
    assert.equal(empty, '{\n  "keys": []\n}');
  });
});
