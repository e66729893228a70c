/**
 * `POST /slack/actions`: the inbound adapter for Slack's approval buttons. It verifies Slack's
 * request signature, parses the interaction payload, checks the approver allowlist (users, or a
 * user group read from Slack), hands the decision to the approvals port, maps the answer to an
 * HTTP status, and replaces the clicked message's buttons with who decided. What a decision must
 * match (run, plan, step, expiry) is the engine's business, not this adapter's.
 */
import type { AxiosInstance } from 'axios';
import type { z } from 'zod';
import { RevrollError } from '../../errors.ts';
import type { ApprovalRefusal, Approvals, DecisionRecord } from '../../ports/approvals.ts';
import type { SecretRef, SlackSettings } from '../../policy/types.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { RetryPolicy } from '../retry.ts';
import { resolveSecret, type SecretSources } from '../secrets.ts';
import { formatApprovalDecided, formatNotice } from './blocks.ts';
import { createSlackClient, type SlackClient } from './client.ts';
import {
  APPROVE_ACTION_ID,
  ApprovalButtonValueSchema,
  BlockActionsPayloadSchema,
  REJECT_ACTION_ID,
  type ApprovalButtonValue,
  type BlockActionsPayload,
} from './schema.ts';
import { verifySlackSignature, type SignatureFailure } from './signature.ts';

/** One request to `POST /slack/actions`, as the HTTP server received it. */
export type SlackActionRequest = {
  headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** The body exactly as received (the signature covers these bytes). */
  rawBody: string;
  now: Date;
};

/** The answer to send: status and a one-sentence plain-text body. */
export type SlackActionResponse = { status: 200 | 400 | 401 | 403 | 404 | 409 | 503; body: string };

export type SlackActionHandlerOptions = {
  /** Where decisions go (src/runner/approvals.ts): it checks, saves, and records the Event. */
  approvals: Approvals;
  /** The loaded policies' Slack settings, read per request so reloaded policies apply at once. */
  policies: () => ReadonlyMap<string, SlackSettings | undefined>;
  env: SecretSources['env'];
  readFile?: SecretSources['readFile'];
  /** An axios instance from src/adapters/http.ts; the client creates one when absent. */
  http?: AxiosInstance;
  apiUrl?: string;
  logger?: Logger;
  /** How long a user group's members are trusted (default 60 s). */
  groupCacheMs?: number;
  /** Overrides the interactive retry policy (tests). */
  retry?: RetryPolicy;
};

/**
 * Slack expects an answer within 3 s: the calls made while handling a click (group lookup,
 * message update, refusal notice) get one quick retry and short timeouts.
 */
const interactiveRetryPolicy: RetryPolicy = { maxAttempts: 2, baseDelayMs: 100, maxDelayMs: 300, budgetMs: 1_200 };
const INTERACTIVE_TIMEOUT_MS = 1_000;
const DEFAULT_GROUP_CACHE_MS = 60_000;

/**
 * Creates the handler of Slack's interaction requests. In order: signature and timestamp (401),
 * payload (400), policy (404), approver allowlist (403, or 503 when the group cannot be read),
 * the decision (409 when refused, 503 when the state is unavailable), then the message update
 * and 200.
 */
