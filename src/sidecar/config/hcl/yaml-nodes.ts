import { LineCounter, Pair, Scalar, YAMLMap, YAMLSeq, type Node } from "yaml";
import type { DecodedMap, DecodedValue } from "./hcl-decode.js";
import type { HclLiteral } from "./hcl-parser.js";

/** Decoded HCL as the nodes the YAML readers take, and the HCL literal behind each scalar. */
export interface HclAsYaml {
  readonly root: YAMLMap;
  readonly lineCounter: LineCounter;
  readonly literals: WeakMap<Node, HclLiteral>;
}

/** Line starts of a text that no YAML parser read, so offsets into it become `line:col`. */
export function lineCounterOf(text: string): LineCounter {
  const lineCounter = new LineCounter();
  lineCounter.addNewLine(0);
  for (let index = text.indexOf("\n"); index !== -1; index = text.indexOf("\n", index + 1)) {
    lineCounter.addNewLine(index + 1);
  }
  return lineCounter;
}

const SCALAR_TYPES: Partial<Record<string, Scalar.Type>> = {
  STRING: Scalar.QUOTE_DOUBLE,
  HEREDOC: Scalar.BLOCK_LITERAL,
};

/**
 * Builds `yaml` nodes whose ranges are offsets into the HCL text, so that the schema readers,
 * `file:line:col` positions and unknown-key hints work on HCL exactly as on YAML: one schema,
 * one set of rules, two readers of syntax.
 */
export function hclAsYaml(decoded: DecodedMap, hclText: string): HclAsYaml {
  const lineCounter = lineCounterOf(hclText);
  const literals = new WeakMap<Node, HclLiteral>();
  const at = <N extends Node>(node: N, start: number, end = start + 1): N => {
    node.range = [start, end, end];
    return node;
  };
  const buildMap = (value: DecodedMap): YAMLMap => {
    const map = at(new YAMLMap(), value.offset);
    map.items = value.entries.map((entry) => {
      const key = at(new Scalar(entry.key), entry.keyOffset, entry.keyOffset + entry.key.length);
      return new Pair(key, entry.value === undefined ? null : build(entry.value));
    });
    return map;
  };
  const build = (value: DecodedValue): Node => {
    if (value.kind === "map") return buildMap(value);
    if (value.kind === "list") {
      const sequence = at(new YAMLSeq(), value.offset);
      sequence.items = value.items.map(build);
      return sequence;
    }
    const { offset, text, type } = value.literal.token;
    const scalar = at(new Scalar(value.value), offset, offset + text.length);
    scalar.type = SCALAR_TYPES[type] ?? Scalar.PLAIN;
    scalar.source = text;
    literals.set(scalar, value.literal);
    return scalar;
  };
  return { root: buildMap(decoded), lineCounter, literals };
}
