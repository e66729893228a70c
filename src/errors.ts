/**
 * Typed errors. Code branches on the class or on `code`, never on message text.
 * The CLI's error boundary (src/cli/main.ts) is the one place that turns them into exit codes.
 */

/** Where a problem was found in a policy file. */
export type SourceLocation = {
  file: string;
  line: number;
  col: number;
};

/** One problem found in a policy: where it is, which field, and what is wrong. */
export type PolicyProblem = {
  /** Dotted path of the field, e.g. `spec.waves[1].namespaces`. Empty for the document itself. */
  path: string;
  message: string;
  /** Name of the rule or check that found it (e.g. `schema`, `unique-wave-names`). */
  rule: string;
  location?: SourceLocation;
};

/** Base class: every error revroll raises on purpose carries a stable `code`. */
export class RevrollError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A policy file (or a flag that stands for one) is invalid. Carries every problem at once. */
export class PolicyError extends RevrollError {
  readonly problems: readonly PolicyProblem[];

  constructor(problems: readonly PolicyProblem[], options?: { cause?: unknown }) {
    const first = problems[0];
    const summary = problems.length === 1 && first ? formatProblem(first) : `${problems.length} problems in policy`;
    super('POLICY_INVALID', summary, options);
    this.problems = problems;
  }
}

/** The command line itself is wrong (unknown flag, missing argument, bad value). */
export class UsageError extends RevrollError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('USAGE', message, options);
  }
}

/** Something outside revroll failed: the Kubernetes API, Prometheus, Slack, istioctl, helm. */
export class ExternalError extends RevrollError {
  /** What was being talked to, e.g. a URL or `deployments.apps web in demo`. */
  readonly target: string;

  constructor(code: string, message: string, target: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.target = target;
  }
}

/** revroll refused to act because acting would break a safety invariant (DESIGN section 3). */
export class SafetyError extends RevrollError {}

/** A bug in revroll: an invariant of its own code did not hold. */
export class InternalError extends RevrollError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INTERNAL', message, options);
  }
}

/** `file:line:col path: message`, the one format every policy problem is printed in. */
export function formatProblem(problem: PolicyProblem): string {
  const where = problem.location ? `${problem.location.file}:${problem.location.line}:${problem.location.col}` : '';
  const path = problem.path === '' ? '' : `${problem.path}: `;
  return where === '' ? `${path}${problem.message}` : `${where} ${path}${problem.message}`;
}
