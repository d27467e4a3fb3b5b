import { isMap, isScalar, isSeq, type Node, type Scalar } from "yaml";
import { quote } from "./config-error.js";
import type { FieldShape } from "./hcl/index.js";
import type { ReadContext } from "./read-context.js";
import { formatDuration } from "../../text/duration.js";
import {
  formatMode,
  parseDurationText,
  parseModeText,
  parseSignalName,
  splitCommandLine,
  type ValueResult,
} from "./scalar-values.js";
import { Secret } from "./sidecar-config.js";

/**
 * One configuration key: how to read it from YAML, its default, how `validate` prints it, and
 * the line of documentation config.example.yaml must carry for it.
 */
export interface Field<T> {
  readonly doc: string;
  readonly defaultValue: T;
  /** The Go type spiffe-helper gives the key, which decides how an HCL value decodes into it. */
  readonly hclType: FieldShape["kind"];
  /** Nested keys, for a map or a list of maps. */
  readonly children?: Schema;
  /** Reads a node that is present and not null. */
  read(node: Node, key: string, context: ReadContext): T;
  /** The value as `validate` prints it (method syntax keeps `Field<number>` a `Field<unknown>`). */
  format(value: T): unknown;
}

export type Schema = Readonly<Record<string, Field<unknown>>>;

/** The values a schema reads, keyed by their snake_case names. */
export type SchemaValues<S extends Schema> = { readonly [K in keyof S]: S[K] extends Field<infer T> ? T : never };

export function describeNode(node: Node): string {
  if (isMap(node)) return "a map";
  if (isSeq(node)) return "a list";
  if (isScalar(node)) return typeof node.value === "string" ? `the string ${quote(node.value)}` : quote(node.value);
  return "an unsupported YAML node";
}

function scalarOf(node: Node, key: string, context: ReadContext, expected: string, fix: string): Scalar {
  if (!isScalar(node)) context.fail(key, node, `expected ${expected}, got ${describeNode(node)}`, fix);
  return node;
}

function readText(node: Node, key: string, context: ReadContext, expected: string, fix: string): string {
  const scalar = scalarOf(node, key, context, expected, fix);
  if (typeof scalar.value !== "string") {
    context.fail(key, node, `expected ${expected}, got ${describeNode(node)}`, fix);
  }
  return scalar.value;
}

function unwrap<T>(result: ValueResult<T>, node: Node, key: string, context: ReadContext): T {
  if (!result.ok) context.fail(key, node, result.problem, result.fix);
  return result.value;
}

/** A string; empty means unset, as a Go zero value does in spiffe-helper. */
export function text(doc: string): Field<string | undefined> {
  return {
    doc,
    hclType: "string",
    defaultValue: undefined,
    read: (node: Node, key: string, context: ReadContext) =>
      readText(node, key, context, "a string", `write a quoted string, e.g. ${key}: "..."`) || undefined,
    format: (value) => value ?? null,
  };
}

/** A string with a default that an empty value also selects, checked by `check` (which returns a problem). */
export function textWithDefault(
  doc: string,
  defaultValue: string,
  check: (value: string) => string | undefined,
): Field<string> {
  return {
    doc,
    hclType: "string",
    defaultValue,
    read: (node: Node, key: string, context: ReadContext) => {
      const value = readText(node, key, context, "a string", `write e.g. ${key}: "${defaultValue}"`) || defaultValue;
      const problem = check(value);
      if (problem !== undefined) {
        context.fail(key, node, `${quote(value)} ${problem}`, `write e.g. ${key}: "${defaultValue}"`);
      }
      return value;
    },
    format: (value) => value,
  };
}

export function boolean(doc: string, defaultValue: boolean): Field<boolean> {
  return {
    doc,
    hclType: "bool",
    defaultValue,
    read: (node: Node, key: string, context: ReadContext) => {
      const scalar = scalarOf(node, key, context, "true or false", `write ${key}: true or ${key}: false`);
      if (typeof scalar.value !== "boolean") {
        context.fail(
          key,
          node,
          `expected true or false, got ${describeNode(node)}`,
          `write ${key}: true or ${key}: false`,
        );
      }
      return scalar.value;
    },
    format: (value) => value,
  };
}

/**
 * A file mode, read so that no spelling changes meaning silently. YAML: an unquoted `0644` or
 * `0o644` is octal (as yaml.v3 reads it for spiffe-helper), a quoted "0644" too, and a
 * decimal-looking `644` is refused. HCL: the int hcl v1 decoded, as spiffe-helper uses it (0
 * selects the default), with a warning when it was written in decimal.
 */
