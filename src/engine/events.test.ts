/**
 * Event derivation as a table: a state before, the state after (as a change to the before
 * state), and the notifications `transitions` derives, one row per case. The runner notifies
 * only what this returns, so a missing row is a silent Slack channel and a doubled one is noise.
 */
import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../ports/notifier.ts';
import { changedRecords, transitions } from './events.ts';
import type { GateResult } from './gates.ts';
import type { ApprovalRecord, RunState, Step, StepRecord } from './state.ts';

const STEPS: Step[] = [
  { id: 'precheck', kind: 'precheck' },
  { id: 'wave/one/migrate', kind: 'migrate', wave: 0 },
  { id: 'wave/one/bake', kind: 'bake', wave: 0 },
  { id: 'wave/canary-eu/migrate', kind: 'migrate', wave: 1 },
  { id: 'wave/canary-eu/bake', kind: 'bake', wave: 1 },
  { id: 'wave/canary-eu/approval', kind: 'approval', wave: 1, point: 'wave' },
  { id: 'rollback/labels', kind: 'rollback-labels' },
];

function run(): RunState {
  return {
    version: 1,
    policy: 'mesh-prod',
    runId: 'run-1',
    planHash: 'plan-a',
    from: '1-24-3',
    to: '1-25-1',
    phase: 'Progressing',
    startedAt: '2026-03-10T01:00:00.000Z',
    updatedAt: '2026-03-10T01:00:00.000Z',
    cursor: 1,
    steps: STEPS,
    records: STEPS.map((step) => ({ ...step, status: step.kind === 'precheck' ? 'done' : 'pending' })),
    waves: ['one', 'canary-eu'],
    namespaces: { a: { wave: 0 }, c: { wave: 1 }, b: { wave: 1 } },
    gateways: [],
    tags: [],
    approvals: [],
  };
}

const GATES: GateResult[] = [{ check: 'errors', outcome: 'Fail', value: 0.2, message: '0.2 > max 0.05' }];
const withGates = (s: RunState) => {
  s.gates = {
    wave: 0,
    baseline: {},
    failures: { errors: 1 },
    consecutiveErrors: {},
    recent: [{ at: '2026-03-10T01:10:00.000Z', results: GATES }],
    evaluations: 1,
  };
};
const setRecord = (s: RunState, id: string, status: StepRecord['status'], note?: string) => {
  const record = s.records.find((r) => r.id === id) as StepRecord;
  record.status = status;
  if (note !== undefined) record.note = note;
};
const APPROVAL: ApprovalRecord = {
  step: 'wave/canary-eu/approval',
  point: 'wave',
  requestedAt: '2026-03-10T01:20:00.000Z',
  expiresAt: '2026-03-10T02:20:00.000Z',
  notified: true,
};
const base = { policy: 'mesh-prod', runId: 'run-1' };

type Change = (s: RunState) => void;
const all =
  (...changes: Change[]): Change =>
  (s) => {
    for (const change of changes) change(s);
  };

