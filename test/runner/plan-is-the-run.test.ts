/**
 * `revroll plan` is the run, not a description of it (issue 13 item 6): every example policy in
 * policies/ is planned and then run through the CLI on the sandbox scenario it is written for,
 * and the writes the sandbox's API server received (its request log: verb, resource, namespace,
 * name) are exactly the writes of the plan's mutation list, step by step in order.
 *
 * What is compared: successful writes (create, update, patch, delete) less the run's own
 * bookkeeping (its state ConfigMap, its Lease, its Events, and the access reviews of the
 * precheck); reads are left out. Within a step writes may land in any order (namespaces are
 * labelled and workloads restarted concurrently), so each step's writes are compared as a
 * multiset, the steps in order.
 *
 * How the policies are made runnable here, none of it touching what the run writes: bakes and
 * warm-ups (the gateways wave's too) are cut to 100 ms; gates, Prometheus, Slack and the schedule are dropped (gates only
 * read, and their baseline steps write nothing); an istioctl install becomes `external` (the
 * scenario has the new revision installed already, and the installer's writes are its own);
 * approvals are granted with `revroll approve` whenever a run holds for one.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { loadScenario, type ScenarioInput } from '@revroll/sandbox';
import type { PlannedMutation } from '../../src/engine/simulate.ts';
import { createHarness, harnessCli, smallScenario, STATE_NS, type Harness } from '../helpers/runner-harness.ts';

const POLICIES = fileURLToPath(new URL('../../policies/', import.meta.url));

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const cli = harnessCli;

/** The nightly policy's cluster: its named and selected namespaces, an excluded ledger, its gateway in istio-ingress. */
function nightlyScenario(): ScenarioInput {
  return smallScenario({
    name: 'nightly',
    istio: {
      revisions: [
        { name: '1-24-3', version: '1.24.3', replicas: 1 },
        { name: '1-25-1', version: '1.25.1', replicas: 1 },
      ],
      tags: { default: '1-24-3' },
      gateways: [{ name: 'istio-ingressgateway', namespace: 'istio-ingress', revision: '1-24-3', replicas: 1 }],
    },
    namespaces: [
      { name: STATE_NS },
      { name: 'istio-ingress' },
      { name: 'catalog', labels: { 'istio-injection': 'enabled' }, workloads: [{ name: 'catalog', replicas: 2 }] },
      { name: 'reviews', labels: { 'istio.io/rev': '1-24-3' }, workloads: [{ name: 'reviews', replicas: 1 }] },
      {
        name: 'ratings',
        labels: { 'istio-injection': 'enabled' },
        workloads: [
          { name: 'ratings', replicas: 1 },
          { kind: 'StatefulSet', name: 'cache', replicas: 2 },
        ],
      },
      {
        name: 'orders',
        labels: { 'istio-injection': 'enabled', tier: 'business' },
        workloads: [{ name: 'orders', replicas: 2 }],
      },
      {
        name: 'payments',
        labels: { 'istio.io/rev': '1-24-3', tier: 'business', criticality: 'high' },
        workloads: [
          { name: 'payments-api', replicas: 2 },
          { kind: 'StatefulSet', name: 'ledger', replicas: 1 },
        ],
      },
      {
        name: 'search',
        labels: { 'istio-injection': 'enabled' },
        workloads: [
          { name: 'search', replicas: 1 },
          { kind: 'DaemonSet', name: 'indexer' },
        ],
      },
    ],
  });
}

/** Each example policy and the scenario it is written for. */
const CASES: Record<string, { scenario: () => ScenarioInput | 'demo'; name: string }> = {
  'demo.yaml': { scenario: () => 'demo', name: 'demo' },
  'minimal.yaml': { scenario: () => 'demo', name: 'minimal' },
  'nightly.yaml': { scenario: nightlyScenario, name: 'nightly-1-25' },
  'tags.yaml': { scenario: () => smallScenario(), name: 'prod-tags' },
  'gateway-api.yaml': {
    scenario: () => ({ ...loadScenario('gateway-api'), startLatencyMs: 20 }) as unknown as ScenarioInput,
    name: 'gateway-api',
  },
};

type Doc = { spec: Record<string, unknown> & { waves: Record<string, unknown>[] } };

/** The example policy, runnable here (see the module comment); everything that writes is as shipped. */
function runnable(harness: Harness, file: string, edit?: (doc: Doc) => void): string {
  const doc = parse(readFileSync(join(POLICIES, file), 'utf8')) as Doc;
  edit?.(doc);
  for (const wave of doc.spec.waves) wave['bake'] = '100ms';
  doc.spec['gates'] = { warmup: '100ms', checks: [] };
  doc.spec['gatewayApi'] = { ...(doc.spec['gatewayApi'] as object), bake: '100ms', warmup: '100ms', gates: [] };
  for (const key of ['prometheus', 'notify', 'schedule']) delete doc.spec[key];
  const install = doc.spec['install'] as Record<string, unknown> | undefined;
  if (install && install['mode'] !== 'external') doc.spec['install'] = { mode: 'external' };
  const out = join(dirname(harness.kubeconfigFile), file);
  writeFileSync(out, stringify(doc));
  return out;
}

