/**
 * Gate measurements against a real Prometheus with backfilled data: exact values for every
 * preset, the version split through istio_build, the cohort, NaN/Inf, empty answers, coverage,
 * adversarial template values, and the server's own rejection of a bad query.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrometheusMetrics, type PrometheusMetrics } from '../../src/adapters/prometheus/metrics.ts';
import type { Measurement, MeasureScope } from '../../src/ports/metrics.ts';
import type { GateCheck, GatePreset, PrometheusSettings } from '../../src/policy/types.ts';
import { counter, gauge, series, startPrometheus, type Series, type TestPrometheus } from './server.ts';

/** Evaluation time: on the 15 s sample grid, so 5m windows cover whole steps and rates are exact. */
const T = 1_700_000_100;
const FROM = T - 900;
const at = new Date(T * 1000);

function proxyPod(namespace: string, pod: string, version: string): Series {
  return series('istio_build', { component: 'proxy', tag: version, namespace, pod }, gauge(FROM, T, 1));
}

/** Server-side request counters of one pod: `codes` maps a response code to requests per second. */
function requests(namespace: string, pod: string, codes: Record<string, number>): Series[] {
  return Object.entries(codes).map(([code, perSecond]) =>
    series(
      'istio_requests_total',
      { reporter: 'destination', destination_workload_namespace: namespace, response_code: code, namespace, pod },
      counter(FROM, T, perSecond),
    ),
  );
}

/** Cumulative histogram buckets: `rates` maps `le` to observations per second at or below it. */
function buckets(name: string, labels: Record<string, string>, rates: Record<string, number>): Series[] {
  return Object.entries(rates).map(([le, perSecond]) => series(name, { ...labels, le }, counter(FROM, T, perSecond)));
}

const ADVERSARIAL = ['we"ird', 'back\\slash', 'a|b', 'x)', 'c}', 'line\nbreak', '.*'];
const DECOYS = ['a', 'b', 'x', 'weird', 'c'];

const data: Series[] = [
  // shop: exactly 5% 5xx, on the new version.
  proxyPod('shop', 'shop-1', '1.25.1'),
  ...requests('shop', 'shop-1', { '200': 19, '503': 1 }),
  // pay: one canary pod at 30% 5xx, one stable pod at 1%; other: a stable pod at 1%.
  proxyPod('pay', 'pay-new', '1.25.1'),
  ...requests('pay', 'pay-new', { '200': 7, '500': 3 }),
  proxyPod('pay', 'pay-old', '1.24.3'),
  ...requests('pay', 'pay-old', { '200': 99, '503': 1 }),
  proxyPod('other', 'other-1', '1.24.3'),
  ...requests('other', 'other-1', { '200': 49.5, '503': 0.5 }),
  // lat: p99 from buckets = 100 + 400 * (99 - 98) / (100 - 98) = 300 ms.
  proxyPod('lat', 'lat-1', '1.25.1'),
  ...requests('lat', 'lat-1', { '200': 100 }),
  ...buckets(
    'istio_request_duration_milliseconds_bucket',
    { reporter: 'destination', destination_workload_namespace: 'lat', namespace: 'lat', pod: 'lat-1' },
    {
      '10': 50,
      '50': 90,
      '100': 98,
      '500': 100,
      '+Inf': 100,
    },
  ),
  // idle: counters that do not move: 0/0.
  proxyPod('idle', 'idle-1', '1.25.1'),
  ...requests('idle', 'idle-1', { '200': 0, '500': 0 }),
  // quiet: 0.2 req/s and no 5xx series at all.
  proxyPod('quiet', 'quiet-1', '1.25.1'),
  ...requests('quiet', 'quiet-1', { '200': 0.2 }),
  // istiod: the canary has rejects, push errors, slow convergence and injection failures; the old one is scraped but clean.
  series(
    'istio_build',
    { component: 'pilot', tag: '1.25.1', istio_io_rev: '1-25-1', namespace: 'istio-system', pod: 'istiod-1-25-1-a' },
    gauge(FROM, T, 1),
  ),
  series(
    'istio_build',
    { component: 'pilot', tag: '1.24.3', istio_io_rev: '1-24-3', namespace: 'istio-system', pod: 'istiod-1-24-3-a' },
    gauge(FROM, T, 1),
  ),
  series('pilot_total_xds_rejects', { type: 'cds', istio_io_rev: '1-25-1' }, counter(FROM, T, 0.5)),
  series('pilot_xds_pushes', { type: 'cds_senderr', istio_io_rev: '1-25-1' }, counter(FROM, T, 0.2)),
  series('pilot_xds_pushes', { type: 'cds', istio_io_rev: '1-25-1' }, counter(FROM, T, 10)),
  series('pilot_xds_pushes', { type: 'cds', istio_io_rev: '1-24-3' }, counter(FROM, T, 10)),
  // convergence p99 = 1 + 9 * (99 - 98) / (100 - 98) = 5.5 s.
  ...buckets(
    'pilot_proxy_convergence_time_bucket',
    { istio_io_rev: '1-25-1' },
    { '0.1': 90, '1': 98, '10': 100, '+Inf': 100 },
  ),
  series('sidecar_injection_failure_total', { istio_io_rev: '1-25-1' }, counter(FROM, T, 0.1)),
  // Custom metrics: distinct powers of two per namespace, so a sum says exactly which matched.
  ...[...ADVERSARIAL, ...DECOYS].map((namespace, i) =>
    series('adv_requests_total', { namespace }, counter(FROM, T, 2 ** i)),
  ),
  series('custom_errors_total', { namespace: 'inf' }, counter(FROM, T, 1)),
  series('custom_requests_total', { namespace: 'inf' }, gauge(FROM, T, 5)),
];

