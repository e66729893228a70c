import { describe, expect, it } from 'vitest';
import type { RunState } from '../engine/state.ts';
import { loadPolicyText } from '../policy/load.ts';
import { buildReport } from './build.ts';
import { limitsAt } from './charts.ts';
import { decodeGateEvaluation, encodeGateEvaluation, GATE_RESULTS_ANNOTATION, HOLD_ANNOTATION } from './evaluations.ts';
import type { ReportInput, RunEventRecord } from './input.ts';
import { escapeHtml, renderMain, renderReportHtml, scriptJson } from './render-html.ts';
import { renderReportMarkdown } from './render-md.ts';

const t = (s: number) => new Date(Date.UTC(2026, 2, 10, 2, 0, s)).toISOString();

function state(overrides: Partial<RunState> = {}): RunState {
  return {
    version: 1,
    policy: 'nightly',
    runId: '20260310-abc123',
    planHash: 'h',
    from: '1-24-3',
    to: '1-25-1',
    phase: 'Held',
    startedAt: t(0),
    updatedAt: t(40),
    cursor: 3,
    steps: [
      { id: 'precheck', kind: 'precheck' },
      { id: 'wave/canary/migrate', kind: 'migrate', wave: 0 },
      { id: 'wave/canary/bake', kind: 'bake', wave: 0 },
      { id: 'wave/canary/approval', kind: 'approval', wave: 0, point: 'wave' },
      { id: 'promote/tags', kind: 'promote-tags' },
    ],
    records: [
      { id: 'precheck', kind: 'precheck', status: 'done', startedAt: t(0), finishedAt: t(1), note: 'cluster ready' },
      {
        id: 'wave/canary/migrate',
        kind: 'migrate',
        wave: 0,
        status: 'done',
        startedAt: t(1),
        finishedAt: t(2),
        note: '<b>labelled</b> 2',
      },
      { id: 'wave/canary/bake', kind: 'bake', wave: 0, status: 'done', startedAt: t(10), finishedAt: t(30) },
      { id: 'wave/canary/approval', kind: 'approval', wave: 0, point: 'wave', status: 'running', startedAt: t(30) },
      { id: 'promote/tags', kind: 'promote-tags', status: 'pending' },
    ],
    waves: ['canary'],
    namespaces: {
      shop: { wave: 0, injection: 'enabled', moved: true },
      cart: { wave: 0, rev: 'prod-stable', moved: true, pinned: true },
      later: { wave: 0, rev: '1-24-3' },
    },
    gateways: [
      { namespace: 'istio-system', name: 'ingress', original: '1-24-3', upgrade: 'onPromote', mode: 'relabel' },
    ],
    tags: [{ tag: 'default', original: '1-24-3', target: '1-25-1' }],
    approvals: [
      { step: 'wave/canary/approval', point: 'wave', requestedAt: t(30), expiresAt: t(3630), notified: true },
    ],
    gates: {
      wave: 0,
      baseline: { errors: 0.01 },
      failures: {},
      consecutiveErrors: {},
      evaluations: 3,
      recent: [
        { at: t(30), results: [{ check: 'errors', outcome: 'Pass', value: 0.012, baseline: 0.01, message: 'ok' }] },
      ],
    },
    hold: { kind: 'approval', reason: 'waiting for approval of wave canary', since: t(30) },
    ...overrides,
  };
}

function event(
  reason: string,
  at: string,
  object: RunEventRecord['object'],
  annotations = {},
  message = '',
): RunEventRecord {
  return { reason, message, type: 'Normal', at, object, annotations };
}

const cm = { kind: 'ConfigMap', namespace: 'revroll-system', name: 'revroll-nightly' };
const evaluation = (s: number, value: number, outcome: 'Pass' | 'Fail') =>
  event('RevrollGateEvaluation', t(s), cm, {
    [GATE_RESULTS_ANNOTATION]: encodeGateEvaluation({
      wave: 0,
      evaluation: s / 10,
      at: t(s),
      results: [
        { check: 'errors', outcome, value, baseline: 0.01, message: outcome === 'Pass' ? 'ok' : '0.5 > max 0.05' },
      ],
    }),
  });

const policy = loadPolicyText(
  `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: nightly}
spec:
  revisions: {from: 1-24-3, to: 1-25-1}
  waves: [{name: canary, namespaces: {names: [shop, cart, later]}}]
  gates:
    checks:
      - {name: errors, preset: proxy-5xx-ratio, threshold: {max: 0.05, maxIncrease: 0.02}, baseline: before}
`,
  'nightly.yaml',
).policy;

