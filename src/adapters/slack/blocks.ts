/**
 * Block Kit for run events, written to read well on a phone: a header with the policy and a
 * status emoji, a short sentence, at most a few two-column fields (from -> to, wave, gates), and a
 * context line with the run ID. Text from the run is escaped so a namespace or a message can never
 * mention `@channel` or forge a link. Slack's size limits are respected by truncation.
 */
import type { RunEvent, RunEventKind } from '../../ports/notifier.ts';
import {
  APPROVE_ACTION_ID,
  EventDetailsSchema,
  REJECT_ACTION_ID,
  type ApprovalButtonValue,
  type EventDetails,
} from './schema.ts';

type PlainText = { type: 'plain_text'; text: string; emoji?: boolean };
type Mrkdwn = { type: 'mrkdwn'; text: string };
type Button = {
  type: 'button';
  action_id: string;
  text: PlainText;
  value: string;
  style?: 'primary' | 'danger';
  confirm?: { title: PlainText; text: Mrkdwn; confirm: PlainText; deny: PlainText; style?: 'primary' | 'danger' };
};

/** The Block Kit blocks revroll uses. */
export type Block =
  | { type: 'header'; text: PlainText }
  | { type: 'section'; text?: Mrkdwn; fields?: Mrkdwn[] }
  | { type: 'context'; elements: Mrkdwn[] }
  | { type: 'actions'; block_id: string; elements: Button[] }
  | { type: 'divider' };

/** A message: `text` is the notification/fallback line, `blocks` what Slack renders. */
export type SlackMessage = { text: string; blocks: Block[] };

/** Where a run stands, as the thread's parent message shows it. */
export type RunStatus = {
  policy: string;
  runId: string;
  /** Emoji shortcode of the latest state. */
  emoji: string;
  /** A few words: `wave canary in progress`, `rolled back`... */
  state: string;
  from?: string;
  to?: string;
  wave?: string;
  /** The latest event's sentence. */
  latest: string;
  updatedAt?: Date;
  /** The run's page on the dashboard, when the policy gives `notify.dashboardUrl`. */
  link?: string;
};

/**
 * The run's page on the dashboard: `<dashboardUrl>/runs/<policy>`. Shown as a link, not a URL
 * button: Slack sends an interaction request to the app for URL buttons too (slackapi/node-slack-sdk
 * issue 869), which the approvals endpoint would have to answer for a mere link.
 */
export function runLink(dashboardUrl: string | undefined, policy: string): string | undefined {
  if (dashboardUrl === undefined) return undefined;
  return `${dashboardUrl.replace(/\/+$/, '')}/runs/${encodeURIComponent(policy)}`;
}

// Slack's limits (https://api.slack.com/reference/block-kit/blocks).
const HEADER_MAX = 150;
const SECTION_MAX = 3000;
const FIELD_MAX = 2000;
const MAX_FIELDS = 10;
const FALLBACK_MAX = 3000;

/** The emoji and state words of each event kind (approval-decided depends on the decision). */
export function describeEvent(
  event: RunEvent,
  details: EventDetails = parseDetails(event),
): { emoji: string; state: string } {
  const wave = details.wave !== undefined ? `wave ${String(details.wave)}` : 'wave';
  const kind: RunEventKind = event.kind;
  switch (kind) {
    case 'run-started':
      return { emoji: ':rocket:', state: 'started' };
    case 'wave-started':
      return { emoji: ':ocean:', state: `${wave} in progress` };
    case 'wave-finished':
      return { emoji: ':white_check_mark:', state: `${wave} passed` };
    case 'gate-failed':
      return { emoji: ':x:', state: `gate failed in ${wave}` };
    case 'hold':
      return { emoji: ':double_vertical_bar:', state: 'held' };
    case 'rollback-started':
      return { emoji: ':rewind:', state: 'rolling back' };
    case 'rollback-finished':
      return { emoji: ':leftwards_arrow_with_hook:', state: 'rolled back' };
    case 'approval-requested':
      return { emoji: ':raised_hand:', state: 'waiting for approval' };
    case 'approval-decided':
      if (details.decision === 'approved') return { emoji: ':thumbsup:', state: 'approved' };
      if (details.decision === 'rejected') return { emoji: ':no_entry:', state: 'rejected' };
      if (details.decision === 'expired') return { emoji: ':hourglass:', state: 'approval expired' };
      return { emoji: ':ballot_box_with_check:', state: 'decided' };
    case 'promoted':
      return { emoji: ':tada:', state: 'promoted' };
    case 'error':
      return { emoji: ':rotating_light:', state: 'failed' };
    default: {
      const unreachable: never = kind;
      return unreachable;
    }
  }
}

