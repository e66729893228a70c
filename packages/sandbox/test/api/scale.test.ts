/**
 * Scale check (prints numbers, asserts correctness only): 2,000 namespaces and 20,000 pods loaded
 * straight into the store, then labelled lists across the cluster over HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.ts';
import type { KubeObject } from '../../src/store.ts';

const NAMESPACES = 2000;
const PODS_PER_NAMESPACE = 10;

let h: Harness;
let loadMs = 0;

function pod(namespace: string, index: number): KubeObject {
  const app = `app-${index % 5}`;
  return {
    metadata: {
      name: `${app}-7c9f8d6b5-${index.toString(36).padStart(5, 'x')}`,
      labels: {
        app,
        'pod-template-hash': '7c9f8d6b5',
        'security.istio.io/tlsMode': 'istio',
        'service.istio.io/canonical-name': app,
        'istio.io/rev': index % 4 === 0 ? 'canary' : 'stable',
      },
      annotations: {
        'sidecar.istio.io/status':
          '{"initContainers":["istio-init"],"containers":["istio-proxy"],"volumes":["istio-envoy","istio-data"],"revision":"stable"}',
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': '15020',
      },
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: `${app}-7c9f8d6b5`,
          uid: '00000000-0000-4000-8000-000000000000',
          controller: true,
        },
      ],
    },
    spec: {
      containers: [
        { name: app, image: 'registry.example.com/shop/app:1.4.2', ports: [{ containerPort: 8080, protocol: 'TCP' }] },
        {
          name: 'istio-proxy',
          image: 'docker.io/istio/proxyv2:1.24.1',
          args: ['proxy', 'sidecar', '--domain', `${namespace}.svc.cluster.local`],
        },
      ],
      nodeName: `node-${index % 20}`,
      serviceAccountName: 'default',
    },
    status: {
      phase: 'Running',
      podIP: `10.244.${index % 250}.${(index * 7) % 250}`,
      containerStatuses: [
        { name: app, ready: true, restartCount: 0 },
        { name: 'istio-proxy', ready: true, restartCount: 0 },
      ],
    },
  };
}

beforeAll(async () => {
  h = await startHarness();
  const namespaces = h.store.findType('', 'namespaces')!;
  const pods = h.store.findType('', 'pods')!;
  const started = performance.now();
  for (let n = 0; n < NAMESPACES; n++) {
    const name = `ns-${String(n).padStart(4, '0')}`;
    h.store.create(
      namespaces,
      undefined,
      { metadata: { name, labels: { 'istio.io/rev': n % 2 === 0 ? 'canary' : 'stable' } } },
      { skipHooks: true },
    );
    for (let i = 0; i < PODS_PER_NAMESPACE; i++)
      h.store.create(pods, name, pod(name, n * PODS_PER_NAMESPACE + i), { skipHooks: true });
  }
  loadMs = performance.now() - started;
});

afterAll(async () => {
  await h.close();
});

describe('scale', () => {
  it('lists labelled pods across 2,000 namespaces quickly', async () => {
    const timings: Record<string, number> = {};
    const time = async (label: string, path: string, accept?: string) => {
      const started = performance.now();
      const response = await h.request(path, accept ? { headers: { Accept: accept } } : {});
      // The server serializes the whole body before the headers go out: this is its time.
      const served = performance.now();
      const text = await response.text();
      timings[label] = Math.round(served - started);
      timings[`${label} +transfer`] = Math.round(performance.now() - started);
      timings[`${label} MB`] = Math.round(text.length / 1e5) / 10;
      return JSON.parse(text) as { items?: unknown[]; rows?: unknown[] };
    };
    await time('warm-up', '/api/v1/pods?labelSelector=app%3Dapp-0&limit=1');
    const canary = await time(
      'canary pods (5,000)',
      `/api/v1/pods?labelSelector=${encodeURIComponent('istio.io/rev=canary')}`,
    );
    const inSet = await time(
      'app in (app-1,app-2) (8,000)',
      `/api/v1/pods?labelSelector=${encodeURIComponent('app in (app-1,app-2),istio.io/rev!=canary')}`,
    );
    const all = await time('all pods (20,000)', '/api/v1/pods');
    const table = await time(
      'all pods as Table',
      '/api/v1/pods',
      'application/json;as=Table;v=v1;g=meta.k8s.io,application/json',
    );
    expect(canary.items).toHaveLength(5000);
    expect(inSet.items).toHaveLength(6000);
    expect(all.items).toHaveLength(20000);
    expect(table.rows).toHaveLength(20000);
    const rssMb = Math.round(process.memoryUsage().rss / 1024 / 1024);
    console.log(
      `[scale] load ${NAMESPACES} namespaces + ${NAMESPACES * PODS_PER_NAMESPACE} pods: ${Math.round(loadMs)} ms; list timings (ms): ${JSON.stringify(timings)}; RSS ${rssMb} MiB`,
    );
  });
});
