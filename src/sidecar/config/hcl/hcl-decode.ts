import { foldKey, parseGoInt } from "./go-values.js";
import { HclDecodeError } from "./hcl-errors.js";
import type { HclItem, HclKey, HclLiteral, HclNode, HclObject, HclObjectList } from "./hcl-parser.js";

/**
 * The Go type of a config field, which decides how hcl v1 decodes a value into it.
 * `string-or-strings` is this project's extension for argument lists (`cmd_args`), which
 * spiffe-helper types as a string.
 */
export type FieldShape =
  | { readonly kind: "string" | "int" | "bool" | "strings" | "string-or-strings" }
  | { readonly kind: "struct" | "structs"; readonly fields: StructShape };

export type StructShape = Readonly<Record<string, FieldShape>>;

/** A value as hcl v1 leaves it in a Go struct, with the source it came from. */
export type DecodedValue =
  | { readonly kind: "scalar"; readonly value: string | number | boolean; readonly literal: HclLiteral }
  | {
      readonly kind: "list";
      readonly items: readonly DecodedValue[];
      readonly offset: number;
      /** A block read into a list of structs: hcl v1 makes each of its keys an entry of its own. */
      readonly splitBlock: boolean;
    }
  | {
      readonly kind: "map";
      readonly entries: readonly DecodedEntry[];
      readonly offset: number;
      /** The keys spiffe-helper's `unusedKeyPositions` holds for this struct, sorted. */
      readonly spiffeHelperUnusedKeys: readonly string[];
    };

export type DecodedMap = DecodedValue & { readonly kind: "map" };

/**
 * One key of a struct: a field under its schema name, or a key no field claimed, as written.
 * Every unclaimed key is kept, quoted ones too, although spiffe-helper only notices some.
 */
export interface DecodedEntry {
  readonly key: string;
  readonly keyOffset: number;
  /** Undefined for a key no field claimed. */
  readonly value: DecodedValue | undefined;
}

/** An item that a key filter matched, with that key taken off (hcl's `ObjectList.Filter`). */
interface MatchedItem extends HclItem {
  readonly matchedKey: HclKey;
}

const childName = (name: string, field: string): string => (name === "" ? field : `${name}.${field}`);

function nodeOffset(node: HclNode): number {
  return node.kind === "literal" ? node.token.offset : node.offset;
}

function describeHclNode(node: HclNode): string {
  if (node.kind === "literal") {
    const { type, text } = node.token;
    return type === "STRING" || type === "HEREDOC" ? `the string ${JSON.stringify(node.stringValue)}` : text;
  }
  return node.kind === "list" ? "a list" : "a block";
}

function wrongType(name: string, node: HclNode, expected: string, fix: string): HclDecodeError {
  return new HclDecodeError(name, nodeOffset(node), `expected ${expected}, got ${describeHclNode(node)}`, fix);
}

/** The key's own name, for a fix: `jwt_svids[0].jwt_extra_audiences` → `jwt_extra_audiences`. */
const lastKey = (name: string): string => name.replace(/.*\./, "");

function listOf(items: readonly HclItem[], offset: number): HclObjectList {
  return { kind: "objectList", items, offset };
}

function decodeString(name: string, node: HclNode): DecodedValue {
  if (node.kind === "literal" && ["NUMBER", "STRING", "HEREDOC"].includes(node.token.type)) {
    return { kind: "scalar", value: node.stringValue, literal: node };
  }
  throw wrongType(name, node, "a string", `quote it: ${lastKey(name)} = "..."`);
}

function intError(name: string, literal: HclLiteral, goError: string): HclDecodeError {
  const { text, offset } = literal.token;
  if (/^[+-]?0[0-9_]/.test(literal.stringValue)) {
    return new HclDecodeError(
      name,
      offset,
      `${text} starts with 0, which makes it octal, and 8 and 9 are not octal digits`,
      "write an octal mode such as 0644, or drop the leading 0 for a decimal number",
    );
  }
  return new HclDecodeError(
    name,
    offset,
    `${text} is not an integer (${goError})`,
    "write e.g. 0644 (octal), 0x1a4 (hex) or 420 (decimal)",
  );
}

