import { describe, expect, it } from 'vitest';
import { loadPolicyText } from '../policy/load.ts';
import type { Policy } from '../policy/types.ts';
import {
  afterInvocation,
  defaultLoopSettings,
  initialMemory,
  nextStep,
  poked,
  type Invocation,
  type LoopMemory,
  type NextStep,
  type StoredView,
} from './schedule-next.ts';
import { stateProblems, type StoredRunState } from './state-schema.ts';
import type { Hold, RunPhase, Step, StepRecord } from './state.ts';

/**
 * Times are UTC instants; the policies' zone is Europe/Berlin (UTC+1 until 2026-03-29, UTC+2
 * until 2026-10-25). 2026-03-02 is a Monday; the default window is 02:00-04:00 Berlin, every day,
 * which is 01:00Z-03:00Z in March. The settings are the daemon's defaults: state poll 30 s, held
 * re-check 5 min, locked retry 60 s, error back-off 30 s doubling to 10 min, catch-up grace 15 min,
 * longest idle wait 6 h.
 */
const settings = defaultLoopSettings;

type PolicyOptions = { cron?: string; windows?: string[]; freeze?: string; bake?: string; schedule?: boolean };

/** A real policy, loaded from YAML like every policy the daemon runs. */
function policy(options: PolicyOptions = {}): Policy {
  const windows = (options.windows ?? ['02:00-04:00'])
    .map((w) => `      - {start: "${w.slice(0, 5)}", end: "${w.slice(6)}"}\n`)
    .join('');
  const schedule =
    options.schedule === false
      ? ''
      : `  schedule:\n    cron: "${options.cron ?? '0 2 * * *'}"\n    timeZone: Europe/Berlin\n${windows ? `    windows:\n${windows}` : ''}${options.freeze ?? ''}`;
  const text = `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: nightly}
spec:
  revisions: {from: 1-24-3, to: 1-25-1}
  waves:
    - {name: first, namespaces: {names: [a]}, bake: ${options.bake ?? '70m'}}
    - {name: rest, namespaces: {percent: 100}, bake: ${options.bake ?? '70m'}}
  gates: {warmup: 1s}
${schedule}`;
  const loaded = loadPolicyText(text, 'nightly.yaml');
  if (!loaded.policy) throw new Error(loaded.problems.map((p) => `${p.path}: ${p.message}`).join('; '));
  return loaded.policy;
}

const IDENTITY = 'identity-now';

/** Steps and records for a phase, consistent as a stored state must be (`stateProblems`). */
function progress(phase: RunPhase): Pick<StoredRunState, 'steps' | 'records' | 'cursor'> {
  const forward: Step[] = [
    { id: 'precheck', kind: 'precheck' },
    { id: 'wave/first/migrate', kind: 'migrate', wave: 0 },
    { id: 'wave/rest/migrate', kind: 'migrate', wave: 1 },
    { id: 'promote/verify', kind: 'verify' },
  ];
  const rollback: Step = { id: 'rollback/labels', kind: 'rollback-labels' };
  const as = (status: StepRecord['status']) => (step: Step) => ({ ...step, status });
  switch (phase) {
    case 'Progressing':
    case 'Held':
      return {
        steps: forward,
        records: [...forward.slice(0, 2).map(as('done')), ...forward.slice(2).map(as('pending'))],
        cursor: 2,
      };
    case 'Promoted':
      return { steps: forward, records: forward.map(as('done')), cursor: forward.length };
    case 'Failed':
      return {
        steps: forward,
        records: [as('failed')(forward[0] as Step), ...forward.slice(1).map(as('skipped'))],
        cursor: forward.length,
      };
    case 'RollingBack':
    case 'RolledBack': {
      const superseded = forward.slice(2).map(as('skipped'));
      const last = as(phase === 'RollingBack' ? 'running' : 'done')(rollback);
      return {
        steps: [...forward, rollback],
        records: [...forward.slice(0, 2).map(as('done')), ...superseded, last],
        cursor: phase === 'RollingBack' ? forward.length : forward.length + 1,
      };
    }
  }
}

