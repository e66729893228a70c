/**
 * `revroll plan` evaluates every gate now against a real Prometheus scraping the sandbox, shows
 * the values, and reports a query the server rejects before any run (issue 5, item 6).
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.ts';
import type { CliIo } from '../../src/cli/io.ts';
import { startPrometheus, type PrometheusInstance } from '@revroll/sandbox/prometheus';
import { createHarness, type Harness } from '../helpers/runner-harness.ts';

let h: Harness;
let prometheus: PrometheusInstance;

beforeAll(async () => {
  h = await createHarness();
  prometheus = await startPrometheus({ targets: [h.sandbox.metricsUrl], scrapeIntervalMs: 1000 });
  for (
    let i = 0;
    i < 100 && (await prometheus.query('sum(rate(istio_requests_total{namespace="alpha"}[5s]))')).length === 0;
    i++
  ) {
    await new Promise((r) => setTimeout(r, 200));
  }
});
afterAll(async () => {
  await prometheus?.stop();
  await h?.close();
});

function capture(cwd: string) {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += t), err: (t) => void (err += t), isTty: false, env: {}, cwd };
  return { io, stdout: () => out, stderr: () => err };
}

const policy = (query: string) => `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: plan-gates}
spec:
  revisions: {from: auto, to: 1-25-1}
  waves:
    - {name: first, namespaces: {names: [alpha, bravo]}}
  gates:
    checks:
      - {name: errors, preset: proxy-5xx-ratio, threshold: {max: 0.05}, window: 5s}
      - {name: rejects, preset: istiod-xds-rejects, threshold: {max: 1}, window: 5s}
      - {name: custom, query: '${query}', threshold: {max: 100}}
`;

describe('revroll plan with Prometheus', () => {
  it('shows the value of every gate now', async () => {
    const file = join(dirname(h.kubeconfigFile), 'good.yaml');
    writeFileSync(
      file,
      policy('sum(rate(istio_requests_total{reporter="destination",namespace=~"{{namespaces}}"}[{{window}}]))'),
    );
    const c = capture(dirname(file));
    const code = await runCli(
      ['plan', file, '--kubeconfig', h.kubeconfigFile, '--prometheus-url', prometheus.url],
      c.io,
    );
    expect(c.stderr()).not.toMatch(/problem|error/i);
    expect(code).toBe(0);
    expect(c.stdout()).toMatch(/Gates evaluated now:/);
    expect(c.stdout()).toMatch(/errors\s+0( at [\d.]+ req\/s)?\n/);
    expect(c.stdout()).toMatch(/rejects\s+0\n/);
    expect(c.stdout()).toMatch(/custom\s+[\d.]+\n/);
  });

  it('reports a query the server rejects, with its message, and exits 1 before any run', async () => {
    // Syntactically valid PromQL (lint accepts it) that Prometheus rejects: rate() needs a range.
    const file = join(dirname(h.kubeconfigFile), 'bad.yaml');
    writeFileSync(file, policy('sum(rate(istio_requests_total{namespace=~"{{namespaces}}"}))'));
    const lint = capture(dirname(file));
    expect(await runCli(['lint', file], lint.io)).toBe(0);
    const c = capture(dirname(file));
    const code = await runCli(
      ['plan', file, '--kubeconfig', h.kubeconfigFile, '--prometheus-url', prometheus.url],
      c.io,
    );
    expect(code).toBe(1);
    expect(c.stdout()).toMatch(/custom\s+REJECTED by Prometheus: .*range vector/);
  });
});
