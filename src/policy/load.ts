/**
 * Loads a policy from its text in three passes: YAML (syntax, one document, unique keys, bounded
 * aliases) -> schema (shape, single values, normalization) -> cross-field rules. Every problem
 * carries `file:line:col`, and every problem of a pass is reported at once. Rules need a typed
 * policy, so they run once the schema pass is clean.
 *
 * Never throws for bad input: junk, bombs and huge files all end as problems. It reads no files
 * (src/policy is pure): callers pass the text.
 */
import { isScalar, LineCounter, parseAllDocuments } from 'yaml';
import type { Document } from 'yaml';
import { PolicyError } from '../errors.ts';
import type { PolicyProblem, SourceLocation } from '../errors.ts';
import { formatPath, problemsFromIssue } from './issues.ts';
import type { PathedProblem } from './issues.ts';
import { locateNode, positionOf, scalarValueOffset } from './locate.ts';
import { runRules } from './rules.ts';
import { PolicySchema } from './schema.ts';
import type { Policy } from './types.ts';

/** Policies are small; anything larger is a mistake (or an attack) and is refused before parsing. */
export const MAX_POLICY_BYTES = 1024 * 1024;

/** Bound on YAML alias expansion, so a "billion laughs" document ends as a problem. */
export const MAX_ALIAS_COUNT = 100;

/** The outcome of loading: a policy when valid, every problem otherwise; warnings either way. */
export type PolicyLoadResult = {
  policy?: Policy;
  problems: PolicyProblem[];
  warnings: PolicyProblem[];
};

type Source = { text: string; file: string; lineCounter: LineCounter };

function at(source: Source, offset: number): SourceLocation {
  return { file: source.file, ...positionOf(source.lineCounter, offset) };
}

function start(source: Source): SourceLocation {
  return { file: source.file, line: 1, col: 1 };
}

/** Loads and validates a policy from YAML text; `file` names it in problem locations. */
export function loadPolicyText(text: string, file: string): PolicyLoadResult {
  const source: Source = { text, file, lineCounter: new LineCounter() };
  // UTF-8 needs at most 3 bytes per UTF-16 unit: only count exactly when it could matter.
  const size = text.length * 3 <= MAX_POLICY_BYTES ? text.length : new TextEncoder().encode(text).length;
  if (size > MAX_POLICY_BYTES) {
    return {
      problems: [
        {
          path: '',
          rule: 'size',
          message: `the file is ${size} bytes; policies are limited to ${MAX_POLICY_BYTES} bytes`,
          location: start(source),
        },
      ],
      warnings: [],
    };
  }
  const parsed = parseYaml(source);
  if ('problems' in parsed) return { problems: parsed.problems, warnings: parsed.warnings };
  const { doc, value, warnings } = parsed;

  const result = PolicySchema.safeParse(value, { reportInput: true });
  if (!result.success) {
    const problems = result.error.issues.flatMap(problemsFromIssue).map((problem) => locate(source, doc, problem));
    return { problems: sortByLocation(problems), warnings };
  }

  const findings = runRules(result.data);
  const located = findings.map((finding) => ({ severity: finding.severity, problem: locate(source, doc, finding) }));
  const problems = sortByLocation(located.filter((entry) => entry.severity === 'error').map((entry) => entry.problem));
  const ruleWarnings = located.filter((entry) => entry.severity === 'warning').map((entry) => entry.problem);
  const allWarnings = sortByLocation([...warnings, ...ruleWarnings]);
  return problems.length > 0
    ? { problems, warnings: allWarnings }
    : { policy: result.data, problems: [], warnings: allWarnings };
}

/** Like `loadPolicyText`, for callers that need a policy: throws a PolicyError with every problem. */
export function requirePolicyText(text: string, file: string): { policy: Policy; warnings: PolicyProblem[] } {
  const result = loadPolicyText(text, file);
  if (result.policy === undefined) {
    throw new PolicyError(
      result.problems.length > 0 ? result.problems : [{ path: '', rule: 'schema', message: 'invalid policy' }],
    );
  }
  return { policy: result.policy, warnings: result.warnings };
}

type ParsedYaml =
  | { doc: Document; value: unknown; warnings: PolicyProblem[] }
  | { problems: PolicyProblem[]; warnings: PolicyProblem[] };

