import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readVector } from "../../test/support/vectors.js";
import { parseStrictJson, StrictJsonError } from "./strict-json.js";

describe("parseStrictJson", () => {
  it("agrees with JSON.parse on the bundle vectors", () => {
    for (const file of [
      "generated/spiffe-bundle-map.json",
      "generated/spiffe-bundle-edge-cases.json",
      "go-spiffe/bundle/spiffebundle/testdata/spiffebundle_valid_2.json",
    ]) {
      const text = readVector(file).toString("utf8");
      assert.deepEqual(parseStrictJson(text), JSON.parse(text), file);
    }
  });

  it("agrees with JSON.parse on scalars, escapes and whitespace", () => {
    const samples = [
      "0", "-0", "1.5e3", "-2E-2", "9007199254740991", "true", "false", "null", '""',
      '"\\u00e9\\n\\"\\\\\\/"', '"\u{1F600}"', " [ 1 , { \"a\" : [ ] } ]\r\n\t", '{"":1}',
    ];
    for (const text of samples) assert.deepEqual(parseStrictJson(text), JSON.parse(text), text);
  });

  it("rejects what JSON.parse rejects", () => {
    const samples = [
      "", " ", "{'a':1}", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "+1", '"\t"', "tru", "nul", "[1 2]",
      '{"a" 1}', '"\\x"', "[", '"abc', "NaN", "\uFEFF{}", '{"a":1}}', "[1]x",
    ];
    for (const text of samples) {
      assert.throws(() => JSON.parse(text), SyntaxError, `JSON.parse accepts ${JSON.stringify(text)}`);
      assert.throws(() => parseStrictJson(text), StrictJsonError, JSON.stringify(text));
    }
  });

  it("rejects duplicate member names and says where", () => {
    assert.throws(
      () => parseStrictJson('{"a": {"b~/c": {"x": 1, "x": 2}}}'),
      (error: unknown) =>
        error instanceof StrictJsonError &&
        error.code === "ERR_STRICT_JSON" &&
        error.duplicateMember === "x" &&
        error.path === "/a/b~0~1c" &&
        /duplicate member name "x"/.test(error.message),
    );
  });

  it("returns unsafe integers as exact bigints and other numbers as numbers", () => {
    assert.deepEqual(parseStrictJson("[9007199254740993, -9007199254740993, 9007199254740992.0, 1e400]"), [
      9007199254740993n,
      -9007199254740993n,
      9007199254740992,
      Infinity,
    ]);
  });

  it('keeps "__proto__" an ordinary member, without touching the prototype', () => {
    const value = parseStrictJson('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
    assert.deepEqual(Object.keys(value), ["__proto__"]);
    assert.equal((value as { polluted?: unknown }).polluted, undefined);
  });

  it("bounds nesting depth instead of overflowing the stack", () => {
    assert.doesNotThrow(() => parseStrictJson("[".repeat(64) + "]".repeat(64)));
    assert.throws(() => parseStrictJson("[".repeat(100_000)), /nesting deeper than 64 levels/);
  });

  it("decodes bytes as strict UTF-8", () => {
    assert.deepEqual(parseStrictJson(new TextEncoder().encode('{"é":1}')), { é: 1 });
    assert.throws(() => parseStrictJson(Uint8Array.of(0x22, 0xff, 0x22)), /not valid UTF-8/);
  });
});