/** Event kinds that page people: mentioned with `mentionOnFailure`, and shown in the channel, not only the thread. */
export const ALERT_KINDS: ReadonlySet<RunEventKind> = new Set(['gate-failed', 'rollback-started', 'error']);

/** The event's `details`, leniently parsed: unknown or malformed facts are dropped, never fatal. */
export function parseDetails(event: RunEvent): EventDetails {
  const parsed = EventDetailsSchema.safeParse(event.details ?? {});
  return parsed.success ? parsed.data : {};
}

/** One event as a message (a thread reply, or a standalone webhook post). */
export function formatEvent(
  event: RunEvent,
  options: { mentions?: readonly string[]; link?: string } = {},
): SlackMessage {
  const details = parseDetails(event);
  const { emoji, state } = describeEvent(event, details);
  const mentions = ALERT_KINDS.has(event.kind) ? (options.mentions ?? []).map(mention).join(' ') : '';
  const sentence = `${mentions ? `${mentions} ` : ''}${escapeMrkdwn(event.message)}`;
  const fields = eventFields(event, details);
  const blocks: Block[] = [
    header(`${emoji} ${event.policy}: ${state}`),
    { type: 'section', text: mrkdwn(clip(sentence || escapeMrkdwn(state), SECTION_MAX)) },
    ...(fields.length > 0 ? [{ type: 'section' as const, fields: fields.slice(0, MAX_FIELDS) }] : []),
    contextLine(event.runId, event.step, undefined, options.link),
  ];
  // The terminal way to decide is always shown: buttons may be absent, or Slack may be the thing that is down.
  if (event.kind === 'approval-requested' && event.step !== undefined) {
    blocks.push({
      type: 'context',
      elements: [
        mrkdwn(
          clip(
            `decide from a terminal: ${code(`revroll approve ${event.policy} --step ${event.step}`)} or ${code('revroll reject ...')}`,
            FIELD_MAX,
          ),
        ),
      ],
    });
  }
  return { text: clip(`${event.policy}: ${state}: ${event.message}`, FALLBACK_MAX), blocks };
}

/** An approval request with Approve and Reject buttons bound to `value` (run, step, plan hash). */
export function formatApprovalRequest(event: RunEvent, value: ApprovalButtonValue, link?: string): SlackMessage {
  const base = formatEvent(event, link !== undefined ? { link } : {});
  const json = JSON.stringify(value);
  const confirm = (verb: string, style: 'primary' | 'danger') => ({
    title: plain(`${verb}?`),
    text: mrkdwn(
      clip(
        `${verb} step \`${escapeMrkdwn(value.step)}\` of *${escapeMrkdwn(value.policy)}* (run \`${escapeMrkdwn(value.runId)}\`)?`,
        300,
      ),
    ),
    confirm: plain(verb),
    deny: plain('Cancel'),
    style,
  });
  const actions: Block = {
    type: 'actions',
    block_id: 'revroll.approval',
    elements: [
      {
        type: 'button',
        action_id: APPROVE_ACTION_ID,
        text: plain('Approve'),
        style: 'primary',
        value: json,
        confirm: confirm('Approve', 'primary'),
      },
      {
        type: 'button',
        action_id: REJECT_ACTION_ID,
        text: plain('Reject'),
        style: 'danger',
        value: json,
        confirm: confirm('Reject', 'danger'),
      },
    ],
  };
  const blocks = [...base.blocks];
  // Buttons go just above the context lines, where a thumb expects them.
  const firstContext = blocks.findIndex((b) => b.type === 'context');
  blocks.splice(firstContext === -1 ? blocks.length : firstContext, 0, actions);
  return { text: base.text, blocks };
}

