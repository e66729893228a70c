/**
 * Contract: deletion takes time, as on a real cluster. Pods terminate gracefully, finalizers hold
 * objects, propagation policies cascade as the garbage collector does, namespaces drain, and the
 * controllers count Terminating pods as the real ones do.
 *
 * Sources: pkg/registry/core/pod/strategy.go (CheckGracefulDelete), pkg/registry/rest/delete.go
 * (BeforeDelete), k8s.io/apiserver/pkg/registry/generic/registry/store.go (Delete,
 * deletionFinalizersForGarbageCollection, ReturnDeletedObject for pods), the garbage collector
 * (pkg/controller/garbagecollector), the namespace registry and controller, NamespaceLifecycle
 * admission (plugin/pkg/admission/namespace/lifecycle), pkg/controller/deployment/recreate.go
 * (oldPodsRunning), pkg/controller/replicaset (FilterActivePods).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, type Sandbox } from '../../src/index.ts';
import { startHarness, type Harness } from '../api/harness.ts';
import { deploymentBody, sender, waitUntil, type Send } from './helpers.ts';

type Meta = {
  name?: string;
  uid?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  finalizers?: string[];
  generation?: number;
  ownerReferences?: { uid: string }[];
};
const meta = (body: Record<string, unknown>) => (body.metadata ?? {}) as Meta;

let sandbox: Sandbox;
let send: Send;

beforeAll(async () => {
  // Speed 10: a 3 s grace period passes in 0.3 s. Containers stop after 1 s unless a test says otherwise.
  sandbox = await createSandbox({
    scenario: { name: 'deletion', nodes: 2, startLatencyMs: 20, namespaces: [{ name: 'demo' }] } as never,
    speed: 10,
    stopLatencyMs: 1000,
  });
  send = sender(sandbox.url);
});

afterAll(async () => {
  await sandbox.close();
});

const pod = (name: string, grace: number, labels: Record<string, string> = {}) => ({
  metadata: { name, labels },
  spec: { terminationGracePeriodSeconds: grace, containers: [{ name: 'c', image: 'busybox' }] },
});

async function runningPod(name: string, grace: number): Promise<void> {
  expect((await send('POST', '/api/v1/namespaces/demo/pods', pod(name, grace))).status).toBe(201);
  await waitUntil(
    async () =>
      ((await send('GET', `/api/v1/namespaces/demo/pods/${name}`)).body.status as { phase?: string })?.phase ===
      'Running',
    5000,
    `${name} running`,
  );
}

describe('pods terminate gracefully', () => {
  it('answers 200 with the pod marked for deletion, lists it as Terminating, and removes it when its containers stop', async () => {
    await runningPod('graceful', 30);
    const before = Date.now();
    const reply = await send('DELETE', '/api/v1/namespaces/demo/pods/graceful', {
      kind: 'DeleteOptions',
      apiVersion: 'v1',
      propagationPolicy: 'Background',
    });
    expect(reply.status).toBe(200);
    expect(reply.body.kind).toBe('Pod');
    const deleting = meta(reply.body);
    expect(deleting.deletionGracePeriodSeconds).toBe(30);
    // deletionTimestamp = now + grace period (simulated time).
    const until = Date.parse(deleting.deletionTimestamp ?? '') - sandbox.clock.now().getTime();
    expect(until).toBeGreaterThan(25_000);
    expect(until).toBeLessThanOrEqual(31_000);
    const listed = await send('GET', '/api/v1/namespaces/demo/pods');
    expect((listed.body.items as { metadata: Meta }[]).some((p) => p.metadata.name === 'graceful')).toBe(true);
    // The containers stop after stopLatencyMs (1 s simulated = 0.1 s here), well inside the grace period.
    await waitUntil(
      async () => (await send('GET', '/api/v1/namespaces/demo/pods/graceful')).status === 404,
      5000,
      'gone',
    );
    expect(Date.now() - before).toBeGreaterThanOrEqual(80);
  });

  it('keeps a pod whose containers outlast its grace period until the grace period ends', async () => {
    const slow = await createSandbox({
      scenario: { name: 'slow', nodes: 1, startLatencyMs: 20, namespaces: [{ name: 'demo' }] } as never,
      speed: 10,
      stopLatencyMs: 600_000,
    });
    try {
      const slowSend = sender(slow.url);
      await slowSend('POST', '/api/v1/namespaces/demo/pods', pod('stubborn', 3));
      await waitUntil(
        async () =>
          ((await slowSend('GET', '/api/v1/namespaces/demo/pods/stubborn')).body.status as { phase?: string })
            ?.phase === 'Running',
      );
      const started = Date.now();
      await slowSend('DELETE', '/api/v1/namespaces/demo/pods/stubborn');
      await waitUntil(
        async () => (await slowSend('GET', '/api/v1/namespaces/demo/pods/stubborn')).status === 404,
        5000,
      );
      // 3 s simulated at speed 10: about 300 ms.
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    } finally {
      await slow.close();
    }
  });

  it('deletes at once with gracePeriodSeconds=0, and answers with the pod itself (pods return deleted objects)', async () => {
    await runningPod('forced', 30);
    const reply = await send('DELETE', '/api/v1/namespaces/demo/pods/forced', { gracePeriodSeconds: 0 });
    expect(reply.status).toBe(200);
    expect(reply.body.kind).toBe('Pod');
    expect((await send('GET', '/api/v1/namespaces/demo/pods/forced')).status).toBe(404);
  });

  it('counts a Terminating pod out: its ReplicaSet creates a replacement at once and does not count it', async () => {
    await send('POST', '/apis/apps/v1/namespaces/demo/deployments', deploymentBody('rs-web'));
    await sandbox.waitForIdle();
    const pods = await send('GET', '/api/v1/namespaces/demo/pods?labelSelector=app%3Drs-web');
    const [victim] = pods.body.items as { metadata: Meta }[];
    await send('DELETE', `/api/v1/namespaces/demo/pods/${victim?.metadata.name ?? ''}`);
    await waitUntil(
      async () => {
        const all = (await send('GET', '/api/v1/namespaces/demo/pods?labelSelector=app%3Drs-web')).body.items as {
          metadata: Meta;
        }[];
        return all.length === 2 && all.some((p) => p.metadata.deletionTimestamp);
      },
      5000,
      'a replacement beside the Terminating pod',
    );
    const rs = (await send('GET', '/apis/apps/v1/namespaces/demo/replicasets?labelSelector=app%3Drs-web')).body
      .items as { status: { replicas: number } }[];
    expect(rs[0]?.status.replicas).toBe(1);
  });
});

describe('finalizers hold an object', () => {
  it('answers a delete with the object marked, refuses new finalizers, and deletes it when the last one goes', async () => {
    await send('POST', '/api/v1/namespaces/demo/configmaps', {
      metadata: { name: 'held', finalizers: ['example.com/hold'] },
    });
    const reply = await send('DELETE', '/api/v1/namespaces/demo/configmaps/held');
    expect(reply.status).toBe(200);
    expect(reply.body.kind).toBe('ConfigMap');
    expect(meta(reply.body)).toMatchObject({ deletionGracePeriodSeconds: 0, finalizers: ['example.com/hold'] });
    expect(meta(reply.body).deletionTimestamp).toBeDefined();
    expect((await send('GET', '/api/v1/namespaces/demo/configmaps/held')).status).toBe(200);
    const added = await send(
      'PATCH',
      '/api/v1/namespaces/demo/configmaps/held',
      { metadata: { finalizers: ['example.com/hold', 'example.com/more'] } },
      {
        contentType: 'application/merge-patch+json',
      },
    );
    expect(added.status).toBe(422);
    expect(added.body.message).toBe(
      'ConfigMap "held" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"example.com/more"}',
    );
    const released = await send(
      'PATCH',
      '/api/v1/namespaces/demo/configmaps/held',
      { metadata: { finalizers: null } },
      {
        contentType: 'application/merge-patch+json',
      },
    );
    expect(released.status).toBe(200);
    expect((await send('GET', '/api/v1/namespaces/demo/configmaps/held')).status).toBe(404);
  });

  it('answers an immediate delete of other kinds with a Status carrying the uid (wire §3 delete -f)', async () => {
    const created = await send('POST', '/api/v1/namespaces/demo/configmaps', { metadata: { name: 'plain' } });
    const reply = await send('DELETE', '/api/v1/namespaces/demo/configmaps/plain');
    expect(reply.body).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Success',
      details: { name: 'plain', kind: 'configmaps', uid: meta(created.body).uid },
    });
  });
});

describe('propagation policies', () => {
  it('Foreground: the owner stays (foregroundDeletion, generation + 1) until its blocking dependents are gone', async () => {
    await send('POST', '/apis/apps/v1/namespaces/demo/deployments', deploymentBody('fg'));
    await sandbox.waitForIdle();
    const reply = await send('DELETE', '/apis/apps/v1/namespaces/demo/deployments/fg', {
      propagationPolicy: 'Foreground',
    });
    expect(reply.status).toBe(200);
    expect(reply.body.kind).toBe('Deployment');
    expect(meta(reply.body)).toMatchObject({
      finalizers: ['foregroundDeletion'],
      generation: 2,
      deletionGracePeriodSeconds: 0,
    });
    // The pod is Terminating (1 s simulated), so the Deployment is still there.
    await waitUntil(
      async () => {
        const pods = (await send('GET', '/api/v1/namespaces/demo/pods?labelSelector=app%3Dfg')).body.items as {
          metadata: Meta;
        }[];
        return pods.length > 0 && pods.every((p) => p.metadata.deletionTimestamp);
      },
      5000,
      'pods terminating',
    );
    expect((await send('GET', '/apis/apps/v1/namespaces/demo/deployments/fg')).status).toBe(200);
    await waitUntil(
      async () => (await send('GET', '/apis/apps/v1/namespaces/demo/deployments/fg')).status === 404,
      5000,
      'deployment gone',
    );
    expect((await send('GET', '/apis/apps/v1/namespaces/demo/replicasets?labelSelector=app%3Dfg')).body.items).toEqual(
      [],
    );
    expect((await send('GET', '/api/v1/namespaces/demo/pods?labelSelector=app%3Dfg')).body.items).toEqual([]);
  });

  it('Background: the owner goes at once, its dependents after it', async () => {
    await send('POST', '/apis/apps/v1/namespaces/demo/deployments', deploymentBody('bg'));
    await sandbox.waitForIdle();
    const reply = await send('DELETE', '/apis/apps/v1/namespaces/demo/deployments/bg', {
      propagationPolicy: 'Background',
    });
    expect(reply.body).toMatchObject({
      kind: 'Status',
      status: 'Success',
      details: { name: 'bg', group: 'apps', kind: 'deployments' },
    });
    expect((await send('GET', '/apis/apps/v1/namespaces/demo/deployments/bg')).status).toBe(404);
    await waitUntil(
      async () =>
        (
          (await send('GET', '/apis/apps/v1/namespaces/demo/replicasets?labelSelector=app%3Dbg')).body
            .items as unknown[]
        ).length === 0,
    );
    await waitUntil(
      async () =>
        ((await send('GET', '/api/v1/namespaces/demo/pods?labelSelector=app%3Dbg')).body.items as unknown[]).length ===
        0,
    );
  });

  it('Orphan: the dependents stay, without their owner reference', async () => {
    await send('POST', '/apis/apps/v1/namespaces/demo/deployments', deploymentBody('orphan'));
    await sandbox.waitForIdle();
    const deployment = await send('GET', '/apis/apps/v1/namespaces/demo/deployments/orphan');
    const uid = meta(deployment.body).uid;
    await send('DELETE', '/apis/apps/v1/namespaces/demo/deployments/orphan', { propagationPolicy: 'Orphan' });
    await waitUntil(async () => (await send('GET', '/apis/apps/v1/namespaces/demo/deployments/orphan')).status === 404);
    const sets = (await send('GET', '/apis/apps/v1/namespaces/demo/replicasets?labelSelector=app%3Dorphan')).body
      .items as {
      metadata: Meta;
    }[];
    expect(sets).toHaveLength(1);
    expect(sets[0]?.metadata.ownerReferences?.some((r) => r.uid === uid) ?? false).toBe(false);
    expect(
      ((await send('GET', '/api/v1/namespaces/demo/pods?labelSelector=app%3Dorphan')).body.items as unknown[]).length,
    ).toBe(1);
  });

  it('refuses an unknown propagation policy as the real DeleteOptions validation does', async () => {
    const reply = await send('DELETE', '/api/v1/namespaces/demo/configmaps/none', { propagationPolicy: 'Sideways' });
    expect(reply.status).toBe(422);
    expect(reply.body.message).toBe(
      'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "Sideways": supported values: "Foreground", "Background", "Orphan", "nil"',
    );
  });
});

describe('controllers wait for Terminating pods where the real ones do', () => {
  it('Recreate: new pods only once every old pod is gone', async () => {
    const body = deploymentBody('recreate');
    (body.spec as Record<string, unknown>).strategy = { type: 'Recreate' };
    (body.spec as Record<string, unknown>).replicas = 2;
    await send('POST', '/apis/apps/v1/namespaces/demo/deployments', body);
    await sandbox.waitForIdle();
    let overlap = false;
    const stop = sandbox.store.watch(undefined, (event) => {
      if (event.resource.plural !== 'pods' || event.object.metadata.labels?.app !== 'recreate') return;
      const all = sandbox.store
        .list(event.resource, { namespace: 'demo' })
        .items.filter((p) => p.metadata.labels?.app === 'recreate');
      const hashes = new Set(all.map((p) => p.metadata.labels?.['pod-template-hash']));
      if (hashes.size > 1) overlap = true;
    });
    await send(
      'PATCH',
      '/apis/apps/v1/namespaces/demo/deployments/recreate',
      {
        spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': 'now' } } } },
      },
      { contentType: 'application/strategic-merge-patch+json' },
    );
    await sandbox.waitForIdle();
    stop();
    expect(overlap).toBe(false);
  });

  it('StatefulSet: an ordinal is recreated only after its Terminating pod is gone (its name is taken)', async () => {
    const body = {
      ...deploymentBody('sts'),
      kind: 'StatefulSet',
      spec: { ...(deploymentBody('sts').spec as object), serviceName: 'sts' },
    };
    await send('POST', '/apis/apps/v1/namespaces/demo/statefulsets', body);
    await sandbox.waitForIdle();
    const before = await send('GET', '/api/v1/namespaces/demo/pods/sts-0');
    await send('DELETE', '/api/v1/namespaces/demo/pods/sts-0');
    const terminating = await send('GET', '/api/v1/namespaces/demo/pods/sts-0');
    expect(meta(terminating.body).uid).toBe(meta(before.body).uid);
    expect(meta(terminating.body).deletionTimestamp).toBeDefined();
    await waitUntil(
      async () => {
        const now = await send('GET', '/api/v1/namespaces/demo/pods/sts-0');
        return now.status === 200 && meta(now.body).uid !== meta(before.body).uid;
      },
      5000,
      'sts-0 recreated',
    );
  });
});

describe('namespaces drain before they go', () => {
  it('marks the namespace Terminating, refuses new content with 403, then deletes the content and itself', async () => {
    await send('POST', '/api/v1/namespaces', { metadata: { name: 'doomed' } });
    await send('POST', '/api/v1/namespaces/doomed/pods', pod('inside', 30));
    const reply = await send('DELETE', '/api/v1/namespaces/doomed');
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ kind: 'Namespace', status: { phase: 'Terminating' } });
    const refused = await send('POST', '/api/v1/namespaces/doomed/configmaps', { metadata: { name: 'late' } });
    expect(refused.status).toBe(403);
    expect(refused.body).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        'configmaps "late" is forbidden: unable to create new content in namespace doomed because it is being terminated',
      reason: 'Forbidden',
      details: {
        name: 'late',
        kind: 'configmaps',
        causes: [
          {
            reason: 'NamespaceTerminating',
            message: 'namespace doomed is being terminated',
            field: 'metadata.namespace',
          },
        ],
      },
      code: 403,
    });
    await waitUntil(
      async () => (await send('GET', '/api/v1/namespaces/doomed')).status === 404,
      10_000,
      'namespace gone',
    );
  });
});

describe('without a kubelet (an API server alone)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it('deletes a pod bound to no node at once (CheckGracefulDelete: not scheduled)', async () => {
    const local = sender(h.server.url);
    await local('POST', '/api/v1/namespaces/default/pods', pod('unbound', 30));
    const reply = await local('DELETE', '/api/v1/namespaces/default/pods/unbound');
    expect(reply.status).toBe(200);
    expect(reply.body.kind).toBe('Pod');
    expect((await local('GET', '/api/v1/namespaces/default/pods/unbound')).status).toBe(404);
  });
});

describe('a Terminating pod keeps exporting its metrics until it is gone', () => {
  let meshed: Sandbox;
  beforeAll(async () => {
    meshed = await createSandbox({
      scenario: {
        name: 'metrics',
        nodes: 1,
        startLatencyMs: 20,
        istio: { revisions: [{ name: '1-25-1', version: '1.25.1' }] },
        namespaces: [{ name: 'shop', labels: { 'istio.io/rev': '1-25-1' }, workloads: [{ name: 'web', replicas: 1 }] }],
        telemetry: { tickMs: 50 },
      } as never,
      stopLatencyMs: 600_000,
    });
    await meshed.waitForIdle();
  });
  afterAll(async () => {
    await meshed.close();
  });

  it('lists the pod as Terminating with its proxy series still scraped, and drops them once deleted', async () => {
    const local = sender(meshed.url);
    const pods = (await local('GET', '/api/v1/namespaces/shop/pods')).body.items as { metadata: Meta }[];
    const name = pods[0]?.metadata.name ?? '';
    const scrape = async () => (await fetch(meshed.metricsUrl)).text();
    await waitUntil(async () => (await scrape()).includes(`pod="${name}"`), 5000, 'series of the pod');
    await local('DELETE', `/api/v1/namespaces/shop/pods/${name}`);
    expect(meta((await local('GET', `/api/v1/namespaces/shop/pods/${name}`)).body).deletionTimestamp).toBeDefined();
    expect(await scrape()).toContain(`pod="${name}"`);
    await local('DELETE', `/api/v1/namespaces/shop/pods/${name}`, { gracePeriodSeconds: 0 });
    await waitUntil(async () => !(await scrape()).includes(`pod="${name}"`), 5000, 'series gone');
  });
});
