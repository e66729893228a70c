/**
 * What a real Prometheus scrapes from Gateway API gateways, waypoints and ztunnel:
 * `istio_build{component="proxy"}` per gateway/waypoint pod, `istio_requests_total` with
 * reporter `source` (gateways) and `waypoint`, the `gateway_networking_k8s_io_gateway_name`
 * label, `istio_io_rev` only on Gateways labelled with it; ztunnel's TCP families and
 * `istio_build{component="ztunnel"}` without `istio_io_rev`; the owning revision's health
 * profile on gateway and waypoint traffic.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, type Sandbox } from '../../src/index.ts';
import { startPrometheus, type PrometheusInstance } from '../../src/prometheus.ts';
import { deploymentOf, eventually, kube, rendering, type Kube } from './gateway-helpers.ts';

let sandbox: Sandbox;
let prometheus: PrometheusInstance;
let k: Kube;

beforeAll(async () => {
  sandbox = await createSandbox({
    startLatencyMs: 20,
    scenario: {
      name: 'gateway-telemetry',
      istio: {
        revisions: [
          { name: '1-24-3', version: '1.24.3', ambient: true },
          { name: '1-25-1', version: '1.25.1', ambient: true },
        ],
        tags: { default: '1-24-3' },
        ztunnel: { revision: '1-24-3' },
        cni: { revision: '1-24-3' },
      },
      gatewayApi: {
        gateways: [
          { name: 'public', namespace: 'ingress', rps: 100 },
          { name: 'pinned', namespace: 'ingress', labels: { 'istio.io/rev': '1-24-3' }, rps: 100 },
        ],
        waypoints: [{ name: 'waypoint', namespace: 'reviews' }],
      },
      namespaces: [
        { name: 'ingress' },
        { name: 'reviews', ambient: true, workloads: [{ name: 'reviews', replicas: 2, rps: 60 }] },
      ],
    },
  });
  await sandbox.waitForIdle();
  k = kube(sandbox);
  prometheus = await startPrometheus({ targets: [sandbox.metricsUrl], scrapeIntervalMs: 1000 });
});
afterAll(async () => {
  k?.dispose();
  await prometheus?.stop();
  await sandbox?.close();
});

async function query(
  expr: string,
  ready: (r: { metric: Record<string, string>; value: [number, string] }[]) => boolean,
) {
  let result: { metric: Record<string, string>; value: [number, string] }[] = [];
  const deadline = Date.now() + 25_000;
  for (;;) {
    result = await prometheus.query(expr);
    if (ready(result)) return result;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${expr}: ${JSON.stringify(result)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe('Gateway API telemetry scraped by Prometheus', () => {
  it('exports istio_build{component="proxy"} per gateway and waypoint pod, keyed by the Gateway name label', async () => {
    const builds = await query(
      'istio_build{component="proxy", gateway_networking_k8s_io_gateway_name!=""}',
      (r) => r.length >= 3,
    );
    const byGateway = Object.fromEntries(
      builds.map((b) => [b.metric.gateway_networking_k8s_io_gateway_name, b.metric]),
    );
    expect(Object.keys(byGateway).sort()).toEqual(['pinned', 'public', 'waypoint']);
    expect(byGateway.public).toMatchObject({ tag: '1.24.3', namespace: 'ingress' });
    expect(byGateway.waypoint).toMatchObject({ tag: '1.24.3', namespace: 'reviews' });
    // istio_io_rev only where the Gateway's own label puts istio.io/rev on the pods.
    expect(byGateway.pinned?.istio_io_rev).toBe('1-24-3');
    expect(byGateway.public?.istio_io_rev).toBeUndefined();
    expect(byGateway.waypoint?.istio_io_rev).toBeUndefined();
  });

  it('reports gateway traffic with reporter="source" and waypoint traffic with reporter="waypoint"', async () => {
    const requests = await query(
      'sum by (gateway_networking_k8s_io_gateway_name, reporter, destination_workload) (rate(istio_requests_total{gateway_networking_k8s_io_gateway_name!=""}[5s]))',
      (r) => r.length >= 3,
    );
    const rows = requests.map((r) => [
      r.metric.gateway_networking_k8s_io_gateway_name,
      r.metric.reporter,
      r.metric.destination_workload,
    ]);
    expect(rows).toEqual(
      expect.arrayContaining([
        ['public', 'source', 'unknown'],
        ['pinned', 'source', 'unknown'],
        ['waypoint', 'waypoint', 'reviews'],
      ]),
    );
    // The ambient workload itself has no proxy: no reporter="destination" series for it.
    const sidecar = await prometheus.query(
      'istio_requests_total{reporter="destination", destination_workload="reviews"}',
    );
    expect(sidecar).toEqual([]);
  });

  it('exports ztunnel TCP metrics for the captured pods and istio_build{component="ztunnel"} without istio_io_rev', async () => {
    const builds = await query('istio_build{component="ztunnel"}', (r) => r.length === 3);
    for (const b of builds) {
      expect(b.metric.tag).toBe('1.24.3');
      expect(b.metric.istio_io_rev).toBeUndefined();
      expect(b.metric.namespace).toBe('istio-system');
    }
    const tcp = await query(
      'sum by (__name__, reporter, destination_workload, response_flags) ({__name__=~"istio_tcp_.*_total", destination_workload_namespace="reviews"})',
      (r) => r.length === 4,
    );
    // A healthy ztunnel has no failed connection: no CONNECT series and no failed family yet.
    expect(tcp.map((r) => r.metric.__name__).sort()).toEqual([
      'istio_tcp_connections_closed_total',
      'istio_tcp_connections_opened_total',
      'istio_tcp_received_bytes_total',
      'istio_tcp_sent_bytes_total',
    ]);
    expect(
      tcp.every(
        (r) =>
          r.metric.reporter === 'destination' &&
          r.metric.destination_workload === 'reviews' &&
          r.metric.response_flags === '-',
      ),
    ).toBe(true);
    const opened = tcp.find((r) => r.metric.__name__ === 'istio_tcp_connections_opened_total');
    expect(Number(opened?.value[1])).toBeGreaterThan(0);
    // ztunnel exports no HTTP metrics.
    expect(await prometheus.query('istio_requests_total{pod=~"ztunnel-.*"}')).toEqual([]);
  });

  it('exports the request duration histogram of gateways (reporter="source") and waypoints (reporter="waypoint")', async () => {
    const p99 = await query(
      'histogram_quantile(0.99, sum by (le, reporter, gateway_networking_k8s_io_gateway_name) (rate(istio_request_duration_milliseconds_bucket{gateway_networking_k8s_io_gateway_name!=""}[10s])))',
      (r) => r.length >= 3 && r.every((x) => Number.isFinite(Number(x.value[1]))),
    );
    const reporter = (gateway: string) =>
      p99.find((r) => r.metric.gateway_networking_k8s_io_gateway_name === gateway)?.metric.reporter;
    expect(reporter('public')).toBe('source');
    expect(reporter('waypoint')).toBe('waypoint');
    // The healthy profile: p99 60 ms, read from Istio's default buckets: (50, 100], or the next
    // bucket when a short window holds few requests (counters are whole numbers per scrape).
    for (const r of p99) {
      expect(Number(r.value[1])).toBeGreaterThan(25);
      expect(Number(r.value[1])).toBeLessThanOrEqual(250);
    }
  });

  it('applies the owning revision health profile: a gateway and a waypoint moved to a bad revision fail requests', async () => {
    sandbox.faults.setRevisionHealth('1-25-1', { errorRate: 0.4 });
    await k.kubectl('label', 'gateway', 'public', '-n', 'ingress', 'istio.io/rev=1-25-1', '--overwrite');
    await k.kubectl('label', 'gateway', 'waypoint', '-n', 'reviews', 'istio.io/rev=1-25-1', '--overwrite');
    await eventually(
      () =>
        rendering(deploymentOf(sandbox, 'ingress', 'public-istio')).revision === '1-25-1' &&
        rendering(deploymentOf(sandbox, 'reviews', 'waypoint')).revision === '1-25-1',
      'moved to 1-25-1',
    );
    await sandbox.waitForIdle();
    const ratio = (gateway: string) =>
      `sum(rate(istio_requests_total{gateway_networking_k8s_io_gateway_name="${gateway}",response_code=~"5.."}[4s])) / sum(rate(istio_requests_total{gateway_networking_k8s_io_gateway_name="${gateway}"}[4s]))`;
    const publicRatio = await query(ratio('public'), (r) => Number(r[0]?.value[1] ?? 0) > 0.2);
    expect(Number(publicRatio[0]?.value[1])).toBeLessThan(0.6);
    await query(ratio('waypoint'), (r) => Number(r[0]?.value[1] ?? 0) > 0.2);
    const pinned = await prometheus.query(ratio('pinned'));
    expect(Number(pinned[0]?.value[1] ?? 0)).toBeLessThan(0.02);
    // Split by proxy version, as the gates do for sidecars.
    const byTag = await query(
      'sum by (tag) (rate(istio_requests_total{reporter="source",response_code=~"5.."}[4s]) * on (namespace,pod) group_left(tag) max by (namespace,pod,tag) (istio_build{component="proxy"}))',
      (r) => r.some((x) => x.metric.tag === '1.25.1'),
    );
    expect(byTag.map((r) => r.metric.tag)).toContain('1.25.1');
  });

  it('counts ztunnel connection failures on close with response_flags="CONNECT", and in istio_tcp_connections_failed_total', async () => {
    // ztunnel's XDS_ADDRESS names 1-24-3: its connections fail at that revision's error rate.
    sandbox.faults.setRevisionHealth('1-24-3', { errorRate: 0.25 });
    const byFlag = async (family: string, ready: (r: { metric: Record<string, string> }[]) => boolean) =>
      Object.fromEntries(
        (
          await query(
            `sum by (response_flags) (increase(istio_tcp_connections_${family}_total{destination_workload_namespace="reviews"}[6s]))`,
            ready,
          )
        ).map((r) => [r.metric.response_flags, Number(r.value[1])]),
      );
    const hasConnect = (r: { metric: Record<string, string> }[]) =>
      r.some((x) => x.metric.response_flags === 'CONNECT');
    const closed = await byFlag('closed', hasConnect);
    const failed = await byFlag('failed', hasConnect);
    const opened = await byFlag('opened', (r) => r.length > 0);
    expect(Object.keys(opened)).toEqual(['-']);
    expect(Object.keys(failed)).toEqual(['CONNECT']);
    expect(Object.keys(closed).sort()).toEqual(['-', 'CONNECT']);
    const ratio = await query(
      'sum(rate(istio_tcp_connections_closed_total{destination_workload_namespace="reviews",response_flags="CONNECT"}[4s])) / sum(rate(istio_tcp_connections_opened_total{destination_workload_namespace="reviews"}[4s]))',
      (r) => Number(r[0]?.value[1] ?? 0) > 0.15,
    );
    expect(Number(ratio[0]?.value[1])).toBeLessThan(0.35);
    sandbox.faults.setRevisionHealth('1-24-3', { errorRate: 0 });
  });
});
