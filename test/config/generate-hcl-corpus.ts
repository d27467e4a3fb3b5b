/**
 * Writes the generated half of the HCL differential corpus: helper.conf files with spiffe-helper's
 * keys in random order and case, every comment form, octal/hex/decimal/quoted numbers, repeated
 * keys and blocks, heredocs, lists, the JSON flavour, and deliberately broken syntax. Seeded, so
 * the committed files are reproducible:
 *
 *   node --import tsx test/config/generate-hcl-corpus.ts [count] [seed]
 *
 * Another seed (and a larger count) explores further; the committed corpus uses the default.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const OUTPUT = join(dirname(fileURLToPath(import.meta.url)), "../fixtures/hcl-corpus/generated");
const SEED = 0x5eed_11;

/** mulberry32: a tiny seeded generator, so the corpus does not change between runs. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

const random = seededRandom(Number(process.argv[3] ?? SEED));
const chance = (probability: number): boolean => random() < probability;
const pick = <T>(choices: readonly T[]): T => choices[Math.floor(random() * choices.length)] as T;
const between = (low: number, high: number): number => low + Math.floor(random() * (high - low + 1));

const STRING_KEYS = [
  "agent_address",
  "cmd",
  "cmd_args",
  "pid_file_name",
  "cert_dir",
  "renew_signal",
  "hint",
  "svid_file_name",
  "svid_key_file_name",
  "svid_bundle_file_name",
  "jwt_bundle_file_name",
];
const MODE_KEYS = ["cert_file_mode", "key_file_mode", "jwt_bundle_file_mode", "jwt_svid_file_mode"];
const BOOL_KEYS = ["add_intermediates_to_bundle", "include_federated_domains", "omit_expired", "daemon_mode"];
const UNKNOWN_KEYS = ["svid_bundel_file_name", "timeout", "certdir", "jwt_svid", "health_check"];

// Each kind of value comes as what hcl v1 decodes and, rarely picked, what it refuses.
const MODE_VALUES = [
  "0644", "0600", "0640", "0444", "0400", "0755", "0", "00644", "644", "444", "420", "384", "0x1a4", "0X1A4",
  "-1", "-0644", '"0644"', '"420"', '"0x1a4"', '"0o644"', '"0b110"', '"0_644"', "9223372036854775807",
];
const BAD_MODE_VALUES = [
  "08", "09", "0648", "0800", "1e3", "0.5", '"08"', '"abc"', '""', '" 0644"', '"6__44"', "true", "9223372036854775808",
];
const STRING_VALUES = [
  '"svid.pem"', '"certs"', '"/run/spire/sockets/agent.sock"', '"SIGHUP"', '"SIGUSR1"', '""', '"a\\tb"',
  '"quote \\" inside"', '"${HOME}/x"', '"${a{b}c}"', '"\\u00e9t\\u00e9"', '"\\x41"', '"\\101"', '"\\U0001F600"',
  "0644", "42", "-7", "0x10", "08",
];
const BAD_STRING_VALUES = ['"bad \\q escape"', "true", "1.5", '["a"]', "{ a = 1 }"];
const BOOL_VALUES = ["true", "false"];
const BAD_BOOL_VALUES = ['"true"', "1", "0"];

/** Mostly a value hcl v1 decodes, sometimes one it refuses. */
const value = (good: readonly string[], bad: readonly string[]): string => (chance(0.015) ? pick(bad) : pick(good));
const AUDIENCES = ['"spiffe://example.org/db"', '"aud"', '"x"', "123", '""'];

function key(name: string): string {
  const cased = chance(0.15)
    ? [...name].map((char) => (chance(0.5) ? char.toUpperCase() : char)).join("")
    : chance(0.05)
      ? name.toUpperCase()
      : name;
  return chance(0.1) ? `"${cased}"` : cased;
}

function comment(): string {
  return pick(["# a comment", "// a comment", "/* a block comment */", "/* spans\n   two lines */", "#", "//"]);
}

