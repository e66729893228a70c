/**
 * The report as Markdown (`revroll report -o md`): for a ticket or a post-mortem. Charts become
 * their one-line summaries and their evaluations tables; everything else is as in the HTML.
 */
import { formatValue as formatNumber } from './charts.ts';
import type { GateChart, ReportModel } from './model.ts';

/** Escapes a table cell: pipes and line breaks would break the row; `<` would start HTML. */
function cell(text: string | undefined): string {
  return (text ?? '').replaceAll('\\', '\\\\').replaceAll('|', '\\|').replaceAll('<', '&lt;').replace(/\r?\n/g, ' ');
}

function rowsTable(head: string[], rows: (string | undefined)[][]): string {
  return [
    `| ${head.map(cell).join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ].join('\n');
}

function time(iso: string | undefined): string {
  return iso ? iso.slice(0, 19).replace('T', ' ') : '';
}

function num(v: number | null | undefined): string {
  return v === undefined ? '' : v === null ? 'none' : formatNumber(v);
}

function chartBlock(chart: GateChart): string {
  const rows = chart.evaluations.map((r) => [
    time(r.at),
    r.outcome,
    num(r.value),
    num(r.baseline),
    num(r.upper),
    num(r.lower),
    r.message,
  ]);
  return [
    `#### ${cell(chart.check)}${chart.shadow ? ' (shadow)' : ''}, wave ${cell(chart.waveName)}`,
    '',
    cell(chart.summary),
    '',
    rows.length > 0
      ? rowsTable(['Time', 'Outcome', 'Value', 'Baseline', 'Upper limit', 'Lower limit', 'Message'], rows)
      : 'No evaluation was recorded.',
  ].join('\n');
}

export function renderReportMarkdown(model: ReportModel): string {
  const out: string[] = [];
  out.push(`# ${cell(model.policy)}: ${cell(model.from ?? '?')} → ${cell(model.to ?? '?')}`, '');
  out.push(
    `Run \`${model.runId}\`${model.startedAt ? `, started ${time(model.startedAt)}` : ''}${model.updatedAt ? `, updated ${time(model.updatedAt)}` : ''} (UTC). Generated ${time(model.generatedAt)}.`,
    '',
  );
  out.push('## Outcome', '', `**${model.phase ?? model.outcome.status}**: ${cell(model.outcome.summary)}`, '');
  if (model.outcome.rollbackReason) out.push(`Rollback reason: ${cell(model.outcome.rollbackReason)}`, '');
  if (model.outcome.abortRequested)
    out.push(
      `Abort requested by ${cell(model.outcome.abortRequested.by)} at ${time(model.outcome.abortRequested.at)}`,
      '',
    );
  out.push(`Steps finished: ${model.progress.finished} of ${model.progress.total}.`, '');
  out.push('Sources:', '', ...model.sources.map((s) => `- ${s.ok ? '' : '**Note:** '}${cell(s.text)}`), '');

  timelineSection(model, out);
  inventorySection(model, out);
  out.push('## Approvals', '');
  out.push(
    model.approvals.length > 0
      ? rowsTable(
          ['Step', 'Point', 'Requested', 'Decision', 'Who', 'How', 'When'],
          model.approvals.map((a) => [
            a.step,
            a.point,
            time(a.requestedAt),
            a.decision ?? 'pending',
            a.by,
            [a.via, a.channel].filter(Boolean).join(' in '),
            time(a.decidedAt),
          ]),
        )
      : 'No approval was requested in this run.',
    '',
  );
  out.push('## Activity', '', `${model.activity.total} Kubernetes Event(s) recorded for this run.`, '');
  if (model.activity.byReason.length > 0)
    out.push(
      rowsTable(
        ['Reason', 'Count'],
        model.activity.byReason.map((r) => [r.reason, String(r.count)]),
      ),
      '',
    );
  return `${out
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trimEnd()}\n`;
}

/** Timeline, holds and gates. */
function timelineSection(model: ReportModel, out: string[]): void {
  out.push('## Timeline', '');
  for (const group of model.groups) {
    out.push(`### ${cell(group.title)}`, '');
    out.push(
      rowsTable(
        ['Step', 'Status', 'Started', 'Finished', 'Note'],
        group.steps.map((s) => [
          `${s.id}${s.current ? ' (current)' : ''}`,
          s.status,
          time(s.startedAt),
          time(s.finishedAt),
          s.note,
        ]),
      ),
      '',
    );
  }
  out.push('### Holds', '');
  out.push(
    model.holds.length > 0
      ? rowsTable(
          ['Kind', 'Since', 'Until', 'Step', 'Reason'],
          model.holds.map((h) => [h.kind, time(h.since), h.active ? 'holding now' : time(h.until), h.step, h.reason]),
        )
      : 'The run was never held.',
    '',
  );

  out.push('## Gates', '');
  out.push(
    model.gates.length > 0 ? model.gates.map(chartBlock).join('\n\n') : 'No gate was evaluated in this run.',
    '',
  );
}

/** Namespaces, gateways, tags and stragglers. */
function inventorySection(model: ReportModel, out: string[]): void {
  out.push('## Namespaces, gateways and tags', '');
  out.push(
    rowsTable(
      ['Namespace', 'Wave', 'Labels before', 'Revision before', 'Revision after', 'Status', 'Moved at', 'Restarts'],
      model.namespaces.map((n) => [
        n.name,
        n.waveName,
        n.labelsBefore,
        n.revisionBefore,
        n.revisionAfter,
        n.status,
        time(n.movedAt),
        String(n.restarted),
      ]),
    ),
    '',
  );
  if (model.gateways.length > 0)
    out.push(
      rowsTable(
        ['Gateway', 'Upgrade', 'Revision before', 'Revision after', 'Moved'],
        model.gateways.map((g) => [
          `${g.namespace}/${g.name}`,
          g.upgrade,
          g.revisionBefore ?? '(none)',
          g.revisionAfter ?? '(none)',
          g.moved ? 'yes' : 'no',
        ]),
      ),
      '',
    );
  if (model.gatewayApi.length > 0)
    out.push(
      rowsTable(
        ['Gateway API Gateway', 'Deployment', 'Mode', 'istio.io/rev before', 'Pinned', 'Moved', 'Held back'],
        model.gatewayApi.map((g) => [
          g.gateway,
          g.deployment,
          g.mode,
          g.labelBefore ?? '(absent)',
          g.pinned ? 'yes' : 'no',
          g.moved ? 'yes' : 'no',
          g.held ? 'yes' : 'no',
        ]),
      ),
      '',
    );
  if (model.tags.length > 0)
    out.push(
      rowsTable(
        ['Tag', 'Before', 'Target', 'After', 'Moved'],
        model.tags.map((t) => [t.tag, t.before ?? '(created)', t.target, t.after ?? '(none)', t.moved ? 'yes' : 'no']),
      ),
      '',
    );

  out.push('## Stragglers', '');
  out.push(
    model.stragglers.checks.length > 0
      ? rowsTable(
          ['Step', 'Status', 'What it found'],
          model.stragglers.checks.map((c) => [c.step, c.status, c.note]),
        )
      : 'No convergence check has run yet.',
    '',
  );
  if (model.stragglers.deleted.length > 0)
    out.push(
      rowsTable(
        ['Pod deleted', 'At', 'Reason'],
        model.stragglers.deleted.map((d) => [`${d.namespace}/${d.pod}`, time(d.at), d.reason]),
      ),
      '',
    );
}