/** A stored run of the policy: the fields the loop reads, the rest as the engine writes them. */
function stored(phase: RunPhase, extra: Partial<StoredRunState> = {}, version = 'v7'): StoredView {
  const state: StoredRunState = {
    version: 1,
    policy: 'nightly',
    runId: '20260302-abc123',
    planHash: 'plan',
    from: '1-24-3',
    to: '1-25-1',
    phase,
    startedAt: '2026-03-02T01:00:00.000Z',
    updatedAt: '2026-03-02T01:30:00.000Z',
    ...progress(phase),
    waves: ['first', 'rest'],
    namespaces: { a: { wave: 0, injection: 'enabled', moved: true }, b: { wave: 1, injection: 'enabled' } },
    gateways: [],
    tags: [],
    approvals: [],
    policyHash: IDENTITY,
    ...extra,
  };
  return { kind: 'run', state, version };
}

function held(kind: Hold['kind'], extra: Partial<StoredRunState> = {}, version = 'v7'): StoredView {
  return stored(
    'Held',
    { hold: { kind, reason: `held for ${kind}`, since: '2026-03-02T01:30:00.000Z' }, ...extra },
    version,
  );
}

const at = (iso: string) => new Date(iso);
const memory = (extra: Partial<LoopMemory> = {}): LoopMemory => ({
  fireCursor: at('2026-03-01T23:30:00Z'),
  decisionPending: false,
  errors: 0,
  ...extra,
});

type Expected =
  | { kind: 'run'; reason: string }
  | { kind: 'wait'; reason: string; until?: string; wakeAt: string; why?: RegExp }
  | { kind: 'stop' };

type Row = {
  name: string;
  now: string;
  memory?: LoopMemory;
  stored?: StoredView;
  policy?: Policy;
  removed?: boolean;
  expect: Expected;
  /** Fields of the memory afterwards. */
  after?: Partial<LoopMemory>;
};

function shape(step: NextStep): Record<string, unknown> {
  if (step.kind !== 'wait') return step.kind === 'run' ? { kind: 'run', reason: step.reason } : { kind: 'stop' };
  return {
    kind: 'wait',
    reason: step.reason,
    ...(step.until ? { until: step.until.toISOString() } : {}),
    wakeAt: step.wakeAt.toISOString(),
  };
}

