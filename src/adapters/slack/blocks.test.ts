import { describe, expect, it } from 'vitest';
import type { RunEvent, RunEventKind } from '../../ports/notifier.ts';
import {
  formatApprovalDecided,
  formatApprovalRequest,
  formatEvent,
  formatRunStatus,
  runLink,
  type Block,
} from './blocks.ts';

const base = { policy: 'mesh-prod', runId: 'run-1' };
const gates = [
  { check: 'proxy-5xx', outcome: 'Fail', value: 0.0712345, baseline: 0.001, message: 'breached' },
  { check: 'p99', outcome: 'Pass', value: 180, message: 'ok' },
  { check: 'xds', outcome: 'NoData', value: null, shadow: true, message: 'no series' },
];

// A Record keyed by kind: adding a RunEventKind without a case here is a type error.
const events: Record<RunEventKind, { event: RunEvent; header: string; contains: string[] }> = {
  'run-started': {
    event: {
      ...base,
      kind: 'run-started',
      message: 'upgrade 1-23-4 -> 1-24-1: 2 wave(s)',
      details: { from: '1-23-4', to: '1-24-1', waves: ['canary', 'rest'] },
    },
    header: ':rocket: mesh-prod: started',
    contains: ['`1-23-4` → `1-24-1`', 'canary, rest'],
  },
  'wave-started': {
    event: {
      ...base,
      kind: 'wave-started',
      step: 'wave/canary/migrate',
      message: 'wave canary started: shop',
      details: { wave: 'canary' },
    },
    header: ':ocean: mesh-prod: wave canary in progress',
    contains: ['*Wave*\ncanary'],
  },
  'wave-finished': {
    event: {
      ...base,
      kind: 'wave-finished',
      step: 'wave/canary/bake',
      message: 'wave canary passed',
      details: { wave: 'canary', gates: [gates[1]] },
    },
    header: ':white_check_mark: mesh-prod: wave canary passed',
    contains: ['*p99*\n:large_green_circle: Pass 180'],
  },
  'gate-failed': {
    event: {
      ...base,
      kind: 'gate-failed',
      step: 'wave/canary/bake',
      message: 'proxy-5xx breached',
      details: { wave: 'canary', gates },
    },
    header: ':x: mesh-prod: gate failed in wave canary',
    contains: [
      '<!subteam^S0ONCALL>',
      ':red_circle: Fail 0.07123 (baseline 0.001)',
      '*xds (shadow)*\n:large_yellow_circle: NoData n/a',
    ],
  },
  hold: {
    event: { ...base, kind: 'hold', message: 'maintenance window closed', details: { hold: 'window' } },
    header: ':double_vertical_bar: mesh-prod: held',
    contains: ['*Hold*\nwindow'],
  },
  'rollback-started': {
    event: { ...base, kind: 'rollback-started', message: 'rolling back to 1-23-4: gate failed' },
    header: ':rewind: mesh-prod: rolling back',
    contains: ['<@U0ALICE>'],
  },
  'rollback-finished': {
    event: { ...base, kind: 'rollback-finished', message: 'rolled back to 1-23-4' },
    header: ':leftwards_arrow_with_hook: mesh-prod: rolled back',
    contains: ['rolled back to 1-23-4'],
  },
  'approval-requested': {
    event: {
      ...base,
      kind: 'approval-requested',
      step: 'wave/canary/approval',
      message: 'approve wave canary',
      details: { expiresAt: '2026-03-10T02:55:00.000Z', point: 'wave', planHash: 'abc' },
    },
    header: ':raised_hand: mesh-prod: waiting for approval',
    contains: ['*Approval*\nwave', '<!date^1773111300^{date_short_pretty} {time}|2026-03-10T02:55:00.000Z>'],
  },
  'approval-decided': {
    event: {
      ...base,
      kind: 'approval-decided',
      step: 'wave/canary/approval',
      message: 'approved by alice',
      details: { decision: 'approved', by: 'alice (U0ALICE)', via: 'slack', decidedAt: '2026-03-10T02:01:00.000Z' },
    },
    header: ':thumbsup: mesh-prod: approved',
    contains: ['*By*\nalice (U0ALICE) (slack)'],
  },
  promoted: {
    event: { ...base, kind: 'promoted', message: 'promoted 1-24-1' },
    header: ':tada: mesh-prod: promoted',
    contains: ['promoted 1-24-1'],
  },
  error: {
    event: {
      ...base,
      kind: 'error',
      message: 'Kubernetes API unreachable past the retry budget',
      details: { hold: 'error' },
    },
    header: ':rotating_light: mesh-prod: failed',
    contains: ['<!subteam^S0ONCALL> <@U0ALICE>'],
  },
};

function headerOf(blocks: Block[]): string {
  const first = blocks[0];
  return first?.type === 'header' ? first.text.text : '';
}

