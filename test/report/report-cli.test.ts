/**
 * `revroll report` end to end (issue 17, items 1, 2, 5 and 6): real runs of the runner on the
 * sandbox with a real Prometheus, the real CLI writing the report, and the file opened in
 * headless Chromium: nothing fetched, no console error, every chart drawn with the series and
 * points of the run, accessible (axe-core), keyboard-usable, no overflow at 360 px, printable.
 */
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReportModel } from '../../src/report/model.ts';
import { axeViolations, chartsDrawn, horizontalOverflow, launchBrowser, type Browser } from './browser.ts';
import { cli } from './cli.ts';
import { knownRun, type KnownRun } from './runs.ts';

let browser: Browser;
const dir = mkdtempSync(join(tmpdir(), 'revroll-report-'));

beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

function flags(run: KnownRun, policyFile: string): string[] {
  return ['--kubeconfig', run.h.kubeconfigFile, '--policy-file', policyFile];
}

async function modelOf(run: KnownRun, policyFile: string, extra: string[] = []): Promise<ReportModel> {
  const result = await cli(['report', 'reported', '-o', 'json', ...flags(run, policyFile), ...extra]);
  expect(result.code, result.err).toBe(0);
  return JSON.parse(result.out) as ReportModel;
}

/** The chart's series and points as the model has them: what the page must draw. */
function expected(model: ReportModel) {
  return model.gates.map((c) => ({ id: c.id, series: c.series.length, points: c.x.length, ink: true }));
}

