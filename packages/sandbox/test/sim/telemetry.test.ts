import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, type Sandbox } from '../../src/index.ts';
import { parseExposition, pods, restart, until } from './helpers.ts';

let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await createSandbox({ scenario: 'demo', startLatencyMs: 20 });
  await sandbox.waitForIdle();
});
afterAll(() => sandbox.close());

async function scrape() {
  const response = await fetch(sandbox.metricsUrl);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain');
  return parseExposition(await response.text());
}

const key = (s: { name: string; labels: Record<string, string> }) =>
  `${s.name}${JSON.stringify(Object.entries(s.labels).sort())}`;

describe('sandbox telemetry', () => {
  it('exports Istio proxy metrics for injected Running pods only, with namespace/pod labels', async () => {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const samples = await scrape();
    const requests = samples.filter((s) => s.name === 'istio_requests_total');
    const web = requests.filter(
      (s) => s.labels.namespace === 'shop-frontend' && s.labels.destination_workload === 'web',
    );
    const webPods = pods(sandbox.store, 'shop-frontend').filter((p) => p.metadata.name?.startsWith('web-'));
    expect(new Set(web.map((s) => s.labels.pod))).toEqual(new Set(webPods.map((p) => p.metadata.name)));
    expect(web[0]?.labels).toMatchObject({
      reporter: 'destination',
      destination_workload_namespace: 'shop-frontend',
      destination_service: 'web.shop-frontend.svc.cluster.local',
      response_flags: '-',
      source_workload: 'istio-ingressgateway',
    });
    // Injected because of a namespace label: no istio_io_rev (reference §7).
    expect(web.every((s) => s.labels.istio_io_rev === undefined)).toBe(true);
    expect(web.some((s) => s.labels.response_code === '500')).toBe(true); // web has an app error rate
    // Not injected: legacy-batch (istio-injection=disabled), the reconciler (inject=false), kube-system.
    for (const ns of ['legacy-batch', 'kube-system'])
      expect(requests.some((s) => s.labels.namespace === ns)).toBe(false);
    expect(requests.some((s) => s.labels.destination_workload === 'reconciler')).toBe(false);

    const gateway = requests.filter((s) => s.labels.reporter === 'source');
    expect(gateway.length).toBeGreaterThan(0);
    expect(gateway[0]?.labels).toMatchObject({
      source_workload: 'istio-ingressgateway',
      istio_io_rev: '1-24-3',
      namespace: 'istio-system',
    });

    const proxyBuild = samples.filter((s) => s.name === 'istio_build' && s.labels.component === 'proxy');
    expect(proxyBuild.find((s) => s.labels.pod === webPods[0]?.metadata.name)).toMatchObject({
      value: 1,
      labels: { tag: '1.24.3', namespace: 'shop-frontend' },
    });

    // Histogram: cumulative buckets, +Inf equals _count.
    const pod = webPods[0]?.metadata.name;
    const buckets = samples.filter(
      (s) =>
        s.name === 'istio_request_duration_milliseconds_bucket' &&
        s.labels.pod === pod &&
        s.labels.response_code === '200',
    );
    expect(buckets.length).toBe(20);
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
    const count = samples.find(
      (s) =>
        s.name === 'istio_request_duration_milliseconds_count' &&
        s.labels.pod === pod &&
        s.labels.response_code === '200',
    );
    expect(buckets.at(-1)).toMatchObject({ labels: { le: '+Inf' }, value: count?.value });
    expect(count?.value).toBeGreaterThan(0);
  });

  it('exports istiod metrics per istiod pod with istio_io_rev', async () => {
    const samples = await scrape();
    const pilots = samples.filter((s) => s.name === 'istio_build' && s.labels.component === 'pilot');
    expect(pilots.map((s) => `${s.labels.istio_io_rev}:${s.labels.tag}`).sort()).toEqual([
      '1-24-3:1.24.3',
      '1-24-3:1.24.3',
      '1-25-1:1.25.1',
      '1-25-1:1.25.1',
    ]);
    const connected = samples
      .filter((s) => s.name === 'pilot_xds' && s.labels.istio_io_rev === '1-24-3')
      .reduce((sum, s) => sum + s.value, 0);
    // Injected proxies, and the proxies of the Gateway API Gateways and waypoints 1-24-3 renders (one pod each).
    const gatewayProxies = sandbox.summary().gateways.filter((g) => g.owners.includes('1-24-3')).length;
    const proxies = (sandbox.summary().pods.injected['1-24-3'] ?? 0) + gatewayProxies;
    expect(gatewayProxies).toBe(3);
    expect(Math.abs(connected - proxies)).toBeLessThanOrEqual(1); // split across 2 istiod pods, rounded
    const types = new Set(samples.filter((s) => s.name === 'pilot_xds_pushes').map((s) => s.labels.type));
    expect(types).toEqual(
      new Set(['cds', 'eds', 'lds', 'rds', 'cds_senderr', 'eds_senderr', 'lds_senderr', 'rds_senderr']),
    );
    expect(
      samples.some(
        (s) => s.name === 'pilot_total_xds_rejects' && s.labels.type === 'cds' && s.labels.istio_io_rev === '1-25-1',
      ),
    ).toBe(true);
    expect(samples.some((s) => s.name === 'pilot_proxy_convergence_time_bucket' && s.labels.le === '0.1')).toBe(true);
    const injections = samples
      .filter((s) => s.name === 'sidecar_injection_success_total' && s.labels.istio_io_rev === '1-24-3')
      .reduce((sum, s) => sum + s.value, 0);
    expect(injections).toBeGreaterThan(0);
    for (const name of [
      'sidecar_injection_requests_total',
      'sidecar_injection_failure_total',
      'sidecar_injection_skip_total',
    ]) {
      expect(
        samples.some((s) => s.name === name && s.labels.namespace === 'istio-system' && s.labels.pod !== undefined),
      ).toBe(true);
    }
  });

  it('keeps counters monotonic across ticks and replaces series when pods are restarted', async () => {
    const first = await scrape();
    await new Promise((resolve) => setTimeout(resolve, 400));
    const second = new Map((await scrape()).map((s) => [key(s), s.value]));
    let compared = 0;
    for (const s of first) {
      if (!/_total$|_count$|_bucket$|_sum$/.test(s.name)) continue;
      const later = second.get(key(s));
      if (later === undefined) continue;
      expect(later).toBeGreaterThanOrEqual(s.value);
      compared++;
    }
    expect(compared).toBeGreaterThan(500);
    const web = (samples: { name: string; labels: Record<string, string> }[]) =>
      new Set(
        samples
          .filter((s) => s.name === 'istio_requests_total' && s.labels.destination_workload === 'assets')
          .map((s) => s.labels.pod),
      );
    const before = web(first);

    restart(sandbox.store, 'deployments', 'shop-frontend', 'assets');
    await sandbox.waitForIdle();
    await until(() => sandbox.telemetry.proxyCount() > 0);
    const after = web(await scrape());
    const current = new Set(
      pods(sandbox.store, 'shop-frontend')
        .filter((p) => p.metadata.name?.startsWith('assets-'))
        .map((p) => p.metadata.name),
    );
    expect(after).toEqual(current);
    for (const pod of before) expect(after.has(pod)).toBe(false);
  });
});
