export {
  decodeHcl,
  type DecodedEntry,
  type DecodedMap,
  type DecodedValue,
  type FieldShape,
  type StructShape,
} from "./hcl-decode.js";
export { HclDecodeError, HclSyntaxError } from "./hcl-errors.js";
export { hclSourceText, readHclConfig, type HclConfigDocument } from "./read-hcl.js";
export { hclAsYaml, lineCounterOf, type HclAsYaml } from "./yaml-nodes.js";
