import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installGateway, installRevision, setTag } from '../../src/istio.ts';
import { StoreError, type KubeObject } from '../../src/store.ts';
import { createSim, deployment, namespace, pods, until, type Sim } from './helpers.ts';

type Container = { name: string; image: string; restartPolicy?: string; env?: { name: string; value?: string }[] };

const crashed = new Set<string>();
let sim: Sim;
let counter = 0;

beforeAll(async () => {
  sim = createSim({
    startLatencyMs: 10,
    readiness: (pod) =>
      !(pod.metadata.labels?.app === 'istiod' && crashed.has(pod.metadata.labels['istio.io/rev'] ?? '')),
  });
  // An old unrevisioned control plane, then two revisions; the default tag deactivates the old injector.
  installRevision(sim.store, { revision: 'default', version: '1.23.0' });
  installRevision(sim.store, { revision: '1-24-3', version: '1.24.3' });
  installRevision(sim.store, { revision: '1-25-1', version: '1.25.1' });
  setTag(sim.store, { tag: 'default', revision: '1-24-3' });
  setTag(sim.store, { tag: 'canary', revision: '1-25-1' });
  const deployments = sim.store.findType('apps', 'deployments')!;
  await until(
    () =>
      ['istiod', 'istiod-1-24-3', 'istiod-1-25-1'].every(
        (n) =>
          ((sim.store.get(deployments, 'istio-system', n).status as { readyReplicas?: number } | undefined)
            ?.readyReplicas ?? 0) > 0,
      ),
    5000,
    'istiod ready',
  );
});
afterAll(() => sim.close());

const podType = () => sim.store.findType('', 'pods')!;

function createPod(
  nsLabels: Record<string, string>,
  podLabels: Record<string, string>,
  spec: Record<string, unknown> = {},
): KubeObject {
  const ns = `case-${++counter}`;
  namespace(sim.store, ns, nsLabels);
  return sim.store.create(podType(), ns, {
    metadata: { name: 'app', labels: { app: 'hello', ...podLabels } },
    spec: { containers: [{ name: 'hello', image: 'hello:1' }], ...spec },
  });
}

const proxyOf = (pod: KubeObject) =>
  [
    ...((pod.spec as { initContainers?: Container[] }).initContainers ?? []),
    ...(pod.spec as { containers: Container[] }).containers,
  ].find((c) => c.name === 'istio-proxy');

