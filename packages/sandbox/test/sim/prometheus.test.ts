import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, type Sandbox } from '../../src/index.ts';
import { PrometheusNotInstalledError, startPrometheus, type PrometheusInstance } from '../../src/prometheus.ts';
import { restart } from './helpers.ts';

let sandbox: Sandbox;
let prometheus: PrometheusInstance;

beforeAll(async () => {
  sandbox = await createSandbox({ scenario: 'bad-canary', startLatencyMs: 20 });
  await sandbox.waitForIdle();
  // Move one namespace to the canary: relabel, then restart its workloads.
  const namespaces = sandbox.store.findType('', 'namespaces')!;
  const catalog = sandbox.store.get(namespaces, undefined, 'catalog');
  const { 'istio-injection': _dropped, ...labels } = catalog.metadata.labels ?? {};
  sandbox.store.update(namespaces, undefined, {
    ...catalog,
    metadata: { ...catalog.metadata, labels: { ...labels, 'istio.io/rev': '1-25-1' } },
  });
  for (const name of ['catalog', 'pricing']) restart(sandbox.store, 'deployments', 'catalog', name);
  await sandbox.waitForIdle();
  prometheus = await startPrometheus({ targets: [sandbox.metricsUrl], scrapeIntervalMs: 1000 });
});
afterAll(async () => {
  await prometheus?.stop();
  await sandbox?.close();
});

async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const ratioByTag = `
  sum by (tag) (rate(istio_requests_total{reporter="destination",response_code=~"5.."}[5s])
    * on (namespace,pod) group_left(tag) max by (namespace,pod,tag) (istio_build{component="proxy"}))
/ sum by (tag) (rate(istio_requests_total{reporter="destination"}[5s])
    * on (namespace,pod) group_left(tag) max by (namespace,pod,tag) (istio_build{component="proxy"}))`;

describe('a real Prometheus scraping the sandbox', () => {
  it('sees istio_requests_total of injected pods and a higher 5xx ratio on the bad canary', async () => {
    const series = await eventually(
      async () => {
        const result = await prometheus.query('count by (namespace) (istio_requests_total{reporter="destination"})');
        return result.length >= 11 ? result : undefined;
      },
      20_000,
      'first scrape',
    );
    expect(series.map((r) => r.metric.namespace)).toContain('catalog');
    expect(series.map((r) => r.metric.namespace)).not.toContain('legacy-batch');

    const ratios = await eventually(
      async () => {
        const result = await prometheus.query(ratioByTag);
        const byTag = Object.fromEntries(result.map((r) => [r.metric.tag, Number(r.value[1])]));
        return byTag['1.25.1'] !== undefined && byTag['1.24.3'] !== undefined ? byTag : undefined;
      },
      20_000,
      '5xx ratio per proxy version',
    );
    expect(ratios['1.25.1']).toBeGreaterThan(0.15);
    expect(ratios['1.25.1']).toBeLessThan(0.5);
    expect(ratios['1.24.3']).toBeLessThan(0.02);

    const p99 = await prometheus.query(
      'histogram_quantile(0.99, sum by (le, tag) (rate(istio_request_duration_milliseconds_bucket{reporter="destination"}[5s]) * on (namespace,pod) group_left(tag) max by (namespace,pod,tag) (istio_build{component="proxy"})))',
    );
    const latency = Object.fromEntries(p99.map((r) => [r.metric.tag, Number(r.value[1])]));
    expect(latency['1.25.1']).toBeGreaterThan(latency['1.24.3'] ?? Infinity);

    const rejects = await prometheus.query('sum by (istio_io_rev) (pilot_total_xds_rejects)');
    expect(rejects.map((r) => r.metric.istio_io_rev).sort()).toEqual(['1-24-3', '1-25-1']);
  });

  it('fails fast with a clear error when the binary is missing', async () => {
    await expect(
      startPrometheus({ targets: [sandbox.metricsUrl], binary: '/nonexistent/prometheus' }),
    ).rejects.toBeInstanceOf(PrometheusNotInstalledError);
    await expect(startPrometheus({ targets: [sandbox.metricsUrl], binary: '/nonexistent/prometheus' })).rejects.toThrow(
      'Prometheus is not installed: apt-get install prometheus',
    );
  });
});
