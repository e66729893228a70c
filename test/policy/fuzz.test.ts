import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { PolicyLoadResult } from '../../src/policy/load.ts';
import { loadPolicyText } from '../../src/policy/load.ts';

const dir = new URL('../../policies/', import.meta.url);
const examples = readdirSync(dir)
  .filter((name) => name.endsWith('.yaml'))
  .sort()
  .map((name) => readFileSync(new URL(name, dir), 'utf8'));

const SEED = 20_250_101;

/** The invariant: a policy and no problems, or problems that each say where and what. */
function assertWellFormed(result: PolicyLoadResult): void {
  if (result.policy !== undefined) {
    expect(result.problems).toEqual([]);
    return;
  }
  expect(result.problems.length).toBeGreaterThan(0);
  for (const problem of [...result.problems, ...result.warnings]) {
    expect(typeof problem.path).toBe('string');
    expect(problem.message.length).toBeGreaterThan(0);
    expect(problem.message.length).toBeLessThan(2_000);
    expect(problem.rule.length).toBeGreaterThan(0);
    expect(problem.location?.file).toBe('fuzz.yaml');
    expect(problem.location?.line).toBeGreaterThanOrEqual(1);
    expect(problem.location?.col).toBeGreaterThanOrEqual(1);
  }
}

const load = (text: string) => loadPolicyText(text, 'fuzz.yaml');

/** Values a mutation can put anywhere: wrong types, extremes, junk text, nesting. */
const junkValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null,
    true,
    0,
    -1,
    1e308,
    -1e308,
    Number.MAX_SAFE_INTEGER + 2,
    0.5,
    '',
    '0',
    'auto',
    '1h',
    '10m',
    'default',
  ),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.integer({ min: 1, max: 200_000 }).map((length) => 'x'.repeat(length)),
  fc.integer({ min: 1, max: 300 }).map((depth) => {
    let value: unknown = 'leaf';
    for (let level = 0; level < depth; level += 1) value = level % 2 === 0 ? [value] : { nested: value };
    return value;
  }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 4 }),
  fc.array(fc.string({ maxLength: 8 }), { maxLength: 4 }),
);

type Mutation = { kind: 'delete' | 'set' | 'rename'; pick: number; value: unknown; name: string };

const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom('delete', 'set', 'rename'),
  pick: fc.nat(),
  value: junkValue,
  name: fc.oneof(
    fc.constantFrom('nmae', 'wave', 'Bake', 'spec', '__proto__', 'constructor'),
    fc.string({ maxLength: 12 }),
  ),
});

/** Every container in a parsed document, with its keys, so a mutation can pick one. */
function containers(value: unknown, found: Record<string, unknown>[] = []): Record<string, unknown>[] {
  if (value !== null && typeof value === 'object') {
    found.push(value as Record<string, unknown>);
    for (const child of Object.values(value)) containers(child, found);
  }
  return found;
}

function mutate(document: unknown, mutations: readonly Mutation[]): unknown {
  for (const change of mutations) {
    const all = containers(document);
    const target = all[change.pick % Math.max(all.length, 1)];
    if (target === undefined) return change.value;
    const keys = Object.keys(target);
    const key = keys[change.pick % Math.max(keys.length, 1)] ?? change.name;
    if (change.kind === 'delete') delete target[key];
    else if (change.kind === 'set') target[key] = change.value;
    else {
      Object.defineProperty(target, change.name, {
        value: target[key],
        enumerable: true,
        configurable: true,
        writable: true,
      });
      delete target[key];
    }
  }
  return document;
}

/** Text-level damage that structured mutations cannot express: duplicate keys, junk, truncation. */
const textEdit = fc.record({
  kind: fc.constantFrom('duplicate-line', 'delete-line', 'insert', 'truncate', 'indent'),
  at: fc.nat(),
  junk: fc.oneof(
    fc.string({ unit: 'binary', maxLength: 20 }),
    fc.constantFrom('&a', '*a', '*nope', '!!binary', '{', '[', '"', '\t', ': :', '---', '%YAML 1.1', '<<: *a'),
  ),
});

function editText(text: string, edits: readonly { kind: string; at: number; junk: string }[]): string {
  let lines = text.split('\n');
  for (const edit of edits) {
    const index = edit.at % lines.length;
    const line = lines[index] ?? '';
    if (edit.kind === 'duplicate-line') lines.splice(index, 0, line);
    else if (edit.kind === 'delete-line') lines.splice(index, 1);
    else if (edit.kind === 'insert')
      lines[index] = line.slice(0, edit.at % (line.length + 1)) + edit.junk + line.slice(edit.at % (line.length + 1));
    else if (edit.kind === 'truncate') lines = lines.slice(0, index);
    else lines[index] = `  ${line}`;
    if (lines.length === 0) lines = [''];
  }
  return lines.join('\n');
}

describe('policy loader fuzz', () => {
  it('structured mutations of the examples end in a policy or located problems (600 runs)', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: examples.length - 1 }),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (index, mutations) => {
          const document = mutate(parse(examples[index] ?? ''), mutations);
          assertWellFormed(load(stringify(document, { aliasDuplicateObjects: false })));
        },
      ),
      { seed: SEED, numRuns: 600 },
    );
  });

  it('text damage to the examples ends in a policy or located problems (400 runs)', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: examples.length - 1 }),
        fc.array(textEdit, { minLength: 1, maxLength: 3 }),
        (index, edits) => {
          assertWellFormed(load(editText(examples[index] ?? '', edits)));
        },
      ),
      { seed: SEED, numRuns: 400 },
    );
  });

  it('random unicode and binary input ends in problems (300 runs)', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: 'grapheme', maxLength: 200 })),
        (text) => {
          assertWellFormed(load(text));
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });

  it.each([
    [
      'a billion-laughs alias bomb',
      [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        ...'bcdefghi'
          .split('')
          .map((name, level) => `${name}: &${name} [${Array(9).fill(`*${'abcdefgh'[level]}`).join(',')}]`),
      ].join('\n'),
    ],
    ['deeply nested flow sequences', `${'['.repeat(20_000)}${']'.repeat(20_000)}`],
    ['deeply nested block mappings', Array.from({ length: 3_000 }, (_, depth) => `${' '.repeat(depth)}k:`).join('\n')],
    ['a 10 MB string', `spec: "${'x'.repeat(10 * 1024 * 1024)}"`],
    ['a 900 kB string in a field', (examples[0] ?? '').replace('name: demo', `name: ${'a'.repeat(900_000)}`)],
    ['NUL bytes', '\u0000\u0000apiVersion: \u0000'],
    ['an undefined alias', 'apiVersion: *nowhere'],
    ['a number document', '42'],
    ['a list document', '- a\n- b'],
    ['unknown tags', 'apiVersion: !!binary aGVsbG8=\nkind: !custom UpgradePolicy'],
    ['a __proto__ key', 'apiVersion: revroll.dev/v1alpha1\n__proto__: {polluted: true}\nkind: UpgradePolicy'],
  ])('handles %s', (_name, text) => {
    const result = load(text);
    assertWellFormed(result);
    expect(result.policy).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('says plainly that a document is nested too deeply', () => {
    const result = load(`${'['.repeat(20_000)}${']'.repeat(20_000)}`);
    expect(result.problems.map((problem) => problem.message)).toEqual(['the document is nested too deeply to read']);
  });
});
