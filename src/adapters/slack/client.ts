/**
 * A thin Slack client: the four Web API calls revroll makes (`chat.postMessage`, `chat.update`,
 * `usergroups.users.list`), incoming webhooks and interaction response URLs. It retries
 * transport errors, 5xx and 429 (honouring `Retry-After`) within a time budget, and turns every
 * failure (including Slack's HTTP 200 `{ok: false, error}`) into a SlackError that names the
 * method and Slack's error code. Secrets never reach an error: the token stays in a header that
 * is never copied, a webhook or response URL is never used as the error's target, and axios
 * errors (whose `config` holds headers and URLs) are never attached as a cause.
 */
import type { AxiosInstance, AxiosResponse } from 'axios';
import type { z } from 'zod';
import { ExternalError } from '../../errors.ts';
import { createHttpClient, HttpError } from '../http.ts';
import { sleep as defaultSleep, withRetry, type RetryPolicy } from '../retry.ts';
import { PostMessageAnswerSchema, SlackApiAnswerSchema, UserGroupUsersAnswerSchema } from './schema.ts';
import type { SlackMessage } from './blocks.ts';

/** Slack's Web API root. */
export const SLACK_API_URL = 'https://slack.com/api';

/**
 * Retries for notifications: at most ~10 s of retrying plus one request timeout, so a
 * notification can never hold anything for more than ~14 s.
 */
export const notifyRetryPolicy: RetryPolicy = { maxAttempts: 5, baseDelayMs: 500, maxDelayMs: 4_000, budgetMs: 10_000 };
export const NOTIFY_REQUEST_TIMEOUT_MS = 4_000;

/** A Slack call failed (transport, HTTP status, or `{ok: false}`). */
export class SlackError extends ExternalError {
  /** Slack's error code (`channel_not_found`, `invalid_auth`, `ratelimited`...), when it sent one. */
  readonly slackError: string | undefined;
  /** HTTP status, when there was a response. */
  readonly status: number | undefined;
  /** Whether trying again later may succeed. */
  readonly retryable: boolean;
  /** What Slack asked us to wait (429 `Retry-After`). */
  readonly retryAfterMs: number | undefined;

  constructor(fields: {
    code: string;
    message: string;
    target: string;
    slackError?: string;
    status?: number;
    retryable: boolean;
    retryAfterMs?: number;
  }) {
    super(fields.code, fields.message, fields.target);
    this.slackError = fields.slackError;
    this.status = fields.status;
    this.retryable = fields.retryable;
    this.retryAfterMs = fields.retryAfterMs;
  }
}

export type SlackClientOptions = {
  /** Bot token (`xoxb-...`) for Web API calls; webhook and response URL posts need none. */
  botToken?: string;
  /** An axios instance from the shared factory (src/adapters/http.ts); one is created when absent. */
  http?: AxiosInstance;
  /** Values the default HTTP client redacts from anything it reports (webhook URL, signing secret). */
  secrets?: readonly string[];
  /** Web API root, `https://slack.com/api` unless a test or proxy says otherwise. */
  apiUrl?: string;
  retry?: RetryPolicy;
  requestTimeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
};

export type PostedMessage = { channel: string; ts: string };

export type SlackClient = {
  /** Posts to a channel, or into a thread with `threadTs` (`broadcast` also shows it in the channel). */
  postMessage(input: {
    channel: string;
    message: SlackMessage;
    threadTs?: string;
    broadcast?: boolean;
  }): Promise<PostedMessage>;
  /** Replaces a message's content. `channel` must be the channel ID postMessage returned. */
  updateMessage(input: { channel: string; ts: string; message: SlackMessage }): Promise<void>;
  /** Member IDs of a user group (`usergroups:read`). */
  userGroupMembers(group: string): Promise<string[]>;
  /** Posts through an incoming webhook (no threads, no answer beyond `ok`). */
  postWebhook(url: string, message: SlackMessage): Promise<void>;
  /** Answers an interaction through its `response_url` (replace the message, or an ephemeral reply). */
  respond(
    responseUrl: string,
    body: SlackMessage & { replace_original?: boolean; response_type?: 'ephemeral' | 'in_channel' },
  ): Promise<void>;
};