describe('src/adapters/slack/blocks', () => {
  it.each(Object.entries(events))('renders %s', (_kind, { event, header, contains }) => {
    const message = formatEvent(event, { mentions: ['S0ONCALL', 'U0ALICE'] });
    expect(headerOf(message.blocks)).toBe(header);
    const json = JSON.stringify(message.blocks);
    for (const text of contains) expect(json).toContain(JSON.stringify(text).slice(1, -1));
    // Every message has a context line with the run ID, and a fallback text for notifications.
    expect(JSON.stringify(message.blocks.find((b) => b.type === 'context'))).toContain('run `run-1`');
    expect(message.text).toContain('mesh-prod');
  });

  it('mentions people only for alerts', () => {
    const message = formatEvent(events.promoted.event, { mentions: ['S0ONCALL'] });
    expect(JSON.stringify(message.blocks)).not.toContain('subteam');
  });

  it('renders an expired approval', () => {
    const message = formatEvent({
      ...base,
      kind: 'approval-decided',
      step: 's',
      message: 's: expired',
      details: { decision: 'expired', expiresAt: '2026-03-10T02:55:00.000Z' },
    });
    expect(headerOf(message.blocks)).toBe(':hourglass: mesh-prod: approval expired');
    expect(JSON.stringify(message.blocks)).toContain('*Expired*');
    expect(
      headerOf(
        formatApprovalDecided({
          policy: 'p',
          runId: 'r',
          step: 's',
          decision: 'expired',
          by: 'revroll',
          at: new Date(0),
          via: 'slack',
        }).blocks,
      ),
    ).toBe(':hourglass: p: approval expired');
  });

  it('escapes run text so it cannot mention everyone or forge links', () => {
    const message = formatEvent({ ...base, kind: 'hold', message: 'ns <!channel> & <https://evil|click>' });
    const json = JSON.stringify(message.blocks);
    expect(json).toContain('&lt;!channel&gt; &amp; &lt;https://evil|click&gt;');
    expect(json).not.toContain('<!channel>');
  });

  it('ignores malformed details instead of failing', () => {
    const message = formatEvent({
      ...base,
      kind: 'wave-finished',
      message: 'ok',
      details: { wave: { nested: true }, gates: 'not a list', from: 3 },
    });
    expect(headerOf(message.blocks)).toBe(':white_check_mark: mesh-prod: wave passed');
  });

  it('keeps within Slack limits', () => {
    const long = 'x'.repeat(5000);
    const message = formatEvent({
      policy: long,
      runId: 'r',
      kind: 'hold',
      message: long,
      details: { gates: Array.from({ length: 30 }, (_, i) => ({ check: `c${i}`, outcome: 'Pass', value: i })) },
    });
    expect(headerOf(message.blocks).length).toBeLessThanOrEqual(150);
    const section = message.blocks[1];
    expect(section?.type === 'section' && (section.text?.text.length ?? 0)).toBeLessThanOrEqual(3000);
    const fields = message.blocks[2];
    expect(fields?.type === 'section' && fields.fields?.length).toBe(10);
    expect(message.text.length).toBeLessThanOrEqual(3000);
  });

  it('binds the approval buttons to run, step and plan hash', () => {
    const value = { policy: 'mesh-prod', runId: 'run-1', step: 'wave/canary/approval', planHash: 'abc' };
    const message = formatApprovalRequest(events['approval-requested'].event, value);
    const actions = message.blocks.find((b) => b.type === 'actions');
    expect(actions).toBeDefined();
    if (actions?.type !== 'actions') return;
    expect(actions.elements.map((e) => [e.action_id, e.style, JSON.parse(e.value)])).toEqual([
      ['revroll.approve', 'primary', value],
      ['revroll.reject', 'danger', value],
    ]);
    expect(actions.elements[0]?.value).toBe(JSON.stringify(value));
    expect(JSON.stringify(message.blocks)).toContain('revroll approve mesh-prod --step wave/canary/approval');
  });

  it('shows who decided, as a mention, and drops the buttons', () => {
    const message = formatApprovalDecided({
      policy: 'p',
      runId: 'r',
      step: 's',
      decision: 'rejected',
      by: 'alice (U0ALICE)',
      at: new Date('2026-03-10T02:01:00Z'),
      via: 'slack',
    });
    const json = JSON.stringify(message.blocks);
    expect(json).toContain(':no_entry: Rejected by <@U0ALICE>');
    expect(json).not.toContain('"actions"');
    expect(
      JSON.stringify(
        formatApprovalDecided({
          policy: 'p',
          runId: 'r',
          step: 's',
          decision: 'approved',
          by: 'bob',
          at: new Date(0),
          via: 'cli',
        }).blocks,
      ),
    ).toContain('Approved by bob');
  });

  it('renders the run status for the thread parent', () => {
    const message = formatRunStatus({
      policy: 'mesh-prod',
      runId: 'run-1',
      emoji: ':ocean:',
      state: 'wave canary in progress',
      from: '1-23-4',
      to: '1-24-1',
      wave: 'canary',
      latest: 'wave canary started',
    });
    expect(headerOf(message.blocks)).toBe(':ocean: mesh-prod: wave canary in progress');
    expect(JSON.stringify(message.blocks)).toContain('`1-23-4` → `1-24-1`');
  });

  it("links the thread parent and each event to the run's dashboard page, escaped", () => {
    expect(runLink(undefined, 'mesh-prod')).toBeUndefined();
    expect(runLink('https://dash.example.com/revroll//', 'mesh-prod')).toBe(
      'https://dash.example.com/revroll/runs/mesh-prod',
    );
    const link = 'https://dash.example.com/runs/mesh-prod?a=1&b=<2>';
    const status = formatRunStatus({
      policy: 'mesh-prod',
      runId: 'run-1',
      emoji: ':ocean:',
      state: 'wave canary in progress',
      latest: 'wave canary started',
      link,
    });
    expect(JSON.stringify(status.blocks)).toContain(
      '<https://dash.example.com/runs/mesh-prod?a=1&amp;b=&lt;2&gt;|View run>',
    );
    const event = formatEvent({ ...base, kind: 'promoted', message: 'promoted' }, { link });
    expect(JSON.stringify(event.blocks.at(-1))).toContain('|View run>');
    expect(JSON.stringify(formatEvent({ ...base, kind: 'promoted', message: 'promoted' }).blocks)).not.toContain(
      'View run',
    );
  });
});
