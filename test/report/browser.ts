/**
 * Headless Chromium for the report suites (Debian's package at /usr/bin/chromium, driven by
 * playwright-core; scripts/ensure-deps.sh installs it). Background networking is off, or
 * Chromium tries the network at start. Each page records console errors, page errors, every
 * request and every failed one, so a test can assert the page fetched nothing it should not.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export type Browser = {
  open(url: string, viewport?: { width: number; height: number }): Promise<WatchedPage>;
  close(): Promise<void>;
};

export type WatchedPage = {
  page: Page;
  /** Console messages of type error, and uncaught page errors. */
  errors: string[];
  requests: string[];
  failed: string[];
};

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: run bash scripts/ensure-deps.sh (installs Debian's chromium as root)`);
  const profile = mkdtempSync(join(tmpdir(), 'revroll-chromium-'));
  const context: BrowserContext = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    async open(url, viewport = { width: 1280, height: 900 }) {
      const page = await context.newPage();
      await page.setViewportSize(viewport);
      const watched: WatchedPage = { page, errors: [], requests: [], failed: [] };
      page.on('console', (m) => {
        if (m.type() === 'error') watched.errors.push(m.text());
      });
      page.on('pageerror', (error) => watched.errors.push(error.message));
      page.on('request', (r) => watched.requests.push(r.url()));
      page.on('requestfailed', (r) => watched.failed.push(`${r.url()}: ${r.failure()?.errorText ?? ''}`));
      await page.goto(url, { waitUntil: 'load' });
      return watched;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** axe-core's rules run in the page; returns the violations (id: help, nodes). */
export async function axeViolations(page: Page): Promise<string[]> {
  const source = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  // Through the DevTools protocol: the page's CSP forbids scripts it does not list, and must.
  await page.evaluate(source);
  const result = (await page.evaluate(
    `axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] })`,
  )) as {
    violations: { id: string; help: string; nodes: { target: string[] }[] }[];
    passes: unknown[];
  };
  // An empty list must mean "checked and clean", not "nothing ran".
  if (result.passes.length < 10) throw new Error(`axe ran only ${result.passes.length} rules`);
  return result.violations.map(
    (v) =>
      `${v.id}: ${v.help} (${v.nodes
        .map((n) => n.target.join(' '))
        .slice(0, 3)
        .join(', ')})`,
  );
}

/** What each chart drew, as its uPlot instance reported it, and whether its canvas has ink. */
export async function chartsDrawn(page: Page): Promise<{ id: string; series: number; points: number; ink: boolean }[]> {
  return page.$$eval('figure.gate', (figures) =>
    figures.map((f) => {
      const canvas = f.querySelector('canvas');
      let ink = false;
      if (canvas) {
        const ctx = canvas.getContext('2d');
        const data = ctx?.getImageData(0, 0, canvas.width, canvas.height).data;
        if (data) for (let i = 3; i < data.length && !ink; i += 4) ink = (data[i] ?? 0) > 0;
      }
      return {
        id: f.id,
        series: Number(f.getAttribute('data-series') ?? -1),
        points: Number(f.getAttribute('data-points') ?? -1),
        ink,
      };
    }),
  );
}

/** Horizontal overflow of the page (0 when nothing sticks out). */
export async function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}
