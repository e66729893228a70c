/**
 * The dashboard's front page (`/` of `revroll serve`): every policy the daemon loaded, with its
 * run's phase and progress, linking to each run's live report. Same page frame, styles and
 * script as the reports.
 */
import type { ClientUpdate } from './client.ts';
import { escapeHtml as e, renderPage, type HtmlOptions } from './render-html.ts';

export type IndexRow = {
  name?: string;
  file: string;
  valid: boolean;
  problems: number;
  runId?: string;
  phase?: string;
  step?: string;
  holdReason?: string;
  progress?: { finished: number; total: number };
  lastOutcome?: string;
  nextScheduledAt?: string;
};

export const INDEX_TITLE = 'revroll: runs';

export function renderIndexMain(rows: readonly IndexRow[], generatedAt: Date): string {
  const body = rows
    .map((r) => {
      const name = r.name
        ? r.runId
          ? `<a href="/runs/${encodeURIComponent(r.name)}">${e(r.name)}</a>`
          : e(r.name)
        : '<em>unnamed</em>';
      const phase = r.phase ? `<span class="badge s-${e(phaseClass(r.phase))}">${e(r.phase)}</span>` : 'no run yet';
      const progress = r.progress
        ? `<progress max="${r.progress.total}" value="${r.progress.finished}" aria-label="${e(`${r.name ?? r.file}: ${r.progress.finished} of ${r.progress.total} steps`)}"></progress> ${r.progress.finished}/${r.progress.total}`
        : '';
      const notes = [
        r.valid ? '' : `invalid file (${r.problems} problem${r.problems === 1 ? '' : 's'})`,
        r.holdReason ? `held: ${r.holdReason}` : '',
        r.step ? `at ${r.step}` : '',
        r.lastOutcome ? `last: ${r.lastOutcome}` : '',
        r.nextScheduledAt ? `next: ${r.nextScheduledAt}` : '',
      ].filter((n) => n !== '');
      return `<tr><td>${name}</td><td class="phase">${phase}</td><td>${progress}</td><td>${r.runId ? `<code>${e(r.runId)}</code>` : ''}</td><td class="note">${e(notes.join('; '))}</td><td>${e(r.file)}</td></tr>`;
    })
    .join('\n');
  const table =
    rows.length === 0
      ? '<p>No policy is loaded: put policy files in the folder given to <code>revroll serve --policies</code>.</p>'
      : `<div class="table-wrap" tabindex="0" role="region" aria-label="Table: policies and their runs"><table class="runs"><caption>Policies and their runs</caption><thead><tr><th scope="col">Policy</th><th scope="col">Phase</th><th scope="col">Progress</th><th scope="col">Run</th><th scope="col">Notes</th><th scope="col">File</th></tr></thead><tbody>${body}</tbody></table></div>`;
  return `<section aria-labelledby="h-runs"><h2 id="h-runs">Runs</h2>
${table}
<p class="meta">As of <time datetime="${generatedAt.toISOString()}">${generatedAt.toISOString().slice(0, 19).replace('T', ' ')}</time> UTC. Read-only: approve or reject from Slack or with <code>revroll approve|reject</code>.</p>
</section>`;
}

function phaseClass(phase: string): string {
  switch (phase) {
    case 'Promoted':
      return 'promoted';
    case 'RolledBack':
    case 'Failed':
      return 'failed';
    case 'Held':
      return 'held';
    default:
      return 'in-progress';
  }
}

export function indexUpdate(rows: readonly IndexRow[], generatedAt: Date): ClientUpdate {
  return { title: INDEX_TITLE, main: renderIndexMain(rows, generatedAt), data: { charts: [] } };
}

export function renderIndexHtml(
  rows: readonly IndexRow[],
  generatedAt: Date,
  options: HtmlOptions & { live: NonNullable<HtmlOptions['live']> },
): string {
  return renderPage({
    title: INDEX_TITLE,
    header: '<h1>revroll runs</h1><p class="meta">The policies this daemon runs, and where each run stands.</p>',
    main: renderIndexMain(rows, generatedAt),
    data: { charts: [] },
    options,
  });
}
