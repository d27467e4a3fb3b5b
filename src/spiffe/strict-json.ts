import { SpiffeSidecarError } from "../errors.js";

/**
 * Input that is not strict JSON. `path` is the JSON Pointer (RFC 6901) of the object that
 * held a duplicate member, so a caller can turn it into a rule of its own format.
 */
export class StrictJsonError extends SpiffeSidecarError {
  readonly code = "ERR_STRICT_JSON";
  constructor(
    message: string,
    readonly path: string,
    readonly duplicateMember?: string,
  ) {
    super(message);
  }
}

/** Deep enough for any JWK set or bundle map; bounds recursion on hostile input. */
const MAX_DEPTH = 64;
const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
const WHITESPACE = /[ \t\n\r]*/y;
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Parses RFC 8259 JSON with two differences from `JSON.parse`, both needed by the SPIFFE
 * formats: a duplicate member name in any object is an error (I-JSON, RFC 7493 §2.3; the
 * bundle map must reject duplicate trust domains, Trust Domain & Bundle §5.1.1), and an
 * integer literal outside the safe range comes back as a `bigint` instead of being rounded
 * (`spiffe_sequence` is 64-bit, §4.1.1). Node 20's `JSON.parse` reviver gets no source
 * text, so neither can be done with it.
 */
export function parseStrictJson(input: string | Uint8Array): unknown {
  let text: string;
  if (typeof input === "string") {
    text = input;
  } else {
    try {
      text = utf8.decode(input);
    } catch {
      throw new StrictJsonError("JSON text is not valid UTF-8 (RFC 8259 §8.1)", "");
    }
  }
  const parser = new Parser(text);
  const value = parser.value("", 0);
  parser.end();
  return value;
}

class Parser {
  #pos = 0;
  constructor(readonly text: string) {}

  value(path: string, depth: number): unknown {
    this.#skipWhitespace();
    const c = this.text[this.#pos];
    if (c === "{") return this.#object(path, depth + 1);
    if (c === "[") return this.#array(path, depth + 1);
    if (c === '"') return this.#string();
    if (c === "t") return this.#literal("true", true);
    if (c === "f") return this.#literal("false", false);
    if (c === "n") return this.#literal("null", null);
    return this.#number();
  }

  end(): void {
    this.#skipWhitespace();
    if (this.#pos !== this.text.length) this.#fail("unexpected text after the JSON value");
  }

  #object(path: string, depth: number): Record<string, unknown> {
    this.#checkDepth(depth);
    this.#pos++;
    const result: Record<string, unknown> = {};
    if (this.#consume("}")) return result;
    do {
      this.#skipWhitespace();
      if (this.text[this.#pos] !== '"') this.#fail("expected a member name");
      const name = this.#string();
      if (Object.hasOwn(result, name)) {
        throw new StrictJsonError(
          `duplicate member name ${JSON.stringify(name)} in the object at "${path}" (RFC 7493 §2.3)`,
          path,
          name,
        );
      }
      if (!this.#consume(":")) this.#fail("expected ':' after a member name");
      // defineProperty keeps "__proto__" an ordinary own member, as JSON.parse does.
      Object.defineProperty(result, name, {
        value: this.value(`${path}/${escapePointer(name)}`, depth),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } while (this.#consume(","));
    if (!this.#consume("}")) this.#fail("expected ',' or '}' in an object");
    return result;
  }

  #array(path: string, depth: number): unknown[] {
    this.#checkDepth(depth);
    this.#pos++;
    const result: unknown[] = [];
    if (this.#consume("]")) return result;
    do {
      result.push(this.value(`${path}/${result.length}`, depth));
    } while (this.#consume(","));
    if (!this.#consume("]")) this.#fail("expected ',' or ']' in an array");
    return result;
  }

  #string(): string {
    const start = this.#pos;
    let i = start + 1;
    for (;;) {
      const c = this.text.charCodeAt(i);
      if (Number.isNaN(c)) this.#fail("unterminated string");
      if (c === 0x22) break;
      i += c === 0x5c ? 2 : 1;
    }
    this.#pos = i + 1;
    try {
      // JSON.parse of the literal alone applies exactly RFC 8259's escape and control-character rules.
      return JSON.parse(this.text.slice(start, this.#pos)) as string;
    } catch {
      return this.#fail("invalid string literal");
    }
  }

  #number(): number | bigint {
    NUMBER.lastIndex = this.#pos;
    const match = NUMBER.exec(this.text);
    if (match === null) return this.#fail("expected a JSON value");
    this.#pos = NUMBER.lastIndex;
    const [literal, fraction, exponent] = match;
    const value = Number(literal);
    if (fraction === undefined && exponent === undefined && !Number.isSafeInteger(value)) return BigInt(literal);
    return value;
  }

  #literal<T>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.#pos)) this.#fail("expected a JSON value");
    this.#pos += word.length;
    return value;
  }

  #consume(char: string): boolean {
    this.#skipWhitespace();
    if (this.text[this.#pos] !== char) return false;
    this.#pos++;
    return true;
  }

  #skipWhitespace(): void {
    WHITESPACE.lastIndex = this.#pos;
    WHITESPACE.exec(this.text);
    this.#pos = WHITESPACE.lastIndex;
  }

  #checkDepth(depth: number): void {
    if (depth > MAX_DEPTH) this.#fail(`nesting deeper than ${MAX_DEPTH} levels`);
  }

  #fail(reason: string): never {
    throw new StrictJsonError(`invalid JSON: ${reason} at offset ${this.#pos}`, "");
  }
}

function escapePointer(name: string): string {
  return name.replaceAll("~", "~0").replaceAll("/", "~1");
}

/** A JSON object as parsed: a plain record, never an array or null. */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
