/**
 * Turns zod issues into policy problems with messages written for mesh operators: YAML words
 * (mapping, list), the field that is missing or unknown, and "did you mean" hints for typos.
 */
import type { z } from 'zod';
import { clip } from './fields.ts';
import { allowedKeysAt } from './reference.ts';

/** A problem before it gets a source location. */
export type PathedProblem = {
  path: readonly PropertyKey[];
  message: string;
  rule: string;
  /** Set when the problem points at a key (unknown fields) rather than at a value. */
  atKey?: boolean;
  /** Offset inside a string value (PromQL errors), when known. */
  valueOffset?: number;
};

type Issue = z.core.$ZodIssue;

/** `spec.waves[1].namespaces` for `['spec', 'waves', 1, 'namespaces']`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else {
      const name = clip(String(segment), 60);
      text += text === '' ? name : `.${name}`;
    }
  }
  return text;
}

/** Edit distance, bounded: returns `limit + 1` as soon as it is sure to exceed `limit`. */
export function editDistance(a: string, b: string, limit = 2): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const value = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
      current.push(value);
      rowMin = Math.min(rowMin, value);
    }
    if (rowMin > limit) return limit + 1;
    previous = current;
  }
  return previous[b.length] ?? limit + 1;
}

/** The allowed key closest to `key`, when close enough to be a typo. */
export function suggestKey(key: string, allowed: readonly string[]): string | undefined {
  if (key.length > 64) return undefined;
  const lower = key.toLowerCase();
  let best: { key: string; distance: number } | undefined;
  for (const candidate of allowed) {
    const distance = candidate.toLowerCase() === lower ? 0 : editDistance(lower, candidate.toLowerCase(), 2);
    if (distance <= 2 && (best === undefined || distance < best.distance)) best = { key: candidate, distance };
  }
  return best?.key;
}

function typeName(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a mapping';
  if (typeof input === 'string') return `a string ("${clip(input, 30)}")`;
  if (typeof input === 'number') return Number.isFinite(input) ? `a number (${input})` : `a number (${String(input)})`;
  return `a ${typeof input}`;
}

const EXPECTED_WORDS: Record<string, string> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  record: 'a mapping',
};

function invalidType(issue: Extract<Issue, { code: 'invalid_type' }>): string {
  const expected = EXPECTED_WORDS[issue.expected] ?? issue.expected;
  if (issue.input === undefined) return 'required field is missing';
  if (issue.expected === 'int') return `expected an integer, got ${typeName(issue.input)}`;
  // A custom message (the secret-ref hint) wins over the generic one.
  if (!issue.message.startsWith('Invalid input')) return issue.message;
  return `expected ${expected}, got ${typeName(issue.input)}`;
}

function bound(issue: Extract<Issue, { code: 'too_small' | 'too_big' }>, word: 'least' | 'most'): string {
  const value = issue.code === 'too_small' ? issue.minimum : issue.maximum;
  const inclusive = issue.inclusive !== false;
  switch (issue.origin) {
    case 'array':
      return Number(value) === 1 && word === 'least'
        ? 'needs at least one item'
        : `needs at ${word} ${String(value)} items`;
    case 'string':
      return Number(value) === 1 && word === 'least'
        ? 'must not be empty'
        : `must have at ${word} ${String(value)} characters`;
    default:
      if (!inclusive) return `must be ${word === 'least' ? 'greater' : 'less'} than ${String(value)}`;
      return `must be at ${word} ${String(value)}`;
  }
}

/** One zod issue as one or more problems (an unknown-keys issue names each key). */
export function problemsFromIssue(issue: Issue): PathedProblem[] {
  const path = issue.path;
  switch (issue.code) {
    case 'unrecognized_keys': {
      const allowed = allowedKeysAt(path);
      return issue.keys.map((key) => {
        const suggestion = suggestKey(key, allowed);
        const hint =
          suggestion === undefined
            ? allowed.length > 0
              ? `; allowed: ${allowed.join(', ')}`
              : ''
            : `; did you mean "${suggestion}"?`;
        return {
          path: [...path, key],
          message: `unknown field "${clip(key, 60)}"${hint}`,
          rule: 'schema',
          atKey: true,
        };
      });
    }
    case 'invalid_type':
      return [{ path, message: invalidType(issue), rule: 'schema' }];
    case 'invalid_value':
      return [
        {
          path,
          message:
            issue.values.length === 1
              ? `must be ${JSON.stringify(issue.values[0])}`
              : `must be one of ${issue.values.map((value) => JSON.stringify(value)).join(', ')}`,
          rule: 'schema',
        },
      ];
    case 'too_small':
      return [{ path, message: bound(issue, 'least'), rule: 'schema' }];
    case 'too_big':
      return [{ path, message: bound(issue, 'most'), rule: 'schema' }];
    case 'custom': {
      const params = issue.params as { rule?: unknown; offset?: unknown } | undefined;
      return [
        {
          path,
          message: issue.message,
          rule: typeof params?.rule === 'string' ? params.rule : 'schema',
          ...(typeof params?.offset === 'number' ? { valueOffset: params.offset } : {}),
        },
      ];
    }
    default:
      return [{ path, message: issue.message, rule: 'schema' }];
  }
}
