/** The report's charting assets, read from the installed uplot package (inlined in every HTML report). */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { RevrollError } from '../errors.ts';
import type { ReportAssets } from '../report/render-html.ts';

/** uPlot's script, stylesheet and licence, from its installed package (inlined in every HTML report). */
export async function loadReportAssets(): Promise<ReportAssets> {
  const require = createRequire(import.meta.url);
  try {
    const read = (path: string) => readFile(require.resolve(`uplot/${path}`), 'utf8');
    const [uplotJs, uplotCss, uplotLicense] = await Promise.all([
      read('dist/uPlot.iife.min.js'),
      read('dist/uPlot.min.css'),
      read('LICENSE'),
    ]);
    return { uplotJs, uplotCss, uplotLicense };
  } catch (error) {
    throw new RevrollError(
      'REPORT_ASSETS_MISSING',
      `the charting library uplot is not installed next to revroll (${describe(error)}); reinstall revroll (npm ci)`,
      { cause: error },
    );
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
