import { LineCounter, Pair, Scalar, YAMLMap, YAMLSeq, type Node } from "yaml";
import type { DecodedMap, DecodedValue } from "./hcl-decode.js";
import type { HclLiteral } from "./hcl-parser.js";

/** Decoded HCL as the nodes the YAML readers take, and the HCL literal behind each scalar. */
export interface HclAsYaml {
  readonly root: YAMLMap;
  readonly lineCounter: LineCounter;
  readonly literals: WeakMap<Node, HclLiteral>;
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
  const lineCounter = new LineCounter();
  lineCounter.addNewLine(0);
  for (let index = hclText.indexOf("\n"); index !== -1; index = hclText.indexOf("\n", index + 1)) {
    lineCounter.addNewLine(index + 1);
  }
  const literals = new WeakMap<Node, HclLiteral>();
  const at = <N extends Node>(node: N, start: number, end = start + 1): N => {
    node.range = [start, end, end];
    return node;
  };
  const build = (value: DecodedValue): Node => {
    switch (value.kind) {
      case "scalar": {
        const scalar = at(new Scalar(value.value), value.literal.token.offset, value.literal.token.offset + value.literal.token.text.length);
        scalar.type = SCALAR_TYPES[value.literal.token.type] ?? Scalar.PLAIN;
        scalar.source = value.literal.token.text;
        literals.set(scalar, value.literal);
        return scalar;
      }
      case "list": {
        const sequence = at(new YAMLSeq(), value.offset);
        sequence.items = value.items.map(build);
        return sequence;
      }
      case "map": {
        const map = at(new YAMLMap(), value.offset);
        map.items = value.entries.map((entry) => {
          const key = at(new Scalar(entry.key), entry.keyOffset, entry.keyOffset + entry.key.length);
          return new Pair(key, entry.value === undefined ? null : build(entry.value));
        });
        return map;
      }
    }
  };
  return { root: build(decoded) as YAMLMap, lineCounter, literals };
}