function heredoc(): string {
  const body = pick(["line one\nline two", "  indented\n  body", "x", "", "tab\tin it"]);
  if (chance(0.5)) return `<<EOF\n${body}${body === "" ? "" : "\n"}EOF`;
  const indent = pick(["  ", "    ", "\t", ""]);
  const lines = body === "" ? "" : `${body.split("\n").map((line) => indent + line).join("\n")}\n`;
  // hcl v1 needs the closing anchor of `<<-EOT` to be at least as long as "-EOT": unindented, it never closes.
  return `<<-EOT\n${lines}${chance(0.9) ? pick([indent || " ", "  "]) : ""}EOT`;
}

function stringValue(): string {
  return chance(0.1) ? heredoc() : value(STRING_VALUES, BAD_STRING_VALUES);
}

function stringList(): string {
  const items = Array.from({ length: between(0, 3) }, () => pick(AUDIENCES));
  const separator = pick([", ", ",\n  ", " , "]);
  const trailing = chance(0.3) && items.length > 0 ? "," : "";
  const inner = chance(0.2) && items.length > 0 ? ` ${comment().replace(/^(#|\/\/).*/, "/* c */")} ` : "";
  return `[${inner}${items.join(separator)}${trailing}]`;
}

function jwtEntry(): string {
  const members: string[] = [];
  if (chance(0.9)) members.push(`${key("jwt_audience")} = ${pick(AUDIENCES)}`);
  if (chance(0.9)) members.push(`${key("jwt_svid_file_name")} = ${pick(['"jwt.token"', '"a.jwt"', "7"])}`);
  if (chance(0.4)) members.push(`${key("jwt_extra_audiences")} = ${stringList()}`);
  if (chance(0.05)) members.push(`${pick(["jwt_file_name", "audience"])} = "x"`);
  shuffle(members);
  return `{ ${members.join(pick([", ", "\n  ", " "]))} }`;
}

function healthChecks(): string {
  const members: string[] = [];
  if (chance(0.8)) members.push(`${key("listener_enabled")} = ${value(BOOL_VALUES, BAD_BOOL_VALUES)}`);
  if (chance(0.5)) members.push(`${key("bind_port")} = ${value(["8081", "0", '"8081"', "010", "0x1f91", "-1"], ["08", "true"])}`);
  if (chance(0.4)) members.push(`${key("liveness_path")} = ${pick(['"/live"', '"/healthz"', '""'])}`);
  if (chance(0.4)) members.push(`${key("readiness_path")} = ${pick(['"/ready"', '"/r"'])}`);
  shuffle(members);
  const body = members.join(pick(["\n  ", ", ", "\n  # note\n  "]));
  return pick([`${key("health_checks")} {\n  ${body}\n}`, `${key("health_checks")} = {\n  ${body}\n}`]);
}

function shuffle<T>(items: T[]): void {
  for (let index = items.length - 1; index > 0; index--) {
    const other = between(0, index);
    [items[index], items[other]] = [items[other] as T, items[index] as T];
  }
}

function hclItems(): string[] {
  const items: string[] = [];
  // A list for cmd_args is this project's extension (spiffe-helper refuses it), so it is left out.
  for (const name of STRING_KEYS) if (chance(0.5)) items.push(`${key(name)} = ${stringValue().replace(/^\[.*/, '"[a]"')}`);
  for (const name of MODE_KEYS) if (chance(0.45)) items.push(`${key(name)} = ${value(MODE_VALUES, BAD_MODE_VALUES)}`);
  for (const name of BOOL_KEYS) if (chance(0.3)) items.push(`${key(name)} = ${value(BOOL_VALUES, BAD_BOOL_VALUES)}`);
  if (chance(0.4)) items.push(healthChecks());
  if (chance(0.5)) {
    const entries = Array.from({ length: between(0, 3) }, jwtEntry);
    items.push(
      chance(0.8) ? `${key("jwt_svids")} = [${entries.join(pick([", ", ",\n  "]))}]` : `${key("jwt_svids")} ${entries[0] ?? "{}"}`,
    );
  }
  if (chance(0.08)) items.push(`${pick(UNKNOWN_KEYS)} = "x"`);
  if (chance(0.05)) items.push(`health_checks ${pick(["extra", '"label"'])} { listener_enabled = true }`);
  if (chance(0.04)) items.push(`jwt_svids "label" ${jwtEntry()}`);
  const duplicates = items.filter(() => chance(0.12));
  for (const duplicate of duplicates) {
    const name = duplicate.toLowerCase();
    const again = MODE_KEYS.some((mode) => name.includes(mode))
      ? value(MODE_VALUES, BAD_MODE_VALUES)
      : BOOL_KEYS.some((flag) => name.includes(flag))
        ? value(BOOL_VALUES, BAD_BOOL_VALUES)
        : stringValue();
    items.push(duplicate.replace(/= .*$/s, `= ${again}`));
  }
  shuffle(items);
  return items;
}

