/**
 * The benchmark harness at a tiny size (3 namespaces x 2 Deployments, one run each): it must
 * produce a well-formed result with both timings and the request counts. The numbers themselves
 * are not asserted: performance is measured by `npm run bench`, never by timed unit tests.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBench, sizeDefaults } from '../../bench/harness.ts';
import { renderReport, writeResult } from '../../bench/report.ts';
import { SOURCE_CLI } from '../../bench/revroll-cli.ts';

describe('bench harness (smoke size)', () => {
  it('times revroll and the manual procedure and counts revroll requests', async () => {
    const result = await runBench({
      size: 'smoke',
      ...sizeDefaults('smoke'),
      only: ['speed'],
      startLatencyMs: 50,
      maxParallelRestarts: 5,
      manualBudgetMs: 600_000,
      manualSample: 50,
      cli: SOURCE_CLI,
      cliKind: 'source',
    });
    expect(result.speed).toHaveLength(1);
    const speed = result.speed[0];
    expect(speed?.namespaces).toBe(3);
    expect(speed?.revroll).toHaveLength(1);
    expect(speed?.manual).toHaveLength(1);
    expect(speed?.revroll[0]?.outcome).toBe('promoted');
    expect(speed?.medians.revrollMs).toBeGreaterThan(0);
    expect(speed?.medians.manualMs).toBeGreaterThan(0);
    expect(speed?.manual[0]).toMatchObject({ namespacesRun: 3, extrapolated: false });
    expect(speed?.medians.ratio).toBeGreaterThan(0);

    const api = speed?.revroll[0]?.api;
    // The wave patched every namespace and every Deployment once. Watches are counted apart
    // (a rollout already done at the first list needs none, so their number depends on timing).
    expect(api?.wave.byVerbResource['patch namespaces']).toBe(3);
    expect(api?.wave.byVerbResource['patch deployments.apps']).toBe(6);
    expect(Object.keys(api?.wave.byVerbResource ?? {}).filter((key) => key.startsWith('watch '))).toEqual([]);
    expect(api?.accessReviews).toBeGreaterThan(0);
    expect(api?.waveTarget).toBe(Math.floor(1.2 * (3 + 6) + 10));
    expect(api?.waveBudgeted).toBe((api?.wave.requests ?? 0) - (api?.wave.events ?? 0));

    expect(result.machine.cores).toBeGreaterThan(0);
    expect(result.machine.node).toBe(process.version);
    expect(renderReport(result)).toMatch(/3 x 2/);
    const dir = mkdtempSync(join(tmpdir(), 'revroll-bench-smoke-'));
    try {
      const file = writeResult(result, dir);
      expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ benchmark: 'revroll', size: 'smoke' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
