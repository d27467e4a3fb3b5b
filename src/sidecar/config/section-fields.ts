import { isMap, isScalar, isSeq, type Node, type Pair } from "yaml";
import { closestMatch } from "../../text/closest-match.js";
import { quote } from "./config-error.js";
import type { ReadContext } from "./read-context.js";
import type { FieldShape, StructShape } from "./hcl/index.js";
import { describeNode, type Field, type Schema, type SchemaValues } from "./schema-fields.js";

function defaultsOf<S extends Schema>(schema: S): SchemaValues<S> {
  const values: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(schema)) values[name] = field.defaultValue;
  // The loop fills exactly the keys of S with their fields' value types.
  return values as SchemaValues<S>;
}

function childKey(prefix: string, name: string): string {
  return prefix === "" ? name : `${prefix}.${name}`;
}

/** Where a key that is unknown here does belong, if it is a key of a neighbouring map. */
function misplacement(name: string, schema: Schema, outer: Schema | undefined): string | undefined {
  for (const [sectionName, field] of Object.entries(schema)) {
    if (field.children !== undefined && Object.hasOwn(field.children, name)) {
      return `move it under ${sectionName}:`;
    }
  }
  if (outer !== undefined && Object.hasOwn(outer, name)) return "move it to the top level";
  return undefined;
}

function failUnknownKey(
  name: string,
  keyNode: Node,
  schema: Schema,
  prefix: string,
  context: ReadContext,
  outer?: Schema,
): never {
  const key = childKey(prefix, name);
  const placement = misplacement(name, schema, outer);
  if (placement !== undefined) {
    context.fail(
      key,
      keyNode,
      `${quote(name)} is not a key ${prefix === "" ? "at the top level" : `of ${prefix}`}`,
      placement,
    );
  }
  const suggestion = closestMatch(name, Object.keys(schema));
  const where = prefix === "" ? "" : ` in ${prefix}`;
  context.fail(
    key,
    keyNode,
    `unknown key ${quote(name)}${where}`,
    suggestion === undefined ? "remove it; config.example.yaml lists every key" : `did you mean ${quote(suggestion)}?`,
  );
}

/**
 * Reads a YAML map against a schema: every key must be known, absent and null keys take their
 * defaults, and each value is read by its field. `outer` is the enclosing schema, used only to
 * tell the user that a key was written at the wrong level.
 */
export function readSection<S extends Schema>(
  schema: S,
  node: Node,
  prefix: string,
  context: ReadContext,
  outer?: Schema,
): SchemaValues<S> {
  if (!isMap(node)) {
    context.fail(prefix, node, `expected a map of keys, got ${describeNode(node)}`, "write one `key: value` per line");
  }
  const values: Record<string, unknown> = { ...defaultsOf(schema) };
  for (const pair of node.items as Pair<Node | null, Node | null>[]) {
    const keyNode = pair.key;
    if (!isScalar(keyNode) || typeof keyNode.value !== "string") {
      context.fail(
        prefix,
        keyNode ?? node,
        `a key must be a plain name, got ${keyNode === null ? "nothing" : describeNode(keyNode)}`,
        "write `name: value`",
      );
    }
    const name = keyNode.value;
    const field = Object.hasOwn(schema, name) ? schema[name] : undefined;
    if (field === undefined) failUnknownKey(name, keyNode, schema, prefix, context, outer);
    const key = childKey(prefix, name);
    const valueNode = context.deref(pair.value);
    context.record(key, valueNode ?? keyNode);
    if (!context.isUnset(valueNode) && valueNode !== null) values[name] = field.read(valueNode, key, context);
  }
  // Every key of S was set from its field's default or its field's reader.
  return values as SchemaValues<S>;
}

/** A nested map such as `health_checks`. */
export function section<S extends Schema>(doc: string, children: S, outer?: () => Schema): Field<SchemaValues<S>> {
  return {
    doc,
    hclType: "struct",
    defaultValue: defaultsOf(children),
    children,
    read: (node: Node, key: string, context: ReadContext) => readSection(children, node, key, context, outer?.()),
    format: (value) => formatSection(children, value),
  };
}

/** A list of maps such as `jwt_svids`; each entry is read against the same schema. */
export function listOfSections<S extends Schema>(
  doc: string,
  children: S,
  outer?: () => Schema,
): Field<readonly SchemaValues<S>[]> {
  return {
    doc,
    hclType: "structs",
    defaultValue: [],
    children,
    read: (node: Node, key: string, context: ReadContext) => {
      if (!isSeq(node)) {
        context.fail(
          key,
          node,
          `expected a list of maps, got ${describeNode(node)}`,
          `start each entry with "- " under ${key}:`,
        );
      }
      return node.items.map((item, index) => {
        const entryKey = `${key}[${index}]`;
        const entry = context.deref(item as Node | null);
        if (entry === null) context.fail(entryKey, node, "is empty", "remove the empty entry");
        context.record(entryKey, entry);
        return readSection(children, entry, entryKey, context, outer?.());
      });
    },
    format: (value) => value.map((entry) => formatSection(children, entry)),
  };
}

/** The values of a schema as plain data for YAML output, in schema order. */
export function formatSection<S extends Schema>(schema: S, values: SchemaValues<S>): Record<string, unknown> {
  const output: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(schema)) output[name] = field.format(values[name]);
  return output;
}

/** The Go types of a schema's keys, which hcl v1's decoder follows. */
export function hclShapeOf(schema: Schema): StructShape {
  const shape: Record<string, FieldShape> = {};
  for (const [name, { hclType, children }] of Object.entries(schema)) {
    if (hclType === "struct" || hclType === "structs") {
      shape[name] = { kind: hclType, fields: hclShapeOf(children ?? {}) };
    } else {
      shape[name] = { kind: hclType };
    }
  }
  return shape;
}
