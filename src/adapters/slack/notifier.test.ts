import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../ports/notifier.ts';
import { BOT_TOKEN, ENV, slackSettings, WEBHOOK_URL } from '../../../test/slack/fixtures.ts';
import { captureLogger } from '../../../test/slack/capture-logger.ts';
import { mockHttp, setupHttpMocks } from '../../../test/helpers/http-mock.ts';
import { createMemoryThreadStore, createSlackNotifier, type SlackFailure, type ThreadRef } from './notifier.ts';

setupHttpMocks();

const fast = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2, budgetMs: 2_000 };
const now = () => new Date('2026-03-10T02:00:00Z');
const run = { policy: 'mesh-prod', runId: 'run-7' };
const started: RunEvent = {
  ...run,
  kind: 'run-started',
  message: 'upgrade 1-23-4 -> 1-24-1',
  details: { from: '1-23-4', to: '1-24-1', waves: ['canary'] },
};
const waveStarted: RunEvent = {
  ...run,
  kind: 'wave-started',
  step: 'wave/canary/migrate',
  message: 'wave canary started: shop',
  details: { wave: 'canary' },
};
const approvalRequested: RunEvent = {
  ...run,
  kind: 'approval-requested',
  step: 'wave/canary/approval',
  message: 'approve wave canary',
  details: { expiresAt: '2026-03-10T03:00:00Z', point: 'wave', planHash: 'h1' },
};
const approvalDecided: RunEvent = {
  ...run,
  kind: 'approval-decided',
  step: 'wave/canary/approval',
  message: 'approved by alice',
  details: { decision: 'approved', by: 'alice (U0ALICE)', via: 'slack', decidedAt: '2026-03-10T02:05:00Z' },
};
const promoted: RunEvent = { ...run, kind: 'promoted', message: 'promoted 1-24-1' };

type Call = { method: string; body: Record<string, unknown> };

/** Answers every Web API call like Slack, recording it; posted messages get increasing ts. */
function fakeSlackApi(counts: { post: number; update?: number }, calls: Call[]) {
  let ts = 100;
  const scope = mockHttp('https://slack.com', { reqheaders: { authorization: `Bearer ${BOT_TOKEN}` } });
  scope
    .post('/api/chat.postMessage')
    .times(counts.post)
    // nock 15 hands reply functions the fetch Request (one parameter; two would mean a callback).
    .reply(200, async (request: Request) => {
      calls.push({ method: 'chat.postMessage', body: (await request.json()) as Record<string, unknown> });
      return { ok: true, channel: 'C0UPGRADES', ts: `1700000000.000${ts++}` };
    });
  if (counts.update) {
    scope
      .post('/api/chat.update')
      .times(counts.update)
      .reply(200, async (request: Request) => {
        calls.push({ method: 'chat.update', body: (await request.json()) as Record<string, unknown> });
        return { ok: true };
      });
  }
}

const header = (body: Record<string, unknown>) =>
  (body.blocks as { type: string; text?: { text: string } }[])[0]?.text?.text;

