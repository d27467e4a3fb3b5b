/**
 * The tokens of HCL v1 as hashicorp/hcl v1's `hcl/scanner` cuts them. Its quirks are kept on
 * purpose, because spiffe-helper reads helper.conf with it: a number starting with `0` is octal,
 * `08` passes the scanner (only a later digit 8 or 9 is "illegal octal number"), and a scanner
 * error does not stop the parse but is reported once the parse ends, the last one winning.
 */
export type TokenType =
  | "IDENT"
  | "BOOL"
  | "NUMBER"
  | "FLOAT"
  | "STRING"
  | "HEREDOC"
  | "COMMENT"
  | "LBRACK"
  | "RBRACK"
  | "LBRACE"
  | "RBRACE"
  | "COMMA"
  | "ASSIGN"
  | "ADD"
  | "SUB"
  | "PERIOD"
  | "EOF"
  | "ILLEGAL";

export interface HclToken {
  readonly type: TokenType;
  /** The source text, quotes and heredoc anchors included. */
  readonly text: string;
  /** UTF-16 index of the first character. */
  readonly offset: number;
}

export interface ScannerError {
  readonly message: string;
  readonly offset: number;
}

const EOF = -1;

const isDecimal = (ch: number): boolean => ch >= 0x30 && ch <= 0x39;
const isHexadecimal = (ch: number): boolean =>
  isDecimal(ch) || (ch >= 0x61 && ch <= 0x66) || (ch >= 0x41 && ch <= 0x46);
const isWhitespace = (ch: number): boolean => ch === 0x20 || ch === 0x09 || ch === 0x0a || ch === 0x0d;

export function isLetter(ch: number): boolean {
  if ((ch >= 0x61 && ch <= 0x7a) || (ch >= 0x41 && ch <= 0x5a) || ch === 0x5f) return true;
  return ch >= 0x80 && /\p{L}/u.test(String.fromCodePoint(ch));
}

function isDigit(ch: number): boolean {
  return isDecimal(ch) || (ch >= 0x80 && /\p{Nd}/u.test(String.fromCodePoint(ch)));
}

export class HclScanner {
  #position = 0;
  #lastWidth = 0;
  #tokenStart = 0;
  /** The last error, which is the one hcl v1 reports. */
  error: ScannerError | undefined;

  constructor(private readonly source: string) {}

  #next(): number {
    if (this.#position >= this.source.length) {
      this.#lastWidth = 0;
      return EOF;
    }
    const ch = this.source.codePointAt(this.#position) ?? EOF;
    this.#lastWidth = ch > 0xffff ? 2 : 1;
    this.#position += this.#lastWidth;
    if (ch === 0) {
      this.#fail("unexpected null character (0x00)");
      return EOF;
    }
    if (ch === 0xe123) this.#fail("unicode code point U+E123 reserved for internal use");
    return ch;
  }

