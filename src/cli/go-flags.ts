import { UsageError } from "./usage-error.js";

/**
 * spiffe-helper's command line is Go's `flag` package: `-name` or `--name`, a value after `=`
 * or as the next argument, booleans only as `-name` or `-name=value`, `--` ends the flags.
 * This reads the same syntax, for spiffe-helper's flags and ours alike.
 */
export interface FlagSpec {
  readonly kind: "string" | "boolean";
  /** The name the flag is reported under: `c` and `config` are one flag. */
  readonly canonical: string;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

export type FlagValues = ReadonlyMap<string, string | boolean>;

const TRUE_WORDS = ["1", "t", "T", "TRUE", "true", "True"];
const FALSE_WORDS = ["0", "f", "F", "FALSE", "false", "False"];

/** Go's strconv.ParseBool, which `flag` uses for boolean flags. */
function parseGoBool(text: string): boolean | undefined {
  if (TRUE_WORDS.includes(text)) return true;
  if (FALSE_WORDS.includes(text)) return false;
  return undefined;
}

/** Splits `--name=value` into the name and the value (undefined when there is no `=`). */
function splitFlag(arg: string): { name: string; inlineValue: string | undefined } {
  const body = arg.startsWith("--") ? arg.slice(2) : arg.slice(1);
  if (body === "" || body.startsWith("-") || body.startsWith("=")) {
    throw new UsageError(`bad flag syntax: ${arg}`);
  }
  const equals = body.indexOf("=");
  return equals === -1
    ? { name: body, inlineValue: undefined }
    : { name: body.slice(0, equals), inlineValue: body.slice(equals + 1) };
}

/**
 * Reads flags until the arguments end. A positional argument is refused, where Go would stop
 * and spiffe-helper would ignore the rest: `-daemon-mode false` would otherwise run a daemon.
 * For the same reason a boolean followed by a word Go's ParseBool accepts takes that word.
 */
export function parseGoFlags(argv: readonly string[], specs: FlagSpecs): FlagValues {
  const values = new Map<string, string | boolean>();
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index] ?? "";
    if (arg === "--") {
      const rest = argv.slice(index + 1);
      if (rest.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
      break;
    }
    if (!arg.startsWith("-") || arg === "-") throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`);
    const { name, inlineValue } = splitFlag(arg);
    const spec = specs[name];
    if (spec === undefined) throw new UsageError(`flag provided but not defined: -${name}`);
    if (spec.kind === "boolean") {
      const next = argv[index + 1];
      const nextBool = inlineValue === undefined && next !== undefined ? parseGoBool(next) : undefined;
      if (nextBool !== undefined) index++;
      const value = inlineValue === undefined ? (nextBool ?? true) : parseGoBool(inlineValue);
      if (value === undefined) {
        throw new UsageError(`invalid boolean value ${JSON.stringify(inlineValue)} for -${name}: use true or false`);
      }
      values.set(spec.canonical, value);
      continue;
    }
    let value = inlineValue;
    if (value === undefined) {
      value = argv[index + 1];
      if (value === undefined) throw new UsageError(`flag needs an argument: -${name}`);
      index++;
    }
    values.set(spec.canonical, value);
  }
  return values;
}

/** The flags of spiffe-helper v0.11.0 (its cmd/spiffe-helper/main.go), plus `-c`, `-h` and `-v`. */
export const HELPER_FLAGS: FlagSpecs = {
  config: { kind: "string", canonical: "config" },
  c: { kind: "string", canonical: "config" },
  "daemon-mode": { kind: "boolean", canonical: "daemon-mode" },
  version: { kind: "boolean", canonical: "version" },
  v: { kind: "boolean", canonical: "version" },
  help: { kind: "boolean", canonical: "help" },
  h: { kind: "boolean", canonical: "help" },
};

/** `specs` without the named flags, for commands that take fewer. */
export function withoutFlags(specs: FlagSpecs, ...canonicalNames: string[]): FlagSpecs {
  return Object.fromEntries(Object.entries(specs).filter(([, spec]) => !canonicalNames.includes(spec.canonical)));
}