describe('revroll report of a promoted run', () => {
  let run: KnownRun;
  let policyFile: string;
  let htmlFile: string;
  beforeAll(async () => {
    run = await knownRun(0);
    expect(run.result.outcome, run.result.message).toBe('promoted');
    policyFile = join(dir, 'promoted.yaml');
    writeFileSync(policyFile, run.policyText);
    htmlFile = join(dir, 'promoted.html');
  }, 120_000);
  afterAll(async () => {
    await run?.close();
  });

  it('writes one self-contained HTML file that draws every gate chart of the run', async () => {
    const written = await cli(['report', 'reported', ...flags(run, policyFile), '--out', htmlFile]);
    expect(written.code, written.err).toBe(0);
    expect(written.out).toMatch(/report of run \S+ \(Promoted\) written to .*promoted\.html \(\d+ bytes\)/);
    const model = await modelOf(run, policyFile);
    // Two waves, two checks each, all from Prometheus range queries.
    expect(model.gates.map((c) => c.id)).toEqual([
      'gate-0-errors',
      'gate-0-latency',
      'gate-1-errors',
      'gate-1-latency',
    ]);
    for (const chart of model.gates) {
      expect(chart.valueSource, chart.id).toBe('prometheus');
      expect(chart.evaluations.length, chart.id).toBe(3);
    }
    // errors: value, cohort baseline, upper limit, Pass markers; latency (no baseline): value, limit, markers.
    expect(model.gates[0]?.series.map((s) => s.id)).toEqual(['value', 'baseline', 'threshold-max', 'eval-pass']);
    expect(model.gates[1]?.series.map((s) => s.id)).toEqual(['value', 'threshold-max', 'eval-pass']);

    const url = pathToFileURL(htmlFile).href;
    const { page, errors, requests, failed } = await browser.open(url);
    await page.waitForFunction(() => document.querySelectorAll('figure.gate[data-series]').length === 4);
    expect(errors).toEqual([]);
    expect(failed).toEqual([]);
    expect(requests).toEqual([url]);
    expect(await chartsDrawn(page)).toEqual(expected(model));
    const loadMs = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
      return nav.loadEventEnd - nav.startTime;
    });
    const bytes = statSync(htmlFile).size;
    console.log(`report: ${bytes} bytes, loaded in ${loadMs.toFixed(0)} ms (navigation start to load end)`);
    expect(bytes).toBeLessThan(400_000);
    // Every section is filled.
    const text = await page.locator('main').innerText();
    for (const heading of [
      'Outcome',
      'Timeline',
      'Gates',
      'Namespaces, gateways and tags',
      'Stragglers',
      'Approvals',
      'Activity',
    ])
      expect(await page.getByRole('heading', { name: heading, exact: true }).count(), heading).toBe(1);
    expect(text).toContain('promoted 1-25-1 (from 1-24-3)');
    expect(text).toMatch(/alpha\s+first\s+istio-injection=enabled\s+1-24-3\s+1-25-1\s+moved/);
    expect(text).toContain('istio-system/istio-ingressgateway');
    expect(text).toContain('3 pod(s) on 1-25-1');
    expect(text).toMatch(/RevrollGateEvaluation\s+6/);
    await page.close();
  });

  it('is accessible: no axe violation, a text alternative per chart, keyboard navigation, 360 px, print', async () => {
    const { page } = await browser.open(pathToFileURL(htmlFile).href);
    await page.waitForFunction(() => document.querySelectorAll('figure.gate[data-series]').length === 4);
    expect(await axeViolations(page)).toEqual([]);
    const charts = page.locator('figure.gate [role="img"]');
    expect(await charts.count()).toBe(4);
    for (const label of await charts.evaluateAll((nodes) => nodes.map((n) => n.getAttribute('aria-label') ?? '')))
      expect(label).toMatch(/^Gate \S+ in wave \S+.*: 3 evaluation\(s\) \(3 Pass\)/);
    expect(await page.locator('figure.gate table').count()).toBe(4);
    // The first Tab reaches the skip link; following it puts the focus on the report.
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to the report');
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('main');
    // Scrollable tables take the focus, so they scroll by keyboard.
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('role'))).toBe('region');
    // A phone's width: nothing sticks out, charts redraw narrower.
    await page.setViewportSize({ width: 360, height: 740 });
    await page.waitForTimeout(400);
    expect(await horizontalOverflow(page)).toBe(0);
    const width = await page
      .locator('figure.gate canvas')
      .first()
      .evaluate((c) => c.getBoundingClientRect().width);
    expect(width).toBeLessThanOrEqual(360);
    expect(await axeViolations(page)).toEqual([]);
    // Print: the stylesheet hides the skip link, and the page prints.
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.emulateMedia({ media: 'print' });
    expect(await page.locator('.skip').evaluate((n) => getComputedStyle(n).display)).toBe('none');
    const pdf = await page.pdf({ format: 'A4' });
    expect(pdf.length).toBeGreaterThan(10_000);
    await page.close();
  });

  it('renders Markdown and JSON of the same run', async () => {
    const md = await cli(['report', 'reported', '-o', 'md', ...flags(run, policyFile)]);
    expect(md.code, md.err).toBe(0);
    for (const heading of [
      '## Outcome',
      '## Timeline',
      '### Wave first',
      '## Gates',
      '#### errors, wave first',
      '## Approvals',
    ])
      expect(md.out).toContain(heading);
    expect(md.out).toMatch(/\| alpha \| first \| istio-injection=enabled \| 1-24-3 \| 1-25-1 \| moved \|/);
    const json = await modelOf(run, policyFile);
    expect(json.version).toBe(1);
    expect(json.phase).toBe('Promoted');
  });

  it('refuses bad input with one clear sentence and exit code 2', async () => {
    const base = ['--kubeconfig', run.h.kubeconfigFile];
    const cases: [string[], RegExp][] = [
      [['report', 'nope', ...base], /^error: no run of policy nope in namespace revroll-system\n$/],
      [['report', 'Bad_Name', ...base], /^error: "Bad_Name" is not a policy name/],
      [['report', 'reported', '--run', 'x y', ...base], /^error: --run "x y" is not a run ID/],
      [
        ['report', 'reported', '--run', '20000101-abcdef', ...base],
        /^error: no run 20000101-abcdef of policy reported: the state ConfigMap revroll-system\/revroll-reported holds run \S+ and no Event carries revroll.dev\/run-id=20000101-abcdef/,
      ],
      [
        ['report', 'reported', '--out', join(dir, 'missing', 'r.html'), ...base],
        /^error: cannot write the report to .*: its folder does not exist\n$/,
      ],
      [
        ['report', 'reported', '--policy-file', join(dir, 'nope.yaml'), ...base],
        /cannot read policy file: no such file/,
      ],
      [
        ['report', 'reported', '--prometheus-url', 'not a url', ...base],
        /^error: --prometheus-url not a url is not a URL/,
      ],
      [['report', 'reported', '-o', 'pdf', ...base], /argument 'pdf' is invalid/],
    ];
    for (const [args, message] of cases) {
      const result = await cli(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.err, args.join(' ')).toMatch(message);
      expect(result.err).not.toMatch(/\n\s+at /);
    }
  });

  it('without Prometheus, charts the recorded evaluations and says so', async () => {
    await run.prometheus.stop();
    const model = await modelOf(run, policyFile);
    const note = model.sources.find((s) => s.kind === 'prometheus');
    expect(note?.ok).toBe(false);
    expect(note?.text).toMatch(
      /no Prometheus series \(Prometheus unreachable: .*\): charts show the evaluations recorded/,
    );
    for (const chart of model.gates) {
      expect(chart.valueSource, chart.id).toBe('evaluations');
      // One point per evaluation: three per wave, from the Events (the state keeps only the last wave's).
      expect(chart.x.length, chart.id).toBe(3);
    }
    const file = join(dir, 'no-prometheus.html');
    const written = await cli(['report', 'reported', ...flags(run, policyFile), '--out', file]);
    expect(written.code, written.err).toBe(0);
    const { page, errors, failed } = await browser.open(pathToFileURL(file).href);
    await page.waitForFunction(() => document.querySelectorAll('figure.gate[data-series]').length === 4);
    expect(errors).toEqual([]);
    expect(failed).toEqual([]);
    expect(await chartsDrawn(page)).toEqual(expected(model));
    expect(await page.locator('main').innerText()).toContain(
      'Values from the recorded evaluations (Prometheus: Prometheus unreachable',
    );
    await page.close();
  });
});

