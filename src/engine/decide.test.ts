import { describe, expect, it } from 'vitest';
import { loadPolicyText } from '../policy/load.ts';
import type { Policy } from '../policy/types.ts';
import { buildSnapshot } from '../mesh/revisions.ts';
import type { KubeObject } from '../ports/cluster.ts';
import { decide, initialState, recordDecision, type Decision, type Observation } from './decide.ts';
import { planRun, type ClusterSnapshot } from './plan.ts';
import type { RunState } from './state.ts';
import type { GateResult } from './gates.ts';

const T0 = new Date('2026-11-22T02:00:00Z');
const at = (ms: number) => new Date(T0.getTime() + ms);

function policy(extra = ''): Policy {
  const text = `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: unit}
spec:
  revisions: {from: auto, to: 1-25-1}
  waves:
    - {name: one, namespaces: {names: [a]}, bake: 10s}
    - {name: two, namespaces: {names: [b]}, bake: 10s}
  gates:
    interval: 5s
    warmup: 5s
    checks:
      - {name: errors, preset: proxy-5xx-ratio, threshold: {max: 0.05}}
  prometheus: {url: "http://127.0.0.1:9"}
${extra}`;
  const result = loadPolicyText(text, 'unit.yaml');
  if (!result.policy) throw new Error(result.problems.map((p) => p.message).join('; '));
  return result.policy;
}

function snapshot(): ClusterSnapshot {
  const mwc = (rev: string, tag?: string): KubeObject => ({
    metadata: {
      name: tag ? `istio-revision-tag-${tag}` : `istio-sidecar-injector-${rev}`,
      labels: { 'istio.io/rev': rev, ...(tag ? { 'istio.io/tag': tag } : {}) },
    },
    webhooks: [
      {
        name: 'rev.namespace.sidecar-injector.istio.io',
        clientConfig: { service: { name: `istiod-${rev}`, namespace: 'istio-system' } },
      },
    ],
  });
  const istiod = (rev: string): KubeObject => ({
    metadata: { name: `istiod-${rev}`, namespace: 'istio-system', labels: { app: 'istiod', 'istio.io/rev': rev } },
    status: { availableReplicas: 1, readyReplicas: 1 },
  });
  return {
    mesh: buildSnapshot({
      istioNamespace: 'istio-system',
      webhooks: [mwc('1-24-3'), mwc('1-25-1'), mwc('1-24-3', 'default')],
      validators: [],
      deployments: [istiod('1-24-3'), istiod('1-25-1')],
      services: [],
      namespaces: [
        { metadata: { name: 'a', labels: { 'istio-injection': 'enabled' } } },
        { metadata: { name: 'b', labels: { 'istio.io/rev': '1-24-3' } } },
      ],
    }),
    workloads: [
      { kind: 'Deployment', namespace: 'a', name: 'web', replicas: 2 },
      { kind: 'Deployment', namespace: 'b', name: 'web', replicas: 2 },
    ],
    podCounts: { a: 2, b: 2 },
    gateways: [],
  };
}

function start(p: Policy): RunState {
  const { plan, problems } = planRun(p, snapshot());
  if (!plan) throw new Error(problems.map((x) => x.message).join('; '));
  return initialState(p, plan, 'run-1', T0);
}

/** Drives decide, answering each action with `answer`, until no action is asked for. */
function drive(p: Policy, state: RunState, now: Date, answer: (d: Decision) => Observation | undefined): Decision {
  let decision = decide(p, state, undefined, { now });
  for (let i = 0; i < 50 && decision.action; i++) {
    const observation = answer(decision);
    if (!observation) return decision;
    decision = decide(p, decision.state, observation, { now });
  }
  return decision;
}

const ok = (d: Decision): Observation | undefined => {
  switch (d.action?.type) {
    case 'precheck':
      return { type: 'precheck', problems: [] };
    case 'install':
      return { type: 'install', ok: true, message: 'ready' };
    case 'measure':
      return { type: 'measure', measurements: [{ check: 'errors', wave: { kind: 'value', value: 0.001 } }] };
    case 'wait-rollouts':
      return { type: 'wait-rollouts', ok: true, pending: [], failed: [], elapsedMs: 1000 };
    case 'verify':
      return { type: 'verify', stragglers: [], converged: 2 };
    case 'request-approval':
      return { type: 'approval-requested', delivered: true };
    case undefined:
      return undefined;
    default:
      return { type: 'done', ok: true, message: 'ok' };
  }
};

