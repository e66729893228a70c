/**
 * Printing a file's problems. Kept apart from policy-file.ts so the CLI's error boundary (loaded by
 * every command, `--help` included) does not load the policy schema, YAML and PromQL parsers.
 */
import { formatProblem, type PolicyProblem } from '../errors.ts';

/** At most this many problems are printed for one file; the rest are counted. */
export const MAX_PRINTED_PROBLEMS = 50;

/** The lines for a file's problems, capped at MAX_PRINTED_PROBLEMS with a line saying how many more. */
export function problemLines(problems: readonly PolicyProblem[], suffix = ''): string[] {
  const lines = problems.slice(0, MAX_PRINTED_PROBLEMS).map((p) => `${formatProblem(p)}${suffix}`);
  if (problems.length > MAX_PRINTED_PROBLEMS) {
    const file = problems[0]?.location?.file;
    lines.push(`${file ? `${file}: ` : ''}... and ${problems.length - MAX_PRINTED_PROBLEMS} more problem(s) not shown`);
  }
  return lines;
}