export function createSlackActionHandler(
  options: SlackActionHandlerOptions,
): (request: SlackActionRequest) => Promise<SlackActionResponse> {
  const { logger } = options;
  const sources: SecretSources = { env: options.env, ...(options.readFile ? { readFile: options.readFile } : {}) };
  const groups = new Map<string, { members: ReadonlySet<string>; until: number }>();
  const cacheMs = options.groupCacheMs ?? DEFAULT_GROUP_CACHE_MS;

  function clientFor(botToken: string | undefined, secrets: readonly string[]): SlackClient {
    return createSlackClient({
      ...(botToken ? { botToken } : {}),
      ...(options.http ? { http: options.http } : {}),
      ...(options.apiUrl ? { apiUrl: options.apiUrl } : {}),
      retry: options.retry ?? interactiveRetryPolicy,
      requestTimeoutMs: INTERACTIVE_TIMEOUT_MS,
      secrets,
    });
  }

  async function isAllowed(settings: SlackSettings, userId: string, client: SlackClient, now: Date): Promise<boolean> {
    const approvers = settings.approvers;
    if (!approvers) return false;
    if (approvers.users.includes(userId)) return true;
    if (!approvers.userGroup) return false;
    const cached = groups.get(approvers.userGroup);
    if (cached && cached.until > now.getTime()) return cached.members.has(userId);
    const members = new Set(await client.userGroupMembers(approvers.userGroup));
    groups.set(approvers.userGroup, { members, until: now.getTime() + cacheMs });
    return members.has(userId);
  }

  /** Best-effort: tells the person who clicked why nothing happened (only they see it). */
  async function notice(client: SlackClient, payload: BlockActionsPayload, text: string): Promise<void> {
    if (!payload.response_url) return;
    try {
      await client.respond(payload.response_url, {
        ...formatNotice(text),
        response_type: 'ephemeral',
        replace_original: false,
      });
    } catch (error) {
      logger?.warn({ code: codeOf(error) }, 'slack refusal notice failed');
    }
  }

  /** The signature, against every loaded policy's signing secret; `signedWith` names the one that matched. */
  async function verify(
    request: SlackActionRequest,
    policies: ReadonlyMap<string, SlackSettings | undefined>,
  ): Promise<{ ok: true; secrets: Map<string, string>; signedWith: string } | { ok: false; body: string }> {
    const secrets = await signingSecrets(policies, sources, logger);
    const keys = [...secrets.keys()];
    if (keys.length === 0)
      return { ok: false, body: 'no Slack signing secret is configured, so no Slack request can be verified' };
    const verdict = verifySlackSignature({
      secrets: keys.map((k) => secrets.get(k) ?? ''),
      timestamp: header(request.headers, 'x-slack-request-timestamp'),
      signature: header(request.headers, 'x-slack-signature'),
      rawBody: request.rawBody,
      now: request.now,
    });
    if (!verdict.ok) {
      logger?.warn({ reason: verdict.reason }, 'slack request refused: signature');
      return { ok: false, body: SIGNATURE_MESSAGES[verdict.reason] };
    }
    return { ok: true, secrets, signedWith: keys[verdict.secretIndex] ?? '' };
  }

  return async function handleSlackAction(request: SlackActionRequest): Promise<SlackActionResponse> {
    const policies = options.policies();
    const verified = await verify(request, policies);
    if (!verified.ok) return { status: 401, body: verified.body };

    const parsed = parsePayload(request.rawBody);
    if (!parsed.ok) return { status: 400, body: parsed.message };
    const { payload, approve, value } = parsed;
    const user = payload.user;
    const log = logger?.child({ policy: value.policy, runId: value.runId, step: value.step, user: user.id });

    const settings = policies.get(value.policy);
    if (!settings)
      return {
        status: 404,
        body: policies.has(value.policy)
          ? `policy ${value.policy} has no Slack settings, so it takes no Slack approvals`
          : `unknown policy ${value.policy}`,
      };
    // A request signed by another policy's Slack app must not decide for this one.
    if (!settings.signingSecret || verified.signedWith !== refKey(settings.signingSecret)) {
      log?.warn({}, 'slack request refused: signed for another policy');
      return { status: 401, body: `the request is not signed with the signing secret of policy ${value.policy}` };
    }

    let botToken: string | undefined;
    try {
      botToken = settings.botToken ? await resolveSecret(settings.botToken, sources) : undefined;
    } catch (error) {
      log?.warn({ code: codeOf(error) }, 'slack bot token unavailable');
    }
    const client = clientFor(botToken, [...verified.secrets.values(), ...(botToken ? [botToken] : [])]);

    let allowed: boolean;
    try {
      allowed = await isAllowed(settings, user.id, client, request.now);
    } catch (error) {
      log?.warn(
        { code: codeOf(error), slackError: (error as { slackError?: unknown }).slackError },
        'slack approver group lookup failed',
      );
      await notice(
        client,
        payload,
        `Could not check your membership of the approvers group; nothing was recorded. Try again, or use \`revroll ${approve ? 'approve' : 'reject'} ${value.policy}\`.`,
      );
      return { status: 503, body: 'the approvers user group could not be read from Slack; nothing was recorded' };
    }
    if (!allowed) {
      log?.warn({}, 'slack decision refused: user not allowed');
      await notice(client, payload, `You are not an approver of ${value.policy}; nothing was recorded.`);
      return { status: 403, body: `user ${user.id} may not approve policy ${value.policy}` };
    }

    const outcome = await options.approvals.decide(decisionRequest(payload, value, approve), request.now);
    if (!outcome.ok) {
      log?.warn({ refusal: outcome.refusal }, 'slack decision refused');
      await notice(client, payload, `Nothing was recorded: ${outcome.message}.`);
      return { status: refusalStatus(outcome.refusal), body: outcome.message };
    }
    log?.info({ decision: outcome.record.decision, by: outcome.record.by }, 'approval decided from slack');
    await updateMessage(client, payload, outcome.record, botToken !== undefined, request.now, log);
    return { status: 200, body: outcome.message };
  };
}

/** A refused decision: 409 when the click does not fit the run (it is stale, or a replay), 503 when we could not tell. */
function refusalStatus(refusal: ApprovalRefusal): 409 | 503 {
  switch (refusal) {
    case 'no-run':
    case 'other-run':
    case 'plan-changed':
    case 'finished':
    case 'not-requested':
    case 'already-decided':
    case 'expired':
    case 'superseded':
      return 409;
    case 'conflict':
    case 'store-unavailable':
      return 503;
  }
}