/** hcl v1 gives an int field `strconv.ParseInt(text, 0, 0)` of a NUMBER's text or a string's value. */
function decodeInt(name: string, node: HclNode): DecodedValue {
  if (node.kind === "literal" && (node.token.type === "NUMBER" || node.token.type === "STRING")) {
    const parsed = parseGoInt(node.stringValue);
    if (!parsed.ok) throw intError(name, node, parsed.error);
    return { kind: "scalar", value: parsed.value, literal: node };
  }
  throw wrongType(name, node, "an integer", `write e.g. ${lastKey(name)} = 0644`);
}

function decodeBool(name: string, node: HclNode): DecodedValue {
  if (node.kind === "literal" && node.token.type === "BOOL") {
    return { kind: "scalar", value: node.token.text === "true", literal: node };
  }
  throw wrongType(name, node, "true or false", `write ${lastKey(name)} = true or false, without quotes`);
}

/** hcl v1's decodeSlice: a list's items, or a block's items one by one, appended to earlier ones. */
function decodeSlice(
  name: string,
  node: HclNode,
  element: FieldShape,
  previous: DecodedValue | undefined,
): DecodedValue {
  let items: readonly HclNode[];
  if (node.kind === "objectList") items = node.items;
  else if (node.kind === "object") items = [node];
  else if (node.kind === "list") items = node.items;
  else throw wrongType(name, node, "a list", `write ${lastKey(name)} = [...]`);
  const earlier = previous?.kind === "list" ? previous : undefined;
  const decoded = [...(earlier?.items ?? [])];
  items.forEach((item, index) => {
    decoded.push(decodeValue(`${name}[${index}]`, expandObject(item, element), element, undefined));
  });
  const splitBlock =
    element.kind === "struct" &&
    node.kind === "objectList" &&
    node.items.some((item) => item.value.kind !== "object");
  return {
    kind: "list",
    items: decoded,
    offset: earlier?.offset ?? nodeOffset(node),
    splitBlock: splitBlock || (earlier?.splitBlock ?? false),
  };
}

/** hcl v1's expandObject: an item `a b = ...` in a list of structs is read as `a { b = ... }`. */
function expandObject(node: HclNode, element: FieldShape): HclNode {
  const [first, second, ...more] = node.kind === "item" ? node.keys : [];
  if (node.kind !== "item" || element.kind !== "struct" || first === undefined || second === undefined) return node;
  if (more.length > 0) return node;
  const inner: HclItem = { ...node, keys: [second] };
  const value: HclObject = { kind: "object", list: listOf([inner], node.offset), offset: node.offset };
  return { kind: "item", keys: [first], offset: node.offset, value };
}

/** The items of a list by their folded first key, in order: hcl's `ObjectList.Filter` for every key at once. */
function itemsByFirstKey(list: HclObjectList): Map<string, MatchedItem[]> {
  const byKey = new Map<string, MatchedItem[]>();
  for (const item of list.items) {
    const [first, ...rest] = item.keys;
    if (first === undefined) continue;
    const folded = foldKey(first.name);
    const matched: MatchedItem = { ...item, keys: rest, matchedKey: first };
    byKey.set(folded, [...(byKey.get(folded) ?? []), matched]);
  }
  return byKey;
}

/** The keys hcl v1 puts in `unusedKeyPositions` before fields claim theirs: IDENT and JSON keys. */
function candidateUnusedKeys(list: HclObjectList): Set<string> {
  const keys = new Set<string>();
  list.items.forEach((item, index) => {
    // hcl v1 skips every key of a multi-key item after the first item ("nested JSON").
    if (index > 0 && item.keys.length > 1) return;
    for (const key of item.keys) if (key.countsAsUnused) keys.add(key.name);
  });
  return keys;
}

