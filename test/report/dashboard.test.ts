/**
 * The live dashboard of `revroll serve` (issue 17, items 3 and 5): a daemon with real adapters
 * runs a policy on the sandbox while a real Prometheus scrapes it; headless Chromium watches
 * `/` and `/runs/<policy>` update as the run advances, without reloading. The pages are
 * read-only and carry no secret.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConfigMapStateStore, createLeaseLock } from '../../src/adapters/kubernetes/state.ts';
import type { ReportModel } from '../../src/report/model.ts';
import { composeRunner, createDaemonDashboard, policyFolderSource, realClock } from '../../src/runner/compose.ts';
import { createDaemon, type Daemon } from '../../src/runner/daemon.ts';
import { createHttpServer, type HttpServer } from '../../src/adapters/http-server/server.ts';
import { VERSION } from '../../src/cli/program.ts';
import { silentLogger } from '../../src/telemetry/logger.ts';
import { createRunnerMetrics } from '../../src/telemetry/metrics.ts';
import type { PrometheusInstance } from '@revroll/sandbox/prometheus';
import type { Harness } from '../helpers/runner-harness.ts';
import { STATE_NS } from '../helpers/runner-harness.ts';
import { axeViolations, chartsDrawn, horizontalOverflow, launchBrowser, type Browser } from './browser.ts';
import { reportPolicy, startReportCluster } from './runs.ts';

const SECRET = 'prometheus-token-9f8e7d6c5b4a';

let h: Harness;
let prometheus: PrometheusInstance;
let daemon: Daemon;
let server: HttpServer;
let base: string;
let browser: Browser;
let policiesDir: string;

beforeAll(async () => {
  ({ h, prometheus } = await startReportCluster(0));
  policiesDir = mkdtempSync(join(tmpdir(), 'revroll-dashboard-'));
  // Every minute, caught up at load: the daemon starts the run at once. Bakes long enough to watch.
  const text = reportPolicy(prometheus.url, '  schedule: {cron: "* * * * *"}\n')
    .replace('timeout: 5s}', 'timeout: 5s, auth: {bearer: {token: {env: PROM_TOKEN}}}}')
    .replaceAll('bake: 6s', 'bake: 8s');
  writeFileSync(join(policiesDir, 'reported.yaml'), text);
  const env = { PROM_TOKEN: SECRET };
  const logger = silentLogger();
  daemon = createDaemon({
    policies: policyFolderSource({ dir: policiesDir, logger, rescanMs: 0, watch: false }),
    clock: realClock,
    logger,
    metrics: createRunnerMetrics(),
    store: createConfigMapStateStore(h.cluster, STATE_NS),
    lock: createLeaseLock(h.cluster, STATE_NS, () => new Date()),
    runnerDeps: (policy) => ({
      ...composeRunner(policy, { cluster: h.cluster, stateNamespace: STATE_NS, logger, env }),
      holder: 'dashboard-test',
    }),
    runPollMs: 200,
  });
  server = createHttpServer({
    logger,
    metrics: createRunnerMetrics(),
    ready: async () => ({ ok: true, message: 'reachable' }),
    runs: () => ({ policies: daemon.runs() }),
    dashboard: createDaemonDashboard({
      daemon,
      cluster: h.cluster,
      stateNamespace: STATE_NS,
      env,
      refreshMs: 500,
      version: VERSION,
    }),
  });
  ({ url: base } = await server.listen('127.0.0.1', 0));
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await daemon?.stop();
  await server?.close(100);
  await prometheus?.stop();
  await h?.close();
  if (policiesDir) rmSync(policiesDir, { recursive: true, force: true });
});

describe('the live dashboard', () => {
  it('lists the runs and shows the active run updating live until it is promoted', async () => {
    const index = await browser.open(`${base}/`);
    await index.page.evaluate(() => ((window as unknown as { marker: number }).marker = 1));
    await daemon.start();
    // The list updates by itself: the run appears with its phase and progress.
    await index.page.waitForFunction(
      () => /Progressing|Promoted/.test(document.querySelector('main')?.textContent ?? ''),
      undefined,
      { timeout: 30_000 },
    );
    expect(await index.page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(1);
    expect(await index.page.locator('table.runs a', { hasText: 'reported' }).count()).toBe(1);
    expect(await axeViolations(index.page)).toEqual([]);
    expect(index.errors).toEqual([]);
    expect(index.failed).toEqual([]);
    await index.page.close();

    const live = await browser.open(`${base}/runs/reported`);
    const { page } = live;
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 1));
    const progress = async () => Number(await page.locator('#progress').getAttribute('value'));
    const seen = new Set<number>([await progress()]);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      seen.add(await progress());
      if ((await page.locator('.outcome .summary').innerText()).startsWith('promoted')) break;
      await page.waitForTimeout(250);
    }
    expect(await page.locator('.outcome .summary').innerText()).toBe('promoted 1-25-1 (from 1-24-3)');
    // The same page, updated in place several times (no reload).
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(1);
    expect(seen.size, [...seen].join(',')).toBeGreaterThanOrEqual(3);
    expect(await page.locator('#live-status').innerText()).toMatch(/^Live: updated \d\d:\d\d:\d\d UTC$/);
    // Its charts are the report's: the same series and points as the report data.
    const model = (await (await fetch(`${base}/runs/reported/report.json`)).json()) as ReportModel;
    await page.waitForTimeout(1500);
    expect(await chartsDrawn(page)).toEqual(
      model.gates.map((c) => ({ id: c.id, series: c.series.length, points: c.x.length, ink: true })),
    );
    expect(model.gates.length).toBe(4);
    expect(await axeViolations(page)).toEqual([]);
    await page.setViewportSize({ width: 360, height: 740 });
    await page.waitForTimeout(400);
    expect(await horizontalOverflow(page)).toBe(0);
    expect(live.errors).toEqual([]);
    expect(live.failed).toEqual([]);
    // Only the page itself and its own event stream were requested.
    expect(new Set(live.requests)).toEqual(new Set([`${base}/runs/reported`, `${base}/runs/reported/stream`]));
    await page.close();
  });

  it('is read-only and shows no secret', async () => {
    for (const path of ['/', '/runs/reported', '/runs/reported/report.json']) {
      const answer = await fetch(`${base}${path}`);
      expect(answer.status, path).toBe(200);
      const body = await answer.text();
      expect(body, path).not.toContain(SECRET);
      expect(body, path).not.toContain('PROM_TOKEN');
      const post = await fetch(`${base}${path}`, { method: 'POST', body: 'x' });
      expect(post.status, path).toBe(405);
    }
    const page = await fetch(`${base}/runs/reported`);
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    // The page may reach its own origin (the event stream) and nothing else.
    expect(await page.text()).toMatch(/default-src &#39;none&#39;;.*connect-src &#39;self&#39;/);
    // One streamed update, read raw.
    const controller = new AbortController();
    const stream = await fetch(`${base}/runs/reported/stream`, { signal: controller.signal });
    expect(stream.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const reader = stream.body?.getReader();
    let text = '';
    while (!text.includes('event: report') || !text.endsWith('\n\n')) {
      const chunk = await reader?.read();
      if (!chunk || chunk.done) break;
      text += new TextDecoder().decode(chunk.value);
    }
    controller.abort();
    expect(text).toContain('"title":"revroll report: reported run');
    expect(text).not.toContain(SECRET);
    const missing = await fetch(`${base}/runs/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.text()).toContain('no policy nope is loaded by this daemon');
  });
});
