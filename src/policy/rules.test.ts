import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadPolicyText } from './load.ts';
import { POLICY_RULES } from './rules.ts';
import type { PolicyInput } from './types.ts';

/** A valid policy as plain data; each case changes a copy of it. */
function basePolicy(): PolicyInput {
  return {
    apiVersion: 'revroll.dev/v1alpha1',
    kind: 'UpgradePolicy',
    metadata: { name: 'rules' },
    spec: {
      revisions: { from: '1-24-3', to: '1-25-1' },
      waves: [
        { name: 'one', namespaces: { names: ['a', 'b'] } },
        { name: 'two', namespaces: { percent: 100 } },
      ],
      gates: { checks: [{ name: 'errors', preset: 'proxy-5xx-ratio', threshold: { max: 0.01 } }] },
      prometheus: { url: 'http://prometheus:9090' },
    },
  };
}

function load(change: (policy: PolicyInput) => void) {
  const policy = basePolicy();
  change(policy);
  return loadPolicyText(stringify(policy), 'rules.yaml');
}

type Case = [rule: string, severity: 'error' | 'warning', path: string, change: (policy: PolicyInput) => void];

const cases: Case[] = [
  ['distinct-revisions', 'error', 'spec.revisions.to', (p) => (p.spec.revisions.to = '1-24-3')],
  ['target-revision', 'error', 'spec.revisions.to', (p) => (p.spec.revisions.to = 'auto')],
  ['target-revision', 'error', 'spec.revisions.to', (p) => (p.spec.revisions.to = 'default')],
  ['unique-wave-names', 'error', 'spec.waves[1].name', (p) => (p.spec.waves[1]!.name = 'one')],
  [
    'disjoint-wave-namespaces',
    'error',
    'spec.waves[1].namespaces.names[0]',
    (p) => (p.spec.waves[1]!.namespaces = { names: ['b'] }),
  ],
  [
    'disjoint-wave-namespaces',
    'error',
    'spec.waves[0].namespaces.names[1]',
    (p) => (p.spec.waves[0]!.namespaces.names = ['a', 'a']),
  ],
  [
    'excluded-namespace-in-wave',
    'warning',
    'spec.waves[0].namespaces.names[1]',
    (p) => (p.spec.workloads = { exclude: { namespaces: ['b'] } }),
  ],
  ['tags-strategy', 'error', 'spec.strategy', (p) => (p.spec.strategy = { type: 'tags', canaryTag: 'prod-canary' })],
  [
    'tags-strategy',
    'error',
    'spec.strategy.canaryTag',
    (p) => (p.spec.strategy = { type: 'tags', stableTag: 'prod', canaryTag: 'prod' }),
  ],
  ['tags-strategy', 'warning', 'spec.strategy', (p) => (p.spec.strategy = { stableTag: 'prod' })],
  ['tags-are-not-revisions', 'error', 'spec.promote.tags[0]', (p) => (p.spec.promote = { tags: ['1-25-1'] })],
  ['unique-promote-tags', 'error', 'spec.promote.tags[1]', (p) => (p.spec.promote = { tags: ['default', 'default'] })],
  [
    'unique-check-names',
    'error',
    'spec.gates.checks[1].name',
    (p) => p.spec.gates!.checks!.push({ name: 'errors', preset: 'proxy-p99-latency', threshold: { max: 1 } }),
  ],
  [
    'baseline-required',
    'error',
    'spec.gates.checks[0].threshold.maxRatio',
    (p) => (p.spec.gates!.checks![0]!.threshold = { maxRatio: 1.2 }),
  ],
  [
    'baseline-required',
    'warning',
    'spec.gates.checks[0].baseline',
    (p) => (p.spec.gates!.checks![0]!.baseline = 'cohort'),
  ],
  [
    'threshold-range',
    'error',
    'spec.gates.checks[0].threshold.min',
    (p) => (p.spec.gates!.checks![0]!.threshold = { min: 2, max: 1 }),
  ],
  ['enforced-gates', 'warning', 'spec.gates', (p) => (p.spec.gates!.checks![0]!.shadow = true)],
  ['install-mode-fields', 'error', 'spec.install.args', (p) => (p.spec.install = { args: ['install'] })],
  ['install-mode-fields', 'error', 'spec.install', (p) => (p.spec.install = { mode: 'helm' })],
  [
    'window-shape',
    'error',
    'spec.schedule.windows[0].end',
    (p) => (p.spec.schedule = { cron: '0 1 * * *', windows: [{ start: '01:00', end: '01:00' }] }),
  ],
  [
    'freeze-order',
    'error',
    'spec.schedule.freeze[0].to',
    (p) => (p.spec.schedule = { cron: '0 1 * * *', freeze: [{ from: '2025-12-20', to: '2025-12-19', reason: 'x' }] }),
  ],
  [
    'waves-fit-windows',
    'error',
    'spec.waves[0].bake',
    (p) => {
      p.spec.waves[0]!.bake = '2h';
      p.spec.schedule = { cron: '0 1 * * *', windows: [{ start: '23:30', end: '01:00' }] };
    },
  ],
  ['slack-settings', 'error', 'spec.notify.slack', (p) => (p.spec.notify = { slack: { channel: '#x' } })],
  [
    'slack-settings',
    'error',
    'spec.notify.slack.approvers',
    (p) => (p.spec.notify = { slack: { channel: '#x', botToken: { env: 'T' }, approvers: { users: ['U012'] } } }),
  ],
  [
    'no-credential-headers',
    'error',
    'spec.prometheus.headers.Authorization',
    (p) => (p.spec.prometheus!.headers = { Authorization: 'Bearer x' }),
  ],
  ['prometheus-for-gates', 'warning', 'spec', (p) => delete p.spec.prometheus],
  [
    'prometheus-for-gates',
    'warning',
    'spec.prometheus.tls.insecureSkipVerify',
    (p) => (p.spec.prometheus!.tls = { insecureSkipVerify: true }),
  ],
  [
    'unique-gateways',
    'error',
    'spec.gateways[1].name',
    (p) => (p.spec.gateways = [{ name: 'gw' }, { name: 'gw', namespace: 'istio-system' }]),
  ],
];

