export type { DecodedMap, DecodedValue, FieldShape, StructShape } from "./hcl-decode.js";
export { HclDecodeError, HclSyntaxError } from "./hcl-errors.js";
export type { HclLiteral } from "./hcl-parser.js";
export { hclSourceText, readHclConfig, type HclConfigDocument } from "./read-hcl.js";
export { hclAsYaml, lineCounterOf } from "./yaml-nodes.js";