describe('src/adapters/slack/notifier', () => {
  it('keeps one thread per run: parent posted once, replies in the thread, parent updated', async () => {
    const calls: Call[] = [];
    // parent + 5 replies; 4 parent updates + 1 approval message update.
    fakeSlackApi({ post: 6, update: 5 }, calls);
    const threads = createMemoryThreadStore();
    const notifier = createSlackNotifier({ settings: slackSettings(), env: ENV, now, threads, retry: fast });
    for (const event of [started, waveStarted, approvalRequested, approvalDecided, promoted])
      await notifier.notify(event);

    const posts = calls.filter((c) => c.method === 'chat.postMessage');
    const parents = posts.filter((c) => c.body.thread_ts === undefined);
    expect(parents).toHaveLength(1);
    expect(parents[0]?.body.channel).toBe('#mesh-upgrades');
    const parentTs = '1700000000.000100';
    expect(posts.slice(1).map((c) => [c.body.thread_ts, c.body.channel, header(c.body)])).toEqual([
      [parentTs, 'C0UPGRADES', ':rocket: mesh-prod: started'],
      [parentTs, 'C0UPGRADES', ':ocean: mesh-prod: wave canary in progress'],
      [parentTs, 'C0UPGRADES', ':raised_hand: mesh-prod: waiting for approval'],
      [parentTs, 'C0UPGRADES', ':thumbsup: mesh-prod: approved'],
      [parentTs, 'C0UPGRADES', ':tada: mesh-prod: promoted'],
    ]);
    // Approval requests are also shown in the channel, with buttons bound to the run.
    const approval = posts[3]?.body;
    expect(approval?.reply_broadcast).toBe(true);
    const actions = (approval?.blocks as { type: string; elements?: { value: string }[] }[]).find(
      (b) => b.type === 'actions',
    );
    expect(JSON.parse(actions?.elements?.[0]?.value ?? '{}')).toEqual({
      policy: 'mesh-prod',
      runId: 'run-7',
      step: 'wave/canary/approval',
      planHash: 'h1',
      expiresAt: '2026-03-10T03:00:00Z',
    });

    const updates = calls.filter((c) => c.method === 'chat.update');
    expect(updates.filter((c) => c.body.ts === parentTs).map((c) => header(c.body))).toEqual([
      ':ocean: mesh-prod: wave canary in progress',
      ':raised_hand: mesh-prod: waiting for approval',
      ':thumbsup: mesh-prod: approved',
      ':tada: mesh-prod: promoted',
    ]);
    // The parent keeps the revisions learned from the first event.
    expect(JSON.stringify(updates.at(-1)?.body.blocks)).toContain('`1-23-4` → `1-24-1`');
    // The approval message loses its buttons once decided.
    const retired = updates.find((c) => c.body.ts === '1700000000.000103');
    expect(JSON.stringify(retired?.body.blocks)).toContain('Approved by <@U0ALICE>');
    expect(JSON.stringify(retired?.body.blocks)).not.toContain('"actions"');
    await expect(threads.get('run-7')).resolves.toEqual({ channel: 'C0UPGRADES', ts: parentTs });
    expect(notifier.failures).toBe(0);
  });

  it('continues the stored thread after a restart', async () => {
    const calls: Call[] = [];
    fakeSlackApi({ post: 1, update: 1 }, calls);
    const stored: ThreadRef = { channel: 'C0UPGRADES', ts: '1690000000.000001' };
    const threads = {
      get: async (runId: string) => (runId === 'run-7' ? stored : undefined),
      set: async () => undefined,
    };
    const notifier = createSlackNotifier({ settings: slackSettings(), env: ENV, now, threads, retry: fast });
    await notifier.notify(waveStarted);
    expect(calls.map((c) => [c.method, c.body.thread_ts ?? c.body.ts])).toEqual([
      ['chat.postMessage', stored.ts],
      ['chat.update', stored.ts],
    ]);
  });

  it('posts the parent once when events arrive concurrently', async () => {
    const calls: Call[] = [];
    fakeSlackApi({ post: 4, update: 2 }, calls);
    const notifier = createSlackNotifier({ settings: slackSettings(), env: ENV, now, retry: fast });
    // The runner does not await notifications: three in flight at once.
    void notifier.notify(started);
    void notifier.notify(waveStarted);
    void notifier.notify({ ...waveStarted, message: 'still going' });
    await notifier.flush();
    expect(calls.filter((c) => c.method === 'chat.postMessage' && c.body.thread_ts === undefined)).toHaveLength(1);
  });

  it('posts each event as its own message through an incoming webhook', async () => {
    const bodies: Record<string, unknown>[] = [];
    mockHttp('https://hooks.slack.com')
      .post('/services/T000/B000/SECRETWEBHOOKPATH')
      .times(2)
      .reply(200, async (request: Request) => {
        bodies.push((await request.json()) as Record<string, unknown>);
        return 'ok';
      });
    const settings = slackSettings({ botToken: undefined, webhookUrl: { env: 'SLACK_WEBHOOK_URL' } });
    const notifier = createSlackNotifier({ settings, env: { SLACK_WEBHOOK_URL: WEBHOOK_URL }, now, retry: fast });
    await notifier.notify(started);
    await notifier.notify(approvalRequested);
    expect(bodies.map((b) => header(b))).toEqual([
      ':rocket: mesh-prod: started',
      ':raised_hand: mesh-prod: waiting for approval',
    ]);
    expect(bodies.every((b) => b.thread_ts === undefined)).toBe(true);
    expect(JSON.stringify(bodies[1])).toContain('revroll.approve');
  });

  it("links every message to the run's dashboard page when the policy gives dashboardUrl", async () => {
    const bodies: Record<string, unknown>[] = [];
    mockHttp('https://hooks.slack.com')
      .post('/services/T000/B000/SECRETWEBHOOKPATH')
      .times(2)
      .reply(200, async (request: Request) => {
        bodies.push((await request.json()) as Record<string, unknown>);
        return 'ok';
      });
    const settings = slackSettings({ botToken: undefined, webhookUrl: { env: 'SLACK_WEBHOOK_URL' } });
    const notifier = createSlackNotifier({
      settings,
      env: { SLACK_WEBHOOK_URL: WEBHOOK_URL },
      now,
      retry: fast,
      dashboardUrl: 'https://revroll.example.com/',
    });
    await notifier.notify(started);
    await notifier.notify(approvalRequested);
    for (const body of bodies)
      expect(JSON.stringify(body.blocks)).toContain('<https://revroll.example.com/runs/mesh-prod|View run>');
    // A link, not a URL button: the approval message still has exactly its two buttons.
    expect(JSON.stringify(bodies[1]).match(/"type":"button"/g)?.length).toBe(2);
  });

  it('posts approval requests without buttons when clicks cannot be verified', async () => {
    const calls: Call[] = [];
    fakeSlackApi({ post: 2 }, calls);
    const notifier = createSlackNotifier({
      settings: slackSettings({ signingSecret: undefined }),
      env: ENV,
      now,
      retry: fast,
    });
    await notifier.notify(approvalRequested);
    const json = JSON.stringify(calls[1]?.body.blocks);
    expect(json).not.toContain('revroll.approve');
    expect(json).toContain('revroll approve mesh-prod');
    expect(notifier.failures).toBe(0);
  });

  it("logs and counts Slack's {ok: false} answers, and never throws", async () => {
    mockHttp('https://slack.com').post('/api/chat.postMessage').reply(200, { ok: false, error: 'channel_not_found' });
    const { logger, lines } = captureLogger();
    const failures: SlackFailure[] = [];
    const notifier = createSlackNotifier({
      settings: slackSettings(),
      env: ENV,
      now,
      logger,
      onFailure: (f) => failures.push(f),
      retry: fast,
    });
    await expect(notifier.notify(started)).resolves.toMatchObject({ delivered: false });
    expect(notifier.failures).toBe(1);
    expect(failures).toEqual([
      {
        kind: 'run-started',
        policy: 'mesh-prod',
        runId: 'run-7',
        code: 'SLACK_API_ERROR',
        slackError: 'channel_not_found',
        status: 200,
        message: 'Slack chat.postMessage failed: channel_not_found',
      },
    ]);
    const line = JSON.parse(lines()[0] ?? '{}') as Record<string, unknown>;
    expect(line).toMatchObject({
      level: 40,
      msg: 'slack notification failed',
      slackError: 'channel_not_found',
      code: 'SLACK_API_ERROR',
      runId: 'run-7',
    });
    expect(lines().join('\n')).not.toContain(BOT_TOKEN);
  });

  it('gives up within its retry budget on a Slack outage', async () => {
    mockHttp('https://slack.com').post('/api/chat.postMessage').times(3).reply(503, '');
    const notifier = createSlackNotifier({ settings: slackSettings(), env: ENV, now, retry: fast });
    const delivery = await notifier.notify(started);
    expect(notifier.failures).toBe(1);
    // The caller is told it failed (an approval request is then recorded as not sent).
    expect(delivery).toMatchObject({ delivered: false, error: expect.stringMatching(/^Slack: /) });
  });

  it('reports a missing secret by its reference, and recovers once it appears', async () => {
    const failures: SlackFailure[] = [];
    const env: Record<string, string | undefined> = {};
    const notifier = createSlackNotifier({
      settings: slackSettings(),
      env,
      now,
      onFailure: (f) => failures.push(f),
      retry: fast,
    });
    await notifier.notify(started);
    expect(failures[0]).toMatchObject({
      code: 'SECRET_UNAVAILABLE',
      message: 'environment variable SLACK_BOT_TOKEN is not set',
    });
    env.SLACK_BOT_TOKEN = BOT_TOKEN;
    const calls: Call[] = [];
    fakeSlackApi({ post: 2, update: 0 }, calls);
    await notifier.notify(started);
    expect(calls).toHaveLength(2);
    expect(notifier.failures).toBe(1);
  });

  it('reads the bot token from a mounted file', async () => {
    const calls: Call[] = [];
    fakeSlackApi({ post: 2 }, calls);
    const readFile = async (path: string) => {
      if (path !== '/var/run/secrets/slack/token') throw Object.assign(new Error('missing'), { code: 'ENOENT' });
      return `${BOT_TOKEN}\n`;
    };
    const notifier = createSlackNotifier({
      settings: slackSettings({ botToken: { file: '/var/run/secrets/slack/token' } }),
      env: {},
      readFile,
      now,
      retry: fast,
    });
    await notifier.notify(started);
    expect(notifier.failures).toBe(0);
    expect(calls).toHaveLength(2);
  });
});
