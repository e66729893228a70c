/**
 * @kubernetes/client-node 2.x against the sandbox API, unchanged: typed APIs, patch strategies,
 * Watch (including the 410 path), informers, Leases with MicroTime, KubernetesObjectApi and
 * ApiException bodies.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { startHarness, type Harness } from './harness.ts';

let h: Harness;
let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;
let apps: k8s.AppsV1Api;

const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const strategic = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);

function deployment(name: string, labels: Record<string, string>): k8s.V1Deployment {
  return {
    metadata: { name, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name, image: 'nginx:1.25' }] } },
    },
  };
}

/** Collects events until `predicate` holds (or fails the test after `ms`). */
function waitFor<T>(check: () => T | undefined, ms = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      const value = check();
      if (value !== undefined) resolve(value);
      else if (Date.now() - started > ms) reject(new Error('timed out waiting'));
      else setTimeout(tick, 20);
    };
    tick();
  });
}

beforeAll(async () => {
  h = await startHarness();
  kc = new k8s.KubeConfig();
  kc.loadFromFile(h.kubeconfigPath);
  core = kc.makeApiClient(k8s.CoreV1Api);
  apps = kc.makeApiClient(k8s.AppsV1Api);
  await core.createNamespace({ body: { metadata: { name: 'demo', labels: { 'istio-injection': 'enabled' } } } });
});

afterAll(async () => {
  await h.close();
});

