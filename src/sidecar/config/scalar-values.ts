import { DURATION_FORMAT_HINT, parseDuration } from "../../text/duration.js";
import { constants } from "node:os";

/** A value read from text, or what is wrong with it and what to write instead. */
export type ValueResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly problem: string; readonly fix: string };

const ok = <T>(value: T): ValueResult<T> => ({ ok: true, value });
const bad = (problem: string, fix: string): ValueResult<never> => ({ ok: false, problem, fix });

/**
 * A file mode written in octal: `"0640"`, `"0o640"` or `"640"` (the mode reader decides which
 * spellings reach here, DESIGN §4). Setuid, setgid and sticky bits are refused: on a
 * credential file they are never intended.
 */
export function parseModeText(text: string): ValueResult<number> {
  const match = /^(?:0o|0O|0)?([0-7]{1,4})$/.exec(text.trim());
  if (match?.[1] === undefined) {
    return bad(`${JSON.stringify(text)} is not an octal file mode`, 'write three octal digits such as "0640"');
  }
  const mode = Number.parseInt(match[1], 8);
  if (mode > 0o777) {
    return bad(
      `${JSON.stringify(text)} sets setuid, setgid or sticky bits, which output files never need`,
      `use permission bits only, e.g. "0${(mode & 0o777).toString(8).padStart(3, "0")}"`,
    );
  }
  return ok(mode);
}

/** `0o640` → `"0640"`, the form config.example.yaml uses. */
export function formatMode(mode: number): string {
  return `0${mode.toString(8).padStart(3, "0")}`;
}

// Node timers overflow past 2^31-1 ms (about 24.8 days) and fire at once.
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A Go-style duration such as `500ms`, `10s`, `2m` or `1m30s`, in milliseconds, above zero. */
export function parseDurationText(text: string): ValueResult<number> {
  const milliseconds = parseDuration(text);
  if (milliseconds === undefined) return bad(`${JSON.stringify(text)} is not a duration`, DURATION_FORMAT_HINT);
  if (milliseconds <= 0) return bad(`${JSON.stringify(text)} is not longer than zero`, DURATION_FORMAT_HINT);
  if (milliseconds > MAX_TIMER_MS) {
    return bad(`${JSON.stringify(text)} is longer than Node timers allow (24 days)`, "use a shorter duration");
  }
  return ok(milliseconds);
}

function isSignalName(name: string): name is NodeJS.Signals {
  return Object.hasOwn(constants.signals, name);
}

/**
 * `HUP`, `sighup` and `SIGHUP` all mean SIGHUP. SIGKILL and SIGSTOP cannot be handled, so an
 * app could never reload on them; `notify_action: restart` is the way to restart it instead.
 */
export function parseSignalName(text: string): ValueResult<NodeJS.Signals> {
  const upper = text.trim().toUpperCase();
  const name = upper.startsWith("SIG") ? upper : `SIG${upper}`;
  if (!isSignalName(name)) {
    return bad(`${JSON.stringify(text)} is not a signal this platform knows`, "use a name such as SIGHUP or SIGUSR1");
  }
  if (name === "SIGKILL" || name === "SIGSTOP") {
    return bad(
      `${name} cannot be caught, so the app could never reload on it`,
      "use SIGHUP, or notify_action: restart",
    );
  }
  return ok(name);
}

/**
 * Splits a command line into words the way a POSIX shell would, without expansions:
 * whitespace separates, single quotes are literal, double quotes allow `\"`, `\\`, `\$` and
 * `` \` ``, and a backslash outside quotes escapes the next character.
 */
export function splitCommandLine(text: string): ValueResult<string[]> {
  const words: string[] = [];
  let word: string | undefined;
  let quoteChar: "'" | '"' | undefined;
  for (let i = 0; i < text.length; i++) {
    const char = text.charAt(i);
    if (quoteChar === "'") {
      if (char === "'") quoteChar = undefined;
      else word = (word ?? "") + char;
    } else if (quoteChar === '"') {
      if (char === '"') quoteChar = undefined;
      else if (char === "\\" && /["\\$`]/.test(text.charAt(i + 1))) word = (word ?? "") + text.charAt(++i);
      else word = (word ?? "") + char;
    } else if (/\s/.test(char)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (char === "'" || char === '"') {
      quoteChar = char;
      word ??= "";
    } else if (char === "\\" && i + 1 < text.length) {
      word = (word ?? "") + text.charAt(++i);
    } else {
      word = (word ?? "") + char;
    }
  }
  if (quoteChar !== undefined) {
    return bad(
      `${JSON.stringify(text)} has an unclosed ${quoteChar} quote`,
      "close the quote, or write the arguments as a YAML list",
    );
  }
  if (word !== undefined) words.push(word);
  return ok(words);
}
