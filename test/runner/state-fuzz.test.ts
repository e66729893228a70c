/**
 * Safety invariant 8, fuzzed: a real stored state (a run held at an approval on the sandbox) is
 * mutated thousands of times, as a hand edit, a truncation or a bug could. A mutant is either
 * refused by the one validator, or, if believed, never yields a promotion claim while the run's
 * steps are not all done: neither as its stored phase nor after the engine's next decision.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConfigMapStateStore } from '../../src/adapters/kubernetes/state.ts';
import { decide } from '../../src/engine/decide.ts';
import { planProblems, stateProblems } from '../../src/engine/state-schema.ts';
import type { RunState } from '../../src/engine/state.ts';
import type { Policy } from '../../src/policy/types.ts';
import { createHarness, STATE_NS, type Harness } from '../helpers/runner-harness.ts';

let h: Harness;
let policy: Policy;
let stored: Record<string, unknown>;

beforeAll(async () => {
  h = await createHarness();
  policy = h.policy(`apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: fuzzed}
spec:
  revisions: {from: auto, to: 1-25-1}
  waves:
    - {name: first, namespaces: {names: [alpha]}, bake: 100ms, approval: {required: true, timeout: 1h}}
    - {name: last, namespaces: {names: [charlie]}, bake: 100ms}
  gates: {warmup: 100ms}
`);
  const result = await h.run(policy);
  expect(result.outcome).toBe('held');
  stored = (await createConfigMapStateStore(h.cluster, STATE_NS).load('fuzzed'))?.document ?? {};
});

afterAll(() => h?.close());

type Doc = Record<string, unknown>;

/** The array at `key`, if it still is one (an earlier edit may have replaced it). */
const list = (doc: Doc, key: string): unknown[] | undefined => (Array.isArray(doc[key]) ? doc[key] : undefined);
/** Its `i`-th element when that is an object. */
const item = (doc: Doc, key: string, i: number): Record<string, unknown> | undefined => {
  const values = list(doc, key);
  const value = values?.[i % Math.max(1, values.length)];
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
};

/** One edit of the stored document. */
const mutation: fc.Arbitrary<(doc: Doc) => void> = fc.oneof(
  fc.integer({ min: -3, max: 60 }).map((n) => (doc: Doc) => void (doc['cursor'] = n)),
  fc
    .constantFrom('Progressing', 'Held', 'RollingBack', 'Promoted', 'RolledBack', 'Failed', 'Done', '')
    .map((phase) => (doc: Doc) => void (doc['phase'] = phase)),
  fc
    .tuple(fc.nat(40), fc.constantFrom('pending', 'running', 'done', 'skipped', 'failed', 'ok'))
    .map(([i, status]) => (doc: Doc) => {
      const record = item(doc, 'records', i);
      if (record) record['status'] = status;
    }),
  fc.tuple(fc.nat(40), fc.boolean()).map(([i, both]) => (doc: Doc) => {
    const steps = list(doc, 'steps');
    const records = list(doc, 'records');
    steps?.splice(i % Math.max(1, steps.length), 1);
    if (both) records?.splice(i % Math.max(1, records.length), 1);
  }),
  fc.tuple(fc.nat(40), fc.string({ maxLength: 20 })).map(([i, id]) => (doc: Doc) => {
    const step = item(doc, 'steps', i);
    if (step) step['id'] = id;
  }),
  fc
    .tuple(
      fc.constantFrom('steps', 'records', 'waves', 'namespaces', 'gateways', 'tags', 'approvals', 'hold', 'version'),
      fc.jsonValue(),
    )
    .map(
      ([key, value]) =>
        (doc: Doc) =>
          void (doc[key] = value),
    ),
  fc.constantFrom('steps', 'records', 'waves', 'phase', 'cursor', 'runId').map((key) => (doc: Doc) => delete doc[key]),
  // Every record marked done, the cursor at the end: a complete-looking run that never ran the last wave.
  fc.constant((doc: Doc) => {
    for (let i = 0; i < (list(doc, 'records')?.length ?? 0); i++) {
      const record = item(doc, 'records', i);
      if (record) record['status'] = 'done';
    }
    doc['cursor'] = list(doc, 'steps')?.length ?? 0;
  }),
);

/** The forward steps the run actually performed (from the real, unmutated state). */
const incomplete = (state: RunState) =>
  state.records.some((r) => r.status !== 'done' && r.status !== 'skipped' && !r.id.startsWith('rollback/'));

describe('stored state fuzz (invariant 8)', () => {
  it('never believes a promotion claim of an incomplete run', () => {
    let believed = 0;
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (edits) => {
        const doc = structuredClone(stored);
        for (const edit of edits) edit(doc);
        const { state } = stateProblems(doc, 'fuzzed');
        if (!state || planProblems(policy, state).length > 0) return;
        believed += 1;
        if (state.phase === 'Promoted') expect(incomplete(state)).toBe(false);
        const next = decide(policy, state, undefined, {
          now: new Date(Date.parse(state.updatedAt) + 1000),
          resumed: true,
        });
        if (next.state.phase === 'Promoted') expect(incomplete(state)).toBe(false);
      }),
      { numRuns: 3000 },
    );
    // Some mutants are harmless (a record status the cursor has not reached, say): they are believed.
    expect(believed).toBeGreaterThan(0);
  });

  it('refuses the edit that used to claim a promotion: every record done, cursor at the end, phase Held', () => {
    const doc = structuredClone(stored);
    for (const record of doc['records'] as { status: string }[]) record.status = 'done';
    doc['cursor'] = (doc['steps'] as unknown[]).length;
    expect(stateProblems(doc, 'fuzzed').problems).toContain('cursor: at the end of the steps, but the phase is Held');
  });
});