describe('client-node against the sandbox', () => {
  it('lists, reads and merge-patches namespaces (null removes a label)', async () => {
    const list = await core.listNamespace({ labelSelector: 'istio-injection=enabled' });
    expect(list.items.map((n) => n.metadata?.name)).toEqual(['demo']);
    expect(list.metadata?.resourceVersion).toMatch(/^\d+$/);
    const patched = await core.patchNamespace(
      { name: 'demo', body: { metadata: { labels: { 'istio-injection': null, 'istio.io/rev': 'canary' } } } },
      merge,
    );
    expect(patched.metadata?.labels).toEqual({ 'istio.io/rev': 'canary', 'kubernetes.io/metadata.name': 'demo' });
    const read = await core.readNamespace({ name: 'demo' });
    expect(read.metadata?.labels).toEqual({ 'istio.io/rev': 'canary', 'kubernetes.io/metadata.name': 'demo' });
    expect(read.status?.phase).toBe('Active');
    expect(read.metadata?.creationTimestamp).toBeInstanceOf(Date);
  });

  it('applies a JSON patch (the client default) and rejects an object sent as one', async () => {
    const patched = await core.patchNamespace({
      name: 'demo',
      body: [
        { op: 'add', path: '/metadata/annotations', value: { owner: 'alice' } },
        { op: 'test', path: '/metadata/name', value: 'demo' },
      ],
    });
    expect(patched.metadata?.annotations).toEqual({ owner: 'alice' });
    const error = await core.patchNamespace({ name: 'demo', body: { metadata: {} } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(k8s.ApiException);
    const body = JSON.parse((error as k8s.ApiException<string>).body) as { reason: string; message: string };
    expect(body).toMatchObject({
      reason: 'BadRequest',
      message: 'json: cannot unmarshal object into Go value of type jsonpatch.Patch',
    });
  });

  it('lists deployments with a label selector and strategic-merge-patches a template annotation', async () => {
    await apps.createNamespacedDeployment({
      namespace: 'demo',
      body: deployment('web', { app: 'web', tier: 'front' }),
    });
    await apps.createNamespacedDeployment({ namespace: 'demo', body: deployment('db', { app: 'db', tier: 'back' }) });
    const front = await apps.listNamespacedDeployment({ namespace: 'demo', labelSelector: 'tier in (front)' });
    expect(front.items.map((d) => d.metadata?.name)).toEqual(['web']);
    const all = await apps.listDeploymentForAllNamespaces({ labelSelector: 'tier' });
    expect(all.items.map((d) => d.metadata?.name)).toEqual(['db', 'web']);
    const patched = await apps.patchNamespacedDeployment(
      {
        name: 'web',
        namespace: 'demo',
        body: {
          spec: {
            template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-11-22T04:00:00Z' } } },
          },
        },
      },
      strategic,
    );
    expect(patched.spec?.template.metadata?.annotations).toEqual({
      'kubectl.kubernetes.io/restartedAt': '2026-11-22T04:00:00Z',
    });
    expect(patched.spec?.template.spec?.containers.map((c) => c.name)).toEqual(['web']);
    expect(patched.metadata?.generation).toBe(2);
  });

  it('watches ADDED, MODIFIED and DELETED', async () => {
    const seen: string[] = [];
    const list = await core.listNamespacedConfigMap({ namespace: 'demo' });
    const controller = await new k8s.Watch(kc).watch(
      '/api/v1/namespaces/demo/configmaps',
      { resourceVersion: list.metadata?.resourceVersion },
      (type, object: k8s.V1ConfigMap) => seen.push(`${type} ${object.metadata?.name ?? ''} ${object.data?.mode ?? ''}`),
      () => undefined,
    );
    await core.createNamespacedConfigMap({
      namespace: 'demo',
      body: { metadata: { name: 'mesh' }, data: { mode: 'a' } },
    });
    await core.patchNamespacedConfigMap({ name: 'mesh', namespace: 'demo', body: { data: { mode: 'b' } } }, merge);
    await core.deleteNamespacedConfigMap({ name: 'mesh', namespace: 'demo' });
    await waitFor(() => (seen.length >= 3 ? true : undefined));
    controller.abort();
    expect(seen).toEqual(['ADDED mesh a', 'MODIFIED mesh b', 'DELETED mesh b']);
  });

  it('gets a 410 Expired ERROR event for a compacted resourceVersion, then the watch ends', async () => {
    h.store.compact(0);
    const events: { type: string; object: { reason?: string; code?: number } }[] = [];
    let ended: unknown = 'pending';
    await new k8s.Watch(kc).watch(
      '/api/v1/namespaces',
      { resourceVersion: '1' },
      (type, object: { reason?: string; code?: number }) => events.push({ type, object }),
      (error: unknown) => {
        ended = error;
      },
    );
    await waitFor(() => (ended === 'pending' ? undefined : true));
    expect(ended).toBeNull();
    expect(events).toEqual([{ type: 'ERROR', object: expect.objectContaining({ reason: 'Expired', code: 410 }) }]);
  });

  it('keeps an informer in sync through the watch', async () => {
    const path = '/api/v1/namespaces/demo/secrets';
    const informer = k8s.makeInformer(
      kc,
      path,
      () => core.listNamespacedSecret({ namespace: 'demo', labelSelector: 'revroll.io/test=informer' }),
      'revroll.io/test=informer',
    );
    const log: string[] = [];
    informer.on('add', (s) => log.push(`add ${s.metadata?.name ?? ''}`));
    informer.on('update', (s) => log.push(`update ${s.metadata?.name ?? ''}`));
    informer.on('delete', (s) => log.push(`delete ${s.metadata?.name ?? ''}`));
    await core.createNamespacedSecret({
      namespace: 'demo',
      body: { metadata: { name: 'before', labels: { 'revroll.io/test': 'informer' } }, stringData: { a: 'b' } },
    });
    await informer.start();
    await core.createNamespacedSecret({
      namespace: 'demo',
      body: { metadata: { name: 'after', labels: { 'revroll.io/test': 'informer' } } },
    });
    await core.createNamespacedSecret({ namespace: 'demo', body: { metadata: { name: 'unlabelled' } } });
    await core.patchNamespacedSecret(
      { name: 'after', namespace: 'demo', body: { metadata: { annotations: { touched: 'yes' } } } },
      merge,
    );
    await core.deleteNamespacedSecret({ name: 'before', namespace: 'demo' });
    await waitFor(() => (log.length >= 4 ? true : undefined));
    await informer.stop();
    expect(log).toEqual(['add before', 'add after', 'update after', 'delete before']);
    expect(informer.list('demo').map((s) => s.metadata?.name)).toEqual(['after']);
  });

  it('creates core/v1 events with generateName', async () => {
    const event = await core.createNamespacedEvent({
      namespace: 'demo',
      body: {
        metadata: { generateName: 'web.' },
        involvedObject: { kind: 'Deployment', name: 'web', namespace: 'demo' },
        reason: 'CanaryGatePassed',
        message: 'error rate 0.1% under 1%',
        type: 'Normal',
        source: { component: 'revroll' },
        count: 1,
        firstTimestamp: new Date('2026-11-22T04:00:00Z'),
        lastTimestamp: new Date('2026-11-22T04:00:00Z'),
      },
    });
    expect(event.metadata?.name).toMatch(/^web\.[a-z0-9]{5}$/);
    const listed = await core.listNamespacedEvent({
      namespace: 'demo',
      fieldSelector: 'involvedObject.name=web,reason=CanaryGatePassed',
    });
    expect(listed.items.map((e) => e.message)).toEqual(['error rate 0.1% under 1%']);
  });

  it('creates and renews a Lease with MicroTime, and a stale resourceVersion conflicts', async () => {
    const coordination = kc.makeApiClient(k8s.CoordinationV1Api);
    const lease = await coordination.createNamespacedLease({
      namespace: 'demo',
      body: {
        metadata: { name: 'revroll-lock' },
        spec: {
          holderIdentity: 'runner-a',
          leaseDurationSeconds: 30,
          acquireTime: new k8s.V1MicroTime(),
          renewTime: new k8s.V1MicroTime(),
        },
      },
    });
    // client-node hands MicroTime back as the wire string (six fraction digits).
    expect(String(lease.spec?.renewTime)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const stale = structuredClone(lease);
    lease.spec = { ...lease.spec, renewTime: new k8s.V1MicroTime() };
    const renewed = await coordination.replaceNamespacedLease({ name: 'revroll-lock', namespace: 'demo', body: lease });
    expect(Number(renewed.metadata?.resourceVersion)).toBeGreaterThan(Number(stale.metadata?.resourceVersion));
    const conflict = await coordination
      .replaceNamespacedLease({
        name: 'revroll-lock',
        namespace: 'demo',
        body: { ...stale, spec: { ...stale.spec, holderIdentity: 'runner-b' } },
      })
      .catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(k8s.ApiException);
    expect((conflict as k8s.ApiException<string>).code).toBe(409);
    expect(JSON.parse((conflict as k8s.ApiException<string>).body)).toMatchObject({
      reason: 'Conflict',
      details: { name: 'revroll-lock', group: 'coordination.k8s.io', kind: 'leases' },
    });
  });

  it('reads, patches and lists through KubernetesObjectApi', async () => {
    const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    const ns = await objects.read({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'demo' } });
    expect(ns.metadata?.name).toBe('demo');
    const patched: k8s.KubernetesObject = await objects.patch({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'demo', labels: { 'revroll.io/wave': '1' } },
    });
    expect(patched.metadata?.labels).toMatchObject({ 'revroll.io/wave': '1', 'istio.io/rev': 'canary' });
    // Server-side apply is refused as an unsupported patch type (the sandbox does not model it).
    const applied = await objects
      .patch(
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'applied', namespace: 'demo' },
          data: { a: '1' },
        } as k8s.KubernetesObject,
        undefined,
        undefined,
        'revroll',
        true,
        k8s.PatchStrategy.ServerSideApply,
      )
      .catch((e: unknown) => e);
    expect(applied).toBeInstanceOf(k8s.ApiException);
    expect((applied as k8s.ApiException<string>).code).toBe(415);
    expect(JSON.parse((applied as k8s.ApiException<string>).body)).toMatchObject({ reason: 'UnsupportedMediaType' });
    const list = await objects.list(
      'apps/v1',
      'Deployment',
      'demo',
      undefined,
      undefined,
      undefined,
      undefined,
      'app=web',
    );
    expect(list.items.map((d) => d.metadata?.name)).toEqual(['web']);
  });

  it('throws ApiException with the Status body on 404', async () => {
    const error = await apps.readNamespacedDeployment({ name: 'nope', namespace: 'demo' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(k8s.ApiException);
    const apiError = error as k8s.ApiException<string>;
    expect(apiError.code).toBe(404);
    expect(JSON.parse(apiError.body)).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'deployments.apps "nope" not found',
      reason: 'NotFound',
      details: { name: 'nope', group: 'apps', kind: 'deployments' },
      code: 404,
    });
  });
});
