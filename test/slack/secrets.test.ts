/**
 * Secrets (bot token, signing secret, webhook URL, and Slack's per-click response URL) must never
 * appear in a log line, an error, a failure report or an HTTP answer. This runs a full sequence
 * with failures on every path and greps everything produced for each secret value.
 */
import { describe, expect, it } from 'vitest';
import { createSlackClient } from '../../src/adapters/slack/client.ts';
import { createSlackNotifier, type SlackFailure } from '../../src/adapters/slack/notifier.ts';
import { createSlackActionHandler } from '../../src/adapters/slack/actions.ts';
import { createApprovals, decideFromCli } from '../../src/runner/approvals.ts';
import type { RunEvent } from '../../src/ports/notifier.ts';
import { mockHttp, setupHttpMocks } from '../helpers/http-mock.ts';
import { captureLogger } from './capture-logger.ts';
import {
  BOT_TOKEN,
  clickPayload,
  ENV,
  heldRun,
  NOW,
  POLICY,
  SIGNING_SECRET,
  signedRequest,
  slackSettings,
  WEBHOOK_URL,
} from './fixtures.ts';
import { createInMemoryStateStoreDouble } from './in-memory-state-store.ts';

setupHttpMocks();

const fast = { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2, budgetMs: 1_000 };
const SECRETS = [
  BOT_TOKEN,
  SIGNING_SECRET,
  WEBHOOK_URL,
  'SECRETWEBHOOKPATH',
  'SECRETRESPONSE',
  'SECRETBOTTOKEN',
  'f00dfeedSECRETsigning',
];
const reset = () => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });

function texts(error: unknown): string[] {
  if (!(error instanceof Error)) return [String(error)];
  return [
    error.message,
    error.stack ?? '',
    JSON.stringify(error),
    String(error.cause ?? ''),
    JSON.stringify(Object.entries(error)),
  ];
}

describe('secrets never leak (src/adapters/slack, src/runner/approvals)', () => {
  it('keeps every secret out of logs, errors, failure reports and answers', async () => {
    const { logger, lines } = captureLogger();
    const produced: string[] = [];
    const failures: SlackFailure[] = [];
    const event: RunEvent = {
      policy: POLICY,
      runId: 'run-1',
      kind: 'gate-failed',
      message: 'proxy-5xx breached',
      details: { wave: 'canary' },
    };

    // Notifier with a bot token: Slack refuses the token, then the network fails.
    const slack = mockHttp('https://slack.com');
    slack.post('/api/chat.postMessage').reply(200, { ok: false, error: 'invalid_auth' });
    slack.post('/api/chat.postMessage').times(2).replyWithError(reset());
    const bot = createSlackNotifier({
      settings: slackSettings(),
      env: ENV,
      now: () => NOW,
      logger,
      onFailure: (f) => failures.push(f),
      retry: fast,
    });
    await bot.notify(event);
    await bot.notify(event);

    // Notifier with a webhook: Slack says the webhook is gone, then the network fails.
    const hooks = mockHttp('https://hooks.slack.com');
    hooks.post('/services/T000/B000/SECRETWEBHOOKPATH').reply(404, 'no_service');
    hooks.post('/services/T000/B000/SECRETWEBHOOKPATH').times(2).replyWithError(reset());
    const webhook = createSlackNotifier({
      settings: slackSettings({ botToken: undefined, webhookUrl: { env: 'SLACK_WEBHOOK_URL' } }),
      env: ENV,
      now: () => NOW,
      logger,
      onFailure: (f) => failures.push(f),
      retry: fast,
    });
    await webhook.notify(event);
    await webhook.notify(event);

    // A secret file that cannot be read.
    const unreadable = createSlackNotifier({
      settings: slackSettings({ botToken: { file: '/run/secrets/slack-token' } }),
      env: ENV,
      readFile: async () => Promise.reject(Object.assign(new Error(`EACCES: ${BOT_TOKEN}`), { code: 'EACCES' })),
      now: () => NOW,
      logger,
      onFailure: (f) => failures.push(f),
      retry: fast,
    });
    await unreadable.notify(event);

    // The client used directly: every error it throws.
    slack.post('/api/chat.update').reply(200, { ok: false, error: 'token_revoked' });
    slack.post('/api/chat.update').times(2).reply(500, `internal error for ${BOT_TOKEN}`);
    hooks.post('/services/T000/B000/SECRETWEBHOOKPATH').times(2).reply(503, `busy ${WEBHOOK_URL}`);
    const client = createSlackClient({ botToken: BOT_TOKEN, retry: fast, secrets: [WEBHOOK_URL] });
    for (const call of [
      () => client.updateMessage({ channel: 'C1', ts: '1.2', message: { text: 't', blocks: [] } }),
      () => client.updateMessage({ channel: 'C1', ts: '1.2', message: { text: 't', blocks: [] } }),
      () => client.postWebhook(WEBHOOK_URL, { text: 't', blocks: [] }),
    ]) {
      await call().then(
        () => produced.push('unexpected success'),
        (error: unknown) => produced.push(...texts(error)),
      );
    }

    // The approval flow: forged, accepted (message update fails), replayed (notice fails), CLI.
    const store = createInMemoryStateStoreDouble({ [POLICY]: heldRun() as unknown as Record<string, unknown> });
    const handle = createSlackActionHandler({
      approvals: createApprovals({ store, logger }),
      policies: () => new Map([[POLICY, slackSettings()]]),
      env: ENV,
      logger,
      retry: fast,
    });
    const request = signedRequest(clickPayload());
    const answers: unknown[] = [];
    answers.push(await handle(signedRequest(clickPayload(), { secret: 'forged' })));
    slack.post('/api/chat.update').times(2).replyWithError(reset());
    answers.push(await handle(request));
    hooks.post('/actions/T000/111/SECRETRESPONSE').times(2).reply(500, 'nope');
    answers.push(await handle(request));
    answers.push(await decideFromCli({ store, policy: POLICY, approve: false, as: 'bob', now: NOW }));
    produced.push(...answers.map((a) => JSON.stringify(a)));

    produced.push(...failures.map((f) => JSON.stringify(f)), ...lines());
    // The sequence did produce failures and logs on every path (otherwise the grep proves nothing).
    expect(failures.map((f) => f.slackError ?? f.code)).toEqual([
      'invalid_auth',
      'SLACK_UNREACHABLE',
      'no_service',
      'SLACK_UNREACHABLE',
      'SECRET_UNAVAILABLE',
    ]);
    expect(
      lines().filter(
        (l) => l.includes('slack approval message update failed') || l.includes('slack refusal notice failed'),
      ),
    ).toHaveLength(2);
    expect(answers.map((a) => (a as { status?: number; ok?: boolean }).status ?? (a as { ok: boolean }).ok)).toEqual([
      401,
      200,
      409,
      false,
    ]);
    const everything = produced.join('\n');
    expect(everything).toContain('invalid_auth');
    for (const secret of SECRETS) expect(everything, `found ${secret}`).not.toContain(secret);
    expect(everything).not.toContain(encodeURIComponent(WEBHOOK_URL));
  });
});