let prometheus: TestPrometheus;
let metrics: PrometheusMetrics;

const settings = (url: string): PrometheusSettings => ({
  url,
  timeout: 5_000,
  tls: { insecureSkipVerify: false },
  headers: {},
});

function check(source: { preset: GatePreset } | { query: string }, over: Partial<GateCheck> = {}): GateCheck {
  return {
    name: 'gate',
    ...source,
    threshold: { max: 1 },
    baseline: 'none',
    window: 300_000,
    minTraffic: 1,
    shadow: false,
    ...over,
  };
}

const bake: MeasureScope = {
  subject: 'wave',
  namespaces: ['pay'],
  fromRevision: '1-24-3',
  toRevision: '1-25-1',
  fromVersion: '1.24.3',
  toVersion: '1.25.1',
  at,
};
const cohort: MeasureScope = { ...bake, subject: 'cohort' };

function value(m: Measurement): { value: number; traffic?: number } {
  if (m.kind !== 'value') throw new Error(`expected a value, got ${JSON.stringify(m)}`);
  return m;
}

beforeAll(async () => {
  prometheus = await startPrometheus(data);
  metrics = createPrometheusMetrics({ settings: settings(prometheus.url), env: {} });
});

afterAll(async () => {
  await prometheus?.stop();
});

