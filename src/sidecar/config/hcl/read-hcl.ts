import { decodeHcl, type DecodedMap, type StructShape } from "./hcl-decode.js";
import { parseHcl, type HclObjectList } from "./hcl-parser.js";
import { parseHclJson } from "./json-parser.js";

export interface HclConfigDocument {
  /** The text the offsets index: the input with CRLF turned into LF, as hcl v1 parses it. */
  readonly text: string;
  readonly flavour: "hcl" | "json";
  readonly decoded: DecodedMap;
}

// Go's unicode.IsSpace, which hcl's lexMode skips before looking for `{`.
const GO_SPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*/u;

/** The text hcl v1 parses, and that error offsets index: the input with CRLF turned into LF. */
export function hclSourceText(input: string): string {
  return input.replaceAll("\r\n", "\n");
}

/**
 * Reads a helper.conf the way `hcl.Decode` does for spiffe-helper: text whose first
 * non-space character is `{` is hcl's JSON flavour, anything else HCL v1. Throws
 * `HclSyntaxError` or `HclDecodeError`, both with an offset into `text`.
 */
export function readHclConfig(input: string, shape: StructShape): HclConfigDocument {
  const text = hclSourceText(input);
  const flavour = text.slice(GO_SPACE.exec(text)?.[0].length ?? 0).startsWith("{") ? "json" : "hcl";
  const root: HclObjectList = flavour === "json" ? parseHclJson(text) : parseHcl(text);
  return { text, flavour, decoded: decodeHcl(root, shape) };
}
