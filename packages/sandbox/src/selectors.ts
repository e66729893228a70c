/**
 * Kubernetes label selectors as the API server evaluates them: the string form of
 * `?labelSelector=` and the structured `LabelSelector` of webhooks and workloads, both reduced to
 * one list of requirements. The sandbox keeps its own implementation, apart from revroll's, so
 * that a misunderstanding shared by the two cannot pass the tests.
 */

export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

/** One requirement; a selector matches when every requirement holds. */
export type Requirement = {
  key: string;
  operator: SelectorOperator;
  values: readonly string[];
};

/** The structured selector of the Kubernetes API (`metav1.LabelSelector`). */
export type LabelSelector = {
  matchLabels?: Record<string, string> | null;
  matchExpressions?: readonly { key: string; operator: string; values?: readonly string[] | null }[] | null;
};

/** A selector string could not be parsed; the API answers 400 BadRequest with this message. */
export class SelectorParseError extends Error {}

const KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Parses `a=b,c!=d,e in (f,g),h notin (i),j,!k` (the grammar of `kubectl -l`). */
export function parseSelector(text: string): Requirement[] {
  const requirements: Requirement[] = [];
  const input = text.trim();
  if (input === '') return requirements;
  let pos = 0;

  const skipSpace = () => {
    while (pos < input.length && /\s/.test(input[pos] ?? '')) pos++;
  };
  const readWord = (): string => {
    const start = pos;
    while (pos < input.length && !/[\s,=!()]/.test(input[pos] ?? '')) pos++;
    return input.slice(start, pos);
  };
  const expectKey = (key: string) => {
    if (!KEY.test(key)) throw new SelectorParseError(`invalid label key "${key}"`);
  };
  const expectValue = (value: string) => {
    if (!VALUE.test(value) || value.length > 63) throw new SelectorParseError(`invalid label value: "${value}"`);
  };

  while (pos < input.length) {
    skipSpace();
    if (input[pos] === '!') {
      pos++;
      skipSpace();
      const key = readWord();
      expectKey(key);
      requirements.push({ key, operator: 'DoesNotExist', values: [] });
    } else {
      const key = readWord();
      if (key === '')
        throw new SelectorParseError(`unable to parse requirement: found '${input[pos] ?? ''}', expected: identifier`);
      expectKey(key);
      skipSpace();
      const rest = input.slice(pos);
      if (rest.startsWith('==') || rest.startsWith('!=') || rest.startsWith('=')) {
        const op = rest.startsWith('!=') ? 'NotIn' : 'In';
        pos += rest.startsWith('=') && !rest.startsWith('==') ? 1 : 2;
        skipSpace();
        const value = readWord();
        expectValue(value);
        requirements.push({ key, operator: op, values: [value] });
      } else if (/^(in|notin)\s*\(/.test(rest)) {
        const op = rest.startsWith('notin') ? 'NotIn' : 'In';
        pos += op === 'In' ? 2 : 5;
        skipSpace();
        pos++; // '('
        const values: string[] = [];
        for (;;) {
          skipSpace();
          const value = readWord();
          expectValue(value);
          values.push(value);
          skipSpace();
          const ch = input[pos];
          if (ch === ',') {
            pos++;
            continue;
          }
          if (ch === ')') {
            pos++;
            break;
          }
          throw new SelectorParseError(
            `unable to parse requirement: found '${ch ?? ''}', expected: ',', ')' or identifier`,
          );
        }
        requirements.push({ key, operator: op, values });
      } else {
        requirements.push({ key, operator: 'Exists', values: [] });
      }
    }
    skipSpace();
    if (pos < input.length) {
      if (input[pos] !== ',')
        throw new SelectorParseError(`unable to parse requirement: found '${input[pos] ?? ''}', expected: ','`);
      pos++;
      if (pos >= input.length)
        throw new SelectorParseError("unable to parse requirement: found '', expected: identifier");
    }
  }
  return requirements;
}

/** Reduces a structured `LabelSelector` to requirements. An unknown operator is an error. */
export function labelSelectorRequirements(selector: LabelSelector | null | undefined): Requirement[] {
  if (!selector) return [];
  const requirements: Requirement[] = [];
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    requirements.push({ key, operator: 'In', values: [value] });
  }
  for (const expression of selector.matchExpressions ?? []) {
    const operator = expression.operator;
    if (operator !== 'In' && operator !== 'NotIn' && operator !== 'Exists' && operator !== 'DoesNotExist') {
      throw new SelectorParseError(`"${operator}" is not a valid label selector operator`);
    }
    requirements.push({ key: expression.key, operator, values: expression.values ?? [] });
  }
  return requirements;
}

/** True when `labels` satisfy every requirement (an empty list matches everything). */
export function matches(
  requirements: readonly Requirement[],
  labels: Readonly<Record<string, string>> | null | undefined,
): boolean {
  const set = labels ?? {};
  for (const requirement of requirements) {
    const has = Object.hasOwn(set, requirement.key);
    const value = set[requirement.key];
    switch (requirement.operator) {
      case 'In':
        if (!has || value === undefined || !requirement.values.includes(value)) return false;
        break;
      case 'NotIn':
        if (has && value !== undefined && requirement.values.includes(value)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

/** Formats requirements back into the string form (for `?labelSelector=` and Table cells). */
export function formatSelector(requirements: readonly Requirement[]): string {
  return requirements
    .map((r) => {
      switch (r.operator) {
        case 'In':
          return r.values.length === 1 ? `${r.key}=${r.values[0]}` : `${r.key} in (${r.values.join(',')})`;
        case 'NotIn':
          return r.values.length === 1 ? `${r.key}!=${r.values[0]}` : `${r.key} notin (${r.values.join(',')})`;
        case 'Exists':
          return r.key;
        case 'DoesNotExist':
          return `!${r.key}`;
      }
    })
    .join(',');
}