function hclFile(): string {
  const items = hclItems();
  let text = "";
  for (const item of items) {
    if (chance(0.2)) text += `${comment()}\n`;
    text += item;
    // A heredoc ends at a line holding only its anchor, so nothing may follow it on that line.
    if (/EO[FT]$/.test(item)) text += "\n";
    else text += chance(0.1) ? `, ` : chance(0.15) ? ` ${pick(["# trailing", "// trailing", "/* t */"])}\n` : "\n";
    if (chance(0.1)) text += "\n";
  }
  return chance(0.1) ? text.replaceAll("\n", "\r\n") : text;
}

function jsonValue(kind: "string" | "mode" | "bool"): string {
  if (kind === "mode") return pick(["420", '"0644"', "0644", '"0x1a4"', "384", "1.5", "null", "true"]);
  if (kind === "bool") return pick(["true", "false", '"true"', "null"]);
  return pick(['"svid.pem"', '"certs"', '""', "42", '"a\\/b"', '"\\u00e9"', "null", "[\"x\"]"]);
}

function jsonFile(): string {
  const members: string[] = [];
  for (const name of STRING_KEYS) {
    const written = jsonValue("string");
    if (chance(0.4) && !(name === "cmd_args" && written.startsWith("["))) members.push(`"${chance(0.1) ? name.toUpperCase() : name}": ${written}`);
  }
  for (const name of MODE_KEYS) if (chance(0.4)) members.push(`"${name}": ${jsonValue("mode")}`);
  for (const name of BOOL_KEYS) if (chance(0.3)) members.push(`"${name}": ${jsonValue("bool")}`);
  if (chance(0.4)) members.push(`"health_checks": {"listener_enabled": ${pick(["true", "false"])}, "bind_port": ${pick(["8081", '"9090"'])}}`);
  if (chance(0.4)) {
    const entries = Array.from({ length: between(1, 2) }, () => `{"jwt_audience": "a", "jwt_svid_file_name": "t"${chance(0.5) ? ', "jwt_extra_audiences": ["b", true, "c"]' : ""}}`);
    members.push(`"jwt_svids": [${entries.join(", ")}]`);
  }
  if (chance(0.1)) members.push(`"unknown_key": 1`);
  shuffle(members);
  const trailing = chance(0.1) ? "," : "";
  return `{\n  ${members.join(",\n  ")}${trailing}\n}\n`;
}

/** One random edit that usually breaks the syntax: a deleted, doubled or inserted character, or a cut. */
function corrupt(text: string): string {
  if (text.length === 0) return "=";
  const at = between(0, text.length - 1);
  switch (between(0, 3)) {
    case 0:
      return text.slice(0, at) + text.slice(at + 1);
    case 1:
      return text.slice(0, at) + pick(["=", "{", "}", "[", "]", '"', ",", "<<", "/*", "0", "\n", ":"]) + text.slice(at);
    case 2:
      return text.slice(0, at);
    default:
      return text.slice(0, at) + text.charAt(at) + text.slice(at);
  }
}

const count = Number(process.argv[2] ?? 400);
mkdirSync(OUTPUT, { recursive: true });
for (const file of readdirSync(OUTPUT)) if (file.endsWith(".conf")) rmSync(join(OUTPUT, file));
for (let index = 0; index < count; index++) {
  let text = chance(0.1) ? jsonFile() : hclFile();
  if (chance(0.15)) text = corrupt(text);
  writeFileSync(join(OUTPUT, `case-${String(index).padStart(3, "0")}.conf`), text);
}
console.log(`wrote ${count} files to ${OUTPUT}`);