const RETRYABLE_SLACK_ERRORS = new Set([
  'ratelimited',
  'internal_error',
  'fatal_error',
  'service_unavailable',
  'request_timeout',
]);
const ERROR_CODE = /^[a-z][a-z0-9_]{0,79}$/;

/** Creates a client. Nothing is sent until a method is called. */
export function createSlackClient(options: SlackClientOptions = {}): SlackClient {
  const timeout = options.requestTimeoutMs ?? NOTIFY_REQUEST_TIMEOUT_MS;
  const http =
    options.http ??
    createHttpClient({
      timeoutMs: timeout,
      secrets: [...(options.secrets ?? []), ...(options.botToken ? [options.botToken] : [])],
    }).axios;
  const apiUrl = (options.apiUrl ?? SLACK_API_URL).replace(/\/+$/, '');
  const policy = options.retry ?? notifyRetryPolicy;
  const wait = options.sleep ?? ((ms: number) => defaultSleep(ms));

  const classify = (error: unknown) =>
    error instanceof SlackError && error.retryable
      ? { retry: true as const, ...(error.retryAfterMs !== undefined ? { afterMs: error.retryAfterMs } : {}) }
      : { retry: false as const };

  /** One HTTP exchange; any non-2xx status or transport error becomes a SlackError. */
  async function attempt(
    target: string,
    request: { method: 'GET' | 'POST'; url: string; data?: unknown; params?: Record<string, string>; auth: boolean },
  ): Promise<AxiosResponse<string>> {
    let response: AxiosResponse<string>;
    try {
      const headers: Record<string, string> = {};
      if (request.data !== undefined) headers['Content-Type'] = 'application/json; charset=utf-8';
      if (request.auth) {
        if (!options.botToken)
          throw new SlackError({
            code: 'SLACK_NOT_CONFIGURED',
            message: `Slack ${target} needs a bot token, and none is configured`,
            target,
            retryable: false,
          });
        headers.Authorization = `Bearer ${options.botToken}`;
      }
      response = await http.request<string>({
        method: request.method,
        url: request.url,
        ...(request.params ? { params: request.params } : {}),
        ...(request.data !== undefined ? { data: JSON.stringify(request.data) } : {}),
        headers,
        timeout,
        responseType: 'text',
        // Keep the raw text: Slack answers JSON for the Web API and plain `ok` for webhooks.
        transformResponse: (data: unknown) => data,
        validateStatus: () => true,
        maxRedirects: 0,
      });
    } catch (error) {
      throw transportError(target, error);
    }
    checkStatus(target, response);
    return response;
  }

  /** A webhook or response URL post: any 2xx is success. */
  async function send(target: string, url: string, data: unknown): Promise<void> {
    await withRetry(policy, () => attempt(target, { method: 'POST', url, data, auth: false }), classify, {
      sleep: wait,
    });
  }

  /** A Web API call: HTTP 200 with `{ok: true}` is the only success. One retry loop covers transport and Slack's transient codes. */
  async function call<S extends z.ZodType>(
    method: string,
    schema: S,
    request: { method: 'GET' | 'POST'; data?: unknown; params?: Record<string, string> },
  ): Promise<z.output<S>> {
    const target = method;
    const answer = await withRetry(
      policy,
      async () => {
        const response = await attempt(target, { ...request, url: `${apiUrl}/${method}`, auth: true });
        return webApiAnswer(target, response);
      },
      classify,
      { sleep: wait },
    );
    const parsed = schema.safeParse(answer);
    if (!parsed.success)
      throw new SlackError({
        code: 'SLACK_BAD_ANSWER',
        message: `Slack ${target} answered ok but without the expected fields`,
        target,
        retryable: false,
      });
    return parsed.data;
  }

  return {
    async postMessage({ channel, message, threadTs, broadcast }) {
      const answer = await call('chat.postMessage', PostMessageAnswerSchema, {
        method: 'POST',
        data: {
          channel,
          text: message.text,
          blocks: message.blocks,
          unfurl_links: false,
          unfurl_media: false,
          ...(threadTs ? { thread_ts: threadTs, ...(broadcast ? { reply_broadcast: true } : {}) } : {}),
        },
      });
      return { channel: answer.channel, ts: answer.ts };
    },
    async updateMessage({ channel, ts, message }) {
      await call('chat.update', SlackApiAnswerSchema, {
        method: 'POST',
        data: { channel, ts, text: message.text, blocks: message.blocks },
      });
    },
    async userGroupMembers(group) {
      const answer = await call('usergroups.users.list', UserGroupUsersAnswerSchema, {
        method: 'GET',
        params: { usergroup: group },
      });
      return answer.users;
    },
    async postWebhook(url, message) {
      await send('incoming webhook', url, { text: message.text, blocks: message.blocks });
    },
    async respond(responseUrl, body) {
      await send('interaction response', responseUrl, body);
    },
  };
}

