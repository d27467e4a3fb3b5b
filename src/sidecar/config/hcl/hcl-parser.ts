import { heredocValue, unquoteHcl } from "./go-values.js";
import { HclScanner, type HclToken } from "./hcl-scanner.js";
import { HclSyntaxError } from "./hcl-errors.js";

/** A key of an item: `name`, `"name"`, or a JSON object key. */
export interface HclKey {
  readonly name: string;
  readonly token: HclToken;
  /** An IDENT or a JSON key: the only keys hcl v1 reports as unused. */
  readonly countsAsUnused: boolean;
}

export interface HclLiteral {
  readonly kind: "literal";
  readonly token: HclToken;
  /** The unquoted string or heredoc body; the source text for other tokens. */
  readonly stringValue: string;
}

export interface HclList {
  readonly kind: "list";
  readonly items: readonly HclValue[];
  readonly offset: number;
}

export interface HclObject {
  readonly kind: "object";
  readonly list: HclObjectList;
  readonly offset: number;
}

/** `a b "c" { ... }` has three keys; `a = 1` one. */
export interface HclItem {
  readonly kind: "item";
  readonly keys: readonly HclKey[];
  readonly value: HclValue;
  readonly offset: number;
}

export interface HclObjectList {
  readonly kind: "objectList";
  readonly items: readonly HclItem[];
  readonly offset: number;
}

export type HclValue = HclLiteral | HclList | HclObject;
export type HclNode = HclValue | HclItem | HclObjectList;

/** Thrown inside the parser for hcl's `errEofToken`, which ends a list of items without an error. */
const END_OF_FILE = Symbol("end of file");

function literalOf(token: HclToken): HclLiteral {
  if (token.type === "STRING") {
    const unquoted = unquoteHcl(token.text);
    if (!unquoted.ok) throw new HclSyntaxError(unquoted.error, token.offset);
    return { kind: "literal", token, stringValue: unquoted.value };
  }
  if (token.type === "HEREDOC") return { kind: "literal", token, stringValue: heredocValue(token.text) };
  return { kind: "literal", token, stringValue: token.text };
}

/**
 * A port of hcl v1's `hcl/parser` (the non-JSON flavour), as `hcl.Decode` runs it: CRLF becomes
 * LF first, repeated keys are kept (the decoder decides what they mean), comments are skipped,
 * and a scanner error wins over a parse error.
 */
class HclParser {
  readonly #scanner: HclScanner;
  #token: HclToken = { type: "EOF", text: "", offset: 0 };
  #pushedBack = false;

  constructor(source: string) {
    this.#scanner = new HclScanner(source);
  }

  parse(): HclObjectList {
    let list: HclObjectList | undefined;
    let failure: unknown;
    try {
      list = this.#objectList(false);
    } catch (error: unknown) {
      failure = error;
    }
    const scanError = this.#scanner.error;
    if (scanError !== undefined) throw new HclSyntaxError(scanError.message, scanError.offset);
    if (failure !== undefined || list === undefined) throw failure;
    return list;
  }

  #scan(): HclToken {
    if (this.#pushedBack) {
      this.#pushedBack = false;
      return this.#token;
    }
    do this.#token = this.#scanner.scan();
    while (this.#token.type === "COMMENT");
    return this.#token;
  }

