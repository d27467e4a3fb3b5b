import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { DecodedMap, DecodedValue, StructShape } from "./hcl-decode.js";
import { HclDecodeError, HclSyntaxError } from "./hcl-errors.js";
import { readHclConfig } from "./read-hcl.js";

const SHAPE: StructShape = {
  cmd: { kind: "string" },
  cmd_args: { kind: "string" },
  cert_file_mode: { kind: "int" },
  daemon_mode: { kind: "bool" },
  health_checks: { kind: "struct", fields: { listener_enabled: { kind: "bool" }, bind_port: { kind: "int" } } },
  jwt_svids: {
    kind: "structs",
    fields: {
      jwt_audience: { kind: "string" },
      jwt_extra_audiences: { kind: "strings" },
      jwt_svid_file_name: { kind: "string" },
    },
  },
};

/** The decoded document as plain data: `{key: value}`, lists as arrays, unclaimed keys as `"?"`. */
function plain(value: DecodedValue | undefined): unknown {
  if (value === undefined) return "?";
  if (value.kind === "scalar") return value.value;
  if (value.kind === "list") return value.items.map(plain);
  return Object.fromEntries(value.entries.map((entry) => [entry.key, plain(entry.value)]));
}

const decode = (text: string): DecodedMap => readHclConfig(text, SHAPE).decoded;
const values = (text: string): unknown => plain(decode(text));

describe("readHclConfig decodes as hashicorp/hcl v1 does", () => {
  it("reads numbers with a leading 0 as octal, 0x as hex, others as decimal", () => {
    assert.deepEqual(values("cert_file_mode = 0644"), { cert_file_mode: 0o644 });
    assert.deepEqual(values("cert_file_mode = 0x1a4"), { cert_file_mode: 0o644 });
    assert.deepEqual(values("cert_file_mode = 420"), { cert_file_mode: 420 });
    assert.deepEqual(values("cert_file_mode = 444"), { cert_file_mode: 0o674 });
  });

  it("parses a quoted number for an int field the same way (strconv.ParseInt base 0)", () => {
    assert.deepEqual(values('cert_file_mode = "0644"'), { cert_file_mode: 0o644 });
    assert.deepEqual(values('cert_file_mode = "0o644"'), { cert_file_mode: 0o644 });
    assert.deepEqual(values('cert_file_mode = "420"'), { cert_file_mode: 420 });
  });

  it("refuses 08 and 09: a scanner error after the first digit, a ParseInt error otherwise", () => {
    assert.throws(() => decode("cert_file_mode = 0648"), (e: unknown) => e instanceof HclSyntaxError && e.message === "illegal octal number" && e.offset === 17);
    assert.throws(() => decode("cert_file_mode = 08"), (e: unknown) => e instanceof HclDecodeError && e.key === "cert_file_mode" && /starts with 0, which makes it octal/.test(e.message));
    assert.throws(() => decode('cert_file_mode = "09"'), HclDecodeError);
  });

  it("keeps a NUMBER's text for a string field, as hcl v1 does", () => {
    assert.deepEqual(values("cmd_args = 0644"), { cmd_args: "0644" });
  });

  it("matches keys case-insensitively and lets the last of repeated scalars win", () => {
    assert.deepEqual(values('CMD = "a"\nCmd = "b"\ncert_file_mode = 0600\nCERT_FILE_MODE = 0640'), { cmd: "b", cert_file_mode: 0o640 });
  });

  it("appends repeated lists and merges repeated blocks", () => {
    const text =
      'jwt_svids = [{ jwt_audience = "a", jwt_svid_file_name = "a.token" }]\n' +
      'jwt_svids = [{ jwt_audience = "b", jwt_svid_file_name = "b.token", jwt_extra_audiences = ["c", "d",] }]\n' +
      "health_checks { listener_enabled = true }\nhealth_checks = { bind_port = 9090 }\n";
    assert.deepEqual(values(text), {
      jwt_svids: [
        { jwt_audience: "a", jwt_svid_file_name: "a.token" },
        { jwt_audience: "b", jwt_svid_file_name: "b.token", jwt_extra_audiences: ["c", "d"] },
      ],
      health_checks: { listener_enabled: true, bind_port: 9090 },
    });
  });

  it("splits a jwt_svids block into one entry per key, as hcl v1's decodeSlice does", () => {
    assert.deepEqual(values('jwt_svids { jwt_audience = "a"\n jwt_svid_file_name = "t" }'), {
      jwt_svids: [{ jwt_audience: "a" }, { jwt_svid_file_name: "t" }],
    });
  });

  it("reads heredocs; an unindented closing anchor never closes <<-EOF", () => {
    assert.deepEqual(values('cmd = <<EOF\nline "one"\nEOF\n'), { cmd: 'line "one"\n' });
    assert.deepEqual(values("cmd = <<-EOF\n    a\n    EOF\n"), { cmd: "a\n" });
    assert.throws(() => decode("cmd = <<-EOF\na\nEOF\n"), /heredoc not terminated/);
  });

  it("skips the three comment forms, and refuses an unterminated block comment", () => {
    assert.deepEqual(values('# one\n// two\n/* three\n */ cmd = "a" /* four */ // five\n'), { cmd: "a" });
    assert.throws(() => decode('cmd = "a" /* open'), /comment not terminated/);
  });

  it("reads hcl's JSON flavour when the first non-space character is {", () => {
    assert.deepEqual(values(' \n{"cmd": "a", "cert_file_mode": "0640", "health_checks": {"bind_port": 1}}'), {
      cmd: "a",
      cert_file_mode: 0o640,
      health_checks: { bind_port: 1 },
    });
    assert.throws(() => decode('{"cert_file_mode": 0644}'), /numbers cannot start with 0/);
  });

  it("keeps every key no field claims, and reports the ones spiffe-helper notices", () => {
    const decoded = decode('cmd = "a"\ntimeout = 3\n"quoted" = 1\n');
    assert.deepEqual(plain(decoded), { cmd: "a", timeout: "?", quoted: "?" });
    assert.deepEqual(decoded.spiffeHelperUnusedKeys, ["timeout"]);
  });

  it("turns CRLF into LF before parsing, as hcl v1 does", () => {
    const document = readHclConfig('cmd = <<EOF\r\nx\r\nEOF\r\n', SHAPE);
    assert.deepEqual(plain(document.decoded), { cmd: "x\n" });
    assert.equal(document.text, "cmd = <<EOF\nx\nEOF\n");
  });

  it("refuses a value of the wrong type for its field, naming the key", () => {
    assert.throws(() => decode('daemon_mode = "true"'), (e: unknown) => e instanceof HclDecodeError && e.key === "daemon_mode");
    assert.throws(() => decode("health_checks = true"), (e: unknown) => e instanceof HclDecodeError && e.key === "health_checks");
    assert.throws(() => decode('jwt_svids = [{ jwt_extra_audiences = "a" }]'), (e: unknown) => e instanceof HclDecodeError && e.key === "jwt_svids[0].jwt_extra_audiences");
  });

  it("accepts what hcl v1 accepts: `key =` at the very end is dropped", () => {
    assert.deepEqual(values('cmd = "a"\ncmd_args ='), { cmd: "a" });
  });
});