/** `Retry-After` in seconds (Slack sends an integer); an HTTP date is honoured too. */
function parseRetryAfter(header: unknown): number | undefined {
  if (typeof header !== 'string' && typeof header !== 'number') return undefined;
  const text = String(header).trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Slack's error code from a non-2xx body (`invalid_token`, `{"ok":false,"error":"..."}`), never the body itself. */
function errorCodeOf(data: unknown): string | undefined {
  if (typeof data !== 'string') return undefined;
  const text = data.trim();
  if (ERROR_CODE.test(text)) return text;
  const parsed = SlackApiAnswerSchema.safeParse(parseJson(text));
  return parsed.success && parsed.data.error && ERROR_CODE.test(parsed.data.error) ? parsed.data.error : undefined;
}

function parseJson(text: unknown): unknown {
  if (typeof text !== 'string') return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Any status but 2xx is a SlackError (429 and 5xx retryable). */
function checkStatus(target: string, response: AxiosResponse<string>): void {
  const status = response.status;
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(response.headers['retry-after']);
    throw new SlackError({
      code: 'SLACK_RATE_LIMITED',
      message: `Slack ${target} is rate limited (HTTP 429)`,
      target,
      status,
      slackError: 'ratelimited',
      retryable: true,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }
  if (status < 200 || status >= 300) {
    const slackError = errorCodeOf(response.data);
    throw new SlackError({
      code: 'SLACK_HTTP_ERROR',
      message: `Slack ${target} answered HTTP ${status}${slackError ? ` (${slackError})` : ''}`,
      target,
      status,
      ...(slackError ? { slackError } : {}),
      retryable: status >= 500 || status === 408,
    });
  }
}

/** A failed exchange: only the failure kind survives. */
function transportError(target: string, error: unknown): SlackError {
  if (error instanceof SlackError) return error;
  // Only the failure kind survives: the target of an HTTP error is a URL, and a webhook or
  // response URL is itself a secret. Timeouts and refused connections are worth a retry.
  const kind = error instanceof HttpError ? error.kind : 'unreachable';
  const retryable = error instanceof HttpError ? error.transient : true;
  return new SlackError({
    code: 'SLACK_UNREACHABLE',
    message: `Slack ${target} could not be reached (${kind === 'timeout' ? 'timed out' : 'connection failed'})`,
    target,
    retryable,
  });
}

/** A Web API answer: `{ok: true}` or a SlackError naming Slack's error code. */
function webApiAnswer(target: string, response: AxiosResponse<string>): unknown {
  const body = parseJson(response.data);
  const base = SlackApiAnswerSchema.safeParse(body);
  if (!base.success)
    throw new SlackError({
      code: 'SLACK_BAD_ANSWER',
      message: `Slack ${target} answered something that is not a Web API response`,
      target,
      status: response.status,
      retryable: false,
    });
  if (!base.data.ok) {
    const slackError = base.data.error && ERROR_CODE.test(base.data.error) ? base.data.error : 'unknown_error';
    throw new SlackError({
      code: 'SLACK_API_ERROR',
      message: `Slack ${target} failed: ${slackError}`,
      target,
      status: response.status,
      slackError,
      retryable: RETRYABLE_SLACK_ERRORS.has(slackError),
    });
  }
  return body;
}