export function mode(doc: string, defaultValue: number): Field<number> {
  return {
    doc,
    hclType: "int",
    defaultValue,
    read: (node: Node, key: string, context: ReadContext) => {
      const scalar = scalarOf(node, key, context, "an octal mode", `write ${key}: "${formatMode(defaultValue)}"`);
      const literal = context.hclLiteralOf(scalar);
      if (literal !== undefined && typeof scalar.value === "number") {
        return readHclMode(scalar.value, literal.stringValue, key, node, context, defaultValue);
      }
      if (typeof scalar.value === "number") return readYamlModeNumber(scalar, key, context);
      const modeText = readText(node, key, context, "an octal mode", `write ${key}: "${formatMode(defaultValue)}"`);
      return unwrap(parseModeText(modeText), node, key, context);
    },
    format: (value) => formatMode(value),
  };
}

/** The fix for a mode whose digits were read as decimal: the same digits with a leading 0, if octal. */
function octalSpelling(written: string, value: number): string {
  const digits = written.replace(/^[+-]/, "");
  return /^[0-7]{1,3}$/.test(digits) ? `0${digits.padStart(3, "0")}` : formatMode(value & 0o777);
}

function readYamlModeNumber(scalar: Scalar, key: string, context: ReadContext): number {
  const source = scalar.source ?? String(scalar.value);
  if (/^0o?[0-7]+$/i.test(source)) return unwrap(parseModeText(source), scalar, key, context);
  const fix = octalSpelling(source, Number(scalar.value));
  context.fail(
    key,
    scalar,
    `${source} is read by YAML as the number ${String(scalar.value)}, not as an octal mode`,
    `write ${fix} or "${fix}"`,
  );
}

function readHclMode(
  value: number,
  written: string,
  key: string,
  node: Node,
  context: ReadContext,
  defaultValue: number,
): number {
  if (value === 0) return defaultValue;
  if (value < 0) {
    context.fail(key, node, `${written} is negative`, `write an octal mode such as ${formatMode(defaultValue)}`);
  }
  const checked = unwrap(parseModeText(value.toString(8)), node, key, context);
  if (!/^[+-]?0/.test(written)) {
    const fix = octalSpelling(written, value);
    const meant = fix === formatMode(value) ? "" : `write ${fix} for mode ${fix}, or `;
    context.warn(
      key,
      node,
      `${written} is decimal, which is mode ${formatMode(value)} (spiffe-helper reads it the same way); ` +
        `${meant}write ${formatMode(value)} to keep this mode without this warning`,
    );
  }
  return checked;
}

/** A duration such as `10s`, held in milliseconds; bare numbers are refused as ambiguous. */
export function duration(doc: string, defaultMs: number): Field<number> {
  const example = formatDuration(defaultMs);
  return {
    doc,
    hclType: "string",
    defaultValue: defaultMs,
    read: (node: Node, key: string, context: ReadContext) => {
      const scalar = scalarOf(node, key, context, "a duration", `write ${key}: ${example}`);
      if (typeof scalar.value === "number") {
        context.fail(
          key,
          node,
          `${scalar.source ?? scalar.value} has no unit`,
          `write a duration such as ${key}: ${scalar.source ?? scalar.value}s`,
        );
      }
      const durationText = readText(node, key, context, "a duration", `write ${key}: ${example}`);
      return unwrap(parseDurationText(durationText), node, key, context);
    },
    format: (value) => formatDuration(value),
  };
}

/** A TCP port; 0 asks the OS for a free one. */
export function port(doc: string, defaultValue: number): Field<number> {
  return {
    doc,
    hclType: "int",
    defaultValue,
    read: (node: Node, key: string, context: ReadContext) => {
      const fix = `write a port number from 1 to 65535 (0 lets the OS choose), e.g. ${key}: ${defaultValue}`;
      const scalar = scalarOf(node, key, context, "an integer", fix);
      const value = scalar.value;
      if (typeof value !== "number" || !Number.isInteger(value)) {
        context.fail(key, node, `expected an integer, got ${describeNode(node)}`, fix);
      }
      if (value < 0 || value > 65535) context.fail(key, node, `${value} is not a TCP port`, fix);
      // spiffe-helper replaces a zero bind_port with its default; 0 lets the OS choose only in YAML.
      if (value === 0 && context.isHcl) return defaultValue;
      return value;
    },
    format: (value) => value,
  };
}

export function signal(doc: string): Field<NodeJS.Signals | undefined> {
  return {
    doc,
    hclType: "string",
    defaultValue: undefined,
    read: (node: Node, key: string, context: ReadContext) => {
      const name = readText(node, key, context, "a signal name", `write e.g. ${key}: SIGHUP`);
      return name === "" ? undefined : unwrap(parseSignalName(name), node, key, context);
    },
    format: (value) => value ?? null,
  };
}

