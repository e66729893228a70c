/**
 * The gateway, waypoint and ztunnel presets against a real Prometheus scraping the sandbox
 * (issue 15, items 6 and 9): a Gateway and a waypoint moved to a healthy canary pass, the same
 * ones on a bad canary fail, the cohort still on the old revision stays clean, the `before`
 * baseline measures the same Gateways before they moved, a gateways-wave scope measures exactly
 * the Gateways it names, and the coverage check holds for unscraped gateway pods.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, type Sandbox } from '@revroll/sandbox';
import { startPrometheus, type PrometheusInstance } from '@revroll/sandbox/prometheus';
import { createPrometheusMetrics, type PrometheusMetrics } from '../../src/adapters/prometheus/metrics.ts';
import { judge, type GateResult } from '../../src/engine/gates.ts';
import type { Measurement, MeasureScope } from '../../src/ports/metrics.ts';
import type { GateCheck, GatePreset } from '../../src/policy/types.ts';

let sandbox: Sandbox;
let prometheus: PrometheusInstance;
let metrics: PrometheusMetrics;
let home: string;

/** The real kubectl on the sandbox's kubeconfig (isolated HOME). */
async function kubectl(...args: string[]): Promise<string> {
  const file = join(home, 'kubeconfig');
  const { stdout } = await promisify(execFile)('kubectl', args, {
    env: { PATH: process.env.PATH ?? '/usr/bin', HOME: home, KUBECONFIG: file },
  });
  return stdout;
}

const WINDOW_MS = 6_000;
const BAD = { errorRate: 0.3, latencyMs: { p50: 40, p99: 900 } };
const GOOD = { errorRate: 0, latencyMs: { p50: 8, p99: 60 } };

beforeAll(async () => {
  sandbox = await createSandbox({
    startLatencyMs: 20,
    scenario: {
      name: 'gateway-presets',
      istio: {
        revisions: [
          { name: '1-24-3', version: '1.24.3', ambient: true },
          { name: '1-25-1', version: '1.25.1', ambient: true },
        ],
        tags: { default: '1-24-3' },
        // ztunnel already follows the canary (the ambient docs upgrade it right after istiod).
        ztunnel: { revision: '1-25-1' },
        cni: { revision: '1-24-3' },
      },
      gatewayApi: {
        gateways: [
          // Moved by the test, as a gateways wave would: its own istio.io/rev label.
          { name: 'public', namespace: 'ingress', rps: 100 },
          // Pinned to the old revision: the cohort.
          { name: 'internal', namespace: 'ingress', labels: { 'istio.io/rev': '1-24-3' }, rps: 100 },
          // A same-named Gateway elsewhere, never moved: a gateways-wave scope must not pick it up.
          { name: 'public', namespace: 'edge', labels: { 'istio.io/rev': '1-24-3' }, rps: 100 },
        ],
        waypoints: [
          { name: 'waypoint', namespace: 'reviews' },
          { name: 'waypoint', namespace: 'ratings', labels: { 'istio.io/rev': '1-24-3' } },
        ],
      },
      namespaces: [
        { name: 'ingress' },
        { name: 'edge' },
        { name: 'reviews', ambient: true, workloads: [{ name: 'reviews', replicas: 2, rps: 80 }] },
        { name: 'ratings', ambient: true, workloads: [{ name: 'ratings', replicas: 2, rps: 80 }] },
      ],
    },
  });
  await sandbox.waitForIdle();
  home = mkdtempSync(join(tmpdir(), 'revroll-presets-'));
  writeFileSync(join(home, 'kubeconfig'), sandbox.kubeconfig);
  prometheus = await startPrometheus({ targets: [sandbox.metricsUrl], scrapeIntervalMs: 1000 });
  metrics = createPrometheusMetrics({
    settings: { url: prometheus.url, timeout: 5_000, tls: { insecureSkipVerify: false }, headers: {} },
    env: {},
  });
  await until(async () => (await prometheus.query('istio_build{component="ztunnel"}')).length > 0, 'first scrape');
}, 60_000);

