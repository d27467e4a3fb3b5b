import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { foldKey, heredocValue, parseGoInt, unquoteHcl } from "./go-values.js";

describe("parseGoInt (strconv.ParseInt(s, 0, 64))", () => {
  it("reads a leading 0 as octal, 0x as hex, 0o and 0b prefixes, and plain digits as decimal", () => {
    assert.deepEqual(parseGoInt("0644"), { ok: true, value: 0o644 });
    assert.deepEqual(parseGoInt("0x1A4"), { ok: true, value: 0o644 });
    assert.deepEqual(parseGoInt("0o644"), { ok: true, value: 0o644 });
    assert.deepEqual(parseGoInt("0b110100100"), { ok: true, value: 0o644 });
    assert.deepEqual(parseGoInt("420"), { ok: true, value: 420 });
    assert.deepEqual(parseGoInt("-0644"), { ok: true, value: -0o644 });
    assert.deepEqual(parseGoInt("+7"), { ok: true, value: 7 });
    assert.deepEqual(parseGoInt("0"), { ok: true, value: 0 });
  });

  it("accepts underscores only between digits, as Go does", () => {
    assert.deepEqual(parseGoInt("0_644"), { ok: true, value: 0o644 });
    assert.deepEqual(parseGoInt("6_44"), { ok: true, value: 644 });
    assert.equal(parseGoInt("6__44").ok, false);
    assert.equal(parseGoInt("_644").ok, false);
    assert.equal(parseGoInt("644_").ok, false);
  });

  it("refuses 8 and 9 in octal, empty text, spaces and values beyond int64", () => {
    for (const text of ["08", "0648", "", " 0644", "0x", "abc", "1.5", "9223372036854775808"]) {
      assert.equal(parseGoInt(text).ok, false, text);
    }
    assert.equal(parseGoInt("9223372036854775807").ok, true);
    assert.match(String((parseGoInt("9223372036854775808") as { error: string }).error), /value out of range/);
  });
});

describe("unquoteHcl", () => {
  it("decodes Go escapes and keeps ${...} interpolations verbatim", () => {
    assert.deepEqual(unquoteHcl('"a\\tb \\"q\\" \\u00e9 \\x41 \\101"'), { ok: true, value: 'a\tb "q" é A A' });
    assert.deepEqual(unquoteHcl('"${a{"b"}c}/x"'), { ok: true, value: '${a{"b"}c}/x' });
  });

  it("refuses unknown escapes, and \\/ in JSON strings (Go's strconv.Unquote)", () => {
    assert.equal(unquoteHcl('"\\q"').ok, false);
    assert.equal(unquoteHcl('"\\400"').ok, false);
    assert.equal(unquoteHcl('"a\\/b"', { interpolation: false }).ok, false);
    assert.deepEqual(unquoteHcl('"${x}"', { interpolation: false }), { ok: true, value: "${x}" });
  });
});

describe("heredocValue (hcl's unindentHeredoc)", () => {
  it("keeps the body of <<EOF as written, closing indentation included", () => {
    assert.equal(heredocValue("<<EOF\n  a\nb\nEOF\n"), "  a\nb\n");
    assert.equal(heredocValue("<<EOF\na\n  EOF\n"), "a\n  ");
  });

  it("strips the closing anchor's indentation from every line of <<-EOF", () => {
    assert.equal(heredocValue("<<-EOF\n    a\n      b\n    EOF\n"), "a\n  b\n");
  });

  it("trims only trailing blanks when a line is less indented than the anchor", () => {
    assert.equal(heredocValue("<<-EOF\n a\n  EOF\n"), " a\n");
  });
});

describe("foldKey (strings.EqualFold)", () => {
  it("folds keys case-insensitively, with Unicode's simple folds", () => {
    assert.equal(foldKey("CERT_File_MODE"), "cert_file_mode");
    assert.equal(foldKey("\u212aey"), "key");
    assert.equal(foldKey("\u017fvid"), "svid");
    assert.notEqual(foldKey("\u00df"), foldKey("ss"));
  });
});
