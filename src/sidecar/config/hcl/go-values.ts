/**
 * The Go library functions hcl v1's decoder leans on, reproduced for the values a config can
 * hold: `strconv.ParseInt(s, 0, 0)` (how a NUMBER or a quoted string becomes an int field),
 * hcl's own `Unquote`, heredoc unindenting and `strings.EqualFold` (how keys match fields).
 */

/** A value, or Go's error text for it. */
export type GoResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

const INT64_MAX = 2n ** 63n - 1n;

/** Go's `underscoreOK`: underscores only between digits or right after a base prefix. */
function underscoreOk(text: string): boolean {
  let digits = text.replace(/^[+-]/, "");
  let saw = "^";
  let hex = false;
  if (/^0[bBoOxX]/.test(digits)) {
    hex = digits[1] === "x" || digits[1] === "X";
    digits = digits.slice(2);
    saw = "0";
  }
  for (const char of digits) {
    if (/[0-9]/.test(char) || (hex && /[a-fA-F]/.test(char))) saw = "0";
    else if (char === "_") {
      if (saw !== "0") return false;
      saw = "_";
    } else {
      if (saw === "_") return false;
      saw = "!";
    }
  }
  return saw !== "_";
}

/**
 * `strconv.ParseInt(text, 0, 64)`: `0x`/`0o`/`0b` prefixes, a bare leading `0` for octal,
 * an optional sign and underscores between digits. The value must fit a JavaScript number
 * exactly to be useful here, and every valid file mode does.
 */
export function parseGoInt(text: string): GoResult<number> {
  const syntax = { ok: false, error: `strconv.ParseInt: parsing ${JSON.stringify(text)}: invalid syntax` } as const;
  if (text === "") return syntax;
  const negative = text.startsWith("-");
  let digits = /^[+-]/.test(text) ? text.slice(1) : text;
  if (digits === "") return syntax;
  let base = 10;
  if (digits.startsWith("0")) {
    const prefix = digits.length >= 3 ? digits.charAt(1).toLowerCase() : "";
    if (prefix === "b" || prefix === "o" || prefix === "x") {
      base = prefix === "b" ? 2 : prefix === "o" ? 8 : 16;
      digits = digits.slice(2);
    } else {
      base = 8;
      digits = digits.slice(1);
    }
  }
  let magnitude = 0n;
  let underscores = false;
  for (const char of digits) {
    if (char === "_") {
      underscores = true;
      continue;
    }
    const digit = Number.parseInt(char, 36);
    if (Number.isNaN(digit) || digit >= base) return syntax;
    magnitude = magnitude * BigInt(base) + BigInt(digit);
  }
  if (underscores && !underscoreOk(text)) return syntax;
  if (magnitude > INT64_MAX + (negative ? 1n : 0n)) {
    return { ok: false, error: `strconv.ParseInt: parsing ${JSON.stringify(text)}: value out of range` };
  }
  return { ok: true, value: Number(negative ? -magnitude : magnitude) };
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  a: "\x07",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
  "\\": "\\",
  '"': '"',
};

/**
 * hcl v1's `strconv.Unquote` for a `"..."` token: Go escapes, `${...}` kept verbatim (braces
 * balanced), and no raw newline outside an interpolation. Without `interpolation` it is Go's
 * `strconv.Unquote`, which hcl uses for JSON strings (so `\/` is refused there).
 */
export function unquoteHcl(quoted: string, { interpolation = true } = {}): GoResult<string> {
  const syntax = { ok: false, error: `invalid syntax in string ${quoted}` } as const;
  if (quoted.length < 2 || !quoted.startsWith('"') || !quoted.endsWith('"')) return syntax;
  const body = quoted.slice(1, -1);
  let output = "";
  let index = 0;
  while (index < body.length) {
    if (interpolation && body.startsWith("${", index)) {
      let braces = 1;
      let end = index + 2;
      while (end < body.length && braces > 0) {
        const char = body.charAt(end);
        if (char === "{") braces++;
        else if (char === "}") braces--;
        end++;
      }
      if (braces !== 0) return syntax;
      output += body.slice(index, end);
      index = end;
      continue;
    }
    const char = body.charAt(index);
    if (char === "\n" || char === '"') return syntax;
    if (char !== "\\") {
      output += char;
      index++;
      continue;
    }
    const escaped = readEscape(body, index + 1);
    if (escaped === undefined) return syntax;
    output += escaped.text;
    index = escaped.end;
  }
  return { ok: true, value: output };
}

function readEscape(body: string, start: number): { text: string; end: number } | undefined {
  const letter = body.charAt(start);
  const simple = SIMPLE_ESCAPES[letter];
  if (simple !== undefined) return { text: simple, end: start + 1 };
  const hexLength = letter === "x" ? 2 : letter === "u" ? 4 : letter === "U" ? 8 : 0;
  if (hexLength > 0) {
    const hex = body.slice(start + 1, start + 1 + hexLength);
    if (!new RegExp(`^[0-9a-fA-F]{${hexLength}}$`).test(hex)) return undefined;
    const code = Number.parseInt(hex, 16);
    if (code > 0x10ffff) return undefined;
    return { text: String.fromCodePoint(code), end: start + 1 + hexLength };
  }
  const octal = body.slice(start, start + 3);
  if (/^[0-7]{3}$/.test(octal) && Number.parseInt(octal, 8) <= 255) {
    return { text: String.fromCharCode(Number.parseInt(octal, 8)), end: start + 3 };
  }
  return undefined;
}

/** hcl v1's `unindentHeredoc`, including its index arithmetic on the closing anchor. */
export function heredocValue(token: string): string {
  const newline = token.indexOf("\n");
  const unindent = token.charAt(2) === "-";
  if (!unindent) return token.slice(newline + 1, token.length - newline + 1);
  const lines = token.slice(newline + 1, token.length - newline + 2).split("\n");
  const prefix = lines[lines.length - 1] ?? "";
  if (!lines.every((line) => line.startsWith(prefix))) {
    return token.slice(newline + 1, token.length - newline + 1).replace(/[ \t]+$/, "");
  }
  return lines.map((line, index) => (index === lines.length - 1 ? "" : line.slice(prefix.length))).join("\n");
}

/**
 * A key as Go's `strings.EqualFold` compares it: two keys fold equal exactly when their
 * folded forms are the same string (`\u212a`, the Kelvin sign, folds to `k`; `\u017f` to `s`).
 */
export function foldKey(key: string): string {
  if (/^[\x00-\x7f]*$/.test(key)) return key.toLowerCase();
  return Array.from(key, (char) => (char === "\u212a" ? "k" : char === "\u017f" ? "s" : foldRune(char))).join("");
}

function foldRune(char: string): string {
  const lower = char.toLowerCase();
  // A rune whose lower case is several runes (İ) has no simple fold other than itself.
  return Array.from(lower).length === 1 ? lower : char;
}
