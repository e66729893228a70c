/**
 * Gates end to end (issue 5, item 9): a real Prometheus scrapes the sandbox while the real runner
 * migrates waves. A bad canary is detected in the wave where its proxies start failing and the
 * cluster is restored; a healthy canary promotes on Pass gates.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startPrometheus, type PrometheusInstance } from '@revroll/sandbox/prometheus';
import { allOn, createHarness, smallScenario, type Harness } from '../helpers/runner-harness.ts';

let h: Harness | undefined;
let prometheus: PrometheusInstance | undefined;
afterEach(async () => {
  await prometheus?.stop();
  await h?.close();
  prometheus = undefined;
  h = undefined;
});

const SCRAPE_MS = 1000;

async function withPrometheus(canaryErrorRate: number): Promise<{ h: Harness; url: string }> {
  const base = smallScenario();
  const scenario = smallScenario({
    istio: {
      ...base.istio,
      revisions: [
        { name: '1-24-3', version: '1.24.3', replicas: 1, health: { errorRate: 0 } },
        {
          name: '1-25-1',
          version: '1.25.1',
          replicas: 1,
          health: { errorRate: canaryErrorRate, latencyMs: { p50: 9, p99: canaryErrorRate > 0 ? 400 : 60 } },
        },
      ],
    },
  });
  h = await createHarness(scenario);
  prometheus = await startPrometheus({ targets: [h.sandbox.metricsUrl], scrapeIntervalMs: SCRAPE_MS });
  // Pay Prometheus' first-scrape delay before the run, as an operator's Prometheus would have.
  for (let i = 0; i < 100; i++) {
    if ((await prometheus.query('istio_build{component="proxy"}')).length > 0) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return { h, url: prometheus.url };
}

const policy = (url: string) => `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: gated}
spec:
  revisions: {from: auto, to: 1-25-1}
  prometheus: {url: "${url}", timeout: 5s}
  waves:
    - {name: first, namespaces: {names: [alpha]}, bake: 6s}
    - {name: second, namespaces: {names: [bravo, charlie]}, bake: 6s}
  gates:
    interval: 2s
    warmup: 3s
    minTraffic: 0.5
    checks:
      - {name: errors, preset: proxy-5xx-ratio, threshold: {max: 0.05}, window: 10s}
      - {name: errors-vs-old, preset: proxy-5xx-ratio, threshold: {maxIncrease: 0.05}, baseline: cohort, window: 10s}
      - {name: latency, preset: proxy-p99-latency, threshold: {max: 1000}, window: 10s, shadow: true}
      - {name: rejects, preset: istiod-xds-rejects, threshold: {max: 0.5}, window: 10s}
`;

describe('gates on a real Prometheus', () => {
  it('detects a bad canary in its first wave and rolls back to a fully restored cluster', async () => {
    const { h, url } = await withPrometheus(0.3);
    const labelsBefore = await h.namespaceLabels('alpha');
    const result = await h.run(h.policy(policy(url)));
    expect(result.outcome, result.message).toBe('rolled-back');
    expect(result.state?.rollbackReason).toMatch(/gate errors/);
    const records = result.state?.records ?? [];
    const warmupDone = records.find((r) => r.id === 'wave/first/warmup')?.finishedAt;
    const bake = records.find((r) => r.id === 'wave/first/bake');
    expect(bake?.status).toBe('failed');
    // The second wave never started.
    expect(records.find((r) => r.id === 'wave/second/migrate')?.status).toBe('skipped');
    const detectionMs = Date.parse(bake?.finishedAt ?? '') - Date.parse(warmupDone ?? '');
    console.log(
      `detection: ${detectionMs} ms from the end of warm-up to the rollback decision (interval 2000 ms, scrape ${SCRAPE_MS} ms)`,
    );
    expect(detectionMs).toBeLessThanOrEqual(2000 + 2 * SCRAPE_MS + 1000);
    // The failing evaluation carries the measured values.
    const failed = result.state?.gates?.recent.at(-1)?.results.find((r) => r.check === 'errors');
    expect(failed?.outcome).toBe('Fail');
    expect(failed?.value).toBeGreaterThan(0.15);
    await h.sandbox.waitForIdle();
    expect(await h.namespaceLabels('alpha')).toEqual(labelsBefore);
    expect(allOn(await h.podRevisions('alpha'), '1-24-3')).toBe(true);
    expect(await h.defaultRevision()).toBe('1-24-3');
  });

  it('promotes a healthy canary on passing gates, keeping every measurement in the state', async () => {
    const { h, url } = await withPrometheus(0);
    const result = await h.run(h.policy(policy(url)));
    expect(result.outcome, `${result.message} ${JSON.stringify(result.state?.gates?.recent.at(-1))}`).toBe('promoted');
    const last = result.state?.gates?.recent.at(-1)?.results ?? [];
    expect(last.find((r) => r.check === 'errors')?.outcome).toBe('Pass');
    expect(last.find((r) => r.check === 'errors-vs-old')?.baseline).not.toBeUndefined();
    expect(last.find((r) => r.check === 'latency')?.shadow).toBe(true);
    expect(await h.defaultRevision()).toBe('1-25-1');
  });
});