afterAll(async () => {
  await prometheus?.stop();
  await sandbox?.close();
  if (home) rmSync(home, { recursive: true, force: true });
});

async function until(ready: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function check(preset: GatePreset, threshold: GateCheck['threshold'], over: Partial<GateCheck> = {}): GateCheck {
  return {
    name: preset,
    preset,
    threshold,
    baseline: 'none',
    window: WINDOW_MS,
    minTraffic: 1,
    shadow: false,
    ...over,
  };
}

const scope = (over: Partial<MeasureScope> = {}): MeasureScope => ({
  subject: 'wave',
  namespaces: ['ingress', 'reviews'],
  fromRevision: '1-24-3',
  toRevision: '1-25-1',
  fromVersion: '1.24.3',
  toVersion: '1.25.1',
  at: new Date(),
  ...over,
});

async function measure(c: GateCheck, s: Partial<MeasureScope> = {}): Promise<Measurement> {
  return metrics.measure(c, scope({ ...s, at: new Date() }));
}

/** Measures until the judged outcome is `outcome` (windows need a few scrapes to fill), then returns it. */
async function judgedAs(
  outcome: GateResult['outcome'],
  c: GateCheck,
  s: Partial<MeasureScope> = {},
  baseline?: () => Promise<number | null>,
): Promise<GateResult> {
  let last: GateResult | undefined;
  const deadline = Date.now() + 30_000;
  for (;;) {
    last = judge(c, await measure(c, s), baseline ? await baseline() : undefined);
    if (last.outcome === outcome) return last;
    if (Date.now() > deadline) throw new Error(`${c.name}: wanted ${outcome}, last ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const valueOf = (m: Measurement): number | null => (m.kind === 'value' ? m.value : null);

async function moveToCanary(namespace: string, gateway: string): Promise<void> {
  await kubectl('label', 'gateway', gateway, '-n', namespace, 'istio.io/rev=1-25-1', '--overwrite');
  await until(async () => {
    const builds = await prometheus.query(
      `istio_build{component="proxy",namespace="${namespace}",gateway_networking_k8s_io_gateway_name="${gateway}"}`,
    );
    return builds.length > 0 && builds.every((b) => b.metric.tag === '1.25.1');
  }, `${namespace}/${gateway} on 1.25.1`);
}

describe('gateway, waypoint and ztunnel presets on a real Prometheus', () => {
  let beforeRatio: number | null = null;

  it('the before baseline measures the wave Gateways on the old proxies', async () => {
    const c = check('gateway-5xx-ratio', { maxIncrease: 0.02 }, { baseline: 'before' });
    const { toVersion: _, ...before } = scope();
    await until(async () => valueOf(await metrics.measure(c, { ...before, at: new Date() })) !== null, 'baseline');
    beforeRatio = valueOf(await metrics.measure(c, { ...before, at: new Date() }));
    expect(beforeRatio).toBe(0);
  });

  it('passes a healthy canary: gateway and waypoint moved to 1-25-1, ztunnel on it', async () => {
    sandbox.faults.setRevisionHealth('1-25-1', GOOD);
    await moveToCanary('ingress', 'public');
    await moveToCanary('reviews', 'waypoint');
    const cohort = async (c: GateCheck) => valueOf(await measure(c, { subject: 'cohort' }));
    const errors = check('gateway-5xx-ratio', { max: 0.05 });
    expect((await judgedAs('Pass', errors)).value).toBe(0);
    const vsCohort = check('gateway-p99-latency', { maxRatio: 1.5 }, { baseline: 'cohort' });
    const latency = await judgedAs('Pass', vsCohort, {}, () => cohort(vsCohort));
    // p99 60 ms: Istio's (50, 100] bucket, or the next one when the window holds few requests.
    expect(latency.value).toBeLessThanOrEqual(250);
    expect(latency.baseline).toBeGreaterThan(0);
    await judgedAs('Pass', check('gateway-5xx-ratio', { maxIncrease: 0.02 }, { baseline: 'before' }), {}, () =>
      Promise.resolve(beforeRatio),
    );
    await judgedAs('Pass', check('waypoint-5xx-ratio', { max: 0.05 }));
    await judgedAs('Pass', check('waypoint-p99-latency', { max: 200 }));
    const ztunnel = await judgedAs('Pass', check('ztunnel-connection-failures', { max: 0.01 }));
    expect(ztunnel.value).toBe(0);
  });

  it('fails a bad canary on every preset, while the cohort on the old revision stays clean', async () => {
    sandbox.faults.setRevisionHealth('1-25-1', BAD);
    // Let the window fill with the bad canary's traffic only (plus two scrapes).
    await new Promise((r) => setTimeout(r, WINDOW_MS + 2_000));
    const errors = await judgedAs('Fail', check('gateway-5xx-ratio', { max: 0.05 }));
    expect(errors.value).toBeGreaterThan(0.15);
    expect(errors.value).toBeLessThan(0.45);
    expect(errors.traffic).toBeGreaterThan(50);
    const vsCohort = check('gateway-p99-latency', { maxRatio: 1.5 }, { baseline: 'cohort' });
    const latency = await judgedAs('Fail', vsCohort, {}, async () =>
      valueOf(await measure(vsCohort, { subject: 'cohort' })),
    );
    expect(latency.value).toBeGreaterThan(250);
    expect(latency.message).toMatch(/x baseline/);
    await judgedAs('Fail', check('waypoint-5xx-ratio', { max: 0.05 }));
    await judgedAs('Fail', check('waypoint-p99-latency', { max: 200 }));
    const ztunnel = await judgedAs('Fail', check('ztunnel-connection-failures', { max: 0.01 }));
    expect(ztunnel.value).toBeGreaterThan(0.15);
    // The cohort: Gateways and waypoints still on 1.24.3, and ztunnel traffic outside the wave.
    const cohortErrors = await measure(check('gateway-5xx-ratio', { max: 0.05 }), { subject: 'cohort' });
    expect(valueOf(cohortErrors)).toBe(0);
    expect(valueOf(await measure(check('waypoint-5xx-ratio', { max: 0.05 }), { subject: 'cohort' }))).toBe(0);
  });

  it('a gateways-wave scope measures exactly the Gateways it names, not same-named ones elsewhere', async () => {
    const only = { namespaces: [], gateways: [{ namespace: 'ingress', name: 'public' }] };
    const moved = await judgedAs('Fail', check('gateway-5xx-ratio', { max: 0.05 }), only);
    expect(moved.value).toBeGreaterThan(0.15);
    // edge/public is on 1.24.3: with the version filter it is not measured at all; without it, it is clean.
    const edge = { namespaces: [], gateways: [{ namespace: 'edge', name: 'public' }] };
    const { toVersion: _, ...unfiltered } = scope(edge);
    expect(await measure(check('gateway-5xx-ratio', { max: 0.05 }), edge)).toMatchObject({ kind: 'empty' });
    expect(
      valueOf(await metrics.measure(check('gateway-5xx-ratio', { max: 0.05 }), { ...unfiltered, at: new Date() })),
    ).toBe(0);
  });

  it('reports a wave whose gateway pods Prometheus does not scrape as NoData (coverage)', async () => {
    const pods = await kubectl('get', 'pods', '-n', 'ingress', '-o', 'name');
    const publicPod = pods
      .split('\n')
      .map((l) => l.replace('pod/', ''))
      .find((p) => p.startsWith('public-istio-'));
    expect(publicPod).toBeDefined();
    const expectedPods = [
      { namespace: 'ingress', pod: publicPod ?? '' },
      { namespace: 'ingress', pod: 'public-istio-not-scraped' },
    ];
    const result = judge(
      check('gateway-5xx-ratio', { max: 0.05 }),
      await measure(check('gateway-5xx-ratio', { max: 0.05 }), { expectedPods }),
      undefined,
    );
    expect(result.outcome).toBe('NoData');
    expect(result.message).toMatch(/does not scrape 1 of 2 new pods: ingress\/public-istio-not-scraped/);
  });
});