/** A write as one comparable line. */
const line = (w: {
  verb: string;
  group: string;
  resource: string;
  namespace?: string;
  name?: string;
  subresource?: string;
}) =>
  `${w.verb} ${w.group ? `${w.resource}.${w.group}` : w.resource}${w.subresource ? `/${w.subresource}` : ''} ${w.namespace ? `${w.namespace}/` : ''}${w.name ?? '(no name)'}`;

/** The run's own bookkeeping, not a mutation of the mesh. */
function bookkeeping(r: { group: string; resource: string; namespace?: string }): boolean {
  if (r.resource === 'events' || r.resource === 'leases') return true;
  if (r.resource === 'selfsubjectaccessreviews' || r.resource === 'subjectaccessreviews') return true;
  return r.group === '' && r.resource === 'configmaps' && r.namespace === STATE_NS;
}

const WRITES = new Set(['create', 'update', 'patch', 'delete']);

/** The plan's writes, by step in order; and the writes received, cut into the same steps. */
function compare(mutations: PlannedMutation[], received: string[]) {
  const steps: { step: string; writes: string[] }[] = [];
  for (const m of mutations) {
    if (m.writes.length === 0) continue;
    const last = steps.at(-1);
    const group = last?.step === m.step ? last : { step: m.step, writes: [] as string[] };
    if (group !== last) steps.push(group);
    group.writes.push(...m.writes.map(line));
  }
  let at = 0;
  const actual = steps.map(({ step, writes }) => {
    const slice = received.slice(at, at + writes.length);
    at += writes.length;
    return { step, writes: [...slice].sort() };
  });
  return {
    expected: steps.map(({ step, writes }) => ({ step, writes: [...writes].sort() })),
    actual,
    unplanned: received.slice(at),
  };
}

describe('revroll plan is the run: the writes the sandbox received are the plan’s', () => {
  const files = readdirSync(POLICIES).filter((f) => f.endsWith('.yaml'));

  it('covers every example policy', () => {
    expect(files.sort()).toEqual(Object.keys(CASES).sort());
  });

  type Run = { title: string; file: string; edit?: (doc: Doc) => void; expectDeleted?: string; expectRefused?: string };
  const runs: Run[] = [
    ...files.map((file): Run => ({ title: file, file })),
    // The one example whose scenario lets an uninstall go through (nothing else references 1-24-3).
    {
      title: 'demo.yaml with promote.uninstallPrevious: true',
      file: 'demo.yaml',
      edit: (doc: Doc) => void (doc.spec['promote'] = { tags: ['default'], uninstallPrevious: true }),
      expectDeleted: 'delete deployments.apps istio-system/istiod-1-24-3',
    },
    // Its last wave dropped: the namespaces it moved keep the old proxies, so the uninstall is refused, deleting nothing.
    {
      title: 'demo.yaml with promote.uninstallPrevious: true and its last wave dropped',
      file: 'demo.yaml',
      edit: (doc: Doc) => {
        doc.spec['promote'] = { tags: ['default'], uninstallPrevious: true };
        doc.spec.waves = doc.spec.waves.slice(0, 2);
      },
      expectRefused: 'namespace shop-frontend follows 1-24-3 and no wave moves it',
    },
  ];

  it.each(runs)('$title', async ({ file, edit, expectDeleted, expectRefused }) => {
    const spec = CASES[file];
    if (!spec) throw new Error(`no scenario for policies/${file}: add it to CASES`);
    h = await createHarness(spec.scenario() as ScenarioInput);
    const policyFile = runnable(h, file, edit);

    const planned = await cli(h, ['plan', policyFile, '-o', 'json']);
    expect(planned.code, planned.err).toBe(0);
    const { mutations } = JSON.parse(planned.out) as { mutations: PlannedMutation[] };
    expect(mutations.length).toBeGreaterThan(0);

    h.sandbox.api.resetRequests();
    let run = await cli(h, ['run', policyFile]);
    for (let approvals = 0; run.code === 4 && approvals < 5; approvals++) {
      expect(run.err).toMatch(/revroll approve/);
      const approved = await cli(h, ['approve', spec.name, '--as', 'tester']);
      expect(approved.code, approved.err).toBe(0);
      run = await cli(h, ['run', policyFile]);
    }
    expect(run.code, run.err).toBe(0);

    const received = h.sandbox.api.requests
      .filter((r) => WRITES.has(r.verb) && r.status < 300 && !bookkeeping(r))
      .map(line);
    const { expected, actual, unplanned } = compare(mutations, received);
    expect(actual).toEqual(expected);
    expect(unplanned).toEqual([]);
    if (expectDeleted) expect(received.filter((w) => w === expectDeleted)).toHaveLength(1);
    if (expectRefused) {
      const refusal = mutations.find((m) => m.stepKind === 'uninstall');
      expect(refusal?.refused).toContain(expectRefused);
      expect(refusal?.writes).toEqual([]);
      const status = JSON.parse((await cli(h, ['status', spec.name, '-o', 'json'])).out) as {
        records: { kind: string; status: string }[];
      };
      expect(status.records.find((r) => r.kind === 'uninstall')?.status).toBe('skipped');
    }
  });
});
