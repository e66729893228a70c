/**
 * The JSONPath subset CRD printer columns use, evaluated as kube-apiserver's CRD table convertor
 * does (apiextensions-apiserver `tableconvertor.go`: "as we only support simple JSON path, we can
 * assume to have only one result"): the FIRST match is the cell. Supported: `.field`, `['key']`
 * (keys with dots), `[n]`, `[*]` and `[?(@.path=="value")]` / `!=` filters, as in Gateway API's
 * `.status.conditions[?(@.type=="Programmed")].status` and `.status.addresses[*].value`.
 * A path this subset cannot parse matches nothing (an empty cell), never an exception.
 */

type Step =
  | { kind: 'field'; name: string }
  | { kind: 'index'; index: number }
  | { kind: 'all' }
  | { kind: 'filter'; path: string[]; op: '==' | '!='; value: string };

function parseSteps(input: string): Step[] | undefined {
  const path = input.trim().replace(/^\{/, '').replace(/\}$/, '');
  const steps: Step[] = [];
  let i = path.startsWith('$') ? 1 : 0;
  while (i < path.length) {
    const rest = path.slice(i);
    let m: RegExpExecArray | null;
    if ((m = /^\.([A-Za-z0-9_-]+)/.exec(rest))) steps.push({ kind: 'field', name: m[1] as string });
    else if ((m = /^\[\*\]/.exec(rest))) steps.push({ kind: 'all' });
    else if ((m = /^\[(\d+)\]/.exec(rest))) steps.push({ kind: 'index', index: Number(m[1]) });
    else if ((m = /^\['([^']*)'\]/.exec(rest))) steps.push({ kind: 'field', name: m[1] as string });
    else if ((m = /^\[\?\(@((?:\.[A-Za-z0-9_-]+)+)\s*(==|!=)\s*(?:"([^"]*)"|'([^']*)')\)\]/.exec(rest)))
      steps.push({
        kind: 'filter',
        path: (m[1] as string).slice(1).split('.'),
        op: m[2] as '==' | '!=',
        value: m[3] ?? m[4] ?? '',
      });
    else return undefined;
    i += m[0].length;
  }
  return steps;
}

function child(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)[name]
    : undefined;
}

function scalar(value: unknown): string | undefined {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
    ? String(value)
    : undefined;
}

/** Every match of `path` in `root`, in document order. */
export function jsonPathMatches(root: unknown, path: string): unknown[] {
  const steps = parseSteps(path);
  if (!steps) return [];
  let current: unknown[] = [root];
  for (const step of steps) {
    const next: unknown[] = [];
    for (const value of current) {
      switch (step.kind) {
        case 'field': {
          const v = child(value, step.name);
          if (v !== undefined) next.push(v);
          break;
        }
        case 'index':
          if (Array.isArray(value) && step.index < value.length) next.push(value[step.index]);
          break;
        case 'all':
          if (Array.isArray(value)) next.push(...value);
          break;
        case 'filter':
          if (!Array.isArray(value)) break;
          for (const item of value) {
            const actual = scalar(step.path.reduce<unknown>((v, key) => child(v, key), item));
            if (actual === undefined) continue;
            if ((actual === step.value) === (step.op === '==')) next.push(item);
          }
          break;
      }
    }
    current = next;
  }
  return current;
}

/** The value a printer column shows: the first match, or undefined. */
export function firstJsonPathMatch(root: unknown, path: string): unknown {
  return jsonPathMatches(root, path)[0];
}
