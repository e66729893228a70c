/**
 * The runner end to end against the sandbox: real HTTP, real Kubernetes adapter, real runner.
 * Each test gets its own sandbox (they start in well under a second).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { allOn, createHarness, smallScenario, type Harness } from '../helpers/runner-harness.ts';
import { Resources } from '../../src/ports/cluster.ts';
import { Annotation } from '../../src/mesh/labels.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const labelsPolicy = (extra = '') => `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: labels-run}
spec:
  revisions: {from: auto, to: 1-25-1}
  waves:
    - {name: first, namespaces: {names: [alpha]}, bake: 200ms}
    - {name: second, namespaces: {names: [bravo, charlie]}, bake: 200ms}
  gates: {warmup: 100ms}
  workloads: {rolloutTimeout: 20s}
${extra}`;

describe('runner: labels strategy', () => {
  it('promotes from the default revision (from: auto), restoring label forms and preserving foreign labels', async () => {
    h = await createHarness();
    const result = await h.run(h.policy(labelsPolicy('  promote: {uninstallPrevious: false}\n')));
    expect(result.outcome).toBe('promoted');
    expect(result.state?.from).toBe('1-24-3');
    // istio-injection=enabled namespaces follow the default tag again, which now points at 1-25-1.
    expect(await h.namespaceLabels('alpha')).toMatchObject({ 'istio-injection': 'enabled', team: 'a' });
    expect((await h.namespaceLabels('alpha'))['istio.io/rev']).toBeUndefined();
    // A namespace pinned to the old revision by name stays on the new revision by name.
    expect(await h.namespaceLabels('bravo')).toMatchObject({ 'istio.io/rev': '1-25-1', team: 'b' });
    expect(await h.defaultRevision()).toBe('1-25-1');
    for (const ns of ['alpha', 'bravo', 'charlie']) expect(allOn(await h.podRevisions(ns), '1-25-1')).toBe(true);
    // Namespaces no wave names, and the opted-out workload, are untouched.
    expect(allOn(await h.podRevisions('delta'), '1-24-3')).toBe(true);
    expect(await h.namespaceLabels('legacy')).toMatchObject({ 'istio-injection': 'disabled' });
    const batch = await h.workload('deployments', 'charlie', 'batch');
    expect(
      (batch?.spec as { template: { metadata: { annotations?: Record<string, string> } } }).template.metadata
        .annotations?.[Annotation.restartedFor],
    ).toBeUndefined();
    // Every moved workload restarted exactly once: generation 2.
    expect((await h.workload('deployments', 'alpha', 'web'))?.metadata.generation).toBe(2);
    expect((await h.workload('statefulsets', 'bravo', 'db'))?.metadata.generation).toBe(2);
    // Events for the mutations.
    const events = await h.cluster.list(Resources.events, { namespace: 'alpha' });
    expect(events.map((e) => e.reason)).toEqual(expect.arrayContaining(['RevrollRestarted']));
  });

  it('says a promoted run is promoted when started again (a runner killed after saving Promoted)', async () => {
    h = await createHarness();
    const file = h.policy(labelsPolicy('  promote: {uninstallPrevious: false}\n'));
    const first = await h.run(file);
    expect(first.outcome).toBe('promoted');
    const writesBefore = h.sandbox.api.requests.filter((r) => r.verb !== 'get' && r.verb !== 'list').length;
    const again = await h.run(file);
    expect(again.outcome).toBe('promoted');
    expect(again.message).toBe(`already promoted 1-25-1 (run ${first.state?.runId})`);
    // Nothing moved: the only writes are the lease's.
    const writes = h.sandbox.api.requests
      .filter((r) => r.verb !== 'get' && r.verb !== 'list')
      .slice(writesBefore)
      .filter((r) => r.resource !== 'leases' && r.resource !== 'selfsubjectaccessreviews');
    expect(writes).toEqual([]);
  });

  it('refuses to uninstall the previous revision while a namespace still references it, and says so', async () => {
    h = await createHarness();
    const result = await h.run(h.policy(labelsPolicy('  promote: {uninstallPrevious: true}\n')));
    expect(result.outcome).toBe('promoted');
    const uninstall = result.state?.records.find((r) => r.id === 'promote/uninstall-previous');
    expect(uninstall?.status).toBe('skipped');
    expect(uninstall?.note).toMatch(/delta|echo|prod-stable/);
    expect(await h.cluster.get(Resources.deployments, 'istio-system', 'istiod-1-24-3')).toBeDefined();
  });

  it('uninstalls the previous revision once nothing references it', async () => {
    h = await createHarness(
      smallScenario({
        istio: {
          revisions: [
            { name: '1-24-3', version: '1.24.3' },
            { name: '1-25-1', version: '1.25.1' },
          ],
          tags: { default: '1-24-3' },
          gateways: [],
        },
      }),
    );
    await h.cluster.mutate({
      op: 'merge-patch',
      ref: Resources.namespaces,
      name: 'delta',
      patch: { metadata: { labels: { 'istio.io/rev': '1-24-3' } } },
    });
    await h.cluster.mutate({
      op: 'merge-patch',
      ref: Resources.namespaces,
      name: 'echo',
      patch: { metadata: { labels: { 'istio.io/rev': '1-24-3' } } },
    });
    const policy = h.policy(`apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: all}
spec:
  revisions: {from: 1-24-3, to: 1-25-1}
  waves:
    - {name: all, namespaces: {percent: 100}, bake: 100ms}
  gates: {warmup: 100ms}
  promote: {uninstallPrevious: true}
`);
    const result = await h.run(policy);
    expect(result.outcome).toBe('promoted');
    expect(result.state?.records.find((r) => r.id === 'promote/uninstall-previous')?.status).toBe('done');
    // No read of every pod is whole (issue 16): the uninstall's reference check, like the plan's
    // count, reads them as metadata, page by page (its target list selects istiod's own pods).
    const clusterPodLists = h.sandbox.api.requests.filter(
      (r) =>
        r.verb === 'list' &&
        r.resource === 'pods' &&
        r.namespace === undefined &&
        !new URLSearchParams(r.query).has('labelSelector'),
    );
    expect(clusterPodLists.length).toBeGreaterThanOrEqual(2);
    for (const request of clusterPodLists) expect(request.accept).toContain('as=PartialObjectMetadataList');
    // Deleted in the foreground: istiod's Deployment goes once its pods have terminated.
    await h.sandbox.waitForIdle();
    expect(await h.cluster.get(Resources.deployments, 'istio-system', 'istiod-1-24-3')).toBeUndefined();
    expect(
      await h.cluster.get(Resources.mutatingwebhookconfigurations, undefined, 'istio-sidecar-injector-1-24-3'),
    ).toBeUndefined();
    expect(await h.cluster.get(Resources.deployments, 'istio-system', 'istiod-1-25-1')).toBeDefined();
  });
});

describe('runner: tags strategy', () => {
  it('moves namespaces from the stable tag to the canary tag, then moves the stable tag last', async () => {
    h = await createHarness();
    const policy = h.policy(`apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: tags-run}
spec:
  revisions: {from: 1-24-3, to: 1-25-1}
  strategy: {type: tags, stableTag: prod-stable, canaryTag: prod-canary}
  waves:
    - {name: first, namespaces: {names: [delta]}, bake: 100ms}
    - {name: rest, namespaces: {names: [echo]}, bake: 100ms}
  gates: {warmup: 100ms}
  promote: {tags: [default]}
`);
    const result = await h.run(policy);
    expect(result.outcome).toBe('promoted');
    const tags = await h.tags();
    expect(tags['prod-stable']).toBe('1-25-1');
    expect(tags['default']).toBe('1-25-1');
    expect(tags['prod-canary']).toBe('1-25-1');
    // Back in their original form: following the stable tag, which now points at the new revision.
    expect((await h.namespaceLabels('delta'))['istio.io/rev']).toBe('prod-stable');
    expect((await h.namespaceLabels('echo'))['istio.io/rev']).toBe('prod-stable');
    expect(allOn(await h.podRevisions('delta'), '1-25-1')).toBe(true);
    expect(allOn(await h.podRevisions('echo'), '1-25-1')).toBe(true);
    // The stable tag moved only at promotion: the order of the records proves it.
    const ids = result.state?.records.filter((r) => r.status === 'done').map((r) => r.id) ?? [];
    expect(ids.indexOf('promote/tags')).toBeGreaterThan(ids.indexOf('wave/rest/converge'));
  });
});

describe('runner: rollback', () => {
  it('rolls back when the canary istiod crashes in the first wave, restoring labels exactly', async () => {
    h = await createHarness();
    const before = await h.namespaceLabels('alpha');
    const result = await h.run(h.policy(labelsPolicy().replace('rolloutTimeout: 20s', 'rolloutTimeout: 2s')), {
      onProgress: (_state, changed) => {
        if (changed.some((r) => r.id === 'wave/first/migrate' && r.status === 'done'))
          h?.sandbox.faults.crashIstiod('1-25-1');
      },
    });
    expect(result.outcome).toBe('rolled-back');
    expect(result.state?.rollbackReason).toMatch(/rollouts did not finish/);
    expect(await h.namespaceLabels('alpha')).toEqual(before);
    h.sandbox.faults.recoverIstiod('1-25-1');
    await h.sandbox.waitForIdle();
    expect(allOn(await h.podRevisions('alpha'), '1-24-3')).toBe(true);
    expect(await h.defaultRevision()).toBe('1-24-3');
  });

  it('rolls back two waves and the gateway when a later wave fails', async () => {
    h = await createHarness();
    const policy = h.policy(`apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: later}
spec:
  revisions: {from: auto, to: 1-25-1}
  waves:
    - {name: first, namespaces: {names: [alpha]}, bake: 100ms}
    - {name: second, namespaces: {names: [bravo]}, bake: 100ms}
  gates: {warmup: 100ms}
  workloads: {rolloutTimeout: 3s}
  gateways: [{name: istio-ingressgateway, upgrade: withFirstWave}]
`);
    const labelsBefore = { alpha: await h.namespaceLabels('alpha'), bravo: await h.namespaceLabels('bravo') };
    const progress: string[] = [];
    const result = await h.run(policy, {
      onProgress: (_state, changed) => {
        for (const record of changed) {
          progress.push(`${record.id}:${record.status}`);
          // Crash the canary once the first wave has converged: the second wave's rollouts stall.
          if (record.id === 'wave/first/bake' && record.status === 'done') h?.sandbox.faults.crashIstiod('1-25-1');
        }
      },
    });
    expect(result.outcome).toBe('rolled-back');
    expect(progress).toContain('wave/first/bake:done');
    expect(await h.namespaceLabels('alpha')).toEqual(labelsBefore.alpha);
    expect(await h.namespaceLabels('bravo')).toEqual(labelsBefore.bravo);
    const gateway = await h.workload('deployments', 'istio-system', 'istio-ingressgateway');
    expect(
      (gateway?.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels[
        'istio.io/rev'
      ],
    ).toBe('1-24-3');
    expect(allOn(await h.podRevisions('alpha'), '1-24-3')).toBe(true);
    // Gateways went back first (safety invariant 3).
    const rollbackOrder = (result.state?.records ?? [])
      .filter((r) => r.id.startsWith('rollback/') && r.status === 'done')
      .map((r) => r.id);
    expect(rollbackOrder[0]).toBe('rollback/gateways');
    expect(rollbackOrder.indexOf('rollback/labels')).toBeLessThan(rollbackOrder.indexOf('rollback/restart'));
  });
});

describe('runner: install', () => {
  it('ends cleanly before any namespace moves when the new revision never becomes ready', async () => {
    h = await createHarness();
    h.sandbox.faults.crashIstiod('1-25-1');
    const before = await h.namespaceLabels('alpha');
    const result = await h.run(h.policy(labelsPolicy('  install: {mode: external, readyTimeout: 1s}\n')));
    expect(result.outcome).toBe('failed');
    expect(result.state?.phase).toBe('Failed');
    expect(result.message).toMatch(/installing 1-25-1 failed before any namespace moved/);
    expect(await h.namespaceLabels('alpha')).toEqual(before);
    expect(h.cluster.requests.filter((r) => r.verb === 'patch')).toEqual([]);
  });

  it('runs the configured install command (argv, no shell) and captures its failure', async () => {
    h = await createHarness();
    const result = await h.run(
      h.policy(
        labelsPolicy(
          `  install: {mode: istioctl, command: ${process.execPath}, args: ["-e", "console.log('installing'); process.exit(3)"], timeout: 10s}\n`,
        ),
      ),
    );
    expect(result.outcome).toBe('failed');
    expect(result.message).toMatch(/exited with code 3/);
    expect(result.message).toMatch(/installing/);
  });
});

describe('runner: faults', () => {
  it('completes correctly with 10% API errors (500, 429, 409)', async () => {
    h = await createHarness();
    h.sandbox.faults.setApiFaults({ errorRate: 0.1, codes: [500, 429, 409] });
    // A step that fails past the client's retries is tried again within the error budget.
    const result = await h.run(h.policy(labelsPolicy('  errorBudget: {attempts: 10, backoff: 100ms}\n')));
    h.sandbox.faults.setApiFaults(null);
    expect(result.outcome, result.message).toBe('promoted');
    expect(h.cluster.requests.some((r) => r.status >= 400)).toBe(true);
    for (const ns of ['alpha', 'bravo', 'charlie']) expect(allOn(await h.podRevisions(ns), '1-25-1')).toBe(true);
    expect((await h.workload('deployments', 'alpha', 'web'))?.metadata.generation).toBe(2);
  });
});