describe('sandbox admission: injection follows the webhooks selectors', () => {
  // [namespace labels, pod labels, expected revision (undefined: not injected)]
  const cases: [string, Record<string, string>, Record<string, string>, string | undefined][] = [
    ['istio-injection=enabled -> the default tag revision', { 'istio-injection': 'enabled' }, {}, '1-24-3'],
    ['istio.io/rev=<rev> -> that revision', { 'istio.io/rev': '1-25-1' }, {}, '1-25-1'],
    ['istio.io/rev=<tag> -> the tag revision', { 'istio.io/rev': 'canary' }, {}, '1-25-1'],
    ['istio.io/rev=default -> the default tag revision', { 'istio.io/rev': 'default' }, {}, '1-24-3'],
    [
      'both namespace labels -> istio-injection wins',
      { 'istio-injection': 'enabled', 'istio.io/rev': '1-25-1' },
      {},
      '1-24-3',
    ],
    ['istio-injection=disabled -> none', { 'istio-injection': 'disabled' }, {}, undefined],
    [
      'istio-injection=disabled beats a pod istio.io/rev',
      { 'istio-injection': 'disabled' },
      { 'istio.io/rev': '1-25-1' },
      undefined,
    ],
    ['no namespace label, pod istio.io/rev -> that revision', {}, { 'istio.io/rev': '1-25-1' }, '1-25-1'],
    ['no namespace label, pod istio.io/rev=<tag> -> the tag revision', {}, { 'istio.io/rev': 'canary' }, '1-25-1'],
    [
      'no namespace label, pod sidecar.istio.io/inject=true -> default',
      {},
      { 'sidecar.istio.io/inject': 'true' },
      '1-24-3',
    ],
    ['no labels at all -> none', {}, {}, undefined],
    [
      'namespace istio.io/rev ignores the pod istio.io/rev',
      { 'istio.io/rev': '1-25-1' },
      { 'istio.io/rev': '1-24-3' },
      '1-25-1',
    ],
    [
      'istio-injection=enabled ignores the pod istio.io/rev',
      { 'istio-injection': 'enabled' },
      { 'istio.io/rev': '1-25-1' },
      '1-24-3',
    ],
    [
      'pod sidecar.istio.io/inject=false opts out (istio-injection)',
      { 'istio-injection': 'enabled' },
      { 'sidecar.istio.io/inject': 'false' },
      undefined,
    ],
    [
      'pod sidecar.istio.io/inject=false opts out (istio.io/rev)',
      { 'istio.io/rev': '1-25-1' },
      { 'sidecar.istio.io/inject': 'false' },
      undefined,
    ],
    ['unknown revision -> none', { 'istio.io/rev': '9-9-9' }, {}, undefined],
  ];

  it.each(cases)('%s', (_title, nsLabels, podLabels, expected) => {
    const pod = createPod(nsLabels, podLabels);
    expect(pod.metadata.annotations?.['istio.io/rev']).toBe(expected);
    if (expected === undefined) {
      expect(pod.metadata.annotations?.['sidecar.istio.io/status']).toBeUndefined();
      expect(proxyOf(pod)).toBeUndefined();
    } else {
      const version = expected === '1-24-3' ? '1.24.3' : '1.25.1';
      expect(proxyOf(pod)?.image).toBe(`docker.io/istio/proxyv2:${version}`);
      expect(proxyOf(pod)?.env?.find((e) => e.name === 'CA_ADDR')?.value).toBe(
        `istiod-${expected}.istio-system.svc:15012`,
      );
    }
  });

  it('never injects through the deactivated unrevisioned injector', () => {
    const injector = sim.store.get(
      sim.store.findType('admissionregistration.k8s.io', 'mutatingwebhookconfigurations')!,
      undefined,
      'istio-sidecar-injector',
    );
    const webhooks = injector.webhooks as { name: string; namespaceSelector: unknown; objectSelector: unknown }[];
    expect(webhooks.map((w) => w.name)).toEqual([
      'rev.namespace.sidecar-injector.istio.io',
      'rev.object.sidecar-injector.istio.io',
      'namespace.sidecar-injector.istio.io',
      'object.sidecar-injector.istio.io',
    ]);
    for (const w of webhooks) {
      expect(w.namespaceSelector).toEqual({ matchLabels: { 'istio.io/deactivated': 'never-match' } });
      expect(w.objectSelector).toEqual({ matchLabels: { 'istio.io/deactivated': 'never-match' } });
    }
    // Nothing reaches the 1.23.0 control plane, not even pods asking for istio.io/rev=default.
    for (const [nsLabels, podLabels] of [
      [{ 'istio-injection': 'enabled' }, {}],
      [{}, { 'istio.io/rev': 'default' }],
      [{}, { 'sidecar.istio.io/inject': 'true' }],
    ] as const) {
      expect(proxyOf(createPod(nsLabels, podLabels))?.image).toBe('docker.io/istio/proxyv2:1.24.3');
    }
  });

  it('writes what Istio writes on an injected pod', () => {
    const pod = createPod({ 'istio.io/rev': '1-25-1' }, { version: 'v2' });
    expect(pod.metadata.labels).toMatchObject({
      'security.istio.io/tlsMode': 'istio',
      'service.istio.io/canonical-name': 'hello',
      'service.istio.io/canonical-revision': 'v2',
    });
    expect(pod.metadata.labels?.['istio.io/rev']).toBeUndefined();
    expect(pod.metadata.annotations).toMatchObject({
      'istio.io/rev': '1-25-1',
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '15020',
      'prometheus.io/path': '/stats/prometheus',
      'kubectl.kubernetes.io/default-container': 'hello',
    });
    const status = JSON.parse(pod.metadata.annotations?.['sidecar.istio.io/status'] ?? '{}') as Record<string, unknown>;
    expect(status).toMatchObject({
      revision: '1-25-1',
      initContainers: ['istio-init', 'istio-proxy'],
      containers: null,
    });
    const proxy = proxyOf(pod)!;
    expect(proxy.restartPolicy).toBe('Always');
    expect((pod.spec as { initContainers: Container[] }).initContainers.map((c) => c.name)).toEqual([
      'istio-init',
      'istio-proxy',
    ]);
    expect((pod.spec as { containers: Container[] }).containers.map((c) => c.name)).toEqual(['hello']);
  });

  it('skips hostNetwork pods and pods already injected', () => {
    expect(
      createPod({ 'istio-injection': 'enabled' }, {}, { hostNetwork: true }).metadata.annotations?.['istio.io/rev'],
    ).toBeUndefined();
    const injected = createPod({ 'istio.io/rev': '1-25-1' }, {});
    const ns = `case-${++counter}`;
    namespace(sim.store, ns, { 'istio-injection': 'enabled' });
    const again = sim.store.create(podType(), ns, {
      metadata: { name: 'copy', labels: injected.metadata.labels, annotations: injected.metadata.annotations },
      spec: injected.spec,
    });
    expect(again.metadata.annotations?.['istio.io/rev']).toBe('1-25-1');
    expect((again.spec as { initContainers: Container[] }).initContainers).toHaveLength(2);
  });

  it('substitutes the proxy image of a gateway bound to a revision, and leaves `auto` when none matches', async () => {
    installGateway(sim.store, { name: 'gw-stable', revision: '1-24-3', replicas: 1 });
    installGateway(sim.store, { name: 'gw-orphan', revision: 'deleted-rev', replicas: 1 });
    await until(
      () =>
        pods(sim.store, 'istio-system').filter(
          (p) =>
            p.metadata.name?.startsWith('gw-') &&
            (p.status as { phase?: string }).phase !== undefined &&
            (p.status as { startTime?: string }).startTime,
        ).length === 2,
      5000,
      'gateway pods',
    );
    const gw = pods(sim.store, 'istio-system').find((p) => p.metadata.name?.startsWith('gw-stable'))!;
    const container = (gw.spec as { containers: Container[] }).containers.find((c) => c.name === 'istio-proxy')!;
    expect(container.image).toBe('docker.io/istio/proxyv2:1.24.3');
    expect(gw.metadata.annotations?.['istio.io/rev']).toBe('1-24-3');
    expect(JSON.parse(gw.metadata.annotations?.['sidecar.istio.io/status'] ?? '{}')).toMatchObject({
      containers: ['istio-proxy'],
      initContainers: null,
    });
    const orphan = pods(sim.store, 'istio-system').find((p) => p.metadata.name?.startsWith('gw-orphan'))!;
    expect((orphan.spec as { containers: Container[] }).containers[0]?.image).toBe('auto');
    expect(orphan.status).toMatchObject({
      phase: 'Pending',
      containerStatuses: [
        expect.objectContaining({ state: { waiting: expect.objectContaining({ reason: 'ImagePullBackOff' }) } }),
      ],
    });
  });
});