describe('Prometheus gate measurements (real server, backfilled)', () => {
  it('5xx ratio is exactly 5% with its traffic', async () => {
    const m = value(await metrics.measure(check({ preset: 'proxy-5xx-ratio' }), { ...bake, namespaces: ['shop'] }));
    expect(m.value).toBeCloseTo(0.05, 12);
    expect(m.traffic).toBeCloseTo(20, 9);
  });

  it('splits a namespace by proxy version: the canary pods vs the cohort still on the old version', async () => {
    const canary = value(await metrics.measure(check({ preset: 'proxy-5xx-ratio' }), bake));
    expect(canary.value).toBeCloseTo(0.3, 12);
    expect(canary.traffic).toBeCloseTo(10, 9);
    const old = value(await metrics.measure(check({ preset: 'proxy-5xx-ratio' }), cohort));
    expect(old.value).toBeCloseTo(0.01, 12);
    expect(old.traffic).toBeCloseTo(150, 9);
    // Before the move (no toVersion): the whole namespace, old and new pods together.
    const { toVersion: _, ...before } = bake;
    expect(value(await metrics.measure(check({ preset: 'proxy-5xx-ratio' }), before)).value).toBeCloseTo(4 / 110, 12);
  });

  it('p99 latency is interpolated from the buckets', async () => {
    const m = value(await metrics.measure(check({ preset: 'proxy-p99-latency' }), { ...bake, namespaces: ['lat'] }));
    expect(m.value).toBeCloseTo(300, 9);
    expect(m.traffic).toBeCloseTo(100, 9);
  });

  it('zero traffic gives NaN with traffic 0 (judged NoData)', async () => {
    const m = value(await metrics.measure(check({ preset: 'proxy-5xx-ratio' }), { ...bake, namespaces: ['idle'] }));
    expect(m.value).toBeNaN();
    expect(m.traffic).toBe(0);
  });

  it('no 5xx series is a 0 ratio, with the traffic below the floor reported', async () => {
    const m = value(await metrics.measure(check({ preset: 'proxy-5xx-ratio' }), { ...bake, namespaces: ['quiet'] }));
    expect(m.value).toBe(0);
    expect(m.traffic).toBeCloseTo(0.2, 12);
  });

  it('an unknown namespace is empty, and says which query found nothing', async () => {
    const m = await metrics.measure(check({ preset: 'proxy-5xx-ratio' }), { ...bake, namespaces: ['nowhere'] });
    expect(m.kind).toBe('empty');
    expect(m.kind === 'empty' && m.reason).toMatch(
      /^no series for gate of wave \[nowhere\] on proxies 1\.25\.1 \(query: .*nowhere/,
    );
  });

  it.each([
    ['istiod-xds-rejects', 0.5],
    ['istiod-push-errors', 0.2],
    ['proxy-convergence-p99', 5.5],
    ['sidecar-injection-failures', 0.1],
  ] as const)(
    '%s of the canary istiod is %d; the clean old istiod reads 0 (convergence: no samples, so empty)',
    async (preset, expected) => {
      const canary = value(await metrics.measure(check({ preset }), bake));
      expect(canary.value).toBeCloseTo(expected, 12);
      expect(canary.traffic).toBeUndefined();
      const old = await metrics.measure(check({ preset }), cohort);
      if (preset === 'proxy-convergence-p99') expect(old.kind).toBe('empty');
      else expect(value(old).value).toBe(0);
    },
  );

  it('an istiod that is not scraped is empty, never a clean 0', async () => {
    const m = await metrics.measure(check({ preset: 'istiod-xds-rejects' }), { ...bake, toRevision: 'ghost' });
    expect(m.kind).toBe('empty');
  });

  it('a custom template with adversarial namespaces matches exactly those namespaces', async () => {
    const template = 'sum(rate(adv_requests_total{namespace=~"{{namespaces}}"}[{{window}}]))';
    const m = value(await metrics.measure(check({ query: template }), { ...bake, namespaces: ADVERSARIAL }));
    expect(m.value).toBeCloseTo(2 ** ADVERSARIAL.length - 1, 9);
    for (const [i, name] of ADVERSARIAL.entries()) {
      const one = value(
        await metrics.measure(
          check({ query: 'sum(rate(adv_requests_total{namespace="{{namespace}}"}[{{window}}]))' }),
          { ...bake, namespaces: [name] },
        ),
      );
      expect(one.value).toBeCloseTo(2 ** i, 9);
    }
  });

  it('reads +Inf, -Inf and NaN, from vectors and scalars', async () => {
    const inf = value(
      await metrics.measure(
        check({
          query:
            'sum(rate(custom_errors_total{namespace="inf"}[{{window}}])) / sum(rate(custom_requests_total{namespace="inf"}[{{window}}]))',
        }),
        bake,
      ),
    );
    expect(inf.value).toBe(Number.POSITIVE_INFINITY);
    expect(value(await metrics.measure(check({ query: '-1 / 0' }), bake)).value).toBe(Number.NEGATIVE_INFINITY);
    expect(value(await metrics.measure(check({ query: 'scalar(vector(0) / 0)' }), bake)).value).toBeNaN();
  });

  it('refuses a query returning several series', async () => {
    const m = await metrics.measure(
      check({ query: 'rate(adv_requests_total{namespace=~"{{namespaces}}"}[{{window}}])' }),
      { ...bake, namespaces: ['a', 'b'] },
    );
    expect(m).toEqual({
      kind: 'error',
      reason: expect.stringMatching(
        /^query returned 2 series; a gate query must return one number .*url: http:\/\/127\.0\.0\.1:\d+\/api\/v1\/query; query: rate\(adv_requests_total/,
      ),
    });
  });

  it('reports the server rejecting a query as bad-query with its own message', async () => {
    const m = await metrics.measure(check({ query: 'rate(adv_requests_total)' }), bake);
    expect(m.kind).toBe('error');
    const reason = m.kind === 'error' ? m.reason : '';
    expect(reason).toMatch(/^Prometheus bad-query: HTTP 400 bad_data: .*expected type range vector/);
    expect(reason).toContain(`url: ${prometheus.url}/api/v1/query; query: rate(adv_requests_total)`);
    expect(await metrics.checkQuery('rate(adv_requests_total)', at)).toEqual({
      kind: 'rejected',
      message: expect.stringContaining('expected type range vector'),
    });
    expect(await metrics.checkQuery('sum(rate(adv_requests_total[5m]))', at)).toEqual({ kind: 'ok' });
  });

  it('a template that cannot be expanded is an error naming the check', async () => {
    const m = await metrics.measure(check({ query: 'sum(x{a="{{namespace}}"})' }, { name: 'per-ns' }), {
      ...bake,
      namespaces: ['a', 'b'],
    });
    expect(m).toEqual({ kind: 'error', reason: expect.stringMatching(/^check per-ns: .*exactly one namespace/) });
  });

  it('checks coverage first: pods Prometheus does not scrape make the measurement empty', async () => {
    const expectedPods = [
      { namespace: 'pay', pod: 'pay-new' },
      { namespace: 'pay', pod: 'pay-ghost' },
      { namespace: 'shop', pod: 'pay-new' },
    ];
    const m = await metrics.measure(check({ preset: 'proxy-5xx-ratio' }), { ...bake, expectedPods });
    expect(m).toEqual({
      kind: 'empty',
      reason:
        'Prometheus does not scrape 2 of 3 new pods: pay/pay-ghost, shop/pay-new (no istio_build{component="proxy"} series; check the scrape config)',
    });
    const covered = await metrics.measure(check({ preset: 'proxy-5xx-ratio' }), {
      ...bake,
      expectedPods: [{ namespace: 'pay', pod: 'pay-new' }],
    });
    expect(value(covered).value).toBeCloseTo(0.3, 12);
  });

  it('caps the list of missing pods', async () => {
    const expectedPods = Array.from({ length: 8 }, (_, i) => ({ namespace: 'pay', pod: `gone-${i}` }));
    const m = await metrics.measure(check({ preset: 'proxy-5xx-ratio' }), { ...bake, expectedPods });
    expect(m.kind === 'empty' && m.reason).toBe(
      'Prometheus does not scrape 8 of 8 new pods: pay/gone-0, pay/gone-1, pay/gone-2, pay/gone-3, pay/gone-4 and 3 more (no istio_build{component="proxy"} series; check the scrape config)',
    );
  });

  it('evaluate shows the queries beside the measurement', async () => {
    const evaluation = await metrics.evaluate(check({ preset: 'proxy-5xx-ratio' }), {
      ...bake,
      expectedPods: [{ namespace: 'pay', pod: 'pay-new' }],
    });
    expect(evaluation.queries?.value).toContain('response_code=~"5.."');
    expect(evaluation.queries?.traffic).toContain('istio_requests_total');
    expect(evaluation.queries?.coverage).toContain('istio_build{component="proxy"');
    expect(value(evaluation.measurement).value).toBeCloseTo(0.3, 12);
  });

  it('range queries and series lookups work against the same server', async () => {
    const matrix = await metrics.client.queryRange('sum(rate(istio_requests_total{namespace="shop"}[1m]))', {
      start: new Date((T - 120) * 1000),
      end: at,
      stepMs: 60_000,
    });
    expect(matrix.result).toHaveLength(1);
    expect(matrix.result[0]?.values.map(([, v]) => v)).toEqual([20, 20, 20].map((v) => expect.closeTo(v, 9)));
    const found = await metrics.client.series(['istio_build{component="proxy",namespace="pay"}'], {
      start: new Date(FROM * 1000),
      end: at,
    });
    expect(found.map((s) => s.pod).sort()).toEqual(['pay-new', 'pay-old']);
  });

  it('a closed port is unreachable, with the URL in the reason', async () => {
    const closed = createPrometheusMetrics({
      settings: settings('http://127.0.0.1:1'),
      env: {},
      retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1, budgetMs: 1 },
    });
    const m = await closed.measure(check({ preset: 'proxy-5xx-ratio' }), bake);
    expect(m).toEqual({
      kind: 'error',
      reason: expect.stringMatching(
        /^Prometheus unreachable: connection refused \(ECONNREFUSED\) \(url: http:\/\/127\.0\.0\.1:1\/api\/v1\/query; query: /,
      ),
    });
  });
});