const stepOf = (s: RunState) => s.steps[s.cursor]?.id;

describe('decide', () => {
  it('starts with the precheck, and a failed precheck ends the run before any mutation', () => {
    const p = policy();
    const first = decide(p, start(p), undefined, { now: T0 });
    expect(first.action).toEqual({ type: 'precheck' });
    const failed = decide(
      p,
      first.state,
      { type: 'precheck', problems: ['permission missing: patch namespaces'] },
      { now: T0 },
    );
    expect(failed.state.phase).toBe('Failed');
    expect(failed.action).toBeUndefined();
    expect(failed.state.outcome).toMatch(/nothing was changed: permission missing/);
  });

  it('records a namespace as moved before asking for the label change (crash safety)', () => {
    const p = policy();
    const d = drive(p, start(p), T0, (x) => (x.action?.type === 'label-namespaces' ? undefined : ok(x)));
    expect(d.action).toEqual({
      type: 'label-namespaces',
      namespaces: [{ name: 'a', labels: { injection: null, rev: '1-25-1' } }],
    });
    expect(d.state.namespaces['a']).toMatchObject({ moved: true, injection: 'enabled' });
  });

  it('waits out the warm-up, evaluates every interval, and passes the bake when the last evaluation passes', () => {
    const p = policy();
    let d = drive(p, start(p), T0, ok);
    expect(stepOf(d.state)).toBe('wave/one/warmup');
    expect(d.wakeAt).toEqual(at(5000));
    d = drive(p, d.state, at(5000), ok);
    expect(stepOf(d.state)).toBe('wave/one/bake');
    expect(d.state.gates?.evaluations).toBe(1);
    expect(d.wakeAt).toEqual(at(10_000));
    d = drive(p, d.state, at(10_000), ok);
    d = drive(p, d.state, at(15_000), ok);
    expect(d.state.records.find((r) => r.id === 'wave/one/bake')?.status).toBe('done');
    expect(stepOf(d.state)).toBe('wave/two/warmup');
  });

  it('rolls back when an enforced gate fails, skipping the rest of the plan', () => {
    const p = policy();
    let d = drive(p, start(p), T0, ok);
    d = drive(p, d.state, at(5000), (x) =>
      x.state.phase === 'RollingBack'
        ? undefined
        : x.action?.type === 'measure'
          ? { type: 'measure', measurements: [{ check: 'errors', wave: { kind: 'value', value: 0.3 } }] }
          : ok(x),
    );
    expect(d.state.phase).toBe('RollingBack');
    expect(d.state.rollbackReason).toMatch(/gate errors failed 1 time/);
    expect(d.state.records.find((r) => r.id === 'wave/two/migrate')?.status).toBe('skipped');
    expect(d.action).toEqual({
      type: 'label-namespaces',
      namespaces: [{ name: 'a', labels: { injection: 'enabled', rev: null } }],
    });
  });

  it('never promotes on NoData: the bake holds (and asks a human) when the last evaluation is NoData', () => {
    const p = policy();
    let d = drive(p, start(p), T0, ok);
    const noData = (x: Decision): Observation | undefined =>
      x.action?.type === 'measure'
        ? { type: 'measure', measurements: [{ check: 'errors', wave: { kind: 'empty', reason: 'no series' } }] }
        : ok(x);
    d = drive(p, d.state, at(5000), noData);
    d = drive(p, d.state, at(10_000), noData);
    d = drive(p, d.state, at(15_000), (x) => (x.action?.type === 'request-approval' ? undefined : noData(x)));
    expect(d.action?.type).toBe('request-approval');
    expect(d.state.phase).toBe('Held');
    expect(d.state.hold?.kind).toBe('approval');
    expect(d.state.records.find((r) => r.id === 'promote/tags')?.status).toBe('pending');
  });

  it('holds on errors past the consecutive limit, and rolls back instead when onError says so', () => {
    const errors = (x: Decision): Observation | undefined =>
      x.state.phase === 'RollingBack'
        ? undefined
        : x.action?.type === 'measure'
          ? {
              type: 'measure',
              measurements: [{ check: 'errors', wave: { kind: 'error', reason: 'Prometheus unreachable' } }],
            }
          : ok(x);
    for (const [onError, phase] of [
      ['hold', 'Held'],
      ['rollback', 'RollingBack'],
    ] as const) {
      const p = policy();
      p.spec.gates.onError = onError;
      p.spec.gates.consecutiveErrorLimit = 2;
      let d = drive(p, start(p), T0, ok);
      d = drive(p, d.state, at(5000), errors);
      expect(d.state.phase).toBe('Progressing');
      d = drive(p, d.state, at(10_000), errors);
      expect(d.state.phase).toBe(phase);
    }
  });

  it('approval: pending holds, approved continues, rejected rolls back, recorded with who and how', () => {
    const p = policy();
    p.spec.waves[0]!.approval = { required: true, timeout: 60_000, onTimeout: 'rollback' };
    const { plan } = planRun(p, snapshot());
    let state = initialState(p, plan!, 'run-1', T0);
    let d = drive(p, state, T0, ok);
    d = drive(p, d.state, at(5000), ok);
    d = drive(p, d.state, at(10_000), ok);
    d = drive(p, d.state, at(15_000), ok);
    expect(stepOf(d.state)).toBe('wave/one/approval');
    expect(d.state.hold?.kind).toBe('approval');
    expect(d.wakeAt).toEqual(at(15_000 + 60_000));
    state = d.state;
    const stale = recordDecision(state, { approve: true, by: 'eve', via: 'slack', planHash: 'other' }, at(16_000));
    expect(stale).toMatchObject({ ok: false, refusal: 'plan-changed' });
    const approved = recordDecision(state, { approve: true, by: 'alice', via: 'cli' }, at(16_000));
    if (!approved.ok) throw new Error(approved.message);
    d = drive(p, approved.state, at(16_000), (x) => (x.action?.type === 'label-namespaces' ? undefined : ok(x)));
    expect(d.action?.type).toBe('label-namespaces');
    expect(d.state.approvals[0]).toMatchObject({ decision: 'approved', by: 'alice', via: 'cli' });
    const rejected = recordDecision(state, { approve: false, by: 'bob', via: 'slack' }, at(16_000));
    if (!rejected.ok) throw new Error(rejected.message);
    expect(decide(p, rejected.state, undefined, { now: at(16_000) }).state.rollbackReason).toMatch(
      /rejected by bob \(slack\)/,
    );
  });

  it('approval expiry does what the policy says: rollback, or ask again', () => {
    for (const onTimeout of ['rollback', 'hold'] as const) {
      const p = policy();
      p.spec.approvals.beforeFirstWave = true;
      p.spec.approvals.timeout = 1000;
      p.spec.approvals.onTimeout = onTimeout;
      let d = drive(p, start(p), T0, ok);
      expect(stepOf(d.state)).toBe('approval/before-first-wave');
      d = decide(p, d.state, undefined, { now: at(2000) });
      if (onTimeout === 'rollback') {
        expect(d.state.phase).toBe('RollingBack');
      } else {
        expect(d.action?.type).toBe('request-approval');
        expect(d.state.approvals.map((a) => a.decision)).toEqual(['expired', undefined]);
      }
    }
  });

  it('a closed window holds the run at the wave boundary, before any mutation of that wave', () => {
    const p = policy();
    let d = decide(p, start(p), undefined, { now: T0 });
    d = decide(p, d.state, { type: 'precheck', problems: [] }, { now: T0 });
    d = decide(
      p,
      d.state,
      { type: 'install', ok: true, message: 'ready' },
      { now: T0, windowClosed: { reason: 'outside the maintenance window' } },
    );
    expect(d.state.phase).toBe('Held');
    expect(d.state.hold).toMatchObject({ kind: 'window' });
    expect(d.action).toBeUndefined();
    // The wave needs warm-up + bake + rollout estimate; a window closing sooner also holds.
    d = decide(p, d.state, undefined, { now: T0, windowClosesAt: at(5000) });
    expect(d.state.hold?.reason).toMatch(/window closes/);
    d = decide(p, d.state, undefined, { now: T0, windowClosesAt: at(3_600_000) });
    expect(d.action).toEqual({ type: 'measure', wave: 0, mode: 'baseline' });
  });

  it('an abort request starts the rollback at the next decision', () => {
    const p = policy();
    const d = drive(p, start(p), T0, ok);
    const aborted = decide(p, { ...d.state, abortRequested: { by: 'carol', at: T0.toISOString() } }, undefined, {
      now: at(1000),
    });
    expect(aborted.state.phase).toBe('RollingBack');
    expect(aborted.state.rollbackReason).toBe('aborted by carol');
  });

  it('runs to promotion and reports Promoted', () => {
    const p = policy();
    let d = drive(p, start(p), T0, ok);
    for (let t = 5000; t <= 60_000 && d.state.phase !== 'Promoted'; t += 5000) d = drive(p, d.state, at(t), ok);
    expect(d.state.phase).toBe('Promoted');
    expect(d.state.records.every((r) => r.status === 'done' || r.status === 'skipped')).toBe(true);
    const results: GateResult[] = d.state.gates?.recent.at(-1)?.results ?? [];
    expect(results[0]?.outcome).toBe('Pass');
  });
});

