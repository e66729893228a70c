/**
 * Safety promises an operator relies on, each tried against the sandbox through the CLI as a
 * user meets it (issue 12): where audit Events go, and that a lost one is never silent.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Resources, type KubeObject } from '../../src/ports/cluster.ts';
import { createConfigMapStateStore, createEventRecorder } from '../../src/adapters/kubernetes/state.ts';
import type { RunState } from '../../src/engine/state.ts';
import { planRestart, restartKey, toWorkload } from '../../src/mesh/workloads.ts';
import { createExecutor, requiredPermissions } from '../../src/runner/executor.ts';
import { createHarness, harnessCli, STATE_NS, type Harness } from '../helpers/runner-harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const POLICY = `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: safety}
spec:
  revisions: {from: auto, to: 1-25-1}
  waves:
    - {name: first, namespaces: {names: [alpha]}, bake: 100ms}
  gates: {warmup: 100ms}
`;

function writePolicy(harness: Harness, text = POLICY): string {
  const file = join(dirname(harness.kubeconfigFile), 'policy.yaml');
  writeFileSync(file, text);
  return file;
}

const cli = harnessCli;

describe('audit Events', () => {
  it('puts Events about cluster-scoped objects in default with no involvedObject.namespace', async () => {
    h = await createHarness();
    const file = writePolicy(h);
    expect((await cli(h, ['run', file])).code).toBe(0);
    const inDefault = await h.cluster.list(Resources.events, { namespace: 'default' });
    const migrated = inDefault.filter((e) => e['reason'] === 'RevrollMigrated');
    // Moved in the wave, then put back in its original label form on promotion.
    expect(migrated.map((e) => e['involvedObject'])).toEqual([
      { apiVersion: 'v1', kind: 'Namespace', name: 'alpha' },
      { apiVersion: 'v1', kind: 'Namespace', name: 'alpha' },
    ]);
    const tagMoved = inDefault.filter((e) => e['reason'] === 'RevrollTagMoved');
    expect(tagMoved.length).toBeGreaterThan(0);
    // Nothing about a cluster-scoped object is posted into the state namespace any more.
    const inState = await h.cluster.list(Resources.events, { namespace: STATE_NS });
    expect(inState.filter((e) => (e['involvedObject'] as { kind: string }).kind === 'Namespace')).toEqual([]);
    // Namespaced objects keep their Events in their own namespace.
    const restarted = await h.cluster.list(Resources.events, { namespace: 'alpha' });
    expect(restarted.some((e) => e['reason'] === 'RevrollRestarted')).toBe(true);
  });

  it('counts Events the API server refuses: the run goes on, the state and `revroll status` say so', async () => {
    h = await createHarness();
    const file = writePolicy(h);
    h.sandbox.faults.apply({ api: { errorRate: 1, codes: [409], verbs: ['create'], resources: ['events'] } });
    expect((await cli(h, ['run', file])).code).toBe(0);
    h.sandbox.faults.apply({ api: null });
    const status = await cli(h, ['status', 'safety']);
    expect(status.code).toBe(0);
    expect(status.out).toMatch(/warning: \d+ audit Event\(s\) were not recorded by the API server \(last: /);
    const json = JSON.parse((await cli(h, ['status', 'safety', '-o', 'json'])).out) as {
      audit?: { eventsLost: number };
    };
    expect(json.audit?.eventsLost).toBeGreaterThanOrEqual(3);
  });
});

describe('a step that keeps failing holds (invariant 6)', () => {
  const budgetPolicy = (extra = '') => `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: budget}
spec:
  revisions: {from: auto, to: 1-25-1}
  waves:
    - {name: first, namespaces: {names: [alpha]}, bake: 100ms, approval: {required: true, timeout: 1h}}
    - {name: second, namespaces: {names: [charlie]}, bake: 100ms}
  gates: {warmup: 100ms}
  errorBudget: {attempts: 3, backoff: 50ms}
${extra}`;

  it('holds with exit 4 after the budget when the precheck keeps failing, then resumes on the next run', async () => {
    h = await createHarness();
    const file = writePolicy(h, budgetPolicy());
    // Every permission check fails: the precheck cannot complete, however often it is tried.
    h.sandbox.faults.apply({
      api: {
        errorRate: 1,
        codes: [409],
        verbs: ['create'],
        resources: ['selfsubjectaccessreviews.authorization.k8s.io'],
      },
    });
    h.sandbox.api.resetRequests();
    const held = await cli(h, ['run', file]);
    expect(held.code).toBe(4);
    expect(held.err).toMatch(
      /^held: precheck failed 3 time\(s\) in a row \(spec\.errorBudget\.attempts\); last error: .*; run revroll again to retry from this step$/m,
    );
    const reviews = h.sandbox.api.requests.filter((r) => r.resource === 'selfsubjectaccessreviews');
    // Three attempts of the precheck, each asking once per permission with the client's own
    // retries (8 tries at most): bounded, no retry storm.
    const perAttempt = requiredPermissions(h.policy(budgetPolicy()), STATE_NS).length;
    expect(reviews.length).toBeGreaterThanOrEqual(3 * perAttempt);
    expect(reviews.length).toBeLessThanOrEqual(3 * perAttempt * 8);
    const status = await cli(h, ['status', 'budget']);
    expect(status.out).toMatch(/held \(error\) since .*: precheck failed 3 time\(s\) in a row/);
    h.sandbox.faults.apply({ api: null });
    // The next invocation gets a fresh budget and goes on from the precheck.
    const next = await cli(h, ['run', file]);
    expect(next.code).toBe(4);
    expect(next.err).toMatch(/waiting for approval of wave\/first\/approval/);
  });

  it('holds mid-wave when every namespace patch fails, names the step, and resumes once the API heals', async () => {
    h = await createHarness();
    const file = writePolicy(h, budgetPolicy());
    expect((await cli(h, ['run', file])).code).toBe(4); // wave first done, approval pending
    expect((await cli(h, ['approve', 'budget'])).code).toBe(0);
    h.sandbox.faults.apply({ api: { errorRate: 1, codes: [500], verbs: ['patch'], resources: ['namespaces'] } });
    const held = await cli(h, ['run', file]);
    expect(held.code).toBe(4);
    expect(held.err).toMatch(/^held: wave\/second\/migrate failed 3 time\(s\) in a row .*last error: .*500/m);
    expect((await h.namespaceLabels('charlie'))['istio-injection']).toBe('enabled');
    h.sandbox.faults.apply({ api: null });
    const done = await cli(h, ['run', file]);
    expect(done.code, done.err).toBe(0);
    expect((await h.namespaceLabels('charlie'))['istio-injection']).toBe('enabled'); // restored form after promotion
    expect(await h.podRevisions('charlie')).toContain('1-25-1');
  });
});

describe('stored state is never trusted past its validity (invariant 8)', () => {
  const MUTATING = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);
  const twoWaves = `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: edited}
spec:
  revisions: {from: auto, to: 1-25-1}
  waves:
    - {name: first, namespaces: {names: [alpha]}, bake: 100ms, approval: {required: true, timeout: 1h}}
    - {name: last, namespaces: {names: [charlie]}, bake: 100ms}
  gates: {warmup: 100ms}
`;

  async function editState(harness: Harness, edit: (doc: Record<string, unknown>) => void): Promise<void> {
    const store = createConfigMapStateStore(harness.cluster, STATE_NS);
    const stored = await store.load('edited');
    if (!stored) throw new Error('no stored state');
    edit(stored.document);
    await store.save('edited', stored.document, stored.version);
  }

  it('refuses a cursor edited past the last step: exit 1, the ConfigMap named, nothing changed', async () => {
    h = await createHarness();
    const file = writePolicy(h, twoWaves);
    expect((await cli(h, ['run', file])).code).toBe(4);
    await editState(h, (doc) => {
      doc['cursor'] = (doc['steps'] as unknown[]).length;
    });
    h.sandbox.api.resetRequests();
    const run = await cli(h, ['run', file]);
    expect(run.code).toBe(1);
    expect(run.out).not.toMatch(/promoted/);
    expect(run.err).toMatch(
      /^error: the run state in ConfigMap revroll-system\/revroll-edited is not valid, so revroll will not act on it \(nothing was changed\): .*cursor: at the end of the steps, but the phase is Held/m,
    );
    expect(h.sandbox.api.requests.filter((r) => MUTATING.has(r.verb))).toEqual([]);
    const status = await cli(h, ['status', 'edited']);
    expect(status.code).toBe(1);
    expect(status.out).not.toMatch(/Promoted/);
    // The last wave never moved.
    expect((await h.namespaceLabels('charlie'))['istio-injection']).toBe('enabled');
  });

  it('refuses a Promoted phase the records do not show, and a step list the plan does not make', async () => {
    h = await createHarness();
    const file = writePolicy(h, twoWaves);
    expect((await cli(h, ['run', file])).code).toBe(4);
    const original = await createConfigMapStateStore(h.cluster, STATE_NS).load('edited');
    await editState(h, (doc) => {
      doc['phase'] = 'Promoted';
      doc['cursor'] = (doc['steps'] as unknown[]).length;
    });
    const promoted = await cli(h, ['run', file]);
    expect(promoted.code).toBe(1);
    expect(promoted.err).toMatch(/phase: Promoted, but step wave\/first\/approval is running/);
    await editState(h, (doc) => {
      Object.assign(doc, structuredClone(original?.document));
      const steps = doc['steps'] as { id: string }[];
      const records = doc['records'] as { id: string }[];
      // Drop the last wave's migrate step: the plan would then never move charlie.
      const at = steps.findIndex((s) => s.id === 'wave/last/migrate');
      steps.splice(at, 1);
      records.splice(at, 1);
    });
    const dropped = await cli(h, ['run', file]);
    expect(dropped.code).toBe(1);
    expect(dropped.err).toMatch(/steps: \d+ stored, but the policy's plan has \d+/);
  });
});

describe("the canary's health is re-checked before a wave moves namespaces", () => {
  it('rolls back, moving nothing more, when the canary istiod crashed during the previous bake', async () => {
    h = await createHarness();
    const file = writePolicy(
      h,
      `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: health}
spec:
  revisions: {from: auto, to: 1-25-1}
  waves:
    - {name: first, namespaces: {names: [alpha]}, bake: 100ms, approval: {required: true, timeout: 1h}}
    - {name: second, namespaces: {names: [charlie]}, bake: 100ms}
  gates: {warmup: 100ms}
`,
    );
    expect((await cli(h, ['run', file])).code).toBe(4);
    h.sandbox.faults.apply({ crash: ['1-25-1'] });
    expect((await cli(h, ['approve', 'health'])).code).toBe(0);
    h.sandbox.api.resetRequests();
    const run = await cli(h, ['run', file]);
    expect(run.code, run.err).toBe(3);
    expect(run.err).toMatch(
      /rolled-back: rolled back to 1-24-3: the new revision is not healthy before wave\/second\/canary-health: istiod-1-25-1 has no ready replica/,
    );
    // The second wave's namespace was never touched.
    const touched = h.sandbox.api.requests.filter((r) => r.verb === 'patch' && r.name === 'charlie');
    expect(touched).toEqual([]);
    expect((await h.namespaceLabels('charlie'))['istio-injection']).toBe('enabled');
    expect((await h.namespaceLabels('alpha'))['istio-injection']).toBe('enabled');
  });
});

describe('tag webhooks copy only what belongs to them', () => {
  it("leaves the injector's kubectl and Helm bookkeeping annotations out of the tag it builds", async () => {
    h = await createHarness();
    // Asynchronous: the sandbox serves from this process.
    const kubectl = async (...args: string[]) =>
      (await promisify(execFile)('kubectl', ['--kubeconfig', h?.kubeconfigFile ?? '', ...args])).stdout;
    await kubectl(
      'annotate',
      'mutatingwebhookconfiguration',
      'istio-sidecar-injector-1-25-1',
      'kubectl.kubernetes.io/last-applied-configuration={"kind":"MutatingWebhookConfiguration"}',
      'meta.helm.sh/release-name=istiod-1-25-1',
      'team.example.com/owner=mesh',
    );
    expect((await cli(h, ['run', writePolicy(h)])).code).toBe(0);
    const tag = JSON.parse(
      await kubectl('get', 'mutatingwebhookconfiguration', 'istio-revision-tag-default', '-o', 'json'),
    ) as {
      metadata: { annotations?: Record<string, string> };
    };
    expect(tag.metadata.annotations ?? {}).toEqual({ 'team.example.com/owner': 'mesh' });
  });
});

describe('precheck finds what would wreck a wave, before anything moves', () => {
  const MUTATING = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);
  const mesh = (extra = '') => `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: checks}
spec:
  revisions: {from: auto, to: 1-25-1}
  waves:
    - {name: first, namespaces: {names: [alpha]}, bake: 100ms}
  gates: {warmup: 100ms}
${extra}`;

  it('blocks on a paused Deployment, naming it and what to do; skips it when the policy says so', async () => {
    h = await createHarness();
    await h.cluster.mutate({
      op: 'merge-patch',
      ref: Resources.deployments,
      namespace: 'alpha',
      name: 'api',
      patch: { spec: { paused: true } },
    });
    const file = writePolicy(h, mesh());
    const plan = await cli(h, ['plan', file]);
    expect(plan.code).toBe(1);
    expect(plan.err).toMatch(
      /^problem: spec\.workloads\.unhealthy: Deployment alpha\/api is paused \(spec\.paused: true\), so its rollout would never finish: resume it \(kubectl rollout resume deployment\/api -n alpha\) or leave it out; or set spec\.workloads\.unhealthy: skip/m,
    );
    h.sandbox.api.resetRequests();
    const run = await cli(h, ['run', file]);
    expect(run.code).toBe(1);
    // Nothing but revroll's own Lease (taken to plan, released) was written.
    expect(h.sandbox.api.requests.filter((r) => MUTATING.has(r.verb) && r.resource !== 'leases')).toEqual([]);

    const skipping = writePolicy(h, mesh('  workloads: {unhealthy: skip, stragglers: fail}\n'));
    const before = (await h.workload('deployments', 'alpha', 'api'))?.metadata.generation;
    const done = await cli(h, ['run', skipping]);
    expect(done.code, done.err).toBe(0);
    expect((await h.workload('deployments', 'alpha', 'api'))?.metadata.generation).toBe(before);
    expect((await h.workload('deployments', 'alpha', 'web'))?.metadata.generation).toBe(2);
  });

  it('blocks on a workload that is not Ready before the upgrade', async () => {
    h = await createHarness();
    // An image that cannot be pulled: its new pod stays Pending, the rollout never completes.
    await h.cluster.mutate({
      op: 'strategic-patch',
      ref: Resources.deployments,
      namespace: 'alpha',
      name: 'web',
      patch: { spec: { template: { spec: { containers: [{ name: 'web', image: 'auto' }] } } } },
    });
    const plan = await cli(h, ['plan', writePolicy(h, mesh())]);
    expect(plan.code).toBe(1);
    expect(plan.err).toMatch(
      /problem: spec\.workloads\.unhealthy: Deployment alpha\/web is not healthy before the upgrade \(.*\): fix it \(kubectl rollout status deployment\/web -n alpha\)/,
    );
  });

  it('says a target revision is not installed yet, and that an external install is waited for', async () => {
    h = await createHarness();
    const plan = await cli(h, [
      'plan',
      writePolicy(
        h,
        mesh().replace('to: 1-25-1', 'to: 1-26-0').concat('  install: {mode: external, readyTimeout: 15m}\n'),
      ),
    ]);
    expect(plan.out).toMatch(
      /^warning: revision 1-26-0 is not installed yet: the install step waits up to 15 min for an external install/m,
    );
  });

  it('reports a default tag pointing at a revision that no longer exists once, as the cause', async () => {
    h = await createHarness();
    await h.cluster.mutate({
      op: 'delete',
      ref: Resources.deployments,
      namespace: 'istio-system',
      name: 'istiod-1-24-3',
      propagation: 'Background',
    });
    const file = writePolicy(
      h,
      `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: checks}
spec:
  revisions: {from: auto, to: 1-25-1}
  waves:
    - {name: first, namespaces: {names: [alpha, bravo, charlie]}, bake: 100ms}
`,
    );
    const plan = await cli(h, ['plan', file]);
    expect(plan.code).toBe(1);
    const problems = plan.err.split('\n').filter((line) => line.startsWith('problem:'));
    expect(problems).toEqual([
      expect.stringMatching(
        /^problem: spec\.revisions\.from: from: auto, but the default tag points at revision 1-24-3, which is not installed \(no istiod-1-24-3 Deployment in istio-system\)/,
      ),
    ]);
  });
});

describe('messages say what happened', () => {
  it("a rollout that times out reports the rollout's real state and why pods are not created", async () => {
    h = await createHarness();
    const policy = h.policy(POLICY);
    const key = restartKey('1-25-1', 'run-x');
    // alpha injects from the default revision; with its istiod down, new pods are refused at admission.
    h.sandbox.faults.apply({ crash: ['1-24-3'] });
    const web = await h.workload('deployments', 'alpha', 'web');
    await h.cluster.mutate(planRestart(toWorkload('Deployment', web as KubeObject), key, new Date()));
    const executor = createExecutor(policy, {
      cluster: h.cluster,
      events: createEventRecorder(h.cluster, { now: () => new Date() }),
      notifier: { notify: async () => ({ delivered: true }) },
      now: () => new Date(),
      stateNamespace: STATE_NS,
    });
    const state = { namespaces: { alpha: { wave: 0 } } } as unknown as RunState;
    const observation = await executor.execute(state, {
      type: 'wait-rollouts',
      namespaces: ['alpha'],
      key,
      timeoutMs: 1500,
    });
    expect(observation).toMatchObject({ type: 'wait-rollouts', ok: false });
    const pending = (observation as { pending: string[] }).pending.join('\n');
    expect(pending).not.toMatch(/could not watch|aborted/);
    expect(pending).toMatch(
      /^Deployment\/alpha\/web: 0 out of 2 new replicas have been updated, \d+ available; pods cannot be created \(FailedCreate\): .*sidecar-injector/m,
    );
  });

  it('revroll plan says gates were not evaluated because of plan problems, not for want of a URL', async () => {
    h = await createHarness();
    const file = writePolicy(
      h,
      `${POLICY}  prometheus: {url: "http://127.0.0.1:9"}
`
        .replace(
          'gates: {warmup: 100ms}',
          'gates: {warmup: 100ms, checks: [{name: e, preset: proxy-5xx-ratio, threshold: {max: 0.1}}]}',
        )
        .replace('names: [alpha]', 'names: [nosuch]'),
    );
    const plan = await cli(h, ['plan', file]);
    expect(plan.out).toMatch(/^Gates: not evaluated \(the plan has problems, listed below\)$/m);
    expect(plan.out).not.toMatch(/no Prometheus URL/);
  });
});
