import { afterEach, describe, expect, it } from 'vitest';
import type { KubeObject } from '../../src/store.ts';
import { isPodReady } from '../../src/controllers/pod-util.ts';
import { createSim, deployment, namespace, pods, restart, until, type Sim } from './helpers.ts';

let sim: Sim | undefined;
afterEach(() => {
  sim?.close();
  sim = undefined;
});

const apps = (s: Sim, plural: string) => s.store.findType('apps', plural)!;
const status = (o: KubeObject) =>
  (o.status ?? {}) as Record<string, unknown> & { conditions?: { type: string; status: string; reason?: string }[] };

describe('sandbox controllers: Deployment', () => {
  it('creates a ReplicaSet named after the template hash and pods that become Ready, with a complete status', async () => {
    sim = createSim();
    namespace(sim.store, 'demo');
    sim.store.create(apps(sim, 'deployments'), 'demo', deployment('web', 3));
    await until(() => sim!.controllers.quiescent() && sim!.controllers.unsettled().length === 0, 5000, 'rollout');

    const [rs] = sim.store.list(apps(sim, 'replicasets'), { namespace: 'demo' }).items;
    const hash = rs!.metadata.labels?.['pod-template-hash'];
    expect(hash).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]+$/);
    expect(rs!.metadata.name).toBe(`web-${hash}`);
    expect(rs!.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'Deployment', name: 'web', controller: true });

    const list = pods(sim.store, 'demo');
    expect(list).toHaveLength(3);
    for (const pod of list) {
      expect(pod.metadata.name).toMatch(new RegExp(`^web-${hash}-[a-z0-9]{5}$`));
      expect(pod.metadata.ownerReferences?.[0]).toMatchObject({
        kind: 'ReplicaSet',
        name: rs!.metadata.name,
        controller: true,
      });
      expect((pod.spec as { nodeName?: string }).nodeName).toMatch(/^node-\d$/);
      expect(status(pod).phase).toBe('Running');
      expect(isPodReady(pod)).toBe(true);
      expect(status(pod).containerStatuses).toEqual([
        expect.objectContaining({ name: 'app', ready: true, started: true }),
      ]);
    }
    const web = sim.store.get(apps(sim, 'deployments'), 'demo', 'web');
    expect(status(web)).toMatchObject({
      observedGeneration: 1,
      replicas: 3,
      updatedReplicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
    });
    expect(status(web).unavailableReplicas).toBeUndefined();
    expect(status(web).conditions).toEqual([
      expect.objectContaining({ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' }),
      expect.objectContaining({ type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' }),
    ]);
  });

  it('rolls out a template change within maxSurge/maxUnavailable (25%/25%) to a new ReplicaSet', async () => {
    sim = createSim({ startLatencyMs: 15 });
    namespace(sim.store, 'demo');
    sim.store.create(apps(sim, 'deployments'), 'demo', deployment('web', 8));
    await until(() => sim!.controllers.quiescent() && sim!.controllers.unsettled().length === 0, 5000, 'first rollout');
    const before = new Set(pods(sim.store, 'demo').map((p) => p.metadata.name));

    // Track the pod budget on every change: at most 8 + 2 pods, at least 8 - 2 Ready. Pods
    // being deleted (Terminating) are outside the budget, as for the real controller.
    let maxPods = 0;
    let minReady = Infinity;
    const stop = sim.store.watch(undefined, (event) => {
      if (event.resource.plural !== 'pods') return;
      const current = pods(sim!.store, 'demo').filter((p) => !p.metadata.deletionTimestamp);
      maxPods = Math.max(maxPods, current.length);
      minReady = Math.min(minReady, current.filter(isPodReady).length);
    });
    restart(sim.store, 'deployments', 'demo', 'web');
    expect(sim.store.get(apps(sim, 'deployments'), 'demo', 'web').metadata.generation).toBe(2);
    await until(
      () => sim!.controllers.quiescent() && sim!.controllers.unsettled().length === 0,
      10_000,
      'second rollout',
    );
    stop();

    expect(maxPods).toBeLessThanOrEqual(10);
    expect(minReady).toBeGreaterThanOrEqual(6);
    const after = pods(sim.store, 'demo');
    expect(after).toHaveLength(8);
    expect(after.some((p) => before.has(p.metadata.name))).toBe(false);
    const sets = sim.store.list(apps(sim, 'replicasets'), { namespace: 'demo' }).items;
    expect(sets).toHaveLength(2);
    const newest = sets.find((rs) => rs.metadata.annotations?.['deployment.kubernetes.io/revision'] === '2')!;
    expect((newest.spec as { replicas: number }).replicas).toBe(8);
    expect(sets.filter((rs) => rs !== newest).map((rs) => (rs.spec as { replicas: number }).replicas)).toEqual([0]);
    const web = sim.store.get(apps(sim, 'deployments'), 'demo', 'web');
    expect(status(web)).toMatchObject({
      observedGeneration: 2,
      replicas: 8,
      updatedReplicas: 8,
      readyReplicas: 8,
      availableReplicas: 8,
    });
    expect(status(web).conditions?.find((c) => c.type === 'Progressing')).toMatchObject({
      status: 'True',
      reason: 'NewReplicaSetAvailable',
    });
    const events = sim.store.list(sim.store.findType('', 'events')!, { namespace: 'demo' }).items;
    expect(
      events.some(
        (e) =>
          e.reason === 'ScalingReplicaSet' &&
          String(e.message).startsWith(`Scaled up replica set ${newest.metadata.name}`),
      ),
    ).toBe(true);
    // Named as client-go's recorder names them: `<object>.<UnixNano in hex>` (record/event.go).
    const scaling = events.find((e) => e.reason === 'ScalingReplicaSet');
    const [object, hex] = String(scaling?.metadata.name).split('.');
    expect(object).toBe('web');
    const nanos = BigInt(`0x${hex}`);
    expect(Number(nanos / 1_000_000n)).toBeGreaterThan(Date.now() - 600_000);
    expect(Number(nanos / 1_000_000n)).toBeLessThanOrEqual(Date.now());
  });

  it('scales, and garbage-collects ReplicaSets and pods when the Deployment is deleted', async () => {
    sim = createSim();
    namespace(sim.store, 'demo');
    const type = apps(sim, 'deployments');
    sim.store.create(type, 'demo', deployment('web', 3));
    await until(() => pods(sim!.store, 'demo').filter(isPodReady).length === 3);
    const current = sim.store.get(type, 'demo', 'web');
    sim.store.update(type, 'demo', { ...current, spec: { ...(current.spec as object), replicas: 1 } });
    await until(
      () => pods(sim!.store, 'demo').length === 1 && sim!.controllers.unsettled().length === 0,
      5000,
      'scale down',
    );
    sim.store.delete(type, 'demo', 'web');
    await until(
      () => pods(sim!.store, 'demo').length === 0 && sim!.store.list(apps(sim!, 'replicasets')).items.length === 0,
      5000,
      'garbage collection',
    );
  });

  it('reports ProgressDeadlineExceeded when new pods never become Ready', async () => {
    // Pods labelled stuck=yes never pass readiness; speed 20 makes the 2 s deadline 100 ms.
    sim = createSim({ speed: 20, readiness: (pod) => pod.metadata.labels?.stuck !== 'yes' });
    namespace(sim.store, 'demo');
    const type = apps(sim, 'deployments');
    sim.store.create(type, 'demo', deployment('web', 2, { progressDeadlineSeconds: 2 }));
    await until(() => sim!.controllers.unsettled().length === 0 && sim!.controllers.quiescent());
    const current = sim.store.get(type, 'demo', 'web');
    const spec = current.spec as { template: { metadata: { labels: Record<string, string> } } };
    sim.store.update(type, 'demo', {
      ...current,
      spec: {
        ...spec,
        template: { ...spec.template, metadata: { labels: { ...spec.template.metadata.labels, stuck: 'yes' } } },
      },
    });
    await until(
      () =>
        status(sim!.store.get(type, 'demo', 'web')).conditions?.some(
          (c) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded' && c.status === 'False',
        ) ?? false,
      10_000,
      'ProgressDeadlineExceeded',
    );
    // The old pods stay: maxUnavailable 25% of 2 rounds down to 0.
    expect(pods(sim.store, 'demo').filter(isPodReady)).toHaveLength(2);
  });
});

describe('sandbox controllers: StatefulSet and DaemonSet', () => {
  it('replaces StatefulSet pods one at a time from the highest ordinal and completes the revision', async () => {
    sim = createSim({ startLatencyMs: 10 });
    namespace(sim.store, 'db');
    const type = apps(sim, 'statefulsets');
    sim.store.create(type, 'db', {
      metadata: { name: 'redis' },
      spec: {
        replicas: 3,
        serviceName: 'redis',
        selector: { matchLabels: { app: 'redis' } },
        template: {
          metadata: { labels: { app: 'redis' } },
          spec: { containers: [{ name: 'redis', image: 'redis:7' }] },
        },
      },
    });
    await until(
      () => sim!.controllers.quiescent() && sim!.controllers.unsettled().length === 0,
      5000,
      'statefulset up',
    );
    expect(pods(sim.store, 'db').map((p) => p.metadata.name)).toEqual(['redis-0', 'redis-1', 'redis-2']);
    const firstRevision = status(sim.store.get(type, 'db', 'redis')).updateRevision;

    const deletions: string[] = [];
    let maxNotReady = 0;
    const stop = sim.store.watch(undefined, (event) => {
      if (event.resource.plural !== 'pods') return;
      if (event.type === 'DELETED') deletions.push(event.object.metadata.name ?? '');
      const current = pods(sim!.store, 'db');
      maxNotReady = Math.max(maxNotReady, 3 - current.filter(isPodReady).length);
    });
    restart(sim.store, 'statefulsets', 'db', 'redis');
    await until(
      () => sim!.controllers.quiescent() && sim!.controllers.unsettled().length === 0,
      10_000,
      'statefulset rollout',
    );
    stop();

    expect(deletions).toEqual(['redis-2', 'redis-1', 'redis-0']);
    expect(maxNotReady).toBe(1);
    const sts = sim.store.get(type, 'db', 'redis');
    expect(status(sts)).toMatchObject({
      observedGeneration: 2,
      replicas: 3,
      readyReplicas: 3,
      updatedReplicas: 3,
      currentReplicas: 3,
    });
    expect(status(sts).updateRevision).not.toBe(firstRevision);
    expect(status(sts).currentRevision).toBe(status(sts).updateRevision);
    expect(
      pods(sim.store, 'db').every(
        (p) => p.metadata.labels?.['controller-revision-hash'] === status(sts).updateRevision,
      ),
    ).toBe(true);
  });

  it('runs one DaemonSet pod per node and replaces them with at most one unavailable', async () => {
    sim = createSim({ startLatencyMs: 10, nodes: 4 });
    namespace(sim.store, 'agents');
    const type = apps(sim, 'daemonsets');
    sim.store.create(type, 'agents', {
      metadata: { name: 'agent' },
      spec: {
        selector: { matchLabels: { app: 'agent' } },
        template: {
          metadata: { labels: { app: 'agent' } },
          spec: { containers: [{ name: 'agent', image: 'agent:1' }] },
        },
      },
    });
    await until(() => sim!.controllers.quiescent() && sim!.controllers.unsettled().length === 0, 5000, 'daemonset up');
    const nodesOf = () =>
      pods(sim!.store, 'agents')
        .map((p) => (p.spec as { nodeName: string }).nodeName)
        .sort();
    expect(nodesOf()).toEqual(['node-1', 'node-2', 'node-3', 'node-4']);

    let maxUnavailable = 0;
    const stop = sim.store.watch(undefined, (event) => {
      if (event.resource.plural !== 'pods') return;
      maxUnavailable = Math.max(maxUnavailable, 4 - pods(sim!.store, 'agents').filter(isPodReady).length);
    });
    restart(sim.store, 'daemonsets', 'agents', 'agent');
    await until(
      () => sim!.controllers.quiescent() && sim!.controllers.unsettled().length === 0,
      10_000,
      'daemonset rollout',
    );
    stop();
    expect(maxUnavailable).toBe(1);
    expect(nodesOf()).toEqual(['node-1', 'node-2', 'node-3', 'node-4']);
    expect(status(sim.store.get(type, 'agents', 'agent'))).toMatchObject({
      observedGeneration: 2,
      desiredNumberScheduled: 4,
      currentNumberScheduled: 4,
      numberReady: 4,
      numberAvailable: 4,
      updatedNumberScheduled: 4,
    });
  });
});
