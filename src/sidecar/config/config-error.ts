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

