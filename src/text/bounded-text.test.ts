import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { boundList, boundText, MAX_ECHOED_CHARS } from "./bounded-text.js";

describe("boundText", () => {
  it("keeps text within the bound as it is", () => {
    assert.equal(boundText("web"), "web");
    assert.equal(boundText("x".repeat(MAX_ECHOED_CHARS)), "x".repeat(MAX_ECHOED_CHARS));
  });

  it("cuts a 3 MiB hint to the bound and says how large it was", () => {
    const hint = "h".repeat(3 * 1024 * 1024);
    const cut = boundText(hint);
    assert.equal(cut, `${"h".repeat(256)}…(3145728 bytes)`);
  });

  it("counts the original's UTF-8 bytes and never splits a surrogate pair", () => {
    const text = `${"a".repeat(9)}😀😀`;
    assert.equal(boundText(text, 10), `${"a".repeat(9)}…(17 bytes)`);
  });
});

describe("boundList", () => {
  it("quotes each item, cuts long ones, and counts those left out", () => {
    assert.equal(boundList(["a", "b"]), '"a", "b"');
    const many = Array.from({ length: 20 }, (_, index) => `hint-${index}`);
    assert.equal(boundList(many, 3), '"hint-0", "hint-1", "hint-2" and 17 more');
    assert.equal(boundList(["x".repeat(1000)]).length, 2 + 256 + "…(1000 bytes)".length);
  });
});
