/**
 * Just enough of Helm's template language to check the chart without Helm (not installed on
 * the developers' machines or CI): the action syntax, the block structure, and a "skeleton"
 * rendering whose YAML structure can be parsed.
 *
 * The skeleton rendering is line-based, which the chart's templates follow as a style rule:
 * - a control action (`if`, `else`, `else if`, `range`, `with`, `define`, `block`, `end`)
 *   stands alone on its line; which branches are kept is decided by a callback (every `then`
 *   branch, every `else` branch, or real values for `.Values.x.y` conditions);
 * - any other line made only of actions (`{{- include "x" . | nindent 4 }}`,
 *   `{{- toYaml .Values.x | nindent 8 }}`) expands to YAML lines Helm would compute: it is
 *   dropped, so the key above it parses as null;
 * - an action inside a content line (`name: {{ include "revroll.fullname" . }}-state`) is
 *   replaced by the placeholder `HELM`, a plain scalar.
 * Whitespace trimming (`{{-`, `-}}`) is ignored: with control actions alone on their lines, it
 * only removes those lines, as dropping them does.
 */

/** What an inline action is replaced with. */
export const PLACEHOLDER = 'HELM';

export type Action = { text: string; line: number };

const CONTROL = /^(if|else if|else|range|with|define|block|end)\b/;
const OPENS = new Set(['if', 'range', 'with', 'define', 'block']);

/** The actions of a template, in order; throws on an unterminated or nested `{{`. */
export function actions(template: string, file: string): Action[] {
  const found: Action[] = [];
  let at = 0;
  for (;;) {
    const open = template.indexOf('{{', at);
    const strayClose = template.indexOf('}}', at);
    if (strayClose !== -1 && (open === -1 || strayClose < open))
      throw new Error(`${file}:${lineOf(template, strayClose)}: "}}" without "{{"`);
    if (open === -1) return found;
    const close = template.indexOf('}}', open + 2);
    if (close === -1) throw new Error(`${file}:${lineOf(template, open)}: "{{" is never closed`);
    const inner = template.slice(open + 2, close);
    if (inner.includes('{{')) throw new Error(`${file}:${lineOf(template, open)}: "{{" inside an action`);
    found.push({ text: body(inner), line: lineOf(template, open) });
    at = close + 2;
  }
}

/** An action's words without delimiters, trim markers or surrounding space. */
function body(inner: string): string {
  return inner.replace(/^-\s/, '').replace(/\s-$/, '').trim();
}

function lineOf(text: string, index: number): number {
  return text.slice(0, index).split('\n').length;
}

/** The control keyword of an action (`if`, `else if`, `end`...), or undefined. */
export function controlOf(action: string): string | undefined {
  if (action.startsWith('/*')) return undefined;
  return CONTROL.exec(action)?.[1];
}

/** Checks that every `if/range/with/define/block` has its `end` and every `else` sits in a block that allows it. */
export function checkBlocks(template: string, file: string): void {
  const stack: { keyword: string; line: number }[] = [];
  for (const action of actions(template, file)) {
    const keyword = controlOf(action.text);
    if (!keyword) continue;
    if (OPENS.has(keyword)) stack.push({ keyword, line: action.line });
    else if (keyword === 'end') {
      if (!stack.pop()) throw new Error(`${file}:${action.line}: "end" without an open block`);
    } else {
      const top = stack[stack.length - 1];
      if (!top || !['if', 'with', 'range'].includes(top.keyword))
        throw new Error(`${file}:${action.line}: "${keyword}" outside if/with/range`);
    }
  }
  const open = stack.pop();
  if (open) throw new Error(`${file}:${open.line}: "${open.keyword}" is never closed by "end"`);
}

/** Decides whether a block's body is kept: `keyword` is `if`, `else if`, `range` or `with`. */
export type Choose = (keyword: string, expression: string) => boolean;

type Frame = { active: boolean; taken: boolean; parentActive: boolean };

/** The template with branches chosen, whole-line actions dropped and inline actions replaced (see the file comment). */
export function skeleton(template: string, file: string, choose: Choose): string {
  checkBlocks(template, file);
  const out: string[] = [];
  const stack: Frame[] = [];
  const active = () => stack.every((f) => f.active);
  template.split('\n').forEach((line, index) => {
    const where = `${file}:${index + 1}`;
    const stripped = line.replace(/\{\{.*?\}\}/g, '');
    const lineActions = [...line.matchAll(/\{\{(.*?)\}\}/g)].map((m) => body(m[1] ?? ''));
    if (line.includes('{{') && lineActions.length === 0) throw new Error(`${where}: an action spanning lines`);
    if (lineActions.length > 0 && stripped.trim() === '') {
      for (const action of lineActions) {
        const keyword = controlOf(action);
        if (!keyword) continue;
        const expression = action.slice(keyword.length).trim();
        if (OPENS.has(keyword)) {
          const parentActive = active();
          const chosen =
            keyword === 'define' || keyword === 'block' ? false : parentActive && choose(keyword, expression);
          stack.push({ active: chosen, taken: chosen, parentActive });
        } else if (keyword === 'end') {
          stack.pop();
        } else {
          const frame = stack[stack.length - 1] as Frame;
          const chosen = frame.parentActive && !frame.taken && (keyword === 'else' || choose(keyword, expression));
          frame.active = chosen;
          frame.taken ||= chosen;
        }
      }
      return;
    }
    if (lineActions.some((a) => controlOf(a)))
      throw new Error(`${where}: a control action must stand alone on its line`);
    if (active()) out.push(line.replace(/\{\{.*?\}\}/g, PLACEHOLDER));
  });
  return out.join('\n');
}

/** Evaluates `.Values.a.b` conditions of `if` against `values`; anything else is refused (keeps RBAC templates static). */
export function valuesChooser(values: Record<string, unknown>, file: string): Choose {
  return (keyword, expression) => {
    const path = /^\.Values((?:\.\w+)+)$/.exec(expression)?.[1];
    if ((keyword !== 'if' && keyword !== 'else if') || !path)
      throw new Error(`${file}: only "if .Values.x.y" conditions are supported here, not "${keyword} ${expression}"`);
    let value: unknown = values;
    for (const key of path.slice(1).split('.')) value = (value as Record<string, unknown> | undefined)?.[key];
    if (value === undefined) throw new Error(`${file}: .Values${path} is not set`);
    return (
      Boolean(value) &&
      !(Array.isArray(value) && value.length === 0) &&
      !(typeof value === 'object' && value !== null && Object.keys(value).length === 0)
    );
  };
}
