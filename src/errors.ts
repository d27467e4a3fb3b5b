/**
 * The root of every error this project throws on purpose. Each subclass carries a stable
 * `code` that callers and tests match on, and a message written for the person who has to
 * fix the problem. Messages never contain key material or tokens.
 */
export abstract class SpiffeSidecarError extends Error {
  abstract readonly code: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }

  override get name(): string {
    return this.constructor.name;
  }
}

/**
 * An error that names which rule of a spec or of our own contract was broken. `rule` is a
 * short stable id that tests, metrics and `inspect` match on; the message is for people.
 */
export abstract class RuleViolationError<Rule extends string = string> extends SpiffeSidecarError {
  constructor(
    readonly rule: Rule,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Describes a thrown value for a log line or a CLI message without leaking a stack trace. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