function input(overrides: Partial<ReportInput> = {}): ReportInput {
  return {
    generatedAt: new Date(t(50)),
    policy: 'nightly',
    runId: '20260310-abc123',
    state: state(),
    events: {
      ok: true,
      selector: 'revroll.dev/run-id=20260310-abc123',
      items: [
        event('RevrollMigrated', t(2), { kind: 'Namespace', name: 'shop' }),
        event('RevrollRestarted', t(3), { kind: 'Deployment', namespace: 'shop', name: 'web' }),
        event('RevrollRestarted', t(3), { kind: 'Deployment', namespace: 'shop', name: 'api' }),
        evaluation(10, 0.011, 'Pass'),
        evaluation(20, 0.5, 'Fail'),
        event('RevrollHeld', t(15), cm, {
          [HOLD_ANNOTATION]: JSON.stringify({
            kind: 'error',
            reason: 'Prometheus down',
            since: t(15),
            step: 'wave/canary/bake',
          }),
        }),
        event('RevrollHeld', t(16), cm, { [HOLD_ANNOTATION]: 'not json' }),
      ],
    },
    gates: { interval: 10_000, warmup: 0, checks: policy?.spec.gates.checks ?? [] },
    series: { ok: false, reason: 'Prometheus unreachable: connect ECONNREFUSED' },
    ...overrides,
  };
}

