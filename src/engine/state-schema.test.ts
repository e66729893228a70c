/**
 * Stored state from before step records carried their step's meaning still loads: the load fills
 * each record's kind and wave (and the steps' gateway moment and uninstall revision) from the
 * stored plan, and a record whose meaning disagrees with its plan step is refused, naming it.
 */
import { describe, expect, it } from 'vitest';
import { loadPolicyText } from '../policy/load.ts';
import type { Policy } from '../policy/types.ts';
import { buildSteps, type PlannedGateway, type PlannedWave } from './plan.ts';
import { planProblems, stateProblems } from './state-schema.ts';
import { pendingRecord, type Step } from './state.ts';

function policy(): Policy {
  const loaded = loadPolicyText(
    `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: old}
spec:
  revisions: {from: 1-24-3, to: 1-25-1}
  waves:
    - {name: first, namespaces: {names: [a]}, bake: 1m}
    - {name: rest, namespaces: {percent: 100}, bake: 1m}
  gateways:
    - {name: gw-early, namespace: istio-system, upgrade: withFirstWave}
    - {name: gw-late, namespace: istio-system, upgrade: afterLastWave}
    - {name: gw-promote, namespace: istio-system, upgrade: onPromote}
  promote: {tags: [default], uninstallPrevious: true}
`,
    'old.yaml',
  );
  if (!loaded.policy) throw new Error(loaded.problems.map((p) => `${p.path}: ${p.message}`).join('; '));
  return loaded.policy;
}

const WAVES = [
  { index: 0, name: 'first' },
  { index: 1, name: 'rest' },
] as PlannedWave[];
const GATEWAYS = (['withFirstWave', 'afterLastWave', 'onPromote'] as const).map(
  (upgrade, i) => ({ namespace: 'istio-system', name: `gw-${i}`, original: null, upgrade, mode: 'relabel' }) as const,
);

/** A stored document as this version writes it: one record per step, the cursor after the first. */
function storedDocument(steps: Step[]) {
  return {
    version: 1,
    policy: 'old',
    runId: 'run-1',
    planHash: 'plan-a',
    from: '1-24-3',
    to: '1-25-1',
    phase: 'Progressing',
    startedAt: '2026-03-10T01:00:00.000Z',
    updatedAt: '2026-03-10T01:00:00.000Z',
    cursor: 1,
    steps,
    records: steps.map((step, i) => ({ ...pendingRecord(step), ...(i === 0 ? { status: 'done' } : {}) })),
    waves: ['first', 'rest'],
    namespaces: { a: { wave: 0 }, b: { wave: 1 } },
    gateways: GATEWAYS,
    tags: [],
    approvals: [],
  };
}

/** The same document as the version before wrote it: records of id and status only; gateways and uninstall steps without their moment or revision. */
function oldDocument(steps: Step[]) {
  const doc = storedDocument(steps);
  return {
    ...doc,
    steps: steps.map(({ gateways: _g, ...step }) =>
      step.kind === 'uninstall' ? { id: step.id, kind: step.kind } : step,
    ),
    records: doc.records.map(({ id, status }) => ({ id, status })),
  };
}

describe('stored step records', () => {
  const p = policy();
  const steps = buildSteps(p, WAVES, GATEWAYS as unknown as PlannedGateway[], '1-24-3');

  it('the plan gives every gateways step its moment and the uninstall its revision', () => {
    expect(steps.filter((s) => s.kind === 'gateways').map((s) => [s.id, s.gateways])).toEqual([
      ['wave/first/gateways', 'withFirstWave'],
      ['gateways/after-last-wave', 'afterLastWave'],
      ['promote/gateways', 'onPromote'],
    ]);
    expect(steps.find((s) => s.kind === 'uninstall')?.revision).toBe('1-24-3');
  });

  it('a state as written now loads as it is and agrees with the plan', () => {
    const { state, problems } = stateProblems(storedDocument(steps), 'old');
    expect(problems).toEqual([]);
    expect(state?.records).toEqual(storedDocument(steps).records);
    expect(planProblems(p, state!)).toEqual([]);
  });

  it('an old state (records without kind) loads with kind and wave filled from its plan', () => {
    const { state, problems } = stateProblems(oldDocument(steps), 'old');
    expect(problems).toEqual([]);
    expect(state?.steps).toEqual(steps);
    expect(state?.records).toEqual(storedDocument(steps).records);
    expect(state?.records.find((r) => r.id === 'wave/rest/bake')).toMatchObject({ kind: 'bake', wave: 1 });
    expect(state?.records.find((r) => r.id === 'gateways/after-last-wave')).toMatchObject({
      kind: 'gateways',
      gateways: 'afterLastWave',
    });
    expect(planProblems(p, state!)).toEqual([]);
  });

  it('refuses a record whose kind disagrees with its plan step, naming both', () => {
    const doc = storedDocument(steps);
    const i = doc.records.findIndex((r) => r.id === 'wave/first/migrate');
    doc.records[i] = { ...doc.records[i]!, kind: 'restart' };
    const { state, problems } = stateProblems(doc, 'old');
    expect(state).toBeUndefined();
    expect(problems).toEqual([
      `records[${i}]: step wave/first/migrate is recorded as a restart step (wave 0), but the run's plan has a migrate step (wave 0) of that id`,
    ]);
  });

  it('refuses a record whose wave disagrees with its plan step', () => {
    const doc = storedDocument(steps);
    const i = doc.records.findIndex((r) => r.id === 'wave/rest/bake');
    doc.records[i] = { ...doc.records[i]!, wave: 0 };
    expect(stateProblems(doc, 'old').problems).toEqual([
      `records[${i}]: step wave/rest/bake is recorded as a bake step (wave 0), but the run's plan has a bake step (wave 1) of that id`,
    ]);
  });

  it("refuses steps and records that agree with each other but not with the policy's plan", () => {
    const doc = storedDocument(steps);
    const i = doc.steps.findIndex((s) => s.id === 'wave/first/migrate');
    doc.steps[i] = { ...doc.steps[i]!, kind: 'restart' };
    doc.records[i] = { ...doc.records[i]!, kind: 'restart' };
    const { state, problems } = stateProblems(doc, 'old');
    expect(problems).toEqual([]);
    expect(planProblems(p, state!)).toEqual([
      `steps[${i}]: step wave/first/migrate is stored as a restart step (wave 0), but the policy's plan has a migrate step (wave 0)`,
    ]);
  });
});
