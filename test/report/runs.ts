/**
 * Known runs for the report suites and the screenshot script: the real runner on the sandbox,
 * with a real Prometheus scraping it. A healthy canary promotes after two gated waves; a bad
 * one (30 % of its answers are 5xx) rolls back in its first wave.
 */
import { startPrometheus, type PrometheusInstance } from '@revroll/sandbox/prometheus';
import type { RunResult } from '../../src/runner/run-policy.ts';
import type { Policy } from '../../src/policy/types.ts';
import { createHarness, smallScenario, type Harness } from '../helpers/runner-harness.ts';

export const SCRAPE_MS = 1000;

export type KnownRun = {
  h: Harness;
  prometheus: PrometheusInstance;
  policy: Policy;
  policyText: string;
  result: RunResult;
  close(): Promise<void>;
};

export function reportPolicy(url: string, extra = ''): string {
  return `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: reported}
spec:
  revisions: {from: auto, to: 1-25-1}
  prometheus: {url: "${url}", timeout: 5s}
  waves:
    - {name: first, namespaces: {names: [alpha]}, bake: 6s}
    - {name: second, namespaces: {names: [bravo, charlie]}, bake: 6s}
  gateways:
    - {name: istio-ingressgateway, namespace: istio-system}
  gates:
    interval: 2s
    warmup: 2s
    minTraffic: 0.5
    checks:
      - {name: errors, preset: proxy-5xx-ratio, threshold: {max: 0.05, maxIncrease: 0.05}, baseline: cohort, window: 10s}
      - {name: latency, preset: proxy-p99-latency, threshold: {max: 1000}, window: 10s, shadow: true}
${extra}`;
}

/** Starts the sandbox and Prometheus, waits for the first scrape; the run is the caller's. */
export async function startReportCluster(
  canaryErrorRate: number,
): Promise<{ h: Harness; prometheus: PrometheusInstance }> {
  const base = smallScenario();
  const h = await createHarness(
    smallScenario({
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
    }),
  );
  const prometheus = await startPrometheus({ targets: [h.sandbox.metricsUrl], scrapeIntervalMs: SCRAPE_MS });
  for (let i = 0; i < 100; i++) {
    if ((await prometheus.query('istio_build{component="proxy"}')).length > 0) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return { h, prometheus };
}

/** A finished run: promoted (error rate 0) or rolled back (error rate 0.3). */
export async function knownRun(canaryErrorRate: number): Promise<KnownRun> {
  const { h, prometheus } = await startReportCluster(canaryErrorRate);
  try {
    const policyText = reportPolicy(prometheus.url);
    const policy = h.policy(policyText);
    const result = await h.run(policy);
    // A last scrape after the run, so the range queries see the end of the last bake.
    await new Promise((r) => setTimeout(r, 2 * SCRAPE_MS));
    return {
      h,
      prometheus,
      policy,
      policyText,
      result,
      async close() {
        await prometheus.stop();
        await h.close();
      },
    };
  } catch (error) {
    await prometheus.stop();
    await h.close();
    throw error;
  }
}
