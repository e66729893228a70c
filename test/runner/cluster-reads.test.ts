/**
 * The cluster port's bounded reads against the sandbox API server over HTTP: metadata-only lists
 * and watches (PartialObjectMetadata), page-by-page scans, projections kept by a watch, and the
 * projections giving the same verdicts as the objects they come from.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { createKubernetesCluster } from '../../src/adapters/kubernetes/cluster.ts';
import { checkConvergence } from '../../src/mesh/convergence.ts';
import { hasProxy, podRevision } from '../../src/mesh/labels.ts';
import { podProjection, rolloutProjection } from '../../src/mesh/projections.ts';
import { podWorkload, rolloutState, type WorkloadKind } from '../../src/mesh/workloads.ts';
import { Resources, type KubeObject, type ResourceRef } from '../../src/ports/cluster.ts';
import { createHarness, type Harness } from '../helpers/runner-harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

function pagedCluster(harness: Harness, pageSize: number) {
  const config = new KubeConfig();
  config.loadFromString(harness.sandbox.kubeconfig);
  return createKubernetesCluster({ config, pageSize });
}

describe('metadata-only reads', () => {
  it('scan visits every pod page by page as PartialObjectMetadata: labels and annotations, no spec or status', async () => {
    h = await createHarness();
    const cluster = pagedCluster(h, 2);
    const seen: KubeObject[] = [];
    await cluster.scan(Resources.pods, { namespace: 'alpha' }, (pod) => seen.push(pod), { metadataOnly: true });
    const full = await h.cluster.list(Resources.pods, { namespace: 'alpha' });

    expect(seen.map((p) => p.metadata.name).sort()).toEqual(full.map((p) => p.metadata.name).sort());
    expect(seen.length).toBe(3);
    expect(cluster.requestCounts()['list pods']).toBe(2); // pages of 2: two requests for three pods
    for (const pod of seen) {
      expect(pod.kind).toBe('PartialObjectMetadata');
      expect(pod.apiVersion).toBe('meta.k8s.io/v1');
      expect(pod.spec).toBeUndefined();
      expect(pod.status).toBeUndefined();
      expect(hasProxy(pod)).toBe(true);
      expect(podRevision(pod)).toBe('1-24-3');
    }
  });

  it('a metadata-only list of namespaces carries their labels', async () => {
    h = await createHarness();
    const namespaces = await h.cluster.list(Resources.namespaces, {}, { metadataOnly: true });
    const bravo = namespaces.find((n) => n.metadata.name === 'bravo');
    expect(bravo?.kind).toBe('PartialObjectMetadata');
    expect(bravo?.metadata.labels?.['istio.io/rev']).toBe('1-24-3');
  });

  it('a metadata-only watch sees a label change as PartialObjectMetadata, kept as the projection made it', async () => {
    h = await createHarness();
    const harness = h;
    const events: KubeObject[] = [];
    let patched: Promise<unknown> | undefined;
    const done = await harness.cluster.waitFor(
      Resources.namespaces,
      { fieldSelector: 'metadata.name=charlie' },
      (objects, event) => {
        // Once listed, change the label: the watch that follows must report it.
        patched ??= harness.cluster.mutate({
          op: 'merge-patch',
          ref: Resources.namespaces,
          name: 'charlie',
          patch: { metadata: { labels: { 'revroll-test': 'seen' } } },
        });
        if (event) events.push(event.object);
        return objects.get('/charlie')?.metadata.labels?.['revroll-test'] === 'seen';
      },
      10_000,
      undefined,
      {
        metadataOnly: true,
        project: (o) => ({ kind: o.kind, metadata: { name: o.metadata.name, labels: o.metadata.labels ?? {} } }),
      },
    );
    await patched;
    expect(done).toBe(true);
    const last = events.at(-1);
    expect(last?.kind).toBe('PartialObjectMetadata');
    expect(Object.keys(last ?? {}).sort()).toEqual(['kind', 'metadata']);
  });
});

describe('projections', () => {
  it.each([
    ['the small scenario', undefined],
    ['the sandbox scenario with Gateway API gateways, waypoints and ambient', 'gateway-api'],
  ])('pods: convergence, revision and owner read the same on the projection as on the pod (%s)', async (_, name) => {
    h = await createHarness(...(name ? ([name] as const) : []));
    const pods = await h.cluster.list(Resources.pods);
    const projected = pods.map(podProjection);
    const namespaces = new Set(pods.map((p) => p.metadata.namespace ?? ''));
    for (const target of ['1-24-3', '1-25-1']) {
      expect(checkConvergence(projected, target, namespaces)).toEqual(checkConvergence(pods, target, namespaces));
    }
    pods.forEach((pod, i) => {
      const p = projected[i] as KubeObject;
      expect([hasProxy(p), podRevision(p), podWorkload(p)]).toEqual([
        hasProxy(pod),
        podRevision(pod),
        podWorkload(pod),
      ]);
      expect(JSON.stringify(p).length).toBeLessThan(JSON.stringify(pod).length / 3);
    });
  });

  it('workloads: the rollout check reads the same on the projection', async () => {
    h = await createHarness();
    const kinds: [WorkloadKind, ResourceRef][] = [
      ['Deployment', Resources.deployments],
      ['StatefulSet', Resources.statefulsets],
      ['DaemonSet', Resources.daemonsets],
    ];
    for (const [kind, ref] of kinds) {
      const objects = await h.cluster.list(ref);
      expect(objects.length).toBeGreaterThan(0);
      for (const o of objects) expect(rolloutState(kind, rolloutProjection(o))).toEqual(rolloutState(kind, o));
    }
  });
});
