/**
 * Screenshots of the report for the README (docs/images/): a promoted run and a rolled-back
 * run, each a real run of the runner on the sandbox with a real Prometheus, rendered by
 * `revroll report` and photographed in headless Chromium (scripts/ensure-deps.sh installs it).
 *
 *   node_modules/.bin/node scripts/screenshots.ts
 */
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { produceReport, renderReport } from '../src/cli/commands/report.ts';
import { launchBrowser } from '../test/report/browser.ts';
import { knownRun } from '../test/report/runs.ts';

const images = fileURLToPath(new URL('../docs/images/', import.meta.url));
mkdirSync(images, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'revroll-screenshots-'));

/** The part of the page from the top of `from` to the bottom of `to`. */
async function between(page: Page, from: string, to: string, file: string): Promise<void> {
  const top = await page.locator(from).first().boundingBox();
  const bottom = await page.locator(to).first().boundingBox();
  if (!top || !bottom) throw new Error(`cannot find ${from} or ${to} on the page`);
  const y = Math.max(0, top.y - 8);
  await page.screenshot({
    path: file,
    fullPage: true,
    clip: { x: 0, y, width: 1100, height: bottom.y + bottom.height + 8 - y },
  });
  console.log(`${file}: ${statSync(file).size} bytes`);
}

const browser = await launchBrowser();
try {
  for (const [name, errorRate] of [
    ['promoted', 0],
    ['rolled-back', 0.3],
  ] as const) {
    const run = await knownRun(errorRate);
    try {
      console.log(`${name}: ${run.result.outcome} (${run.result.message})`);
      const model = await produceReport({
        cluster: run.h.cluster,
        stateNamespace: 'revroll-system',
        policyName: run.policy.metadata.name,
        policy: run.policy,
        env: {},
      });
      const file = join(work, `${name}.html`);
      writeFileSync(file, await renderReport(model, 'html'));
      const { page, errors } = await browser.open(pathToFileURL(file).href, { width: 1100, height: 900 });
      await page.waitForFunction(
        (n) => document.querySelectorAll('figure.gate[data-series]').length === n,
        model.gates.length,
      );
      if (errors.length > 0) throw new Error(`the ${name} report logged errors: ${errors.join('; ')}`);
      await between(page, 'header.top', '#t-wave-0 + .table-wrap', join(images, `report-${name}-summary.png`));
      await between(page, '#h-gates', 'figure.gate >> nth=1', join(images, `report-${name}-gates.png`));
      await page.close();
    } finally {
      await run.close();
    }
  }
} finally {
  await browser.close();
  rmSync(work, { recursive: true, force: true });
}