describe('sandbox admission: failurePolicy Fail', () => {
  it('fails pod creation while the istiod is not ready, stalls the rollout visibly, then recovers', async () => {
    crashed.add('1-25-1');
    sim.controllers.refreshReadiness('istio-system');
    namespace(sim.store, 'stall', { 'istio.io/rev': '1-25-1' });

    let error: unknown;
    try {
      sim.store.create(podType(), 'stall', {
        metadata: { name: 'direct' },
        spec: { containers: [{ name: 'a', image: 'a' }] },
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({
      reason: 'InternalError',
      code: 500,
      message:
        'Internal error occurred: failed calling webhook "rev.namespace.sidecar-injector.istio.io": failed to call webhook: Post "https://istiod-1-25-1.istio-system.svc:443/inject?timeout=10s": no endpoints available for service "istiod-1-25-1"',
    });

    const deployments = sim.store.findType('apps', 'deployments')!;
    sim.store.create(deployments, 'stall', deployment('web', 2));
    const events = () => sim.store.list(sim.store.findType('', 'events')!, { namespace: 'stall' }).items;
    await until(() => events().some((e) => e.reason === 'FailedCreate'), 5000, 'FailedCreate event');
    const failed = events().find((e) => e.reason === 'FailedCreate')!;
    expect(failed).toMatchObject({ type: 'Warning', involvedObject: expect.objectContaining({ kind: 'ReplicaSet' }) });
    expect(String(failed.message)).toContain('no endpoints available for service "istiod-1-25-1"');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(pods(sim.store, 'stall')).toHaveLength(0);
    const [rs] = sim.store.list(sim.store.findType('apps', 'replicasets')!, { namespace: 'stall' }).items;
    expect((rs!.status as { conditions?: unknown[] }).conditions).toEqual([
      expect.objectContaining({ type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate' }),
    ]);
    await until(
      () =>
        (
          (sim.store.get(deployments, 'stall', 'web').status as { conditions?: { type: string }[] }).conditions ?? []
        ).some((c) => c.type === 'ReplicaFailure'),
      5000,
      'Deployment ReplicaFailure',
    );
    expect(sim.controllers.unsettled()).toContain('deployment/stall/web: 0 of 2 updated');

    crashed.delete('1-25-1');
    sim.controllers.refreshReadiness('istio-system');
    await until(
      () => !sim.controllers.unsettled().some((u) => u.includes('/stall/')) && pods(sim.store, 'stall').length === 2,
      10_000,
      'recovery',
    );
    const recovered = pods(sim.store, 'stall');
    expect(recovered).toHaveLength(2);
    expect(recovered.every((p) => p.metadata.annotations?.['istio.io/rev'] === '1-25-1')).toBe(true);
    expect(
      ((sim.store.get(deployments, 'stall', 'web').status as { conditions?: { type: string }[] }).conditions ?? []).map(
        (c) => c.type,
      ),
    ).toEqual(['Available', 'Progressing']);
  });
});
