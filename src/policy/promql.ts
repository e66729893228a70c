/**
 * Custom gate queries are PromQL templates. Variables are written `{{name}}` (spaces inside the
 * braces allowed): `{{` never occurs in valid PromQL, so a template cannot be misread, unlike a
 * `$name` syntax that collides with regex anchors inside label matchers.
 *
 * Lint checks two things offline: every variable is a known one, and the query parses as
 * Prometheus 2.x PromQL once variables are replaced by harmless placeholders. It finds syntax
 * errors only; `revroll plan` asks the real server about everything else.
 */
import { parser } from '@prometheus-io/lezer-promql';

/** The variables a custom query may use, with what each expands to at run time. */
export const TEMPLATE_VARIABLES = {
  namespaces: "regex alternation of the wave's namespaces, each escaped (use with `=~`)",
  namespace: 'one namespace of the wave, escaped; the check is then evaluated once per namespace',
  revision: 'the revision being measured (the canary, or the old revision for a cohort baseline)',
  fromRevision: 'the revision being upgraded from',
  toRevision: 'the revision being upgraded to',
  window: "the check's window as a PromQL duration (e.g. `5m`)",
  version: 'the Istio version of the proxies being measured (the `tag` label of `istio_build`)',
  fromVersion: 'the Istio version of the revision being upgraded from',
  toVersion: 'the Istio version of the revision being upgraded to',
} as const;

/** Name of a template variable. */
export type TemplateVariable = keyof typeof TEMPLATE_VARIABLES;

/** One `{{name}}` occurrence in a query template, with its offsets in the template. */
export type TemplateReference = { name: string; start: number; end: number };

/** A problem in a query template; `offset` is an index into the template text. */
export type QueryProblem = { rule: 'template-variables' | 'promql-syntax'; message: string; offset: number };

const REFERENCE = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** Placeholders keep the query parseable wherever a variable may sit: in a string or a range. */
function placeholderFor(name: string): string {
  return name === 'window' ? '5m' : 'placeholder';
}

/** True when `name` is a known template variable. */
export function isTemplateVariable(name: string): name is TemplateVariable {
  return Object.hasOwn(TEMPLATE_VARIABLES, name);
}

/** Every `{{name}}` reference in a template, in order. */
export function findTemplateReferences(template: string): TemplateReference[] {
  return [...template.matchAll(REFERENCE)].map((match) => ({
    name: match[1] ?? '',
    start: match.index,
    end: match.index + match[0].length,
  }));
}

/** Checks a custom query template: known variables, closed braces, PromQL syntax. */
export function checkQueryTemplate(template: string): QueryProblem[] {
  if (template.trim() === '') {
    return [{ rule: 'promql-syntax', message: 'the query is empty', offset: 0 }];
  }
  const problems: QueryProblem[] = [];
  const references = findTemplateReferences(template);
  for (const reference of references) {
    if (!isTemplateVariable(reference.name)) {
      problems.push({
        rule: 'template-variables',
        message: `unknown template variable {{${clip(reference.name)}}}; known: ${Object.keys(TEMPLATE_VARIABLES).join(', ')}`,
        offset: reference.start,
      });
    }
  }
  const substituted = substitute(template, references);
  const stray = substituted.text.indexOf('{{');
  if (stray >= 0) {
    problems.push({
      rule: 'template-variables',
      message: 'unclosed "{{": template variables are written {{name}}',
      offset: substituted.toTemplateOffset(stray),
    });
    return problems;
  }
  const syntax = findSyntaxError(substituted.text);
  if (syntax !== undefined) {
    // "Unexpected end" errors sit past the last character: point at the last one instead.
    const offset = Math.min(substituted.toTemplateOffset(syntax.offset), template.trimEnd().length - 1);
    problems.push({ rule: 'promql-syntax', message: syntax.message, offset });
  }
  return problems;
}

type Substitution = { text: string; toTemplateOffset: (offset: number) => number };

/** Replaces references by placeholders and keeps a map back to template offsets. */
function substitute(template: string, references: readonly TemplateReference[]): Substitution {
  const spans: { from: number; to: number; templateStart: number; templateEnd: number }[] = [];
  let text = '';
  let cursor = 0;
  for (const reference of references) {
    text += template.slice(cursor, reference.start);
    const from = text.length;
    text += placeholderFor(reference.name);
    spans.push({ from, to: text.length, templateStart: reference.start, templateEnd: reference.end });
    cursor = reference.end;
  }
  text += template.slice(cursor);
  const toTemplateOffset = (offset: number): number => {
    let shift = 0;
    for (const span of spans) {
      if (offset < span.from) break;
      if (offset < span.to) return span.templateStart;
      shift = span.templateEnd - span.to;
    }
    return offset + shift;
  };
  return { text, toTemplateOffset };
}

/** The first syntax error in a PromQL expression, or undefined when it parses. */
export function findSyntaxError(query: string): { message: string; offset: number } | undefined {
  let found: { message: string; offset: number } | undefined;
  parser.parse(query).iterate({
    enter: (node) => {
      if (found !== undefined) return false;
      if (node.type.isError) {
        // Error nodes are often zero-width: quote the word (or character) they sit on.
        const wide = query.slice(node.from, node.to).trim();
        const near = wide !== '' ? wide : (/^\s*(\w+|\S)/.exec(query.slice(node.from))?.[1] ?? '');
        found = {
          offset: node.from,
          message:
            node.from >= query.trimEnd().length || near === ''
              ? 'PromQL syntax error: unexpected end of query'
              : `PromQL syntax error: unexpected "${clip(near)}"`,
        };
        return false;
      }
      return undefined;
    },
  });
  return found;
}

function clip(text: string): string {
  return text.length > 30 ? `${text.slice(0, 30)}...` : text;
}
