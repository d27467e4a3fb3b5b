import { isAlias, isScalar, type Document, type LineCounter, type Node } from "yaml";
import type { ConfigHost } from "./config-host.js";
import { ConfigError, type SourcePosition } from "./config-error.js";
import type { HclLiteral } from "./hcl/index.js";

/**
 * State common to the readers of one configuration document: where each key was found, so
 * that a rule spanning several keys can still point at a line.
 */
export class ReadContext {
  readonly #positions = new Map<string, SourcePosition>();
  /** Warnings raised while reading values, e.g. an HCL mode written in decimal. */
  readonly warnings: string[] = [];

  /** `hclLiterals` is set when the document was decoded from HCL: the literal behind each scalar. */
  constructor(
    readonly file: string,
    readonly host: ConfigHost,
    private readonly document: Document,
    private readonly lineCounter: LineCounter,
    private readonly hclLiterals?: WeakMap<Node, HclLiteral>,
  ) {}

  /** The HCL literal a scalar was decoded from; undefined for YAML. */
  hclLiteralOf(node: Node): HclLiteral | undefined {
    return this.hclLiterals?.get(node);
  }

  /** True when the document is HCL (helper.conf), whose values follow hcl v1's decoding rules. */
  get isHcl(): boolean {
    return this.hclLiterals !== undefined;
  }

  warn(key: string, node: Node, message: string): void {
    const position = this.positionOf(node);
    const where = position === undefined ? this.file : `${this.file}:${position.line}:${position.column}`;
    this.warnings.push(`${where}: ${key}: ${message}`);
  }

  positionOf(node: Node | null | undefined): SourcePosition | undefined {
    const offset = node?.range?.[0];
    if (offset === undefined) return undefined;
    const { line, col } = this.lineCounter.linePos(offset);
    return { line, column: col };
  }

  /** Remembers where `key` was written, for errors raised after all keys were read. */
  record(key: string, node: Node | null | undefined): void {
    const position = this.positionOf(node);
    if (position !== undefined) this.#positions.set(key, position);
  }

  /** The recorded position of `key`, else of the nearest enclosing key that has one. */
  positionOfKey(key: string): SourcePosition | undefined {
    for (let path = key; path !== ""; path = parentKey(path)) {
      const position = this.#positions.get(path);
      if (position !== undefined) return position;
    }
    return undefined;
  }

  /** Follows a YAML alias (`*name`) to the node it names. */
  deref(node: Node | null): Node | null {
    if (!isAlias(node)) return node;
    return node.resolve(this.document) ?? null;
  }

  /** True for an absent value, `~`, `null` or an empty `key:`: all mean "use the default". */
  isUnset(node: Node | null): boolean {
    return node === null || (isScalar(node) && node.value === null);
  }

  fail(key: string, node: Node | null | undefined, problem: string, fix: string): never {
    throw new ConfigError({ file: this.file, key, position: this.positionOf(node), problem, fix });
  }

  /** Fails at the recorded position of `positionKey` (or its parent's), which defaults to `key`. */
  failAtKey(key: string, problem: string, fix: string, positionKey = key): never {
    throw new ConfigError({ file: this.file, key, position: this.positionOfKey(positionKey), problem, fix });
  }
}

/** `jwt_svids[1].jwt_audience` → `jwt_svids[1]` → `jwt_svids` → `""`. */
function parentKey(key: string): string {
  const cut = Math.max(key.lastIndexOf("."), key.lastIndexOf("["));
  return cut <= 0 ? "" : key.slice(0, cut);
}