/** Every first key no field claims, quoted ones included, with where it was first written. */
function unclaimedKeys(byFirstKey: ReadonlyMap<string, readonly MatchedItem[]>, fields: StructShape) {
  const foldedFields = new Set(Object.keys(fields).map(foldKey));
  const unclaimed = new Map<string, number>();
  for (const [folded, items] of byFirstKey) {
    if (foldedFields.has(folded)) continue;
    for (const { matchedKey: key } of items) if (!unclaimed.has(key.name)) unclaimed.set(key.name, key.token.offset);
  }
  return unclaimed;
}

/** The struct hcl v1's decodeStruct reads: an item's value, an object's items, a literal item alone. */
function structItems(name: string, start: HclNode): HclObjectList {
  let node: HclNode = start;
  let item: HclItem | undefined;
  if (node.kind === "item") [item, node] = [node, node.value];
  if (node.kind === "object") node = node.list;
  if (node.kind === "literal" && item !== undefined) node = listOf([item], item.offset);
  if (node.kind !== "objectList") {
    throw wrongType(name, node, "a block of keys", `write ${lastKey(name)} { key = value }`);
  }
  return node;
}

/**
 * hcl v1's decodeStruct: each field takes every item whose first key folds to its name, in
 * order (a scalar keeps the last, a list appends, a struct merges); keys spiffe-helper calls
 * unused are listed apart, and every unclaimed key is kept as an entry without a value.
 */
function decodeStruct(
  name: string,
  start: HclNode,
  fields: StructShape,
  previous: DecodedValue | undefined,
): DecodedMap {
  const list = structItems(name, start);
  const byFirstKey = itemsByFirstKey(list);
  const unused = candidateUnusedKeys(list);
  const entries = new Map<string, DecodedEntry>();
  if (previous?.kind === "map") for (const entry of previous.entries) entries.set(entry.key, entry);
  for (const [field, shape] of Object.entries(fields)) {
    const matches = byFirstKey.get(foldKey(field)) ?? [];
    const last = matches[matches.length - 1];
    if (last === undefined) continue;
    for (const key of unused) if (foldKey(key) === foldKey(field)) unused.delete(key);
    const path = childName(name, field);
    let value = entries.get(field)?.value;
    const prefixed = matches.filter((match) => match.keys.length > 0);
    if (prefixed.length > 0) value = decodeValue(path, listOf(prefixed, list.offset), shape, value);
    for (const match of matches.filter((candidate) => candidate.keys.length === 0)) {
      value = decodeValue(path, match.value.kind === "object" ? match.value.list : match.value, shape, value);
    }
    entries.set(field, { key: field, keyOffset: last.matchedKey.token.offset, value });
  }
  for (const [key, keyOffset] of unclaimedKeys(byFirstKey, fields)) {
    if (!entries.has(key)) entries.set(key, { key, keyOffset, value: undefined });
  }
  return {
    kind: "map",
    entries: [...entries.values()],
    offset: previous?.kind === "map" ? previous.offset : list.offset,
    // hcl v1 replaces the struct's unused-key map only when this pass found some.
    spiffeHelperUnusedKeys:
      unused.size > 0 || previous?.kind !== "map" ? [...unused].sort() : previous.spiffeHelperUnusedKeys,
  };
}

function decodeValue(
  name: string,
  node: HclNode,
  shape: FieldShape,
  previous: DecodedValue | undefined,
): DecodedValue {
  switch (shape.kind) {
    case "string":
      return decodeString(name, node);
    case "int":
      return decodeInt(name, node);
    case "bool":
      return decodeBool(name, node);
    case "strings":
      return decodeSlice(name, node, { kind: "string" }, previous);
    case "string-or-strings":
      if (node.kind === "list") return decodeSlice(name, node, { kind: "string" }, undefined);
      return decodeString(name, node);
    case "struct":
      return decodeStruct(name, node, shape.fields, previous);
    case "structs":
      return decodeSlice(name, node, { kind: "struct", fields: shape.fields }, previous);
  }
}

/** Decodes parsed items into a struct of the given shape, as `hcl.Decode` does into spiffe-helper's Config. */
export function decodeHcl(root: HclObjectList, fields: StructShape): DecodedMap {
  return decodeStruct("", root, fields, undefined);
}