  #unscan(): void {
    this.#pushedBack = true;
  }

  #fail(message: string, token: HclToken = this.#token): never {
    throw new HclSyntaxError(message, token.offset);
  }

  #objectList(inObject: boolean): HclObjectList {
    const items: HclItem[] = [];
    const offset = this.#token.offset;
    for (;;) {
      if (inObject) {
        const next = this.#scan();
        this.#unscan();
        if (next.type === "RBRACE") break;
      }
      let item: HclItem;
      try {
        item = this.#objectItem();
      } catch (error: unknown) {
        // hcl v1 treats running out of input while reading an item (`key =` at the end) as the end of the list.
        if (error === END_OF_FILE) break;
        throw error;
      }
      items.push(item);
      if (this.#scan().type !== "COMMA") this.#unscan();
    }
    return { kind: "objectList", items, offset };
  }

  #objectItem(): HclItem {
    const keys = this.#objectKeys();
    const offset = keys[0]?.token.offset ?? this.#token.offset;
    switch (this.#token.type) {
      case "ASSIGN":
        return { kind: "item", keys, value: this.#value(), offset };
      case "LBRACE":
        return { kind: "item", keys, value: this.#objectType(), offset };
      default:
        this.#fail(
          `key '${keys.map((key) => key.token.text).join(" ")}' expected start of object ('{') or assignment ('=')`,
        );
    }
  }

  #objectKeys(): HclKey[] {
    const keys: HclKey[] = [];
    for (;;) {
      const token = this.#scan();
      switch (token.type) {
        case "EOF":
          if (keys.length === 0) throw END_OF_FILE;
          return keys;
        case "ASSIGN":
          if (keys.length > 1) this.#fail("nested object expected: LBRACE got: ASSIGN");
          if (keys.length === 0) this.#fail("no object keys found!");
          return keys;
        case "LBRACE":
          if (keys.length === 0) this.#fail("expected: IDENT | STRING got: LBRACE");
          return keys;
        case "IDENT":
          keys.push({ name: token.text, token, countsAsUnused: true });
          break;
        case "STRING":
          keys.push({ name: literalOf(token).stringValue, token, countsAsUnused: false });
          break;
        case "RBRACE":
          // hcl v1 turns `{ key }` into "expected start of object" for the key just read.
          if (keys.length > 0) {
            this.#token = { ...token, type: "EOF" };
            return keys;
          }
          this.#fail("expected: IDENT | STRING | ASSIGN | LBRACE got: RBRACE");
          break;
        case "ILLEGAL":
          this.#fail("illegal character");
          break;
        default:
          this.#fail(`expected: IDENT | STRING | ASSIGN | LBRACE got: ${token.type}`);
      }
    }
  }

  #value(): HclValue {
    const token = this.#scan();
    switch (token.type) {
      case "NUMBER":
      case "FLOAT":
      case "BOOL":
      case "STRING":
      case "HEREDOC":
        return literalOf(token);
      case "LBRACE":
        return this.#objectType();
      case "LBRACK":
        return this.#listType();
      case "EOF":
        throw END_OF_FILE;
      default:
        this.#fail(`Unknown token: ${token.type} ${JSON.stringify(token.text)}`);
    }
  }

  #objectType(): HclObject {
    const offset = this.#token.offset;
    const list = this.#objectList(true);
    const closing = this.#scan();
    if (closing.type !== "RBRACE") this.#fail(`object expected closing RBRACE got: ${closing.type}`);
    return { kind: "object", list, offset };
  }

  #listType(): HclList {
    const offset = this.#token.offset;
    const items: HclValue[] = [];
    let needComma = false;
    for (;;) {
      const token = this.#scan();
      if (needComma && token.type !== "COMMA" && token.type !== "RBRACK") {
        this.#fail(`error parsing list, expected comma or list end, got: ${token.type}`);
      }
      switch (token.type) {
        case "BOOL":
        case "NUMBER":
        case "FLOAT":
        case "STRING":
        case "HEREDOC":
          items.push(literalOf(token));
          needComma = true;
          break;
        case "COMMA":
          needComma = false;
          break;
        case "LBRACE":
          items.push(this.#objectType());
          needComma = true;
          break;
        case "LBRACK":
          // hcl v1 does not ask for a comma after a nested list.
          items.push(this.#listType());
          break;
        case "RBRACK":
          return { kind: "list", items, offset };
        default:
          this.#fail(`unexpected token while parsing list: ${token.type}`);
      }
    }
  }
}

/** Parses HCL v1 text (not its JSON flavour) into items, or throws `HclSyntaxError`. */
export function parseHcl(source: string): HclObjectList {
  return new HclParser(source).parse();
}