describe('decide: the error budget (safety invariant 6)', () => {
  const failed: Observation = { type: 'done', ok: false, message: 'API answered 500' };

  it('retries a failing step after a doubling back-off, holds once the budget is spent, and resumes fresh', () => {
    const p = policy('  errorBudget: {attempts: 3, backoff: 10s}\n');
    let d = drive(p, start(p), T0, (x) => (x.action?.type === 'label-namespaces' ? undefined : ok(x)));
    expect(d.action?.type).toBe('label-namespaces');
    const step = stepOf(d.state);
    // First failure: no hold, wait 10 s; nothing is tried before that.
    d = decide(p, d.state, failed, { now: at(1000) });
    expect(d.action).toBeUndefined();
    expect(d.state.hold).toBeUndefined();
    expect(d.wakeAt).toEqual(at(11_000));
    expect(decide(p, d.state, undefined, { now: at(5000) }).action).toBeUndefined();
    d = decide(p, d.state, undefined, { now: at(11_000) });
    expect(d.action?.type).toBe('label-namespaces');
    // Second failure: 20 s.
    d = decide(p, d.state, failed, { now: at(12_000) });
    expect(d.wakeAt).toEqual(at(32_000));
    d = decide(p, d.state, undefined, { now: at(32_000) });
    expect(d.action?.type).toBe('label-namespaces');
    // Third failure: the budget is spent. Held, naming the step and the last error; no action again.
    d = decide(p, d.state, failed, { now: at(33_000) });
    expect(d.action).toBeUndefined();
    expect(d.state.phase).toBe('Held');
    expect(d.state.hold).toMatchObject({ kind: 'error' });
    expect(d.state.hold?.reason).toBe(
      `${step} failed 3 time(s) in a row (spec.errorBudget.attempts); last error: API answered 500; run revroll again to retry from this step`,
    );
    expect(decide(p, d.state, undefined, { now: at(99_000) }).action).toBeUndefined();
    // The next invocation: a fresh budget, the same step again.
    const resumed = decide(p, d.state, undefined, { now: at(100_000), resumed: true });
    expect(resumed.action?.type).toBe('label-namespaces');
    expect(resumed.state.phase).toBe('Progressing');
    expect(resumed.state.hold).toBeUndefined();
    expect(resumed.state.retry).toBeUndefined();
  });

  it('notifies the hold once, as an error naming the step', async () => {
    const { transitions } = await import('./events.ts');
    const p = policy('  errorBudget: {attempts: 1, backoff: 1s}\n');
    const before = drive(p, start(p), T0, (x) => (x.action?.type === 'label-namespaces' ? undefined : ok(x)));
    const held = decide(p, before.state, failed, { now: at(1000) });
    const events = transitions(before.state, held.state);
    expect(events.map((e) => e.kind)).toEqual(['error']);
    expect(events[0]?.message).toMatch(/^wave\/one\/migrate failed 1 time\(s\) in a row/);
    expect(transitions(held.state, decide(p, held.state, undefined, { now: at(2000) }).state)).toEqual([]);
  });

  it('clears the count once the step succeeds', () => {
    const p = policy('  errorBudget: {attempts: 3, backoff: 1s}\n');
    let d = drive(p, start(p), T0, (x) => (x.action?.type === 'label-namespaces' ? undefined : ok(x)));
    d = decide(p, d.state, failed, { now: at(1000) });
    d = decide(p, d.state, undefined, { now: at(2000) });
    d = decide(p, d.state, { type: 'done', ok: true, message: 'labelled' }, { now: at(2100) });
    expect(d.state.retry).toBeUndefined();
    expect(d.state.records.find((r) => r.id === 'wave/one/migrate')?.status).toBe('done');
  });
});