describe('src/report/build', () => {
  it('groups steps by part of the run, with durations, notes and the current step', () => {
    const model = buildReport(input());
    expect(model.groups.map((g) => [g.id, g.steps.map((s) => s.id)])).toEqual([
      ['before', ['precheck']],
      ['wave-0', ['wave/canary/migrate', 'wave/canary/bake', 'wave/canary/approval']],
      ['promotion', ['promote/tags']],
    ]);
    expect(model.groups[1]).toMatchObject({ title: 'Wave canary', startedAt: t(1), finishedAt: t(30) });
    expect(model.groups[1]?.steps[2]).toMatchObject({ status: 'running', current: true, label: 'approval' });
    expect(model.progress).toEqual({ finished: 3, total: 5 });
    expect(model.outcome).toEqual({ status: 'held', summary: 'held (approval): waiting for approval of wave canary' });
    expect(model.currentStep).toBe('wave/canary/approval');
  });

  it('lists past holds from RevrollHeld Events and the current one from the state', () => {
    const model = buildReport(input());
    expect(model.holds).toEqual([
      { kind: 'error', reason: 'Prometheus down', since: t(15), until: t(30), step: 'wave/canary/bake', active: false },
      {
        kind: 'approval',
        reason: 'waiting for approval of wave canary',
        since: t(30),
        step: 'wave/canary/approval',
        active: true,
      },
    ]);
  });

  it('charts every evaluation (Events and state) with the baseline, the effective limit and the outcomes', () => {
    const [chart, ...rest] = buildReport(input()).gates;
    expect(rest).toEqual([]);
    expect(chart?.x).toEqual([t(10), t(20), t(30)].map((s) => Date.parse(s) / 1000));
    expect(chart?.valueSource).toBe('evaluations');
    expect(chart?.series.map((s) => [s.id, s.points])).toEqual([
      ['value', [0.011, 0.5, 0.012]],
      ['baseline', [0.01, 0.01, 0.01]],
      ['threshold-max', [0.03, 0.03, 0.03]],
      ['eval-pass', [0.011, null, 0.012]],
      ['eval-fail', [null, 0.5, null]],
    ]);
    expect(chart?.evaluations.map((e) => [e.outcome, e.upper])).toEqual([
      ['Pass', 0.03],
      ['Fail', 0.03],
      ['Pass', 0.03],
    ]);
    expect(chart?.summary).toBe(
      'Gate errors in wave canary: 3 evaluation(s) (2 Pass, 1 Fail); value from 0.011 to 0.5 (from the recorded evaluations); threshold max 0.05, at most 0.02 over the baseline.',
    );
    expect(chart?.seriesNote).toBe('Prometheus unreachable: connect ECONNREFUSED');
  });

  it('prefers Prometheus series over the evaluations for the value and the baseline', () => {
    const s0 = Date.parse(t(10)) / 1000;
    const model = buildReport(
      input({
        series: {
          ok: true,
          queries: 1,
          failures: [],
          items: [
            {
              wave: 0,
              check: 'errors',
              subject: 'value',
              points: [
                [s0, 0.02],
                [s0 + 5, 0.04],
              ],
            },
          ],
        },
      }),
    );
    const chart = model.gates[0];
    expect(chart?.valueSource).toBe('prometheus');
    expect(chart?.x.length).toBe(4);
    expect(chart?.series[0]?.points).toEqual([0.02, 0.04, null, null]);
    expect(model.sources.find((s) => s.kind === 'prometheus')).toEqual({
      kind: 'prometheus',
      ok: true,
      text: 'Prometheus: 1 range query',
    });
  });

  it('tells namespaces, gateways and tags apart by what happened to them', () => {
    const model = buildReport(input());
    expect(
      model.namespaces.map((n) => [n.name, n.labelsBefore, n.status, n.revisionAfter, n.restarted, n.movedAt]),
    ).toEqual([
      ['cart', 'istio.io/rev=prod-stable', 'pinned', '1-24-3', 0, undefined],
      ['later', 'istio.io/rev=1-24-3', 'not moved', '1-24-3', 0, undefined],
      ['shop', 'istio-injection=enabled', 'moved', '1-25-1', 2, t(2)],
    ]);
    expect(model.gateways).toEqual([
      {
        namespace: 'istio-system',
        name: 'ingress',
        upgrade: 'onPromote',
        revisionBefore: '1-24-3',
        revisionAfter: '1-24-3',
        moved: false,
      },
    ]);
    expect(model.tags).toEqual([{ tag: 'default', before: '1-24-3', after: '1-24-3', target: '1-25-1', moved: false }]);
    expect(model.approvals).toEqual([
      { step: 'wave/canary/approval', point: 'wave', requestedAt: t(30), expiresAt: t(3630) },
    ]);
    expect(model.activity.byReason).toContainEqual({ reason: 'RevrollHeld', count: 2 });
    expect(model.activity.total).toBe(7);
  });

  it('without the policy, shows what was recorded and says thresholds are unknown', () => {
    const { gates: _dropped, ...rest } = input();
    const model = buildReport(rest);
    expect(model.gates[0]?.series.map((s) => s.id)).toEqual(['value', 'baseline', 'eval-pass', 'eval-fail']);
    expect(model.gates[0]?.thresholdText).toBeUndefined();
    expect(model.sources.some((s) => s.kind === 'policy' && !s.ok)).toBe(true);
  });

  it('escapes every text from the run in HTML and Markdown', () => {
    const hostile = state({ outcome: '</script><script>alert(1)</script> | x', phase: 'Failed' });
    const model = buildReport(input({ state: hostile }));
    const main = renderMain(model);
    expect(main).not.toContain('<b>labelled</b>');
    expect(main).toContain('&lt;b&gt;labelled&lt;/b&gt;');
    expect(main).not.toContain('<script>');
    const assets = { uplotJs: 'var uPlot=function(){};', uplotCss: '', uplotLicense: 'MIT */ end' };
    const html = renderReportHtml(model, { assets, version: 'test' });
    // The licence comment cannot close itself early, and data cannot close its script tag.
    expect(html).toContain('MIT * / end');
    expect(scriptJson({ a: '</script><!--' })).toBe('{"a":"\\u003c/script\\u003e\\u003c!--"}');
    expect(escapeHtml(`"'<&>`)).toBe('&quot;&#39;&lt;&amp;&gt;');
    const md = renderReportMarkdown(model);
    expect(md).toContain('&lt;/script>&lt;script>alert(1)&lt;/script> \\| x');
  });

  it('round-trips gate evaluations through their annotation, infinities included, and refuses garbage', () => {
    const text = encodeGateEvaluation({
      wave: 1,
      evaluation: 2,
      at: t(5),
      results: [
        {
          check: 'p99',
          outcome: 'Fail',
          value: Number.POSITIVE_INFINITY,
          baseline: null,
          shadow: true,
          message: 'x'.repeat(400),
        },
      ],
    });
    const decoded = decodeGateEvaluation(text);
    expect(decoded?.results[0]).toMatchObject({ value: Number.POSITIVE_INFINITY, baseline: null, shadow: true });
    expect(decoded?.results[0]?.message.length).toBe(300);
    for (const bad of ['', '{', '{"v":2}', JSON.stringify({ v: 1, wave: -1, evaluation: 1, at: t(1), results: [] })])
      expect(decodeGateEvaluation(bad)).toBeUndefined();
  });

  it('computes the tightest limit as the judge does', () => {
    expect(limitsAt({ max: 0.05, maxIncrease: 0.02, maxRatio: 2 }, 0.01)).toEqual({ upper: 0.02 });
    expect(limitsAt({ maxRatio: 2 }, null)).toEqual({});
    expect(limitsAt({ min: 1 }, undefined)).toEqual({ lower: 1 });
  });

  it('the policy field dashboardUrl takes an absolute http(s) URL only', () => {
    const text = (url: string) =>
      `apiVersion: revroll.dev/v1alpha1\nkind: UpgradePolicy\nmetadata: {name: n}\nspec:\n  revisions: {from: a, to: b}\n  waves: [{name: w, namespaces: {names: [x]}}]\n  notify: {dashboardUrl: "${url}"}\n`;
    expect(loadPolicyText(text('https://revroll.example.com'), 'p.yaml').policy?.spec.notify.dashboardUrl).toBe(
      'https://revroll.example.com',
    );
    for (const bad of ['revroll.example.com', 'ftp://x', 'https://user:pw@x'])
      expect(loadPolicyText(text(bad), 'p.yaml').problems.map((p) => p.path)).toEqual(['spec.notify.dashboardUrl']);
  });
});