describe('transitions: what a state change notifies', () => {
  it.each<{ name: string; before?: Change; after: Change; events: Omit<RunEvent, 'policy' | 'runId'>[] }>([
    { name: 'nothing changed', after: () => {}, events: [] },
    {
      name: 'a wave starts when its migrate step starts',
      after: (s) => setRecord(s, 'wave/one/migrate', 'running'),
      events: [
        { kind: 'wave-started', step: 'wave/one/migrate', message: 'wave one started: a', details: { wave: 'one' } },
      ],
    },
    {
      name: 'a wave name with dashes, its namespaces sorted',
      after: (s) => setRecord(s, 'wave/canary-eu/migrate', 'running'),
      events: [
        {
          kind: 'wave-started',
          step: 'wave/canary-eu/migrate',
          message: 'wave canary-eu started: b, c',
          details: { wave: 'canary-eu' },
        },
      ],
    },
    {
      name: 'the migrate step finishing notifies nothing more',
      before: (s) => setRecord(s, 'wave/one/migrate', 'running'),
      after: (s) => setRecord(s, 'wave/one/migrate', 'done'),
      events: [],
    },
    {
      name: 'a passed bake finishes the wave, with the last gate results',
      before: all((s) => setRecord(s, 'wave/one/bake', 'running'), withGates),
      after: (s) => setRecord(s, 'wave/one/bake', 'done', '3 evaluations, every gate Pass'),
      events: [
        {
          kind: 'wave-finished',
          step: 'wave/one/bake',
          message: 'wave one passed: 3 evaluations, every gate Pass',
          details: { wave: 'one', gates: GATES },
        },
      ],
    },
    {
      name: 'a passed bake without a note',
      before: (s) => setRecord(s, 'wave/one/bake', 'running'),
      after: (s) => setRecord(s, 'wave/one/bake', 'done'),
      events: [
        {
          kind: 'wave-finished',
          step: 'wave/one/bake',
          message: 'wave one passed',
          details: { wave: 'one', gates: [] },
        },
      ],
    },
    {
      name: 'a failed bake is a gate failure',
      before: all((s) => setRecord(s, 'wave/one/bake', 'running'), withGates),
      after: (s) => setRecord(s, 'wave/one/bake', 'failed', 'gate errors failed 1 time(s) (limit 1): 0.2 > max 0.05'),
      events: [
        {
          kind: 'gate-failed',
          step: 'wave/one/bake',
          message: 'gate errors failed 1 time(s) (limit 1): 0.2 > max 0.05',
          details: { wave: 'one', gates: GATES },
        },
      ],
    },
    {
      name: 'a failed bake without a note or gate progress',
      before: (s) => setRecord(s, 'wave/one/bake', 'running'),
      after: (s) => setRecord(s, 'wave/one/bake', 'failed'),
      events: [
        { kind: 'gate-failed', step: 'wave/one/bake', message: 'gate failed', details: { wave: 'one', gates: [] } },
      ],
    },
    {
      name: 'steps outside waves notify nothing by themselves',
      after: (s) => setRecord(s, 'rollback/labels', 'running'),
      events: [],
    },
    {
      name: 'an approval requested notifies nothing here (the executor sends the request)',
      after: (s) => void s.approvals.push({ ...APPROVAL }),
      events: [],
    },
    {
      name: 'an approval decided',
      before: (s) => void s.approvals.push({ ...APPROVAL }),
      after: (s) => Object.assign(s.approvals[0]!, { decision: 'approved', by: 'alice (U0A)', via: 'slack' }),
      events: [
        {
          kind: 'approval-decided',
          step: 'wave/canary-eu/approval',
          message: 'wave/canary-eu/approval: approved by alice (U0A) (slack)',
          details: { ...APPROVAL, decision: 'approved', by: 'alice (U0A)', via: 'slack' },
        },
      ],
    },
    {
      name: 'an approval expired',
      before: (s) => void s.approvals.push({ ...APPROVAL }),
      after: (s) => Object.assign(s.approvals[0]!, { decision: 'expired' }),
      events: [
        {
          kind: 'approval-decided',
          step: 'wave/canary-eu/approval',
          message: 'wave/canary-eu/approval: expired',
          details: { ...APPROVAL, decision: 'expired' },
        },
      ],
    },
    {
      name: 'an approval requested and decided between two states',
      after: (s) => void s.approvals.push({ ...APPROVAL, decision: 'rejected', by: 'bob', via: 'cli' }),
      events: [
        {
          kind: 'approval-decided',
          step: 'wave/canary-eu/approval',
          message: 'wave/canary-eu/approval: rejected by bob (cli)',
          details: { ...APPROVAL, decision: 'rejected', by: 'bob', via: 'cli' },
        },
      ],
    },
    {
      name: 'a decided approval stays decided: no second notification',
      before: (s) => void s.approvals.push({ ...APPROVAL, decision: 'approved', by: 'alice' }),
      after: (s) => (s.updatedAt = '2026-03-10T01:30:00.000Z'),
      events: [],
    },
    {
      name: 'a second request for the same step, decided',
      before: (s) => void s.approvals.push({ ...APPROVAL, decision: 'expired' }),
      after: (s) =>
        void s.approvals.push({
          ...APPROVAL,
          requestedAt: '2026-03-10T02:20:00.000Z',
          decision: 'approved',
          by: 'carol',
        }),
      events: [
        {
          kind: 'approval-decided',
          step: 'wave/canary-eu/approval',
          message: 'wave/canary-eu/approval: approved by carol',
          details: { ...APPROVAL, requestedAt: '2026-03-10T02:20:00.000Z', decision: 'approved', by: 'carol' },
        },
      ],
    },
    {
      name: 'a hold for the window',
      after: (s) => {
        s.phase = 'Held';
        s.hold = { kind: 'window', reason: 'the window closes before wave two fits', since: s.updatedAt };
      },
      events: [{ kind: 'hold', message: 'the window closes before wave two fits', details: { hold: 'window' } }],
    },
    {
      name: 'a hold on undecided gates',
      after: (s) => (s.hold = { kind: 'gates', reason: 'errors: NoData', since: s.updatedAt }),
      events: [{ kind: 'hold', message: 'errors: NoData', details: { hold: 'gates' } }],
    },
    {
      name: 'a hold on errors is an error',
      after: (s) => (s.hold = { kind: 'error', reason: 'API answered 500', since: s.updatedAt }),
      events: [{ kind: 'error', message: 'API answered 500', details: { hold: 'error' } }],
    },
    {
      name: 'a hold for approval notifies nothing here (the request is the notification)',
      after: (s) => (s.hold = { kind: 'approval', reason: 'waiting for approval', since: s.updatedAt }),
      events: [],
    },
    {
      name: 'the same hold again: no second notification',
      before: (s) => (s.hold = { kind: 'window', reason: 'window closed', since: s.updatedAt }),
      after: (s) => (s.hold = { kind: 'window', reason: 'window closed', since: '2026-03-10T01:05:00.000Z' }),
      events: [],
    },
    {
      name: 'a hold whose reason changes',
      before: (s) => (s.hold = { kind: 'uninstall', reason: 'pods still on 1-24-3: 3', since: s.updatedAt }),
      after: (s) => (s.hold = { kind: 'uninstall', reason: 'pods still on 1-24-3: 1', since: s.updatedAt }),
      events: [{ kind: 'hold', message: 'pods still on 1-24-3: 1', details: { hold: 'uninstall' } }],
    },
    {
      name: 'a hold released notifies nothing',
      before: (s) => (s.hold = { kind: 'window', reason: 'window closed', since: s.updatedAt }),
      after: (s) => delete s.hold,
      events: [],
    },
    {
      name: 'rollback starts',
      after: (s) => {
        s.phase = 'RollingBack';
        s.rollbackReason = 'wave/one/approval rejected by bob (cli)';
      },
      events: [
        { kind: 'rollback-started', message: 'rolling back to 1-24-3: wave/one/approval rejected by bob (cli)' },
      ],
    },
    {
      name: 'rollback starts without a recorded reason',
      after: (s) => (s.phase = 'RollingBack'),
      events: [{ kind: 'rollback-started', message: 'rolling back to 1-24-3' }],
    },
    {
      name: 'rolling back, still: no second notification',
      before: (s) => (s.phase = 'RollingBack'),
      after: (s) => setRecord(s, 'rollback/labels', 'done'),
      events: [],
    },
    {
      name: 'rollback finished',
      before: (s) => (s.phase = 'RollingBack'),
      after: (s) => {
        s.phase = 'RolledBack';
        s.outcome = 'rolled back to 1-24-3: gate failed';
      },
      events: [{ kind: 'rollback-finished', message: 'rolled back to 1-24-3: gate failed' }],
    },
    {
      name: 'rollback finished without an outcome',
      before: (s) => (s.phase = 'RollingBack'),
      after: (s) => (s.phase = 'RolledBack'),
      events: [{ kind: 'rollback-finished', message: 'rolled back to 1-24-3' }],
    },
    {
      name: 'promoted',
      after: (s) => {
        s.phase = 'Promoted';
        s.outcome = 'promoted 1-25-1 (from 1-24-3)';
      },
      events: [{ kind: 'promoted', message: 'promoted 1-25-1 (from 1-24-3)' }],
    },
    {
      name: 'failed',
      after: (s) => {
        s.phase = 'Failed';
        s.outcome = 'precheck failed, nothing was changed: no istiod for 1-25-1';
      },
      events: [{ kind: 'error', message: 'precheck failed, nothing was changed: no istiod for 1-25-1' }],
    },
    {
      name: 'failed without an outcome',
      after: (s) => (s.phase = 'Failed'),
      events: [{ kind: 'error', message: 'the run failed' }],
    },
    {
      name: 'a gate failure that starts the rollback: both, gate first',
      before: (s) => setRecord(s, 'wave/one/bake', 'running'),
      after: (s) => {
        setRecord(s, 'wave/one/bake', 'failed', 'gate errors failed');
        s.phase = 'RollingBack';
        s.rollbackReason = 'gate errors failed';
      },
      events: [
        {
          kind: 'gate-failed',
          step: 'wave/one/bake',
          message: 'gate errors failed',
          details: { wave: 'one', gates: [] },
        },
        { kind: 'rollback-started', message: 'rolling back to 1-24-3: gate errors failed' },
      ],
    },
  ])('$name', ({ before, after, events }) => {
    const previous = run();
    before?.(previous);
    const next = structuredClone(previous);
    after(next);
    const frozen = structuredClone({ previous, next });
    expect(transitions(previous, next)).toEqual(events.map((e) => ({ ...base, ...e })));
    expect({ previous, next }).toEqual(frozen);
  });

  it('a new run notifies its start, with the plan', () => {
    expect(transitions(undefined, run())).toEqual([
      {
        ...base,
        kind: 'run-started',
        message: 'upgrade 1-24-3 -> 1-25-1: 2 wave(s), 3 namespace(s)',
        details: { from: '1-24-3', to: '1-25-1', waves: ['one', 'canary-eu'], planHash: 'plan-a' },
      },
    ]);
  });
});

describe('changedRecords: the progress lines', () => {
  it.each<{ name: string; previous?: Change; next: Change; ids: string[] }>([
    { name: 'a new run: every record that is not pending', next: () => {}, ids: ['precheck'] },
    { name: 'nothing changed', previous: () => {}, next: () => {}, ids: [] },
    {
      name: 'records that changed status, pending ones left out',
      previous: () => {},
      next: (s) => {
        setRecord(s, 'wave/one/migrate', 'running');
        setRecord(s, 'wave/one/bake', 'pending', 'a note alone is no change');
      },
      ids: ['wave/one/migrate'],
    },
    {
      name: 'skipped and failed count',
      previous: () => {},
      next: (s) => {
        setRecord(s, 'wave/one/migrate', 'skipped');
        setRecord(s, 'wave/one/bake', 'failed');
      },
      ids: ['wave/one/migrate', 'wave/one/bake'],
    },
  ])('$name', ({ previous, next, ids }) => {
    const before = previous ? run() : undefined;
    if (before) previous?.(before);
    const after = structuredClone(before ?? run());
    next(after);
    expect(changedRecords(before, after).map((r) => r.id)).toEqual(ids);
  });
});
