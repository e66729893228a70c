import { describe, expect, it } from 'vitest';
import { mockHttp, setupHttpMocks } from '../../../test/helpers/http-mock.ts';
import { createSlackClient, SlackError } from './client.ts';

setupHttpMocks();

const TOKEN = 'xoxb-test-token';
const fast = { maxAttempts: 4, baseDelayMs: 1, maxDelayMs: 2, budgetMs: 5_000 };
const message = { text: 'hello', blocks: [] };
const slack = () => mockHttp('https://slack.com', { reqheaders: { authorization: `Bearer ${TOKEN}` } });

async function failure(promise: Promise<unknown>): Promise<SlackError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SlackError);
  return error as SlackError;
}

describe('src/adapters/slack/client', () => {
  it('posts with the bot token and returns channel ID and ts', async () => {
    slack()
      .post('/api/chat.postMessage', {
        channel: '#upgrades',
        text: 'hello',
        blocks: [],
        unfurl_links: false,
        unfurl_media: false,
        thread_ts: '1.2',
        reply_broadcast: true,
      })
      .reply(200, { ok: true, channel: 'C0UPGRADES', ts: '1700000000.000100' });
    const client = createSlackClient({ botToken: TOKEN, retry: fast });
    await expect(
      client.postMessage({ channel: '#upgrades', message, threadTs: '1.2', broadcast: true }),
    ).resolves.toEqual({ channel: 'C0UPGRADES', ts: '1700000000.000100' });
  });

  it.each(['channel_not_found', 'invalid_auth', 'not_in_channel'])(
    'treats {ok: false, error: %s} as a failure, without retrying',
    async (code) => {
      slack().post('/api/chat.postMessage').reply(200, { ok: false, error: code });
      const error = await failure(
        createSlackClient({ botToken: TOKEN, retry: fast }).postMessage({ channel: '#x', message }),
      );
      expect(error).toMatchObject({
        code: 'SLACK_API_ERROR',
        slackError: code,
        target: 'chat.postMessage',
        retryable: false,
      });
      expect(error.message).toBe(`Slack chat.postMessage failed: ${code}`);
    },
  );

  it('retries 5xx, transport errors and Slack internal errors, then succeeds', async () => {
    slack()
      .post('/api/chat.update')
      .reply(503, 'upstream busy')
      .post('/api/chat.update')
      .replyWithError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))
      .post('/api/chat.update')
      .reply(200, { ok: false, error: 'internal_error' })
      .post('/api/chat.update')
      .reply(200, { ok: true });
    await expect(
      createSlackClient({ botToken: TOKEN, retry: fast }).updateMessage({ channel: 'C1', ts: '1.2', message }),
    ).resolves.toBeUndefined();
  });

  it('gives up after the attempts budget', async () => {
    slack().post('/api/chat.update').times(4).reply(500, '');
    const error = await failure(
      createSlackClient({ botToken: TOKEN, retry: fast }).updateMessage({ channel: 'C1', ts: '1.2', message }),
    );
    expect(error).toMatchObject({ code: 'SLACK_HTTP_ERROR', status: 500 });
  });

  it('honours 429 Retry-After', async () => {
    slack()
      .post('/api/chat.postMessage')
      .reply(429, '', { 'Retry-After': '1' })
      .post('/api/chat.postMessage')
      .reply(200, { ok: true, channel: 'C1', ts: '1.2' });
    const started = performance.now();
    await createSlackClient({ botToken: TOKEN, retry: { ...fast, maxDelayMs: 10 } }).postMessage({
      channel: 'C1',
      message,
    });
    const elapsed = performance.now() - started;
    // The backoff alone would be <= 10 ms: the wait is Slack's second.
    expect(elapsed).toBeGreaterThanOrEqual(990);
    expect(elapsed).toBeLessThan(3_000);
  });

  it('gives up at once when Retry-After exceeds the time budget', async () => {
    slack().post('/api/chat.postMessage').reply(429, '', { 'Retry-After': '60' });
    const started = performance.now();
    const error = await failure(
      createSlackClient({ botToken: TOKEN, retry: fast }).postMessage({ channel: 'C1', message }),
    );
    expect(error).toMatchObject({ code: 'SLACK_RATE_LIMITED', slackError: 'ratelimited', retryAfterMs: 60_000 });
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('reads user group members', async () => {
    slack()
      .get('/api/usergroups.users.list')
      .query({ usergroup: 'S0SRE' })
      .reply(200, { ok: true, users: ['U1', 'U2'] });
    await expect(createSlackClient({ botToken: TOKEN, retry: fast }).userGroupMembers('S0SRE')).resolves.toEqual([
      'U1',
      'U2',
    ]);
  });

  it('refuses a Web API call without a bot token', async () => {
    const error = await failure(createSlackClient({ retry: fast }).userGroupMembers('S0SRE'));
    expect(error.code).toBe('SLACK_NOT_CONFIGURED');
  });

  it('rejects an ok answer without the expected fields', async () => {
    slack().post('/api/chat.postMessage').reply(200, { ok: true });
    expect(
      (await failure(createSlackClient({ botToken: TOKEN, retry: fast }).postMessage({ channel: 'C1', message }))).code,
    ).toBe('SLACK_BAD_ANSWER');
  });

  it('posts to a webhook and reports its error code, never its URL', async () => {
    const url = 'https://hooks.slack.com/services/T0/B0/SECRETPATH';
    mockHttp('https://hooks.slack.com')
      .post('/services/T0/B0/SECRETPATH', { text: 'hello', blocks: [] })
      .reply(200, 'ok');
    mockHttp('https://hooks.slack.com').post('/services/T0/B0/SECRETPATH').reply(404, 'no_service');
    const client = createSlackClient({ retry: fast });
    await client.postWebhook(url, message);
    const error = await failure(client.postWebhook(url, message));
    expect(error).toMatchObject({
      code: 'SLACK_HTTP_ERROR',
      status: 404,
      slackError: 'no_service',
      target: 'incoming webhook',
      retryable: false,
    });
    expect(JSON.stringify({ ...error, message: error.message })).not.toContain('SECRETPATH');
  });
});