/** Replaces the buttons with who decided and when: in place with the bot token, else through the response URL. */
async function updateMessage(
  client: SlackClient,
  payload: BlockActionsPayload,
  record: DecisionRecord,
  hasToken: boolean,
  now: Date,
  log: Logger | undefined,
): Promise<void> {
  const message = formatApprovalDecided({
    policy: record.policy,
    runId: record.runId,
    step: record.step,
    decision: record.decision,
    by: record.by,
    at: now,
    via: 'slack',
  });
  const channel = payload.container?.channel_id ?? payload.channel?.id;
  const ts = payload.container?.message_ts ?? payload.message?.ts;
  try {
    if (hasToken && channel && ts) await client.updateMessage({ channel, ts, message });
    else if (payload.response_url) await client.respond(payload.response_url, { ...message, replace_original: true });
  } catch (error) {
    // The decision is saved; a stale message only shows buttons that now answer 409.
    log?.warn(
      { code: codeOf(error), slackError: (error as { slackError?: unknown }).slackError },
      'slack approval message update failed',
    );
  }
}

const SIGNATURE_MESSAGES: Record<SignatureFailure, string> = {
  'missing-or-malformed': 'missing or malformed X-Slack-Signature or X-Slack-Request-Timestamp header',
  'stale-timestamp': 'the request timestamp is more than 5 minutes away from now (replay protection)',
  'bad-signature': 'the request signature does not match',
};

type ParsedAction =
  | { ok: true; payload: BlockActionsPayload; approve: boolean; value: ApprovalButtonValue }
  | { ok: false; message: string };

/** The form-encoded `payload` field, its JSON, the approval button clicked and its bound value. */
function parsePayload(rawBody: string): ParsedAction {
  const text = new URLSearchParams(rawBody).get('payload');
  if (text === null) return { ok: false, message: 'the request has no payload field' };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, message: 'the payload is not JSON' };
  }
  const payload = BlockActionsPayloadSchema.safeParse(json);
  if (!payload.success)
    return {
      ok: false,
      message: `the payload is not a block_actions interaction revroll understands (${firstIssue(payload.error)})`,
    };
  const action = payload.data.actions.find(
    (a) => a.action_id === APPROVE_ACTION_ID || a.action_id === REJECT_ACTION_ID,
  );
  if (!action) return { ok: false, message: 'the payload has no revroll approval action' };
  let value: unknown;
  try {
    value = JSON.parse(action.value ?? '');
  } catch {
    return { ok: false, message: 'the approval button value is not JSON' };
  }
  const bound = ApprovalButtonValueSchema.safeParse(value);
  if (!bound.success)
    return { ok: false, message: `the approval button value is not valid (${firstIssue(bound.error)})` };
  return { ok: true, payload: payload.data, approve: action.action_id === APPROVE_ACTION_ID, value: bound.data };
}

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  return issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid';
}

function header(headers: SlackActionRequest['headers'], name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name) continue;
    return typeof value === 'string' ? value : undefined;
  }
  return undefined;
}

function refKey(ref: SecretRef): string {
  return ref.env !== undefined ? `env:${ref.env}` : `file:${ref.file ?? ''}`;
}

function codeOf(error: unknown): string {
  return error instanceof RevrollError ? error.code : error instanceof Error ? error.name : 'UNEXPECTED';
}

/** Every distinct signing secret of the loaded policies, resolved; unreadable ones are logged and skipped. */
async function signingSecrets(
  policies: ReadonlyMap<string, SlackSettings | undefined>,
  sources: SecretSources,
  logger: SlackActionHandlerOptions['logger'],
): Promise<Map<string, string>> {
  const byRef = new Map<string, SecretRef>();
  for (const settings of policies.values())
    if (settings?.signingSecret) byRef.set(refKey(settings.signingSecret), settings.signingSecret);
  const resolved = new Map<string, string>();
  for (const [key, ref] of byRef) {
    try {
      resolved.set(key, await resolveSecret(ref, sources));
    } catch (error) {
      logger?.error(
        { code: codeOf(error), reason: error instanceof RevrollError ? error.message : 'unreadable' },
        'slack signing secret unavailable',
      );
    }
  }
  return resolved;
}

/** The decision a click asks for, with who clicked and where. */
function decisionRequest(
  payload: BlockActionsPayload,
  value: ApprovalButtonValue,
  approve: boolean,
): Parameters<Approvals['decide']>[0] {
  const user = payload.user;
  const name = user.username ?? user.name;
  const by = name ? `${name} (${user.id})` : user.id;
  const channel = payload.channel?.id ?? payload.container?.channel_id;
  return {
    policy: value.policy,
    runId: value.runId,
    planHash: value.planHash,
    step: value.step,
    approve,
    by,
    via: 'slack',
    ...(channel ? { channel } : {}),
    ...(value.expiresAt !== undefined ? { requestExpiresAt: value.expiresAt } : {}),
  };
}
