import { describe, expect, it } from 'vitest';
import { createSandbox, generateScenario } from '../../src/index.ts';

// Sizing run, not a timed assertion: it prints load time, RSS and scrape time (see docs/sandbox.md).
describe('sandbox at scale', () => {
  it('loads 2,000 namespaces x 10 pods, injects them all and serves their metrics', { timeout: 240_000 }, async () => {
    const started = performance.now();
    const sandbox = await createSandbox({
      scenario: generateScenario({ namespaces: 2000, workloads: 10, replicas: 1 }),
      startLatencyMs: 50,
    });
    try {
      await sandbox.waitForIdle({ timeoutMs: 200_000 });
      const loadSeconds = (performance.now() - started) / 1000;
      const summary = sandbox.summary();
      expect(summary.pods.injected['1-24-3']).toBe(20_000 + 2); // + the ingress gateway pods
      expect(summary.pods.ready).toBe(summary.pods.total);
      const scrapeStarted = performance.now();
      const body = await sandbox.telemetry.render();
      const scrapeMs = performance.now() - scrapeStarted;
      expect(body).toContain('istio_requests_total{reporter="destination"');
      console.log(
        `scale: ${summary.pods.total} pods in ${summary.namespaces} namespaces ready in ${loadSeconds.toFixed(1)} s, ` +
          `RSS ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB, metrics render ${scrapeMs.toFixed(0)} ms (${(body.length / 1e6).toFixed(1)} MB)`,
      );
    } finally {
      await sandbox.close();
    }
  });
});