const nights = policy();
const rows: Row[] = [
  // ---- cron fires, windows, freezes -------------------------------------------------------
  {
    name: 'no fire yet: wait for the next one',
    now: '2026-03-01T23:30:00Z',
    expect: {
      kind: 'wait',
      reason: 'next-fire',
      until: '2026-03-02T01:00:00.000Z',
      wakeAt: '2026-03-02T01:00:00.000Z',
    },
  },
  {
    name: 'a fire due inside the window runs',
    now: '2026-03-02T01:00:00Z',
    expect: { kind: 'run', reason: 'cron-fire' },
    after: { fireCursor: at('2026-03-02T01:00:00Z'), pendingFire: undefined },
  },
  {
    name: 'fires missed for days collapse into one run',
    now: '2026-03-05T01:20:00Z',
    expect: { kind: 'run', reason: 'cron-fire' },
    after: { fireCursor: at('2026-03-05T01:20:00Z') },
  },
  {
    name: 'a fire missed while down is caught up within the window it came in',
    now: '2026-03-02T01:40:00Z',
    memory: initialMemory(nights.spec.schedule, at('2026-03-02T01:40:00Z'), settings),
    expect: { kind: 'run', reason: 'cron-fire' },
  },
  {
    name: 'a fire missed while down is not caught up once its window closed',
    now: '2026-03-02T04:00:00Z',
    memory: initialMemory(nights.spec.schedule, at('2026-03-02T04:00:00Z'), settings),
    expect: {
      kind: 'wait',
      reason: 'next-fire',
      until: '2026-03-03T01:00:00.000Z',
      wakeAt: '2026-03-02T10:00:00.000Z',
    },
  },
  {
    name: 'without windows, a fire missed by less than the grace period is caught up',
    now: '2026-03-02T01:10:00Z',
    policy: policy({ cron: '0 * * * *', windows: [] }),
    memory: initialMemory(
      policy({ cron: '0 * * * *', windows: [] }).spec.schedule,
      at('2026-03-02T01:10:00Z'),
      settings,
    ),
    expect: { kind: 'run', reason: 'cron-fire' },
  },
  {
    name: 'without windows, a fire missed by more than the grace period waits for the next',
    now: '2026-03-02T01:20:00Z',
    policy: policy({ cron: '0 * * * *', windows: [] }),
    memory: initialMemory(
      policy({ cron: '0 * * * *', windows: [] }).spec.schedule,
      at('2026-03-02T01:20:00Z'),
      settings,
    ),
    expect: {
      kind: 'wait',
      reason: 'next-fire',
      until: '2026-03-02T02:00:00.000Z',
      wakeAt: '2026-03-02T02:00:00.000Z',
    },
  },
  {
    name: 'a fire before the window opens waits for the opening',
    now: '2026-03-02T00:00:00Z',
    policy: policy({ cron: '0 1 * * *' }),
    expect: { kind: 'wait', reason: 'closed', until: '2026-03-02T01:00:00.000Z', wakeAt: '2026-03-02T01:00:00.000Z' },
    after: { pendingFire: at('2026-03-02T00:00:00Z'), fireCursor: at('2026-03-02T00:00:00Z') },
  },
  {
    name: 'the pending fire runs when the window opens',
    now: '2026-03-02T01:00:00Z',
    policy: policy({ cron: '0 1 * * *' }),
    memory: memory({ pendingFire: at('2026-03-02T00:00:00Z'), fireCursor: at('2026-03-02T00:00:00Z') }),
    expect: { kind: 'run', reason: 'cron-fire' },
    after: { pendingFire: undefined },
  },
  {
    name: 'a fire on a freeze day waits until the first window after the freeze',
    now: '2026-03-02T01:00:00Z',
    policy: policy({ freeze: '    freeze:\n      - {from: "2026-03-02", to: "2026-03-02", reason: quarter close}\n' }),
    expect: {
      kind: 'wait',
      reason: 'closed',
      until: '2026-03-03T01:00:00.000Z',
      // At most 6 h idle: the loop looks again before the end of the freeze.
      wakeAt: '2026-03-02T07:00:00.000Z',
      why: /freeze until 2026-03-03T00:00 Europe\/Berlin: quarter close/,
    },
  },
  {
    name: 'without a schedule a policy is never started',
    now: '2026-03-02T01:00:00Z',
    policy: policy({ schedule: false }),
    expect: { kind: 'wait', reason: 'no-schedule', wakeAt: '2026-03-02T07:00:00.000Z' },
  },
  // ---- finished runs and policy changes ---------------------------------------------------
  {
    name: 'a finished run of the unchanged policy is not started again',
    now: '2026-03-03T01:00:00Z',
    stored: stored('Promoted'),
    expect: { kind: 'wait', reason: 'finished', wakeAt: '2026-03-03T07:00:00.000Z', why: /finished \(Promoted\)/ },
  },
  {
    name: 'a rolled-back run of the unchanged policy is not retried',
    now: '2026-03-03T01:00:00Z',
    stored: stored('RolledBack'),
    expect: { kind: 'wait', reason: 'finished', wakeAt: '2026-03-03T07:00:00.000Z' },
  },
  {
    name: 'a finished run of a changed policy: the next fire starts a new run',
    now: '2026-03-03T01:00:00Z',
    memory: memory({ fireCursor: at('2026-03-02T23:00:00Z') }),
    stored: stored('Promoted', { policyHash: 'identity-before' }),
    expect: { kind: 'run', reason: 'cron-fire' },
  },
  {
    name: 'an active run whose policy changed is refused, and its state re-read',
    now: '2026-03-02T01:30:00Z',
    stored: stored('Progressing', { policyHash: 'identity-before' }),
    expect: {
      kind: 'wait',
      reason: 'policy-changed',
      wakeAt: '2026-03-02T01:30:30.000Z',
      why: /^policy nightly changed while its run 20260302-abc123 is active \(phase Progressing\); restore/,
    },
  },
  {
    name: 'a held run whose policy changed is refused too, even with a decision pending',
    now: '2026-03-02T01:30:00Z',
    memory: poked(memory({ seenVersion: 'v7' })),
    stored: held('approval', { policyHash: 'identity-before' }),
    expect: { kind: 'wait', reason: 'policy-changed', wakeAt: '2026-03-02T01:30:30.000Z' },
  },
  // ---- active and held runs ---------------------------------------------------------------
  {
    name: 'a run mid-step continues at once, window or not',
    now: '2026-03-02T12:00:00Z',
    stored: stored('Progressing'),
    expect: { kind: 'run', reason: 'active-run' },
  },
  {
    name: 'a rollback continues at once, even in a freeze',
    now: '2026-03-02T01:30:00Z',
    policy: policy({ freeze: '    freeze:\n      - {from: "2026-03-02", to: "2026-03-02", reason: quarter close}\n' }),
    stored: stored('RollingBack'),
    expect: { kind: 'run', reason: 'active-run' },
  },
  {
    name: 'a held run seen for the first time is looked at now',
    now: '2026-03-02T12:00:00Z',
    stored: held('window'),
    expect: { kind: 'run', reason: 'held-run-found' },
    after: { seenVersion: 'v7' },
  },
  {
    name: 'held for approval: wait for its timer, re-reading the state every poll',
    now: '2026-03-02T01:10:00Z',
    memory: memory({ seenVersion: 'v7', wakeAt: at('2026-03-02T02:10:00Z') }),
    stored: held('approval'),
    expect: { kind: 'wait', reason: 'held', until: '2026-03-02T02:10:00.000Z', wakeAt: '2026-03-02T01:10:30.000Z' },
  },
  {
    name: 'held without a timer of its own: re-checked after the re-check interval',
    now: '2026-03-02T01:10:00Z',
    memory: memory({ seenVersion: 'v7' }),
    stored: held('gates'),
    expect: { kind: 'wait', reason: 'held', until: '2026-03-02T01:15:00.000Z', wakeAt: '2026-03-02T01:10:30.000Z' },
    after: { wakeAt: at('2026-03-02T01:15:00Z') },
  },
  {
    name: 'the hold timer is due',
    now: '2026-03-02T02:10:00Z',
    memory: memory({ seenVersion: 'v7', wakeAt: at('2026-03-02T02:10:00Z') }),
    stored: held('approval'),
    expect: { kind: 'run', reason: 'hold-timer' },
    after: { wakeAt: undefined },
  },
  {
    name: 'a decision landed in the state (another replica, the CLI)',
    now: '2026-03-02T01:10:00Z',
    memory: memory({ seenVersion: 'v7', wakeAt: at('2026-03-02T02:10:00Z') }),
    stored: held('approval', {}, 'v8'),
    expect: { kind: 'run', reason: 'state-changed' },
  },
  {
    name: 'a decision recorded by this daemon (a poke)',
    now: '2026-03-02T01:10:00Z',
    memory: poked(memory({ seenVersion: 'v7', wakeAt: at('2026-03-02T02:10:00Z') })),
    stored: held('approval'),
    expect: { kind: 'run', reason: 'state-changed' },
  },
  {
    name: 'held for the window: wait for the next window the wave fits in',
    now: '2026-03-02T02:40:00Z',
    memory: memory({ seenVersion: 'v7' }),
    stored: held('window'),
    expect: {
      kind: 'wait',
      reason: 'wave-window',
      until: '2026-03-03T01:00:00.000Z',
      wakeAt: '2026-03-02T02:40:30.000Z',
    },
  },
  {
    name: 'held for the window: the window is open and the wave fits',
    now: '2026-03-03T01:00:00Z',
    memory: memory({ seenVersion: 'v7' }),
    stored: held('window'),
    expect: { kind: 'run', reason: 'window-open' },
  },
  {
    name: 'held for the window: no window is long enough for the wave with its migration',
    now: '2026-03-02T02:40:00Z',
    policy: policy({ bake: '119m' }),
    memory: memory({ seenVersion: 'v7' }),
    stored: held('window'),
    expect: { kind: 'wait', reason: 'no-window-fits', wakeAt: '2026-03-02T02:40:30.000Z' },
  },
  // ---- Lease and error back-off -----------------------------------------------------------
  {
    name: 'locked: back off until just after the other daemon’s Lease expires',
    now: '2026-03-02T01:00:10Z',
    memory: memory({
      backoff: { kind: 'locked', at: at('2026-03-02T01:00:00Z'), leaseExpiresAt: at('2026-03-02T01:00:30Z') },
    }),
    stored: stored('Progressing'),
    expect: { kind: 'wait', reason: 'locked', until: '2026-03-02T01:00:31.000Z', wakeAt: '2026-03-02T01:00:31.000Z' },
  },
  {
    name: 'locked by a long Lease: back off for the retry interval at most',
    now: '2026-03-02T01:00:10Z',
    memory: memory({
      backoff: { kind: 'locked', at: at('2026-03-02T01:00:00Z'), leaseExpiresAt: at('2026-03-02T04:00:00Z') },
    }),
    stored: stored('Progressing'),
    expect: { kind: 'wait', reason: 'locked', until: '2026-03-02T01:01:00.000Z', wakeAt: '2026-03-02T01:01:00.000Z' },
  },
  {
    name: 'locked, back-off over: try again',
    now: '2026-03-02T01:01:00Z',
    memory: memory({ backoff: { kind: 'locked', at: at('2026-03-02T01:00:00Z') } }),
    stored: stored('Progressing'),
    expect: { kind: 'run', reason: 'active-run' },
    after: { backoff: undefined },
  },
  {
    name: 'errors in a row double the back-off',
    now: '2026-03-02T01:00:00Z',
    memory: memory({ errors: 3, backoff: { kind: 'error', at: at('2026-03-02T01:00:00Z'), what: 'x' } }),
    expect: { kind: 'wait', reason: 'error', until: '2026-03-02T01:02:00.000Z', wakeAt: '2026-03-02T01:02:00.000Z' },
  },
  {
    name: 'the run state cannot be read: back off, nothing is started',
    now: '2026-03-02T01:00:00Z',
    stored: { kind: 'unreadable' },
    expect: { kind: 'wait', reason: 'error', until: '2026-03-02T01:00:30.000Z', wakeAt: '2026-03-02T01:00:30.000Z' },
    after: { errors: 1 },
  },
  {
    name: 'an unreadable state during a back-off counts no further error',
    now: '2026-03-02T01:00:10Z',
    memory: memory({ errors: 1, backoff: { kind: 'error', at: at('2026-03-02T01:00:00Z'), what: 'x' } }),
    stored: { kind: 'unreadable' },
    expect: { kind: 'wait', reason: 'error', until: '2026-03-02T01:00:30.000Z', wakeAt: '2026-03-02T01:00:30.000Z' },
    after: { errors: 1 },
  },
  // ---- removal ----------------------------------------------------------------------------
  {
    name: 'the policy left the folder: the loop ends',
    now: '2026-03-02T01:30:00Z',
    stored: stored('Progressing'),
    removed: true,
    expect: { kind: 'stop' },
  },
  // ---- daylight saving time in the policy's zone ------------------------------------------
  {
    name: 'spring forward: a 02:30 fire on the night 02:30 does not exist comes at 03:00 CEST',
    now: '2026-03-29T00:40:00Z',
    policy: policy({ cron: '30 2 * * *' }),
    memory: memory({ fireCursor: at('2026-03-28T12:00:00Z') }),
    expect: {
      kind: 'wait',
      reason: 'next-fire',
      until: '2026-03-29T01:00:00.000Z',
      wakeAt: '2026-03-29T01:00:00.000Z',
    },
  },
  {
    name: 'spring forward: the 02:00-04:00 window is the hour 03:00-04:00 CEST, open at that fire',
    now: '2026-03-29T01:00:00Z',
    policy: policy({ cron: '30 2 * * *' }),
    memory: memory({ fireCursor: at('2026-03-28T12:00:00Z') }),
    expect: { kind: 'run', reason: 'cron-fire' },
  },
  {
    name: 'fall back: the 02:30 fire comes once, at the first 02:30 (CEST)',
    now: '2026-10-25T01:30:00Z',
    policy: policy({ cron: '30 2 * * *' }),
    memory: memory({ fireCursor: at('2026-10-25T00:30:00Z') }),
    expect: {
      kind: 'wait',
      reason: 'next-fire',
      until: '2026-10-26T01:30:00.000Z',
      wakeAt: '2026-10-25T07:30:00.000Z',
    },
  },
  {
    name: 'fall back: the window opens at the second 02:00 (CET), so the 02:00 fire waits an hour',
    now: '2026-10-25T00:00:00Z',
    memory: memory({ fireCursor: at('2026-10-24T12:00:00Z') }),
    expect: { kind: 'wait', reason: 'closed', until: '2026-10-25T01:00:00.000Z', wakeAt: '2026-10-25T01:00:00.000Z' },
  },
];

