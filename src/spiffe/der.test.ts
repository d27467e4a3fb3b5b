import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { concatDer, DerError, readDerHeader, splitDerSequence } from "./der.js";

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);

/** A SEQUENCE whose content is `length` zero bytes, with the shortest length encoding. */
function sequence(length: number): Uint8Array {
  if (length < 0x80) return new Uint8Array([0x30, length, ...new Uint8Array(length)]);
  if (length < 0x100) return new Uint8Array([0x30, 0x81, length, ...new Uint8Array(length)]);
  return new Uint8Array([0x30, 0x82, length >> 8, length & 0xff, ...new Uint8Array(length)]);
}

describe("readDerHeader", () => {
  it("reads short and long definite lengths", () => {
    assert.deepEqual(readDerHeader(bytes(0x30, 0x05), 0), { tag: 0x30, headerLength: 2, contentLength: 5 });
    assert.deepEqual(readDerHeader(bytes(0x30, 0x81, 0x80), 0), { tag: 0x30, headerLength: 3, contentLength: 0x80 });
    assert.deepEqual(readDerHeader(bytes(0x30, 0x82, 0x01, 0x5f), 0), { tag: 0x30, headerLength: 4, contentLength: 0x15f });
  });

  it("rejects BER's indefinite length form", () => {
    assert.throws(() => readDerHeader(bytes(0x30, 0x80), 0), (e: unknown) => e instanceof DerError && /indefinite length form/.test(e.message));
  });

  it("rejects lengths encoded in more octets than needed", () => {
    assert.throws(() => readDerHeader(bytes(0x30, 0x81, 0x7f), 0), /more octets than needed/);
    assert.throws(() => readDerHeader(bytes(0x30, 0x82, 0x00, 0xff), 0), /more octets than needed/);
  });

  it("rejects truncated headers and oversized length fields", () => {
    assert.throws(() => readDerHeader(bytes(0x30), 0), /truncated: no room for a tag and length/);
    assert.throws(() => readDerHeader(bytes(0x30, 0x82, 0x01), 0), /truncated inside its length octets/);
    assert.throws(() => readDerHeader(bytes(0x30, 0x85, 1, 0, 0, 0, 0), 0), /at most 4 are supported/);
  });

  it("rejects high tag numbers", () => {
    assert.throws(() => readDerHeader(bytes(0x3f, 0x01, 0x00), 0), /high tag number/);
  });
});

describe("splitDerSequence", () => {
  it("yields nothing for empty input", () => {
    assert.deepEqual(splitDerSequence(new Uint8Array(0)), []);
  });

  it("splits concatenated SEQUENCEs of each length form, exactly", () => {
    const parts = [sequence(3), sequence(200), sequence(300)];
    const split = splitDerSequence(concatDer(parts));
    assert.equal(split.length, 3);
    split.forEach((element, index) => assert.deepEqual(element, parts[index]));
  });

  it("rejects a SEQUENCE that claims more bytes than remain", () => {
    const truncated = sequence(300).subarray(0, 250);
    assert.throws(
      () => splitDerSequence(truncated),
      (e: unknown) => e instanceof DerError && e.message === "DER SEQUENCE at byte 0 declares 300 content bytes but only 246 remain",
    );
  });

  it("rejects trailing bytes that are not a SEQUENCE", () => {
    const withGarbage = concatDer([sequence(4), bytes(0x04, 0x01, 0xff)]);
    assert.throws(() => splitDerSequence(withGarbage), /expected a DER SEQUENCE \(tag 0x30\) at byte 6, found tag 0x04/);
  });

  it("rejects a lone trailing byte", () => {
    assert.throws(() => splitDerSequence(concatDer([sequence(4), bytes(0x30)])), /at byte 6 is truncated/);
  });

  it("returns views that cover the input without copying", () => {
    const joined = concatDer([sequence(1), sequence(2)]);
    const [, second] = splitDerSequence(joined);
    assert.equal(second?.buffer, joined.buffer);
    assert.equal(second?.byteOffset, 3);
  });
});