/** What an approval message becomes once decided: the buttons are gone, who and when are shown. */
export function formatApprovalDecided(input: {
  policy: string;
  runId: string;
  step: string;
  decision: 'approved' | 'rejected' | 'expired';
  /** `name (U0123ABCD)` or a bare Slack user ID (rendered as a mention), or a free-form name (CLI decisions). */
  by: string;
  at: Date;
  via: 'slack' | 'cli';
}): SlackMessage {
  if (input.decision === 'expired') {
    return {
      text: clip(`${input.policy}: the approval of ${input.step} expired at ${input.at.toISOString()}`, FALLBACK_MAX),
      blocks: [
        header(`:hourglass: ${input.policy}: approval expired`),
        { type: 'section', text: mrkdwn(`:hourglass: Nobody decided; the approval expired ${slackDate(input.at)}`) },
        contextLine(input.runId, input.step),
      ],
    };
  }
  const approved = input.decision === 'approved';
  const userId =
    /^(.*) \(([UW][A-Z0-9]{2,})\)$/.exec(input.by)?.[2] ?? (/^[UW][A-Z0-9]{2,}$/.test(input.by) ? input.by : undefined);
  const who = userId !== undefined ? `<@${userId}>` : escapeMrkdwn(input.by);
  const line = `${approved ? ':white_check_mark: Approved' : ':no_entry: Rejected'} by ${who} ${slackDate(input.at)}${input.via === 'cli' ? ' (from the CLI)' : ''}`;
  return {
    text: clip(
      `${input.policy}: ${input.step} ${input.decision} by ${input.by} at ${input.at.toISOString()}`,
      FALLBACK_MAX,
    ),
    blocks: [
      header(`${approved ? ':thumbsup:' : ':no_entry:'} ${input.policy}: ${input.decision}`),
      { type: 'section', text: mrkdwn(line) },
      contextLine(input.runId, input.step),
    ],
  };
}

/** The thread's parent: the run's current status. */
export function formatRunStatus(status: RunStatus): SlackMessage {
  const fields: Mrkdwn[] = [];
  if (status.from !== undefined || status.to !== undefined)
    fields.push(field('Revision', `${code(status.from ?? '?')} → ${code(status.to ?? '?')}`));
  if (status.wave !== undefined) fields.push(field('Wave', escapeMrkdwn(status.wave)));
  return {
    text: clip(`${status.policy}: ${status.state}`, FALLBACK_MAX),
    blocks: [
      header(`${status.emoji} ${status.policy}: ${status.state}`),
      ...(fields.length > 0 ? [{ type: 'section' as const, fields }] : []),
      { type: 'section', text: mrkdwn(clip(`Latest: ${escapeMrkdwn(status.latest)}`, SECTION_MAX)) },
      contextLine(status.runId, undefined, status.updatedAt, status.link),
    ],
  };
}

/** A one-line ephemeral answer to the person who clicked (why the click was refused). */
export function formatNotice(text: string): SlackMessage {
  return {
    text: clip(text, FALLBACK_MAX),
    blocks: [{ type: 'section', text: mrkdwn(clip(`:warning: ${escapeMrkdwn(text)}`, SECTION_MAX)) }],
  };
}