describe('decide: approval requests record what happened', () => {
  const p = policy('  approvals: {beforeFirstWave: true, timeout: 1h}\n');
  const toRequest = () => drive(p, start(p), T0, (x) => (x.action?.type === 'request-approval' ? undefined : ok(x)));

  it('stores a failed send as not notified, with why, and does not send again in a loop', () => {
    const asked = toRequest();
    expect(asked.action?.type).toBe('request-approval');
    const failed = decide(
      p,
      asked.state,
      { type: 'approval-requested', delivered: false, error: 'Slack: 503', retry: true },
      { now: at(1000) },
    );
    expect(failed.action).toBeUndefined();
    expect(failed.state.approvals.at(-1)).toMatchObject({ notified: false, notifyError: 'Slack: 503' });
    expect(failed.state.hold?.reason).toMatch(/the request could not be sent: Slack: 503; decide with revroll approve/);
    expect(failed.wakeAt).toEqual(at(1000 + 5 * 60_000));
    expect(decide(p, failed.state, undefined, { now: at(2000), resumed: true }).action).toBeUndefined();
    // Five minutes later it is sent again; a success clears the error.
    const again = decide(p, failed.state, undefined, { now: at(1000 + 5 * 60_000) });
    expect(again.action?.type).toBe('request-approval');
    const sent = decide(p, again.state, { type: 'approval-requested', delivered: true }, { now: at(400_000) });
    expect(sent.state.approvals.at(-1)?.notified).toBe(true);
    expect(sent.state.approvals.at(-1)?.notifyError).toBeUndefined();
  });

  it('never sends again what cannot be delivered (no channel configured)', () => {
    const asked = toRequest();
    const failed = decide(
      p,
      asked.state,
      { type: 'approval-requested', delivered: false, error: 'no channel', retry: false },
      { now: at(1000) },
    );
    expect(failed.state.approvals.at(-1)).toMatchObject({ notified: false, notifyError: 'no channel' });
    expect(decide(p, failed.state, undefined, { now: at(30 * 60_000), resumed: true }).action).toBeUndefined();
  });
});

describe('decide: holds say why', () => {
  it('an inconclusive bake held for approval names what was missing, not only that it waits', () => {
    const p = policy('  approvals: {onInconclusive: true, timeout: 1h}\n');
    const noData = (d: Decision): Observation | undefined =>
      d.action?.type === 'measure' && d.action.mode === 'bake'
        ? {
            type: 'measure',
            measurements: [
              { check: 'errors', wave: { kind: 'error', reason: 'Prometheus unreachable: connect ECONNREFUSED' } },
            ],
          }
        : ok(d);
    let d = drive(p, start(p), T0, noData);
    for (let t = 5_000; t <= 60_000 && d.state.hold?.kind !== 'approval'; t += 5_000)
      d = drive(p, d.state, at(t), noData);
    expect(d.state.hold?.kind).toBe('approval');
    expect(d.state.hold?.reason).toMatch(
      /^gates inconclusive for wave one: .*Prometheus unreachable.*; waiting for approval of wave\/one\/bake until /,
    );
  });
});
