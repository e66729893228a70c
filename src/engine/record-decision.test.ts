/**
 * `recordDecision` as a table: one row per case, the state it starts from, the decision, and the
 * refusal (or the approval recorded). It is the only place a decision is checked against the
 * run, so every refusal the Slack endpoint and the CLI can answer with has a row here.
 */
import { describe, expect, it } from 'vitest';
import { recordDecision, type DecisionRefusal, type HumanDecision } from './decide.ts';
import type { ApprovalRecord, RunState } from './state.ts';

const NOW = new Date('2026-03-10T02:00:00.000Z');
const STEP = 'wave/canary/approval';
const REQUESTED: ApprovalRecord = {
  step: STEP,
  point: 'wave',
  requestedAt: '2026-03-10T01:55:00.000Z',
  expiresAt: '2026-03-10T02:55:00.000Z',
  notified: true,
};

function run(overrides: Partial<RunState> = {}): RunState {
  return {
    version: 1,
    policy: 'mesh-prod',
    runId: 'run-1',
    planHash: 'plan-a',
    from: '1-23-4',
    to: '1-24-1',
    phase: 'Held',
    startedAt: '2026-03-10T01:00:00.000Z',
    updatedAt: '2026-03-10T01:55:00.000Z',
    cursor: 1,
    steps: [
      { id: 'precheck', kind: 'precheck' },
      { id: STEP, kind: 'approval', wave: 0, point: 'wave' },
      { id: 'approval/promote', kind: 'approval', point: 'promote' },
    ],
    records: [
      { id: 'precheck', kind: 'precheck', status: 'done' },
      { id: STEP, kind: 'approval', wave: 0, point: 'wave', status: 'running' },
      { id: 'approval/promote', kind: 'approval', point: 'promote', status: 'pending' },
    ],
    waves: ['canary'],
    namespaces: { shop: { wave: 0, rev: '1-23-4' } },
    gateways: [],
    tags: [],
    approvals: [REQUESTED],
    ...overrides,
  };
}

const alice: HumanDecision = { approve: true, by: 'alice', via: 'cli' };
const bound: HumanDecision = {
  ...alice,
  via: 'slack',
  channel: 'C0UPGRADES',
  runId: 'run-1',
  planHash: 'plan-a',
  step: STEP,
  requestExpiresAt: REQUESTED.expiresAt,
};
const decided = (decision: 'approved' | 'rejected' | 'expired', by?: string): ApprovalRecord => ({
  ...REQUESTED,
  decision,
  ...(by ? { by } : {}),
  decidedAt: '2026-03-10T01:58:00.000Z',
});

describe('recordDecision refuses, and says why (one row per refusal)', () => {
  it.each<{
    name: string;
    state: RunState;
    decision: HumanDecision;
    now?: Date;
    refusal: DecisionRefusal;
    message: string;
  }>([
    {
      name: 'a button from an older run',
      state: run(),
      decision: { ...bound, runId: 'run-0' },
      refusal: 'other-run',
      message: 'this decision is for run run-0, but the current run of policy mesh-prod is run-1',
    },
    {
      name: 'another run wins over a finished phase (the message names the real mismatch)',
      state: run({ phase: 'Promoted' }),
      decision: { ...bound, runId: 'run-0' },
      refusal: 'other-run',
      message: 'this decision is for run run-0, but the current run of policy mesh-prod is run-1',
    },
    {
      name: 'a changed plan',
      state: run(),
      decision: { ...bound, planHash: 'plan-b' },
      refusal: 'plan-changed',
      message:
        'the plan of run run-1 changed since the approval was requested (plan plan-b, now plan-a); decide on the new request',
    },
    ...(['Promoted', 'RolledBack', 'Failed'] as const).map((phase) => ({
      name: `a run that is ${phase}`,
      state: run({ phase }),
      decision: alice,
      refusal: 'finished' as const,
      message: `run run-1 of policy mesh-prod is finished (${phase}); nothing is waiting for a decision`,
    })),
    {
      name: 'a step never requested',
      state: run(),
      decision: { ...alice, step: 'approval/promote' },
      refusal: 'not-requested',
      message: 'run run-1 has no approval request for step approval/promote',
    },
    {
      name: 'a run that requested no approval at all',
      state: run({ approvals: [] }),
      decision: alice,
      refusal: 'not-requested',
      message: 'run run-1 of policy mesh-prod is not waiting for an approval',
    },
    {
      name: 'a second decision on an approved step',
      state: run({ approvals: [decided('approved', 'bob')] }),
      decision: alice,
      refusal: 'already-decided',
      message: `step ${STEP} was already approved by bob at 2026-03-10T01:58:00.000Z`,
    },
    {
      name: 'a replayed click on a rejected step',
      state: run({ approvals: [decided('rejected', 'bob (U0B)')] }),
      decision: bound,
      refusal: 'already-decided',
      message: `step ${STEP} was already rejected by bob (U0B) at 2026-03-10T01:58:00.000Z`,
    },
    {
      name: 'an approval decide() marked expired',
      state: run({ approvals: [decided('expired')] }),
      decision: alice,
      refusal: 'expired',
      message: `the approval for step ${STEP} expired at 2026-03-10T02:55:00.000Z`,
    },
    {
      name: 'an approval past its expiry by the clock',
      state: run(),
      decision: alice,
      now: new Date('2026-03-10T03:00:00.000Z'),
      refusal: 'expired',
      message: `the approval for step ${STEP} expired at 2026-03-10T02:55:00.000Z`,
    },
    {
      name: 'a decision at the very instant of expiry',
      state: run(),
      decision: alice,
      now: new Date(REQUESTED.expiresAt),
      refusal: 'expired',
      message: `the approval for step ${STEP} expired at 2026-03-10T02:55:00.000Z`,
    },
    {
      name: 'an expiry that is not a time (never a licence to decide)',
      state: run({ approvals: [{ ...REQUESTED, expiresAt: 'soon' }] }),
      decision: alice,
      refusal: 'expired',
      message: `the approval for step ${STEP} expired at soon`,
    },
    {
      name: "a click on an earlier request for the step (the later one's expiry differs)",
      state: run({
        approvals: [decided('rejected', 'bob'), { ...REQUESTED, expiresAt: '2026-03-10T02:58:00.000Z' }],
      }),
      decision: bound,
      refusal: 'superseded',
      message: `this button belongs to an earlier approval request for step ${STEP}; use the latest request`,
    },
  ])('$name: $refusal', ({ state, decision, now, refusal, message }) => {
    const before = structuredClone(state);
    expect(recordDecision(state, decision, now ?? NOW)).toEqual({ ok: false, refusal, message });
    expect(state).toEqual(before);
  });
});

