import { SpiffeSidecarError } from "../../errors.js";

/** A 1-based position in the configuration file. */
export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}

export interface ConfigProblem {
  /** The file as the user named it. */
  readonly file: string;
  /** Dotted path of the offending key, e.g. `jwt_svids[1].jwt_audience`; empty for the file as a whole. */
  readonly key: string;
  readonly position?: SourcePosition | undefined;
  /** What is wrong, without the fix. */
  readonly problem: string;
  /** What to write instead. */
  readonly fix: string;
}

/**
 * A configuration the sidecar cannot run with. The message is always one line,
 * `<file>:<line>:<col>: <key>: <what is wrong>; <the fix>`, because the CLI prints it as is
 * and exits 2: the user should be able to act on it without reading anything else.
 */
export class ConfigError extends SpiffeSidecarError {
  readonly code = "ERR_CONFIG";
  readonly file: string;
  readonly key: string;
  readonly position: SourcePosition | undefined;

  constructor(problem: ConfigProblem, options?: { cause?: unknown }) {
    super(formatConfigProblem(problem), options);
    this.file = problem.file;
    this.key = problem.key;
    this.position = problem.position;
  }
}

function formatConfigProblem({ file, key, position, problem, fix }: ConfigProblem): string {
  const where = position === undefined ? file : `${file}:${position.line}:${position.column}`;
  const text = `${where}: ${key === "" ? "" : `${key}: `}${problem}; ${fix}`;
  // User-supplied text is quoted with JSON.stringify, but a YAML library message could still
  // carry a newline; the one-line promise holds regardless.
  return text.replace(/\s*[\r\n]+\s*/g, " ");
}

/** Quotes a user-supplied value for a message so control characters and spaces stay visible. */
export function quote(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/** Edit distance with unit costs (Levenshtein); keys are short, so the O(n·m) table is fine. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/**
 * The valid key closest to a misspelt one, or undefined when nothing is close enough to be a
 * plausible typo (up to 40% of the candidate's length, at least 2 edits).
 */
export function nearestKey(unknownKey: string, candidates: Iterable<string>): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(unknownKey.toLowerCase(), candidate);
    const limit = Math.max(2, Math.floor(candidate.length * 0.4));
    if (distance <= limit && (best === undefined || distance < best.distance)) best = { key: candidate, distance };
  }
  return best?.key;
}
