import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSandbox, generateScenario, loadScenario, parseScenario, ScenarioError } from '../../src/index.ts';

describe('sandbox scenarios', () => {
  it('loads the built-in demo as specified', () => {
    const demo = loadScenario('demo');
    const names = demo.namespaces.map((ns) => ns.name);
    for (const ns of [
      'shop-frontend',
      'shop-cart',
      'shop-checkout',
      'payments',
      'catalog',
      'search',
      'reviews',
      'ratings',
      'inventory',
      'shipping',
      'notifications',
      'accounts',
      'legacy-batch',
      'kube-system',
    ]) {
      expect(names).toContain(ns);
    }
    expect(demo.istio.revisions.map((r) => [r.name, r.version, r.ready])).toEqual([
      ['1-24-3', '1.24.3', true],
      ['1-25-1', '1.25.1', true],
    ]);
    expect(demo.istio.tags).toEqual({ default: '1-24-3' });
    expect(demo.istio.gateways).toEqual([
      expect.objectContaining({ name: 'istio-ingressgateway', revision: '1-24-3' }),
    ]);
    const labels = demo.namespaces.map((ns) => ns.labels);
    expect(labels.filter((l) => l['istio-injection'] === 'enabled').length).toBeGreaterThan(2);
    expect(labels.filter((l) => l['istio.io/rev'] === '1-24-3').length).toBeGreaterThan(2);
    expect(demo.namespaces.find((ns) => ns.name === 'legacy-batch')?.labels).toEqual({ 'istio-injection': 'disabled' });
    const kinds = demo.namespaces.flatMap((ns) => ns.workloads.map((w) => w.kind));
    expect(kinds.filter((k) => k === 'StatefulSet')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'DaemonSet')).toHaveLength(1);
    for (const ns of demo.namespaces.filter(
      (n) => n.labels['istio-injection'] === 'enabled' || n.labels['istio.io/rev'],
    )) {
      expect(ns.workloads.filter((w) => w.kind === 'Deployment').length).toBeGreaterThanOrEqual(2);
    }
  });

  it('makes the bad canary unhealthy and nothing else', () => {
    const bad = loadScenario('bad-canary');
    const canary = bad.istio.revisions.find((r) => r.name === '1-25-1')!;
    expect(canary.health.errorRate).toBeCloseTo(0.3);
    expect(canary.health.latencyMs.p99).toBeGreaterThan(loadScenario('demo').istio.revisions[1]!.health.latencyMs.p99);
    expect(bad.namespaces).toEqual(loadScenario('demo').namespaces);
    expect(bad.gatewayApi).toEqual(loadScenario('demo').gatewayApi);
  });

  it('reports every problem of an invalid scenario with its path', () => {
    const attempt = () =>
      parseScenario({
        name: 'broken',
        istio: { revisions: [{ name: '1.25.1', version: '1.25.1' }], tags: { default: 'nope' } },
        namespaces: [{ name: 'a', workloads: [{ name: 'w', kind: 'Job' }] }],
        extra: true,
      });
    expect(attempt).toThrow(ScenarioError);
    try {
      attempt();
    } catch (error) {
      const message = (error as Error).message;
      expect(message).toContain('istio.revisions.0.name: revision names use dashes');
      expect(message).toContain('namespaces.0.workloads.0.kind');
      expect(message).toMatch(/Unrecognized key.*extra/);
    }
  });

  it('loads a scenario file and refuses unknown names', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'revroll-scenario-'));
    writeFileSync(
      join(dir, 'tiny.yaml'),
      'name: tiny\nnodes: 2\nistio:\n  defaultInstall: {version: 1.23.0}\nnamespaces:\n  - {name: app, labels: {istio-injection: enabled}, workloads: [{name: web, replicas: 2}]}\n',
    );
    const sandbox = await createSandbox({ scenario: 'tiny.yaml', cwd: dir, startLatencyMs: 10 });
    try {
      await sandbox.waitForIdle();
      const summary = sandbox.summary();
      expect(summary.revisions).toEqual([
        expect.objectContaining({ revision: 'default', version: '1.23.0', istiodReady: 1 }),
      ]);
      expect(summary.pods.injected).toEqual({ default: 2 });
    } finally {
      await sandbox.close();
    }
    expect(() => loadScenario('no-such-scenario')).toThrow(
      /neither a built-in \(demo, bad-canary, gateway-api, gateway-dual-owner, gateway-half-moved-tag, ambient-sidecar-trap\) nor a readable file/,
    );
  });

  it('generates large clusters', () => {
    const scenario = generateScenario({
      namespaces: 30,
      workloads: 4,
      replicas: 2,
      canary: { name: '1-25-1', version: '1.25.1' },
    });
    expect(scenario.namespaces).toHaveLength(31);
    expect(
      scenario.namespaces
        .slice(1)
        .every((ns) => ns.workloads.length === 4 && ns.workloads.every((w) => w.replicas === 2)),
    ).toBe(true);
    expect(scenario.istio.revisions.map((r) => r.name)).toEqual(['1-24-3', '1-25-1']);
    expect(scenario.namespaces.filter((ns) => ns.labels['istio-injection'] === 'enabled')).toHaveLength(15);
  });

  it('starts the demo quickly', async () => {
    const started = performance.now();
    const sandbox = await createSandbox({ scenario: 'demo', startLatencyMs: 50 });
    try {
      await sandbox.waitForIdle();
      console.log(`demo ready in ${(performance.now() - started).toFixed(0)} ms`);
      expect(sandbox.summary().pods.total).toBeGreaterThan(60);
    } finally {
      await sandbox.close();
    }
  });
});