describe('src/policy/rules', () => {
  it('the base policy is valid without warnings', () => {
    const result = load(() => undefined);
    expect(result.problems).toEqual([]);
    expect(result.warnings).toEqual([]);
    expect(result.policy?.metadata.name).toBe('rules');
  });

  it.each(cases)('%s reports a %s at %s', (rule, severity, path, change) => {
    const result = load(change);
    const list = severity === 'error' ? result.problems : result.warnings;
    const found = list.find((problem) => problem.rule === rule);
    expect(found, JSON.stringify(list)).toBeDefined();
    expect(found?.path).toBe(path);
    expect(found?.location?.file).toBe('rules.yaml');
    expect(found?.location?.line).toBeGreaterThan(0);
    expect(result.policy === undefined).toBe(severity === 'error');
  });

  it('every rule has a case above', () => {
    const covered = new Set(cases.map(([rule]) => rule));
    expect(POLICY_RULES.map((rule) => rule.rule).filter((rule) => !covered.has(rule))).toEqual([]);
  });

  it('accepts the window-crossing-midnight form and the tags strategy when complete', () => {
    const result = load((p) => {
      p.spec.strategy = { type: 'tags', stableTag: 'prod-stable', canaryTag: 'prod-canary' };
      p.spec.schedule = { cron: '0 23 * * *', timeZone: 'Europe/Paris', windows: [{ start: '23:00', end: '05:00' }] };
    });
    expect(result.problems).toEqual([]);
    expect(result.policy?.spec.schedule?.windows[0]).toMatchObject({ startMinute: 1380, endMinute: 300 });
  });
});
