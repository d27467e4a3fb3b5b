import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readVectorJson } from "../../test/support/vectors.js";
import { parseSpiffeId, parseTrustDomain, SpiffeIdError, validatePath } from "./spiffe-id.js";

interface SpiffeIdVectors {
  valid: string[];
  invalid: string[];
  valid_details: { id: string; trust_domain: string; path: string }[];
  invalid_details: { id: string; error: string }[];
  implementation_defined: { id: string; note: string }[];
  trust_domain_from_string: {
    valid: { input: string; trust_domain: string }[];
    invalid: { input: string; error: string }[];
  };
  path: {
    valid: { path: string }[];
    invalid: { path: string; error: string }[];
  };
}

const vectors = readVectorJson<SpiffeIdVectors>("spiffeid.json");

describe("parseSpiffeId against test/vectors/spiffeid.json", () => {
  it(`accepts all ${vectors.valid.length} valid IDs and round-trips them`, () => {
    for (const text of vectors.valid) {
      assert.equal(parseSpiffeId(text).toString(), text, text);
    }
  });

  it("splits trust domain and path as the details say", () => {
    for (const { id, trust_domain, path } of vectors.valid_details) {
      const parsed = parseSpiffeId(id);
      assert.equal(parsed.trustDomain.name, trust_domain, id);
      assert.equal(parsed.path, path, id);
    }
  });

  it(`rejects all ${vectors.invalid.length} invalid IDs with a SpiffeIdError`, () => {
    for (const text of vectors.invalid) {
      assert.throws(() => parseSpiffeId(text), SpiffeIdError, JSON.stringify(text));
    }
  });

  it("names the same broken rule as go-spiffe", () => {
    for (const { id, error } of vectors.invalid_details) {
      assert.throws(
        () => parseSpiffeId(id),
        (e: unknown) => e instanceof SpiffeIdError && e.message.startsWith(error.replace(/^spiffeid: /, "")),
        `${JSON.stringify(id)} should fail with "${error}"`,
      );
    }
  });

  it("enforces the 255-byte trust domain limit of SPIFFE-ID §2.3", () => {
    for (const { id, note } of vectors.implementation_defined) {
      if (note.includes("exactly 255")) assert.doesNotThrow(() => parseSpiffeId(id));
      else if (note.includes("256")) assert.throws(() => parseSpiffeId(id), /longer than 255 bytes/);
    }
  });

  it("rejects a SPIFFE ID over 2048 bytes", () => {
    const long = `spiffe://example.org/${"a".repeat(2048)}`;
    assert.throws(() => parseSpiffeId(long), /longer than 2048 bytes \(SPIFFE-ID §2\.3\)/);
  });
});

describe("parseTrustDomain", () => {
  it("accepts bare names and SPIFFE IDs", () => {
    for (const { input, trust_domain } of vectors.trust_domain_from_string.valid) {
      const td = parseTrustDomain(input);
      assert.equal(td.name, trust_domain, input);
      assert.equal(td.idString(), `spiffe://${trust_domain}`);
    }
  });

  it("rejects invalid input naming the rule", () => {
    for (const { input, error } of vectors.trust_domain_from_string.invalid) {
      assert.throws(
        () => parseTrustDomain(input),
        (e: unknown) => e instanceof SpiffeIdError && e.message.startsWith(error),
        `${JSON.stringify(input)} should fail with "${error}"`,
      );
    }
  });
});

describe("validatePath", () => {
  it("accepts the valid paths", () => {
    for (const { path } of vectors.path.valid) assert.doesNotThrow(() => validatePath(path), path);
  });
  it("rejects the invalid paths naming the rule", () => {
    for (const { path, error } of vectors.path.invalid) {
      assert.throws(() => validatePath(path), (e: unknown) => e instanceof Error && e.message.startsWith(error), path);
    }
  });
});
