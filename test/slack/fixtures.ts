/** Shared data for the Slack tests: settings, a run waiting for approval, and request signing. */
import { createHmac } from 'node:crypto';
import type { RunState } from '../../src/engine/state.ts';
import type { SlackSettings } from '../../src/policy/types.ts';

export const NOW = new Date('2026-03-10T02:00:00.000Z');
export const POLICY = 'mesh-prod';
export const RUN_ID = 'run-20260310-0200';
export const PLAN_HASH = 'a1b2c3d4e5f6';
export const STEP = 'wave/canary/approval';

// Recognizable fake secrets: the leak test greps every log line and error for them.
export const BOT_TOKEN = 'xoxb-1111-2222-SECRETBOTTOKEN';
export const SIGNING_SECRET = 'f00dfeedSECRETsigning0123456789';
export const WEBHOOK_URL = 'https://hooks.slack.com/services/T000/B000/SECRETWEBHOOKPATH';
export const ENV = { SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_WEBHOOK_URL: WEBHOOK_URL };

export const APPROVER = 'U0APPROVER';
export const GROUP = 'S0SREGROUP';

export function slackSettings(overrides: Partial<SlackSettings> = {}): SlackSettings {
  return {
    channel: '#mesh-upgrades',
    botToken: { env: 'SLACK_BOT_TOKEN' },
    signingSecret: { env: 'SLACK_SIGNING_SECRET' },
    approvers: { users: [APPROVER] },
    mentionOnFailure: ['S0ONCALL'],
    ...overrides,
  };
}

/** A run held at a wave approval that expires in an hour. */
export function heldRun(overrides: Partial<RunState> = {}): RunState {
  return {
    version: 1,
    policy: POLICY,
    runId: RUN_ID,
    planHash: PLAN_HASH,
    from: '1-23-4',
    to: '1-24-1',
    phase: 'Held',
    startedAt: '2026-03-10T01:00:00.000Z',
    updatedAt: '2026-03-10T01:55:00.000Z',
    cursor: 1,
    steps: [
      { id: 'precheck', kind: 'precheck' },
      { id: STEP, kind: 'approval', wave: 0, point: 'wave' },
    ],
    records: [
      { id: 'precheck', kind: 'precheck', status: 'done' },
      { id: STEP, kind: 'approval', wave: 0, point: 'wave', status: 'running' },
    ],
    waves: ['canary'],
    namespaces: { shop: { wave: 0, rev: '1-23-4' } },
    gateways: [],
    tags: [],
    approvals: [
      {
        step: STEP,
        point: 'wave',
        requestedAt: '2026-03-10T01:55:00.000Z',
        expiresAt: '2026-03-10T02:55:00.000Z',
        notified: true,
      },
    ],
    hold: { kind: 'approval', reason: 'waiting for approval of wave canary', since: '2026-03-10T01:55:00.000Z' },
    ...overrides,
  };
}

/** The same run, rolled back after a rejection: every record agrees with the phase. */
export function finishedRun(): RunState {
  const held = heldRun();
  return {
    ...held,
    phase: 'RolledBack',
    cursor: 3,
    steps: [...held.steps, { id: 'rollback/health', kind: 'rollback-health' }],
    records: [
      { id: 'precheck', kind: 'precheck', status: 'done' },
      { id: STEP, kind: 'approval', wave: 0, point: 'wave', status: 'failed' },
      { id: 'rollback/health', kind: 'rollback-health', status: 'done' },
    ],
    approvals: held.approvals.map((a) => ({ ...a, decision: 'rejected', by: 'U0APPROVER', via: 'slack' })),
    outcome: 'rolled back to 1-23-4: wave/canary/approval rejected',
  };
}

/** Slack's signature, computed here with node:crypto so the tests check the scheme, not echo the code. */
export function sign(body: string, timestamp: string, secret = SIGNING_SECRET): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

export type ButtonValue = { policy: string; runId: string; step: string; planHash: string; expiresAt?: string };

export const BUTTON: ButtonValue = {
  policy: POLICY,
  runId: RUN_ID,
  step: STEP,
  planHash: PLAN_HASH,
  expiresAt: '2026-03-10T02:55:00.000Z',
};

/** A `block_actions` payload as Slack sends it for a click on one of our buttons. */
export function clickPayload(
  options: { approve?: boolean; user?: string; value?: ButtonValue | string; responseUrl?: string } = {},
): Record<string, unknown> {
  const value = typeof options.value === 'string' ? options.value : JSON.stringify(options.value ?? BUTTON);
  return {
    type: 'block_actions',
    user: { id: options.user ?? APPROVER, username: 'alice', name: 'alice', team_id: 'T000' },
    api_app_id: 'A000',
    token: 'legacy-verification-token',
    container: { type: 'message', message_ts: '1741572000.000200', channel_id: 'C0UPGRADES', is_ephemeral: false },
    trigger_id: '1.2.3',
    team: { id: 'T000', domain: 'example' },
    channel: { id: 'C0UPGRADES', name: 'mesh-upgrades' },
    message: { type: 'message', ts: '1741572000.000200', text: 'approval' },
    response_url: options.responseUrl ?? 'https://hooks.slack.com/actions/T000/111/SECRETRESPONSE',
    actions: [
      {
        action_id: options.approve === false ? 'revroll.reject' : 'revroll.approve',
        block_id: 'revroll.approval',
        text: { type: 'plain_text', text: options.approve === false ? 'Reject' : 'Approve' },
        value,
        type: 'button',
        action_ts: '1741572001.000300',
      },
    ],
  };
}

/** The HTTP request Slack would send for `payload`, signed at `at` (default: NOW). */
export function signedRequest(
  payload: Record<string, unknown> | string,
  options: { at?: Date; now?: Date; secret?: string } = {},
) {
  const rawBody =
    typeof payload === 'string' ? payload : new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const timestamp = String(Math.floor((options.at ?? NOW).getTime() / 1000));
  return {
    headers: {
      'x-slack-request-timestamp': timestamp,
      'x-slack-signature': sign(rawBody, timestamp, options.secret),
      'content-type': 'application/x-www-form-urlencoded',
    },
    rawBody,
    now: options.now ?? NOW,
  };
}
