import { unquoteHcl } from "./go-values.js";
import { HclSyntaxError } from "./hcl-errors.js";
import type { HclItem, HclKey, HclLiteral, HclObject, HclObjectList, HclValue } from "./hcl-parser.js";
import { isLetter, type HclToken, type TokenType } from "./hcl-scanner.js";

type JsonTokenType = TokenType | "COLON" | "NULL";
interface JsonToken {
  readonly type: JsonTokenType;
  readonly text: string;
  readonly offset: number;
}

const END_OF_FILE = Symbol("end of file");

const PUNCTUATION: Partial<Record<string, JsonTokenType>> = {
  "[": "LBRACK",
  "]": "RBRACK",
  "{": "LBRACE",
  "}": "RBRACE",
  ",": "COMMA",
  ":": "COLON",
};

/**
 * hcl v1's JSON flavour (`json/scanner`, `json/parser`, `flatten.go`), kept as lenient as it
 * is: the closing brace is not checked, a trailing comma or a cut-off last item ends the object,
 * `true`/`false` inside a list are dropped, numbers are decimal (`0644` is refused), and an
 * object of objects or a list of objects becomes one item per member.
 */
class JsonParser {
  #position = 0;
  #token: JsonToken = { type: "EOF", text: "", offset: 0 };
  #scanError: HclSyntaxError | undefined;

  constructor(private readonly source: string) {}

  parse(): HclObjectList {
    let root: HclObject | undefined;
    let failure: unknown;
    try {
      const first = this.#scan();
      if (first.type !== "LBRACE") this.#fail(`Expected object, got unknown token: ${first.type}`);
      root = this.#objectType();
    } catch (error: unknown) {
      failure = error === END_OF_FILE ? new HclSyntaxError("EOF token found", this.#token.offset) : error;
    }
    if (this.#scanError !== undefined) throw this.#scanError;
    if (failure !== undefined || root === undefined) throw failure;
    return flattenList(root.list);
  }

  #scan(): JsonToken {
    const rest = this.source.slice(this.#position);
    const skipped = /^[ \t\n\r]*/.exec(rest)?.[0].length ?? 0;
    const offset = this.#position + skipped;
    const { type, length } = this.#cut(this.source.slice(offset), offset);
    this.#position = offset + length;
    this.#token = { type, text: this.source.slice(offset, offset + length), offset };
    return this.#token;
  }

  #cut(text: string, offset: number): { type: JsonTokenType; length: number } {
    const first = text.codePointAt(0);
    if (first === undefined) return { type: "EOF", length: 0 };
    if (isLetter(first)) {
      // The letters, digits and dashes of hcl's json scanIdentifier.
      const word = /^[\p{L}\p{Nd}_-]+/u.exec(text)?.[0] ?? text.charAt(0);
      const type = word === "true" || word === "false" ? "BOOL" : word === "null" ? "NULL" : "ILLEGAL";
      if (type === "ILLEGAL") this.#scanError = new HclSyntaxError("illegal char", offset);
      return { type, length: word.length };
    }
    const number = /^-?\d+(?:([eE][+-]?\d*)|(\.\d*(?:[eE][+-]?\d*)?))?/.exec(text);
    if (number !== null) {
      const isFloat = number[1] !== undefined || number[2] !== undefined;
      // hcl's check compares scanner positions, which reading past the end also moves: `0` last in the file fails.
      const atEnd = number[0].length === text.length;
      if (!isFloat && (/^-?0\d/.test(number[0]) || (atEnd && /^-?0$/.test(number[0])))) {
        this.#scanError = new HclSyntaxError("numbers cannot start with 0", offset);
      }
      return { type: isFloat ? "FLOAT" : "NUMBER", length: number[0].length };
    }
    if (first === 0x22) return { type: "STRING", length: this.#stringLength(text, offset) };
    const type = PUNCTUATION[text.charAt(0)];
    if (type !== undefined) return { type, length: 1 };
    this.#scanError = new HclSyntaxError(`illegal char: ${String.fromCodePoint(first)}`, offset);
    return { type: "ILLEGAL", length: first > 0xffff ? 2 : 1 };
  }

  #stringLength(text: string, offset: number): number {
    const match = /^"(?:[^"\\\n]|\\.)*"/.exec(text);
    if (match === null) {
      this.#scanError = new HclSyntaxError("literal not terminated", offset);
      return /^"(?:[^"\\\n]|\\.)*/.exec(text)?.[0].length ?? 1;
    }
    return match[0].length;
  }

  #fail(message: string): never {
    throw new HclSyntaxError(message, this.#token.offset);
  }

  /** The current token as hcl's HCLToken() turns it: `null` becomes an empty STRING. */
  #literal(): HclLiteral {
    const { type, text, offset } = this.#token;
    if (type === "NULL") return { kind: "literal", token: { type: "STRING", text, offset }, stringValue: "" };
    const token: HclToken = { type: type as TokenType, text, offset };
    if (token.type !== "STRING") return { kind: "literal", token, stringValue: token.text };
    const unquoted = unquoteHcl(token.text, { interpolation: false });
    if (!unquoted.ok) this.#fail(unquoted.error);
    return { kind: "literal", token, stringValue: unquoted.value };
  }

  #objectType(): HclObject {
    const offset = this.#token.offset;
    const items: HclItem[] = [];
    try {
      for (;;) {
        let item: HclItem;
        try {
          item = this.#objectItem();
        } catch (error: unknown) {
          if (error === END_OF_FILE) break;
          throw error;
        }
        items.push(item);
        if (this.#scan().type !== "COMMA") break;
      }
    } catch (error: unknown) {
      // hcl's JSON parser keeps what it read when the failure sits on the closing brace.
      if (this.#token.type !== "RBRACE") throw error;
    }
    return { kind: "object", list: { kind: "objectList", items, offset }, offset };
  }

  #objectItem(): HclItem {
    const keys: HclKey[] = [];
    for (;;) {
      const token = this.#scan();
      if (token.type === "EOF") throw END_OF_FILE;
      if (token.type === "COLON") {
        if (keys.length === 0) this.#fail("expected: STRING got: COLON");
        break;
      }
      if (token.type !== "STRING") {
        this.#fail(token.type === "ILLEGAL" ? "illegal" : `expected: STRING got: ${token.type}`);
      }
      const literal = this.#literal();
      keys.push({ name: literal.stringValue, token: literal.token, countsAsUnused: true });
    }
    return { kind: "item", keys, value: this.#value(), offset: keys[0]?.token.offset ?? this.#token.offset };
  }

  #value(): HclValue {
    const token = this.#scan();
    switch (token.type) {
      case "NUMBER":
      case "FLOAT":
      case "BOOL":
      case "NULL":
      case "STRING":
        return this.#literal();
      case "LBRACE":
        return this.#objectType();
      case "LBRACK":
        return this.#listType();
      case "EOF":
        throw END_OF_FILE;
      default:
        this.#fail(`Expected object value, got unknown token: ${token.type}`);
    }
  }

  #listType(): HclValue {
    const offset = this.#token.offset;
    const items: HclValue[] = [];
    for (;;) {
      const token = this.#scan();
      switch (token.type) {
        case "NUMBER":
        case "FLOAT":
        case "STRING":
          items.push(this.#literal());
          break;
        case "LBRACE":
          items.push(this.#objectType());
          break;
        case "COMMA":
        case "BOOL":
        case "LBRACK":
          // hcl v1 drops booleans and the brackets of a nested list here.
          break;
        case "RBRACK":
          return { kind: "list", items, offset };
        default:
          this.#fail(`unexpected token while parsing list: ${token.type}`);
      }
    }
  }
}