describe('recordDecision records (one row per accepted decision)', () => {
  it.each<{
    name: string;
    state: RunState;
    decision: HumanDecision;
    now?: Date;
    index: number;
    recorded: Partial<ApprovalRecord>;
  }>([
    {
      name: 'an approval from the CLI, without bindings',
      state: run(),
      decision: alice,
      index: 0,
      recorded: { decision: 'approved', by: 'alice', via: 'cli', decidedAt: NOW.toISOString() },
    },
    {
      name: 'a rejection bound to run, plan, step and request, with its channel',
      state: run(),
      decision: { ...bound, approve: false },
      index: 0,
      recorded: { decision: 'rejected', by: 'alice', via: 'slack', channel: 'C0UPGRADES' },
    },
    {
      name: 'the latest pending request of a step asked twice',
      state: run({
        approvals: [decided('expired'), { ...REQUESTED, expiresAt: '2026-03-10T02:58:00.000Z' }],
      }),
      decision: { ...alice, step: STEP },
      index: 1,
      recorded: { decision: 'approved', expiresAt: '2026-03-10T02:58:00.000Z' },
    },
    {
      name: 'a pending step named among decided ones',
      state: run({
        approvals: [decided('approved', 'bob'), { ...REQUESTED, step: 'approval/promote', point: 'promote' }],
      }),
      decision: { ...alice, step: 'approval/promote' },
      index: 1,
      recorded: { step: 'approval/promote', point: 'promote', decision: 'approved', by: 'alice' },
    },
    {
      name: 'a decision one millisecond before expiry',
      state: run(),
      decision: alice,
      now: new Date(Date.parse(REQUESTED.expiresAt) - 1),
      index: 0,
      recorded: { decision: 'approved', decidedAt: '2026-03-10T02:54:59.999Z' },
    },
  ])('$name', ({ state, decision, now = NOW, index, recorded }) => {
    const before = structuredClone(state);
    const result = recordDecision(state, decision, now);
    if (!result.ok) throw new Error(`refused: ${result.message}`);
    expect(result.approval).toMatchObject(recorded);
    expect(result.state.approvals[index]).toEqual(result.approval);
    expect(result.state.updatedAt).toBe(now.toISOString());
    // Everything else is as it was, and the input is untouched (the caller saves only on success).
    expect(result.state.approvals.filter((_, i) => i !== index)).toEqual(
      before.approvals.filter((_, i) => i !== index),
    );
    expect({ ...result.state, approvals: [], updatedAt: '' }).toEqual({ ...before, approvals: [], updatedAt: '' });
    expect(state).toEqual(before);
  });
});