describe('src/engine/schedule-next: nextStep', () => {
  it('is fed only states the daemon could read (the fixtures pass the stored-state checks)', () => {
    for (const row of rows) {
      if (row.stored?.kind !== 'run') continue;
      expect(stateProblems(row.stored.state, 'nightly').problems, row.name).toEqual([]);
    }
  });

  it.each(rows)('$name', (row) => {
    const before = row.memory ?? memory();
    const { step, memory: after } = nextStep({
      memory: before,
      stored: row.stored ?? { kind: 'none' },
      policy: row.policy ?? nights,
      identity: IDENTITY,
      removed: row.removed ?? false,
      now: at(row.now),
      settings,
    });
    const { why, ...expected } = row.expect as Expected & { why?: RegExp };
    expect(shape(step)).toEqual(expected);
    if (why) expect(step.kind === 'stop' ? '' : step.why).toMatch(why);
    // Every step says why, in words (the runs API's `waiting`, the logs).
    expect(step.why.length).toBeGreaterThan(5);
    for (const [key, value] of Object.entries(row.after ?? {})) expect(after[key as keyof LoopMemory]).toEqual(value);
    // The decision is a function: the input memory is left as it was.
    expect(before).toEqual(row.memory ?? memory());
  });

  /** The loop in miniature, without a cluster: ask, act (a run that leaves no state), ask again at `next(step, now)`. */
  function simulate(from: string, to: string, next: (step: NextStep, now: number) => number): string[] {
    let mem = initialMemory(nights.spec.schedule, at(from), settings);
    const starts: string[] = [];
    for (let t = at(from).getTime(); t < at(to).getTime();) {
      const now = new Date(t);
      const input = {
        memory: mem,
        stored: { kind: 'none' } as const,
        policy: nights,
        identity: IDENTITY,
        now,
        settings,
      };
      const decision = nextStep({ ...input, removed: false });
      mem = decision.memory;
      if (decision.step.kind === 'run') {
        starts.push(now.toISOString());
        mem = afterInvocation(mem, { outcome: 'interrupted' }, now);
      }
      t = Math.max(next(decision.step, t), t + 1);
    }
    return starts;
  }

  it('sleeping until each wake-up, a week of nights starts one run at each 02:00 Berlin', () => {
    const starts = simulate('2026-03-02T00:00:00Z', '2026-03-09T00:00:00Z', (step, now) =>
      step.kind === 'wait' ? step.wakeAt.getTime() : now,
    );
    expect(starts).toEqual([2, 3, 4, 5, 6, 7, 8].map((d) => `2026-03-0${d}T01:00:00.000Z`));
  });

  it('woken early every 7 minutes (pokes, rescans), it still starts one run per fire', () => {
    const starts = simulate('2026-03-02T00:00:00Z', '2026-03-04T00:00:00Z', (_step, now) => now + 7 * 60_000);
    // The first question after each 01:00Z fire: 63 min and 1,505 min after the start.
    expect(starts).toEqual(['2026-03-02T01:03:00.000Z', '2026-03-03T01:05:00.000Z']);
  });
});