describe('revroll report of a rolled-back run', () => {
  let run: KnownRun;
  let policyFile: string;
  beforeAll(async () => {
    run = await knownRun(0.3);
    expect(run.result.outcome, run.result.message).toBe('rolled-back');
    policyFile = join(dir, 'rolled-back.yaml');
    writeFileSync(policyFile, run.policyText);
  }, 120_000);
  afterAll(async () => {
    await run?.close();
  });

  it('shows the failing gate, the rollback and its reason', async () => {
    const file = join(dir, 'rolled-back.html');
    const written = await cli(['report', 'reported', ...flags(run, policyFile), '--out', file]);
    expect(written.code, written.err).toBe(0);
    const model = await modelOf(run, policyFile);
    expect(model.outcome.status).toBe('rolled-back');
    expect(model.outcome.rollbackReason).toMatch(/gate errors failed 1 time\(s\)/);
    expect(model.groups.map((g) => g.id)).toEqual(['before', 'wave-0', 'wave-1', 'promotion', 'rollback']);
    // The second wave never baked: charts of the first wave only, with the Fail marked.
    expect(model.gates.map((c) => c.id)).toEqual(['gate-0-errors', 'gate-0-latency']);
    expect(model.gates[0]?.series.map((s) => s.id)).toContain('eval-fail');
    expect(model.namespaces.find((n) => n.name === 'alpha')).toMatchObject({
      status: 'restored',
      revisionAfter: '1-24-3',
    });

    const { page, errors, failed } = await browser.open(pathToFileURL(file).href);
    await page.waitForFunction(() => document.querySelectorAll('figure.gate[data-series]').length === 2);
    expect(errors).toEqual([]);
    expect(failed).toEqual([]);
    expect(await chartsDrawn(page)).toEqual(expected(model));
    expect(await axeViolations(page)).toEqual([]);
    const text = await page.locator('main').innerText();
    expect(text).toContain('Rollback reason: gate errors failed');
    expect(text).toMatch(/Fail/);
    await page.close();
  });

  it('--run rebuilds an older run from its Events once a later run replaced its state', async () => {
    const first = run.result.state?.runId as string;
    const again = await run.h.run(run.policy);
    expect(again.outcome, again.message).toBe('rolled-back');
    expect(again.state?.runId).not.toBe(first);
    const model = await modelOf(run, policyFile, ['--run', first]);
    expect(model.runId).toBe(first);
    expect(model.phase).toBeUndefined();
    expect(model.outcome.status).toBe('unknown');
    expect(model.sources[0]?.text).toMatch(new RegExp(`holds a later run; run ${first} is rebuilt from its Events`));
    const errors = model.gates.find((c) => c.id === 'gate-0-errors');
    expect(errors?.evaluations.some((e) => e.outcome === 'Fail')).toBe(true);
    expect(model.activity.byReason.map((r) => r.reason)).toContain('RevrollMigrated');
    const html = join(dir, 'older.html');
    expect((await cli(['report', 'reported', ...flags(run, policyFile), '--run', first, '--out', html])).code).toBe(0);
    expect(readFileSync(html, 'utf8')).toContain('rebuilt from its Events');
  });
});
