/**
 * Exit codes of `spiffe-sidecar`, documented in the README. Scripts and init containers
 * branch on them, so they never change meaning.
 */
export const ExitCode = {
  /** Success; for `inspect`, every check passed. */
  ok: 0,
  /** `inspect`: the identity on disk is invalid (the message names the rule). */
  invalid: 1,
  /** Usage, configuration or I/O error: nothing was judged. */
  usage: 2,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