const isObject = (value: HclValue): boolean => value.kind === "object";

/** flatten.go: members that are all objects, or a list of objects only, become one item each. */
function flattenItems(items: readonly HclItem[]): HclItem[] {
  const flattened: HclItem[] = [];
  for (const item of items) {
    const value = item.value;
    const members = value.kind === "object" ? value.list.items : [];
    const elements = value.kind === "list" ? value.items : [];
    if (members.length > 0 && members.every((member) => isObject(member.value))) {
      const keyed = members.map(
        (member): HclItem => ({ ...member, keys: [...item.keys, ...member.keys], offset: item.offset }),
      );
      flattened.push(...flattenItems(keyed));
    } else if (elements.length > 0 && elements.every(isObject)) {
      flattened.push(...flattenItems(elements.map((element): HclItem => ({ ...item, value: element }))));
    } else {
      flattened.push({ ...item, value: flattenValue(value) });
    }
  }
  return flattened;
}

function flattenValue(value: HclValue): HclValue {
  if (value.kind === "object") return { ...value, list: flattenList(value.list) };
  if (value.kind === "list") return { ...value, items: value.items.map(flattenValue) };
  return value;
}

function flattenList(list: HclObjectList): HclObjectList {
  return { ...list, items: flattenItems(list.items) };
}

/** Parses hcl v1's JSON flavour (text starting with `{`) into the same items as HCL. */
export function parseHclJson(source: string): HclObjectList {
  return new JsonParser(source).parse();
}