export function oneOf<T extends string>(doc: string, allowed: readonly T[], defaultValue: T): Field<T> {
  const list = allowed.map((value) => `"${value}"`).join(", ");
  return {
    doc,
    hclType: "string",
    defaultValue,
    read: (node: Node, key: string, context: ReadContext) => {
      const value = readText(node, key, context, `one of ${list}`, `write one of ${list}`);
      const match = allowed.find((candidate) => candidate === value);
      if (match === undefined) context.fail(key, node, `${quote(value)} is not one of ${list}`, `write one of ${list}`);
      return match;
    },
    format: (value) => value,
  };
}

function readStringItems(node: Node, key: string, context: ReadContext): string[] {
  if (!isSeq(node)) {
    context.fail(key, node, `expected a list of strings, got ${describeNode(node)}`, `write ${key}: ["a", "b"]`);
  }
  return node.items.map((item, index) => {
    const itemNode = context.deref(item as Node | null);
    const itemKey = `${key}[${index}]`;
    if (itemNode === null) context.fail(itemKey, node, "is empty", "remove the empty item");
    context.record(itemKey, itemNode);
    return readText(itemNode, itemKey, context, "a string", `quote it: "..."`);
  });
}

export function stringList(doc: string): Field<readonly string[]> {
  return { doc, hclType: "strings", defaultValue: [], read: readStringItems, format: (value) => [...value] };
}

/** A list of distinct values, each one of `allowed`; an empty list is allowed and means none. */
export function listOf<T extends string>(doc: string, allowed: readonly T[], defaultValue: readonly T[]): Field<readonly T[]> {
  const list = allowed.map((value) => `"${value}"`).join(", ");
  return {
    doc,
    hclType: "strings",
    defaultValue,
    read: (node: Node, key: string, context: ReadContext) => {
      const items = readStringItems(node, key, context);
      const values: T[] = [];
      items.forEach((item, index) => {
        const match = allowed.find((candidate) => candidate === item);
        const itemNode = isSeq(node) ? (context.deref(node.items[index] as Node | null) ?? node) : node;
        if (match === undefined) context.fail(`${key}[${index}]`, itemNode, `${quote(item)} is not one of ${list}`, `write values from ${list}`);
        if (values.includes(match)) context.fail(`${key}[${index}]`, itemNode, `${quote(item)} is listed twice`, "list each value once");
        values.push(match);
      });
      return values;
    },
    format: (value) => [...value],
  };
}

/** Arguments as one string split shell-style (spiffe-helper's form) or as a list of words. */
export function commandArgs(doc: string): Field<readonly string[]> {
  return {
    doc,
    hclType: "string-or-strings",
    defaultValue: [],
    read: (node: Node, key: string, context: ReadContext) => {
      if (isSeq(node)) return readStringItems(node, key, context);
      const line = readText(
        node,
        key,
        context,
        "a string or a list of strings",
        `write ${key}: "-flag value" or a list`,
      );
      return unwrap(splitCommandLine(line), node, key, context);
    },
    format: (value) => [...value],
  };
}

/** A user or group as a numeric id or a name resolved through the host (/etc/passwd, /etc/group). */
export function owner(doc: string, kind: "user" | "group"): Field<number | undefined> {
  return {
    doc,
    hclType: "string",
    defaultValue: undefined,
    read: (node: Node, key: string, context: ReadContext) => {
      const fix = `write a ${kind} name or a numeric id, e.g. ${key}: 1000`;
      const value = scalarOf(node, key, context, `a ${kind} name or id`, fix).value;
      if (typeof value === "number" && Number.isInteger(value) && value >= 0 && value < 2 ** 32) return value;
      if (typeof value !== "string" || value === "") {
        context.fail(key, node, `${describeNode(node)} is not a ${kind}`, fix);
      }
      if (/^\d+$/.test(value)) return Number(value);
      const id = kind === "user" ? context.host.userId(value) : context.host.groupId(value);
      if (id === undefined) {
        context.fail(
          key,
          node,
          `no ${kind} named ${quote(value)} in /etc/${kind === "user" ? "passwd" : "group"}`,
          fix,
        );
      }
      return id;
    },
    format: (value) => value ?? null,
  };
}

export function secret(doc: string): Field<Secret | undefined> {
  return {
    doc,
    hclType: "string",
    defaultValue: undefined,
    read: (node: Node, key: string, context: ReadContext) => {
      const value = readText(node, key, context, "a string", `quote it: ${key}: "..."`);
      return value === "" ? undefined : new Secret(value);
    },
    format: (value) => (value === undefined ? null : value.toString()),
  };
}
