/** Exit codes of the CLI contract (DESIGN section 7). Scripts depend on them: never renumber. */
export const ExitCode = {
  /** Done: promoted, or nothing to do. */
  ok: 0,
  /** Any failure not covered by another code. */
  failure: 1,
  /** Invalid input or usage. */
  invalid: 2,
  /** The run rolled back. */
  rolledBack: 3,
  /** The run is held: approval pending, window closed, or gates undecidable. */
  held: 4,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
