/**
 * Safety invariant 1 as a new user meets it (issue 12 item 1): `policies/demo.yaml` with
 * `promote.uninstallPrevious: true` on the demo scenario, through the CLI. Uninstalling a
 * revision never deletes what serves traffic: a moved gateway carries the owner label of the
 * revision it runs, and the uninstall refuses anything revroll moved or whose pods run another
 * revision, deleting nothing.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { Resources } from '../../src/ports/cluster.ts';
import { allOn, createHarness, harnessCli, smallScenario, type Harness } from '../helpers/runner-harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const cli = harnessCli;

type PolicyDoc = { spec: Record<string, unknown> & { waves: { bake: string }[]; gates: Record<string, unknown> } };

/** policies/demo.yaml as shipped, with short bakes (the gateways wave's too) and no telemetry gates (no Prometheus here). */
function demoPolicy(harness: Harness, edit: (doc: PolicyDoc) => void): string {
  const text = readFileSync(fileURLToPath(new URL('../../policies/demo.yaml', import.meta.url)), 'utf8');
  const doc = parse(text) as PolicyDoc;
  for (const wave of doc.spec.waves) wave.bake = '100ms';
  doc.spec.gates = { warmup: '100ms', checks: [] };
  doc.spec['gatewayApi'] = { ...(doc.spec['gatewayApi'] as object), bake: '100ms', warmup: '100ms', gates: [] };
  delete doc.spec['prometheus'];
  edit(doc);
  const file = join(dirname(harness.kubeconfigFile), 'demo.yaml');
  writeFileSync(file, stringify(doc));
  return file;
}

const GATEWAY = { namespace: 'istio-system', name: 'istio-ingressgateway' };

async function gatewayObjects(harness: Harness) {
  const [deployment, service, account] = await Promise.all([
    harness.cluster.get(Resources.deployments, GATEWAY.namespace, GATEWAY.name),
    harness.cluster.get(Resources.services, GATEWAY.namespace, GATEWAY.name),
    harness.cluster.get(Resources.serviceaccounts, GATEWAY.namespace, `${GATEWAY.name}-service-account`),
  ]);
  return { deployment, service, account };
}

async function gatewayPodRevisions(harness: Harness): Promise<string[]> {
  const pods = await harness.cluster.list(Resources.pods, {
    namespace: GATEWAY.namespace,
    labelSelector: 'app=istio-ingressgateway',
  });
  // Terminating pods (replaced, draining) are on their way out: not the gateway's pods.
  return pods
    .filter((p) => !p.metadata['deletionTimestamp'])
    .map((p) => p.metadata.annotations?.['istio.io/rev'] ?? '')
    .sort();
}