function parseYaml(source: Source): ParsedYaml {
  let docs: Document[];
  try {
    docs = parseAllDocuments(source.text, {
      lineCounter: source.lineCounter,
      uniqueKeys: true,
      prettyErrors: false,
      strict: true,
    }) as Document[];
  } catch (error) {
    // The parser recurses on nesting; a pathological document can exhaust the stack.
    return { problems: [yamlFailure(source, error)], warnings: [] };
  }
  if (!Array.isArray(docs) || docs.length === 0) {
    return {
      problems: [
        {
          path: '',
          rule: 'yaml',
          message: 'the file is empty: expected an UpgradePolicy document',
          location: start(source),
        },
      ],
      warnings: [],
    };
  }
  const yamlProblems = dedupe(
    docs.flatMap((doc) =>
      doc.errors.map((error): PolicyProblem => ({
        path: '',
        rule: 'yaml',
        message: yamlMessage(error.message),
        location: at(source, error.pos[0]),
      })),
    ),
  );
  const warnings = docs.flatMap((doc) =>
    doc.warnings.map((warning): PolicyProblem => ({
      path: '',
      rule: 'yaml',
      message: `YAML: ${oneLine(warning.message)}`,
      location: at(source, warning.pos[0]),
    })),
  );
  if (docs.length > 1) {
    const second = docs[1]?.range?.[0] ?? 0;
    yamlProblems.push({
      path: '',
      rule: 'single-document',
      message: `the file holds ${docs.length} YAML documents; a policy file holds exactly one`,
      location: at(source, second),
    });
  }
  if (yamlProblems.length > 0) return { problems: sortByLocation(yamlProblems), warnings };
  const doc = docs[0] as Document;
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    return {
      problems: [
        {
          path: '',
          rule: 'yaml',
          message: 'the document is empty: expected an UpgradePolicy document',
          location: start(source),
        },
      ],
      warnings,
    };
  }
  try {
    return { doc, value: doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }), warnings };
  } catch (error) {
    return { problems: [yamlFailure(source, error)], warnings };
  }
}

function yamlFailure(source: Source, error: unknown): PolicyProblem {
  if (error instanceof RangeError) {
    return { path: '', rule: 'yaml', message: TOO_DEEP, location: start(source) };
  }
  if (error instanceof ReferenceError && /alias/i.test(error.message)) {
    return {
      path: '',
      rule: 'yaml',
      message: `YAML aliases expand to more than ${MAX_ALIAS_COUNT} nodes; refusing to expand them (an alias bomb?)`,
      location: start(source),
    };
  }
  const message = error instanceof Error ? oneLine(error.message) : 'unreadable document';
  return { path: '', rule: 'yaml', message: `YAML: ${message}`, location: start(source) };
}

/** The parser reports stack exhaustion on deep nesting in its own words; say it plainly once. */
function yamlMessage(text: string): string {
  return /stack (overflow|size exceeded)/i.test(text) ? TOO_DEEP : `YAML: ${oneLine(text)}`;
}

const TOO_DEEP = 'the document is nested too deeply to read';

function dedupe(problems: PolicyProblem[]): PolicyProblem[] {
  const deep = problems.find((problem) => problem.message === TOO_DEEP);
  return deep === undefined ? problems : [deep, ...problems.filter((problem) => problem.message !== TOO_DEEP)];
}

function oneLine(text: string): string {
  const line = text.split('\n')[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}...` : line;
}

/** Gives a pathed problem its source location. */
function locate(source: Source, doc: Document, problem: PathedProblem): PolicyProblem {
  const found = locateNode(doc, problem.path);
  const target = problem.atKey === true && found.exact && found.keyNode !== undefined ? found.keyNode : found.node;
  const range = target?.range;
  let offset = range === undefined || range === null ? 0 : range[0];
  let message = problem.message;
  if (problem.valueOffset !== undefined && found.exact && target !== undefined) {
    const exact = scalarValueOffset(source.text, source.lineCounter, target, problem.valueOffset);
    if (exact === undefined) message += ` (at character ${problem.valueOffset + 1} of the query)`;
    else offset = exact;
  }
  return { path: formatPath(problem.path), message, rule: problem.rule, location: at(source, offset) };
}

function sortByLocation(problems: PolicyProblem[]): PolicyProblem[] {
  return [...problems].sort(
    (a, b) => (a.location?.line ?? 0) - (b.location?.line ?? 0) || (a.location?.col ?? 0) - (b.location?.col ?? 0),
  );
}
