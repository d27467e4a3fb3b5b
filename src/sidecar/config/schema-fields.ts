import { isMap, isScalar, isSeq, type Node, type Scalar } from "yaml";
import { quote } from "./config-error.js";
import type { ReadContext } from "./read-context.js";
import { formatDuration } from "../../text/duration.js";
import {
  formatMode,
  parseDurationText,
  parseModeText,
  parseSignalName,
  quotedModeSuggestion,
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

/** A file mode; a YAML number is refused with the quoted form shown (DESIGN §4). */
export function mode(doc: string, defaultValue: number): Field<number> {
  return {
    doc,
    defaultValue,
    read: (node: Node, key: string, context: ReadContext) => {
      const scalar = scalarOf(node, key, context, "an octal string", `write ${key}: "${formatMode(defaultValue)}"`);
      if (typeof scalar.value === "number") {
        const source = scalar.source ?? String(scalar.value);
        const leadingZero = /^0\d/.test(source);
        const suggestion = quotedModeSuggestion(source, scalar.value, defaultValue);
        context.fail(
          key,
          node,
          leadingZero
            ? `${source} is a number, which YAML 1.2 reads as decimal ${scalar.value}`
            : `${source} is a number`,
          `write the mode as a quoted octal string, e.g. ${key}: ${suggestion}`,
        );
      }
      const modeText = readText(node, key, context, "an octal string", `write ${key}: "${formatMode(defaultValue)}"`);
      return unwrap(parseModeText(modeText), node, key, context);
    },
    format: (value) => formatMode(value),
  };
}

/** A duration such as `10s`, held in milliseconds; bare numbers are refused as ambiguous. */
export function duration(doc: string, defaultMs: number): Field<number> {
  const example = formatDuration(defaultMs);
  return {
    doc,
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
    defaultValue,
    read: (node: Node, key: string, context: ReadContext) => {
      const fix = `write a port number from 1 to 65535 (0 lets the OS choose), e.g. ${key}: ${defaultValue}`;
      const scalar = scalarOf(node, key, context, "an integer", fix);
      const value = scalar.value;
      if (typeof value !== "number" || !Number.isInteger(value)) {
        context.fail(key, node, `expected an integer, got ${describeNode(node)}`, fix);
      }
      if (value < 0 || value > 65535) context.fail(key, node, `${value} is not a TCP port`, fix);
      return value;
    },
    format: (value) => value,
  };
}

export function signal(doc: string): Field<NodeJS.Signals | undefined> {
  return {
    doc,
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
  return { doc, defaultValue: [], read: readStringItems, format: (value) => [...value] };
}

/** Arguments as one string split shell-style (spiffe-helper's form) or as a list of words. */
export function commandArgs(doc: string): Field<readonly string[]> {
  return {
    doc,
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
    defaultValue: undefined,
    read: (node: Node, key: string, context: ReadContext) => {
      const value = readText(node, key, context, "a string", `quote it: ${key}: "..."`);
      return value === "" ? undefined : new Secret(value);
    },
    format: (value) => (value === undefined ? null : value.toString()),
  };
}