describe('src/engine/schedule-next: afterInvocation', () => {
  const NOW = at('2026-03-02T01:30:00Z');
  const heldState = (held('approval') as Extract<StoredView, { kind: 'run' }>).state;
  const decided = {
    ...heldState,
    approvals: [
      {
        step: 'wave/first/approval',
        point: 'wave' as const,
        requestedAt: '2026-03-02T01:00:00.000Z',
        expiresAt: '2026-03-02T02:00:00.000Z',
        decision: 'approved' as const,
        by: 'alice',
        via: 'cli' as const,
      },
    ],
  };
  const cases: { name: string; memory?: LoopMemory; invocation: Invocation; after: Partial<LoopMemory> }[] = [
    {
      name: 'the runner threw: count the error, back off',
      memory: memory({ errors: 1, seenVersion: 'v3' }),
      invocation: { outcome: 'error' },
      after: { errors: 2, seenVersion: 'v3', backoff: { kind: 'error', at: NOW, what: 'the last invocation failed' } },
    },
    {
      name: 'locked: remember the other Lease’s expiry; the error count stays',
      memory: memory({ errors: 2 }),
      invocation: { outcome: 'locked', leaseExpiresAt: at('2026-03-02T04:00:00Z') },
      after: { errors: 2, backoff: { kind: 'locked', at: NOW, leaseExpiresAt: at('2026-03-02T04:00:00Z') } },
    },
    {
      name: 'held with a timer: remember it and the version the run left',
      memory: memory({ errors: 2 }),
      invocation: {
        outcome: 'held',
        state: heldState,
        wakeAt: at('2026-03-02T02:00:00Z'),
        latest: { version: 'v9', state: heldState },
      },
      after: { errors: 0, wakeAt: at('2026-03-02T02:00:00Z'), seenVersion: 'v9', decisionPending: false },
    },
    {
      name: 'held, and a decision was saved after the run’s last write: it stays pending',
      invocation: { outcome: 'held', state: heldState, latest: { version: 'v10', state: decided } },
      after: { seenVersion: 'v10', decisionPending: true },
    },
    {
      name: 'a poke during the run that the run itself acted on is not pending any more',
      memory: poked(memory({ seenVersion: 'v3' })),
      invocation: { outcome: 'held', state: decided, latest: { version: 'v10', state: decided } },
      after: { seenVersion: 'v10', decisionPending: false },
    },
    {
      name: 'failed with its run still active (refused): back off',
      invocation: { outcome: 'failed', state: heldState, latest: { version: 'v9', state: heldState } },
      after: { errors: 1, seenVersion: 'v9', backoff: { kind: 'error', at: NOW, what: 'the run cannot continue' } },
    },
    {
      name: 'promoted: errors forgotten',
      memory: memory({ errors: 4 }),
      invocation: { outcome: 'promoted', latest: { version: 'v11', state: heldState } },
      after: { errors: 0, seenVersion: 'v11', backoff: undefined },
    },
    {
      name: 'the state could not be read afterwards: the seen version stays',
      memory: poked(memory({ seenVersion: 'v3' })),
      invocation: { outcome: 'interrupted', state: heldState },
      after: { seenVersion: 'v3', decisionPending: true },
    },
  ];
  it.each(cases)('$name', ({ memory: before = memory(), invocation, after }) => {
    const result = afterInvocation(before, invocation, NOW);
    for (const [key, value] of Object.entries(after)) expect(result[key as keyof LoopMemory]).toEqual(value);
  });
});