function eventFields(event: RunEvent, details: EventDetails): Mrkdwn[] {
  const fields: Mrkdwn[] = [];
  if (details.from !== undefined || details.to !== undefined)
    fields.push(field('Revision', `${code(details.from ?? '?')} → ${code(details.to ?? '?')}`));
  if (details.wave !== undefined) fields.push(field('Wave', escapeMrkdwn(String(details.wave))));
  else if (details.waves && details.waves.length > 0)
    fields.push(field('Waves', escapeMrkdwn(details.waves.join(', '))));
  if (event.kind === 'approval-requested') {
    if (details.point !== undefined) fields.push(field('Approval', escapeMrkdwn(details.point)));
    if (details.expiresAt !== undefined) fields.push(field('Expires', dateText(details.expiresAt)));
  }
  if (event.kind === 'approval-decided') {
    if (details.decision !== undefined) fields.push(field('Decision', escapeMrkdwn(details.decision)));
    if (details.by !== undefined)
      fields.push(field('By', `${escapeMrkdwn(details.by)}${details.via ? ` (${escapeMrkdwn(details.via)})` : ''}`));
    if (details.decidedAt !== undefined) fields.push(field('When', dateText(details.decidedAt)));
    else if (details.decision === 'expired' && details.expiresAt !== undefined)
      fields.push(field('Expired', dateText(details.expiresAt)));
  }
  if (details.hold !== undefined) fields.push(field('Hold', escapeMrkdwn(details.hold)));
  for (const gate of details.gates ?? []) {
    const mark =
      gate.outcome === 'Pass'
        ? ':large_green_circle:'
        : gate.outcome === 'Fail'
          ? ':red_circle:'
          : ':large_yellow_circle:';
    const value = gate.value === undefined ? '' : ` ${gate.value === null ? 'n/a' : formatNumber(gate.value)}`;
    const baseline =
      gate.baseline === undefined || gate.baseline === null ? '' : ` (baseline ${formatNumber(gate.baseline)})`;
    fields.push(
      field(
        `${gate.check}${gate.shadow ? ' (shadow)' : ''}`,
        `${mark} ${escapeMrkdwn(gate.outcome)}${value}${baseline}`,
      ),
    );
  }
  if (event.step !== undefined && fields.length === 0) fields.push(field('Step', code(event.step)));
  return fields;
}

function header(text: string): Block {
  return { type: 'header', text: plain(text) };
}

function contextLine(runId: string, step?: string, updatedAt?: Date, link?: string): Block {
  const parts = [
    `run ${code(runId)}`,
    ...(step !== undefined ? [`step ${code(step)}`] : []),
    ...(updatedAt ? [`updated ${slackDate(updatedAt)}`] : []),
    // Slack link syntax; the URL is escaped like any text (https://api.slack.com/reference/surfaces/formatting#escaping).
    ...(link !== undefined ? [`<${escapeMrkdwn(link)}|View run>`] : []),
  ];
  return { type: 'context', elements: [mrkdwn(clip(parts.join(' · '), FIELD_MAX))] };
}

function plain(text: string): PlainText {
  return { type: 'plain_text', text: clip(text, HEADER_MAX), emoji: true };
}

function mrkdwn(text: string): Mrkdwn {
  return { type: 'mrkdwn', text };
}

function field(title: string, value: string): Mrkdwn {
  return mrkdwn(clip(`*${escapeMrkdwn(title)}*\n${value}`, FIELD_MAX));
}

function code(text: string): string {
  return `\`${escapeMrkdwn(text).replaceAll('`', "'")}\``;
}

/** A Slack user or user group ID as a mention. */
function mention(id: string): string {
  return id.startsWith('S') ? `<!subteam^${id}>` : `<@${id}>`;
}

/** Slack's three control characters (https://api.slack.com/reference/surfaces/formatting#escaping). */
export function escapeMrkdwn(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** A date each reader sees in their own time zone, with the UTC ISO form as the fallback. */
function slackDate(at: Date): string {
  return `<!date^${Math.floor(at.getTime() / 1000)}^{date_short_pretty} {time}|${at.toISOString()}>`;
}

function dateText(iso: string): string {
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? escapeMrkdwn(iso) : slackDate(at);
}

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return value > 0 ? '+Inf' : value < 0 ? '-Inf' : 'NaN';
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