describe('uninstall never deletes what serves traffic', () => {
  it('demo.yaml with uninstallPrevious: the gateway ends on the new revision, labelled so, and is kept', async () => {
    h = await createHarness('demo' as never);
    const file = demoPolicy(h, (doc) => {
      doc.spec['promote'] = { tags: ['default'], uninstallPrevious: true };
    });
    const plan = await cli(h, ['plan', file]);
    expect(plan.code).toBe(0);
    const line = plan.out.split('\n').find((l) => l.includes('uninstall revision 1-24-3')) ?? '';
    expect(line).toMatch(/deleting \d+ object\(s\): .*Deployment istio-system\/istiod-1-24-3/);
    expect(line).toMatch(/MutatingWebhookConfiguration istio-sidecar-injector-1-24-3/);
    expect(line).not.toMatch(/istio-ingressgateway/);

    const run = await cli(h, ['run', file]);
    expect(run.code, run.err).toBe(0);
    const status = JSON.parse((await cli(h, ['status', 'demo', '-o', 'json'])).out) as {
      phase: string;
      records: { id: string; status: string; note?: string }[];
    };
    expect(status.phase).toBe('Promoted');
    expect(status.records.find((r) => r.id === 'promote/uninstall-previous')?.status).toBe('done');
    const { deployment, service, account } = await gatewayObjects(h);
    expect(deployment?.metadata.labels?.['istio.io/rev']).toBe('1-25-1');
    expect(service?.metadata.labels?.['istio.io/rev']).toBe('1-25-1');
    expect(account?.metadata.labels?.['istio.io/rev']).toBe('1-25-1');
    for (const [ref, name] of [
      [Resources.roles, 'istio-ingressgateway-sds'],
      [Resources.rolebindings, 'istio-ingressgateway-sds'],
      [Resources.poddisruptionbudgets, 'istio-ingressgateway'],
      [Resources.horizontalpodautoscalers, 'istio-ingressgateway'],
    ] as const) {
      expect((await h.cluster.get(ref, 'istio-system', name))?.metadata.labels?.['istio.io/rev'], name).toBe('1-25-1');
    }
    expect(allOn(await gatewayPodRevisions(h), '1-25-1')).toBe(true);
    // The old control plane is gone (deleted in the foreground: once its pods have terminated), and only it.
    await h.sandbox.waitForIdle();
    expect(await h.cluster.get(Resources.deployments, 'istio-system', 'istiod-1-24-3')).toBeUndefined();
    expect(await h.cluster.get(Resources.deployments, 'istio-system', 'istiod-1-25-1')).toBeDefined();
  });

  it('refuses, deleting nothing, when an object of the revision serves pods of another revision', async () => {
    h = await createHarness(smallScenario());
    // A gateway moved by hand before revroll existed: pods on the canary, owner label still old.
    await h.cluster.mutate({
      op: 'strategic-patch',
      ref: Resources.deployments,
      namespace: GATEWAY.namespace,
      name: GATEWAY.name,
      patch: { spec: { template: { metadata: { labels: { 'istio.io/rev': '1-25-1' } } } } },
    });
    await h.sandbox.waitForIdle();
    const file = join(dirname(h.kubeconfigFile), 'all.yaml');
    writeFileSync(
      file,
      `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: all}
spec:
  revisions: {from: 1-24-3, to: 1-25-1}
  waves:
    - {name: all, namespaces: {percent: 100}, bake: 100ms}
  gates: {warmup: 100ms}
  promote: {tags: [default, prod-stable], uninstallPrevious: true}
`,
    );
    const before = await h.cluster.list(Resources.deployments, { namespace: 'istio-system' });
    const run = await cli(h, ['run', file]);
    expect(run.code, run.err).toBe(0);
    const status = JSON.parse((await cli(h, ['status', 'all', '-o', 'json'])).out) as {
      records: { id: string; status: string; note?: string }[];
    };
    const uninstall = status.records.find((r) => r.id === 'promote/uninstall-previous');
    expect(uninstall?.status).toBe('skipped');
    expect(uninstall?.note).toMatch(
      /Deployment istio-system\/istio-ingressgateway serves pods on revision 1-25-1 .* not deleting it/,
    );
    const after = await h.cluster.list(Resources.deployments, { namespace: 'istio-system' });
    expect(after.map((d) => d.metadata.name).sort()).toEqual(before.map((d) => d.metadata.name).sort());
    expect(
      await h.cluster.get(Resources.mutatingwebhookconfigurations, undefined, 'istio-sidecar-injector-1-24-3'),
    ).toBeDefined();
    expect((await gatewayObjects(h)).service).toBeDefined();
  });

  it('after a rollback, uninstalling the canary keeps the gateway moved back, on the old revision', async () => {
    h = await createHarness('demo' as never);
    const file = demoPolicy(h, (doc) => {
      doc.spec['gateways'] = [{ ...GATEWAY, upgrade: 'withFirstWave' }];
      doc.spec['rollback'] = { uninstallCanary: true };
      (doc.spec.waves[0] as Record<string, unknown>)['approval'] = { required: true, timeout: '1h' };
    });
    const held = await cli(h, ['run', file]);
    expect(held.code, held.err).toBe(4);
    expect(await gatewayPodRevisions(h)).toEqual(['1-25-1', '1-25-1']);
    expect((await gatewayObjects(h)).deployment?.metadata.labels?.['istio.io/rev']).toBe('1-25-1');
    expect((await cli(h, ['reject', 'demo'])).code).toBe(0);
    const rolled = await cli(h, ['run', file]);
    expect(rolled.code, rolled.err).toBe(3);
    const { deployment, service, account } = await gatewayObjects(h);
    expect(deployment?.metadata.labels?.['istio.io/rev']).toBe('1-24-3');
    expect(service?.metadata.labels?.['istio.io/rev']).toBe('1-24-3');
    expect(account).toBeDefined();
    expect(allOn(await gatewayPodRevisions(h), '1-24-3')).toBe(true);
    await h.sandbox.waitForIdle(); // the canary's istiod goes once its pods have terminated
    expect(await h.cluster.get(Resources.deployments, 'istio-system', 'istiod-1-25-1')).toBeUndefined();
    expect(await h.cluster.get(Resources.deployments, 'istio-system', 'istiod-1-24-3')).toBeDefined();
  });

  it('moves a gateway found in the cluster on promotion, restarting one that follows the default tag', async () => {
    const scenario = smallScenario();
    scenario.istio = {
      ...scenario.istio,
      gateways: [
        { name: 'istio-ingressgateway', namespace: 'istio-system', revision: '1-24-3', replicas: 1 },
        { name: 'edge-gateway', namespace: 'istio-system', revision: 'default', replicas: 1 },
      ],
    } as never;
    h = await createHarness(scenario);
    const file = join(dirname(h.kubeconfigFile), 'found.yaml');
    writeFileSync(
      file,
      `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: found}
spec:
  revisions: {from: 1-24-3, to: 1-25-1}
  waves:
    - {name: first, namespaces: {names: [alpha]}, bake: 100ms}
  gates: {warmup: 100ms}
  promote: {tags: [default]}
`,
    );
    const plan = await cli(h, ['plan', file]);
    expect(plan.out).toMatch(
      /warning: gateway istio-system\/istio-ingressgateway runs 1-24-3 and is not in spec.gateways/,
    );
    expect(plan.out).toMatch(/rollout restart gateway deployment\/edge-gateway -n istio-system \(follows default\)/);
    expect((await cli(h, ['run', file])).code).toBe(0);
    const pods = await h.cluster.list(Resources.pods, {
      namespace: 'istio-system',
      labelSelector: 'istio=ingressgateway',
    });
    expect(
      pods.filter((p) => !p.metadata['deletionTimestamp']).map((p) => p.metadata.annotations?.['istio.io/rev']),
    ).toEqual(['1-25-1', '1-25-1']);
    const edge = await h.cluster.get(Resources.deployments, 'istio-system', 'edge-gateway');
    // Its template still follows the tag, as the operator wrote it.
    expect(
      (edge?.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels[
        'istio.io/rev'
      ],
    ).toBe('default');
  });
});