  #unread(): void {
    this.#position -= this.#lastWidth;
    this.#lastWidth = 0;
  }

  #peek(): number {
    return this.#position < this.source.length ? (this.source.codePointAt(this.#position) ?? EOF) : EOF;
  }

  #fail(message: string, offset = Math.max(0, this.#position - this.#lastWidth)): void {
    this.error = { message, offset };
  }

  scan(): HclToken {
    let ch = this.#next();
    while (isWhitespace(ch)) ch = this.#next();
    const start = this.#position - this.#lastWidth;
    this.#tokenStart = start;
    const type = this.#scanToken(ch);
    return { type, text: this.source.slice(start, this.#position), offset: start };
  }

  #scanToken(ch: number): TokenType {
    if (isLetter(ch)) {
      const start = this.#position - this.#lastWidth;
      this.#scanIdentifier();
      const word = this.source.slice(start, this.#position);
      return word === "true" || word === "false" ? "BOOL" : "IDENT";
    }
    if (isDecimal(ch)) return this.#scanNumber(ch);
    switch (ch) {
      case EOF:
        return "EOF";
      case 0x22:
        this.#scanString();
        return "STRING";
      case 0x23:
      case 0x2f:
        this.#scanComment(ch);
        return "COMMENT";
      case 0x2e:
        if (!isDecimal(this.#peek())) return "PERIOD";
        this.#scanExponent(this.#scanMantissa(this.#peek()));
        return "FLOAT";
      case 0x3c:
        this.#scanHeredoc();
        return "HEREDOC";
      case 0x5b:
        return "LBRACK";
      case 0x5d:
        return "RBRACK";
      case 0x7b:
        return "LBRACE";
      case 0x7d:
        return "RBRACE";
      case 0x2c:
        return "COMMA";
      case 0x3d:
        return "ASSIGN";
      case 0x2b:
        return "ADD";
      case 0x2d:
        return isDecimal(this.#peek()) ? this.#scanNumber(this.#next()) : "SUB";
      default:
        this.#fail("illegal char");
        return "ILLEGAL";
    }
  }

  #scanIdentifier(): void {
    let ch = this.#next();
    while (isLetter(ch) || isDigit(ch) || ch === 0x2d || ch === 0x2e) ch = this.#next();
    if (ch !== EOF) this.#unread();
  }

  #scanComment(first: number): void {
    if (first === 0x23 || this.#peek() !== 0x2a) {
      if (first === 0x2f && this.#peek() !== 0x2f) {
        this.#fail("expected '/' for comment");
        return;
      }
      let ch = this.#next();
      while (ch !== 0x0a && ch !== EOF) ch = this.#next();
      if (ch !== EOF) this.#unread();
      return;
    }
    this.#next();
    let ch = this.#next();
    for (;;) {
      if (ch === EOF) {
        this.#fail("comment not terminated");
        return;
      }
      const previous = ch;
      ch = this.#next();
      if (previous === 0x2a && ch === 0x2f) return;
    }
  }

  /** A port of hcl v1's scanNumber, mantissa, fraction and exponent, unread quirks included. */
  #scanNumber(first: number): TokenType {
    let ch = first;
    if (ch === 0x30) {
      ch = this.#next();
      if (ch === 0x78 || ch === 0x58) {
        ch = this.#next();
        let found = false;
        while (isHexadecimal(ch)) {
          ch = this.#next();
          found = true;
        }
        if (!found) this.#fail("illegal hexadecimal number", this.#tokenStart);
        if (ch !== EOF) this.#unread();
        return "NUMBER";
      }
      let illegalOctal = false;
      while (isDecimal(ch)) {
        ch = this.#next();
        // hcl v1 checks each digit after the first one following the 0, so `08` passes here.
        if (ch === 0x38 || ch === 0x39) illegalOctal = true;
      }
      if (isExponentMark(ch)) {
        this.#scanExponent(ch);
        return "FLOAT";
      }
      if (ch === 0x2e) {
        this.#scanFractionThenExponent(ch);
        return "FLOAT";
      }
      if (illegalOctal) this.#fail("illegal octal number", this.#tokenStart);
      if (ch !== EOF) this.#unread();
      return "NUMBER";
    }
    this.#scanMantissa(ch);
    ch = this.#next();
    if (isExponentMark(ch)) {
      this.#scanExponent(ch);
      return "FLOAT";
    }
    if (ch === 0x2e) {
      this.#scanFractionThenExponent(ch);
      return "FLOAT";
    }
    if (ch !== EOF) this.#unread();
    return "NUMBER";
  }

  #scanMantissa(first: number): number {
    let ch = first;
    let scanned = false;
    while (isDecimal(ch)) {
      ch = this.#next();
      scanned = true;
    }
    if (scanned && ch !== EOF) this.#unread();
    return ch;
  }

  #scanFractionThenExponent(dot: number): void {
    let ch = dot === 0x2e ? this.#scanMantissa(this.#peek()) : dot;
    if (isExponentMark(ch)) {
      ch = this.#next();
      this.#scanExponent(ch);
    }
  }

  #scanExponent(first: number): number {
    let ch = first;
    if (isExponentMark(ch)) {
      ch = this.#next();
      if (ch === 0x2d || ch === 0x2b) ch = this.#next();
      ch = this.#scanMantissa(ch);
    }
    return ch;
  }

  #scanHeredoc(): void {
    if (this.#next() !== 0x3c) {
      this.#fail("heredoc expected second '<', didn't see it");
      return;
    }
    const anchorStart = this.#position;
    let ch = this.#next();
    if (ch === 0x2d) ch = this.#next();
    while (isLetter(ch) || isDigit(ch)) ch = this.#next();
    if (ch === EOF) {
      this.#fail("heredoc not terminated");
      return;
    }
    if (ch === 0x0d && this.#peek() === 0x0a) ch = this.#next();
    if (ch !== 0x0a) {
      this.#fail("invalid characters in heredoc anchor");
      return;
    }
    const anchor = this.source.slice(anchorStart, this.#position - 1).replace(/\r$/, "");
    if (anchor === "" || anchor === "-") {
      this.#fail("zero-length heredoc anchor");
      return;
    }
    const name = anchor.startsWith("-") ? anchor.slice(1) : anchor;
    const closing = new RegExp(`^[ \\t\\n\\v\\f\\r]*${name}\\r*$`, "u");
    let lineStart = this.#position;
    for (;;) {
      ch = this.#next();
      if (ch === 0x0a) {
        const line = this.source.slice(lineStart, this.#position - 1);
        // hcl compares byte lengths with the anchor, `-` included: `<<-EOF` needs an indented EOF.
        if (utf8Length(line) >= utf8Length(anchor) && closing.test(line)) return;
        lineStart = this.#position;
      }
      if (ch === EOF) {
        this.#fail("heredoc not terminated");
        return;
      }
    }
  }

  #scanString(): void {
    let braces = 0;
    for (;;) {
      const ch = this.#next();
      if ((ch === 0x0a && braces === 0) || ch === EOF) {
        this.#fail("literal not terminated");
        return;
      }
      if (ch === 0x22 && braces === 0) return;
      if (braces === 0 && ch === 0x24 && this.#peek() === 0x7b) {
        braces++;
        this.#next();
      } else if (braces > 0 && ch === 0x7b) {
        braces++;
      }
      if (braces > 0 && ch === 0x7d) braces--;
      if (ch === 0x5c) this.#scanEscape();
    }
  }

  #scanEscape(): void {
    const ch = this.#next();
    if ("abfnrtv\\\"".includes(String.fromCodePoint(Math.max(ch, 0)))) return;
    if (ch >= 0x30 && ch <= 0x37) this.#scanDigits(ch, 8, 3);
    else if (ch === 0x78) this.#scanDigits(this.#next(), 16, 2);
    else if (ch === 0x75) this.#scanDigits(this.#next(), 16, 4);
    else if (ch === 0x55) this.#scanDigits(this.#next(), 16, 8);
    else this.#fail("illegal char escape");
  }

  #scanDigits(first: number, base: number, count: number): void {
    let ch = first;
    let left = count;
    while (left > 0 && digitValue(ch) < base) {
      ch = this.#next();
      if (ch === EOF) break;
      left--;
    }
    if (left > 0) this.#fail("illegal char escape");
    if (left !== count && ch !== EOF) this.#unread();
  }
}

function isExponentMark(ch: number): boolean {
  return ch === 0x65 || ch === 0x45;
}

function digitValue(ch: number): number {
  if (isDecimal(ch)) return ch - 0x30;
  if (ch >= 0x61 && ch <= 0x66) return ch - 0x61 + 10;
  if (ch >= 0x41 && ch <= 0x46) return ch - 0x41 + 10;
  return 16;
}

function utf8Length(text: string): number {
  return Buffer.byteLength(text, "utf8");
}
