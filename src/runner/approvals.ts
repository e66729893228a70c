/**
 * Human decisions on a run's approval points, from Slack buttons (`POST /slack/actions`) or from a
 * terminal (`revroll approve|reject`). Approvals are not best-effort (style rule 11): a decision
 * is bound to the policy's current run, its plan hash and the pending step, written with the
 * state's version (retrying on conflict), and every refusal leaves the state untouched.
 */
import { userInfo } from 'node:os';
import type { AxiosInstance } from 'axios';
import type { z } from 'zod';
import { formatApprovalDecided, formatNotice } from '../adapters/slack/blocks.ts';
import { createSlackClient, type SlackClient } from '../adapters/slack/client.ts';
import {
  APPROVE_ACTION_ID,
  ApprovalButtonValueSchema,
  BlockActionsPayloadSchema,
  REJECT_ACTION_ID,
  type BlockActionsPayload,
} from '../adapters/slack/schema.ts';
import { verifySlackSignature, type SignatureFailure } from '../adapters/slack/signature.ts';
import { resolveSecret, type SecretSources } from '../adapters/secrets.ts';
import type { RetryPolicy } from '../adapters/retry.ts';
import { recordDecision } from '../engine/decide.ts';
import { parseStoredState } from './run-policy.ts';
import { terminalPhases, type ApprovalPoint, type RunState } from '../engine/state.ts';
import { RevrollError } from '../errors.ts';
import { StateConflictError, type StateStore } from '../ports/state-store.ts';
import type { SlackSettings, SecretRef } from '../policy/types.ts';
import type { Logger } from '../telemetry/logger.ts';

/** A recorded decision, for Kubernetes Events and logs. */
export type DecisionRecord = {
  policy: string;
  runId: string;
  step: string;
  point: ApprovalPoint;
  decision: 'approved' | 'rejected';
  /** `name (U0123ABCD)` from Slack, the `--as` name or OS user from the CLI. */
  by: string;
  via: 'slack' | 'cli';
  /** Slack channel ID the click came from. */
  channel?: string;
  decidedAt: string;
};

/** Why a decision was refused. Each one leaves the state as it was. */
export type Refusal =
  /** The policy has no run state at all. */
  | 'no-run'
  /** The decision names another run than the policy's current one (an old message). */
  | 'wrong-run'
  /** The run's plan changed since the approval was requested. */
  | 'wrong-plan'
  /** The run is finished; nothing is waiting. */
  | 'finished'
  /** No approval was requested for that step (or none is pending). */
  | 'not-pending'
  /** The step was already decided (a replayed or second click). */
  | 'already-decided'
  /** The approval expired before the decision. */
  | 'expired'
  /** The state kept changing under us past the retry budget. */
  | 'conflict'
  /** The state could not be read or written, or is not a run state. */
  | 'store-unavailable';

export type DecisionOutcome =
  { ok: true; record: DecisionRecord; message: string } | { ok: false; refusal: Refusal; message: string };

/** What a decision says about itself; `runId`/`planHash`/`step`, when given, must match the run. */
export type DecisionRequest = {
  policy: string;
  approve: boolean;
  by: string;
  via: 'slack' | 'cli';
  channel?: string;
  runId?: string;
  planHash?: string;
  step?: string;
  /** The `expiresAt` of the request decided on (Slack buttons carry it): binds to that very request. */
  requestExpiresAt?: string;
};

const MAX_SAVE_ATTEMPTS = 5;

/** The fields of a stored document this module relies on; anything else is the runner's business. */
/**
 * Loads the policy's run, checks the decision against it, records it with `recordDecision`, and
 * saves with the loaded version. On a version conflict everything is checked again on the fresh
 * state (the runner may have moved on, or another click won).
 */
export async function applyDecision(store: StateStore, request: DecisionRequest, now: Date): Promise<DecisionOutcome> {
  for (let attempt = 1; attempt <= MAX_SAVE_ATTEMPTS; attempt++) {
    let stored;
    try {
      stored = await store.load(request.policy);
    } catch (error) {
      return {
        ok: false,
        refusal: 'store-unavailable',
        message: `the state of policy ${request.policy} could not be read (${codeOf(error)})`,
      };
    }
    if (!stored)
      return { ok: false, refusal: 'no-run', message: `policy ${request.policy} has no run waiting for a decision` };
    let state: RunState;
    try {
      state = parseStoredState(stored.document, request.policy);
    } catch {
      return {
        ok: false,
        refusal: 'store-unavailable',
        message: `the state of policy ${request.policy} is not a run state revroll can read`,
      };
    }
    const refused = check(state, request, now);
    if (refused) return refused;
    const result = recordDecision(
      state,
      {
        approve: request.approve,
        by: request.by,
        via: request.via,
        ...(request.step !== undefined ? { step: request.step } : {}),
        ...(request.channel !== undefined ? { channel: request.channel } : {}),
        ...(request.planHash !== undefined ? { planHash: request.planHash } : {}),
      },
      now,
    );
    if (result.error !== undefined) return { ok: false, refusal: 'not-pending', message: result.error };
    const decided = result.state.approvals.find(
      (a, i) => a.decision !== undefined && state.approvals[i]?.decision === undefined,
    );
    if (!decided) return { ok: false, refusal: 'not-pending', message: `no approval is pending for ${request.policy}` };
    try {
      await store.save(request.policy, result.state as unknown as Record<string, unknown>, stored.version);
    } catch (error) {
      if (error instanceof StateConflictError) continue;
      return {
        ok: false,
        refusal: 'store-unavailable',
        message: `the decision could not be saved to the state of policy ${request.policy} (${codeOf(error)})`,
      };
    }
    const decision = request.approve ? 'approved' : 'rejected';
    const record: DecisionRecord = {
      policy: request.policy,
      runId: state.runId,
      step: decided.step,
      point: decided.point,
      decision,
      by: request.by,
      via: request.via,
      ...(request.channel !== undefined ? { channel: request.channel } : {}),
      decidedAt: now.toISOString(),
    };
    return {
      ok: true,
      record,
      message: `${decision} step ${decided.step} of run ${state.runId} (policy ${request.policy}) as ${request.by}`,
    };
  }
  return {
    ok: false,
    refusal: 'conflict',
    message: `the state of policy ${request.policy} kept changing while the decision was saved; try again`,
  };
}

/** The refusals `recordDecision` cannot tell apart, with messages that say what to do. */
function check(state: RunState, request: DecisionRequest, now: Date): DecisionOutcome | undefined {
  const policy = request.policy;
  if (request.runId !== undefined && request.runId !== state.runId) {
    return {
      ok: false,
      refusal: 'wrong-run',
      message: `this decision is for run ${request.runId}, but the current run of policy ${policy} is ${state.runId}`,
    };
  }
  if (request.planHash !== undefined && request.planHash !== state.planHash) {
    return {
      ok: false,
      refusal: 'wrong-plan',
      message: `the plan of run ${state.runId} changed since the approval was requested (plan ${request.planHash}, now ${state.planHash}); decide on the new request`,
    };
  }
  if (terminalPhases.has(state.phase))
    return {
      ok: false,
      refusal: 'finished',
      message: `run ${state.runId} of policy ${policy} is finished (${state.phase}); nothing is waiting for a decision`,
    };
  const candidates =
    request.step !== undefined ? state.approvals.filter((a) => a.step === request.step) : state.approvals;
  // Like recordDecision: the latest pending request; failing that, the latest one, to say why.
  const target = candidates.filter((a) => a.decision === undefined).at(-1) ?? candidates.at(-1);
  if (!target) {
    return {
      ok: false,
      refusal: 'not-pending',
      message:
        request.step !== undefined
          ? `run ${state.runId} has no approval request for step ${request.step}`
          : `run ${state.runId} of policy ${policy} is not waiting for an approval`,
    };
  }
  if (target.decision === 'expired')
    return {
      ok: false,
      refusal: 'expired',
      message: `the approval for step ${target.step} expired at ${target.expiresAt}`,
    };
  if (target.decision !== undefined) {
    return {
      ok: false,
      refusal: 'already-decided',
      message: `step ${target.step} was already ${target.decision}${target.by ? ` by ${target.by}` : ''}${target.decidedAt ? ` at ${target.decidedAt}` : ''}`,
    };
  }
  if (Date.parse(target.expiresAt) <= now.getTime())
    return {
      ok: false,
      refusal: 'expired',
      message: `the approval for step ${target.step} expired at ${target.expiresAt}`,
    };
  if (request.requestExpiresAt !== undefined && request.requestExpiresAt !== target.expiresAt) {
    return {
      ok: false,
      refusal: 'not-pending',
      message: `this button belongs to an earlier approval request for step ${target.step}; use the latest request`,
    };
  }
  return undefined;
}

/**
 * `revroll approve|reject <policy> [--step ID] [--as NAME]`: the same binding as a Slack click,
 * recorded with `via: 'cli'` and the `--as` name (default: the OS user).
 */
export async function decideFromCli(input: {
  store: StateStore;
  policy: string;
  approve: boolean;
  step?: string;
  as?: string;
  now: Date;
  onDecision?: (record: DecisionRecord) => void | Promise<void>;
}): Promise<{ ok: boolean; message: string; record?: DecisionRecord }> {
  const by = input.as?.trim() || osUser();
  const outcome = await applyDecision(
    input.store,
    {
      policy: input.policy,
      approve: input.approve,
      by,
      via: 'cli',
      ...(input.step !== undefined ? { step: input.step } : {}),
    },
    input.now,
  );
  if (!outcome.ok) return { ok: false, message: outcome.message };
  try {
    await input.onDecision?.(outcome.record);
  } catch {
    // The decision is saved; a failing hook (an Event that could not be written) must not hide that.
  }
  return { ok: true, message: outcome.message, record: outcome.record };
}

function osUser(): string {
  try {
    return userInfo().username || 'unknown user';
  } catch {
    return 'unknown user';
  }
}

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
  store: StateStore;
  /** The loaded policies' Slack settings, read per request so reloaded policies apply at once. */
  policies: () => ReadonlyMap<string, SlackSettings | undefined>;
  env: SecretSources['env'];
  readFile?: SecretSources['readFile'];
  /** An axios instance from src/adapters/http.ts; the client creates one when absent. */
  http?: AxiosInstance;
  apiUrl?: string;
  logger?: Logger;
  /** Called after a decision is saved (the runner emits a Kubernetes Event). Errors are logged. */
  onDecision?: (record: DecisionRecord) => void | Promise<void>;
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
 * payload (400), policy (404), approver allowlist (403), binding to the run (409), then the
 * decision is saved, `onDecision` called, the message updated, and 200 returned.
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

  /** Every distinct signing secret of the loaded policies, resolved; unreadable ones are logged and skipped. */
  async function signingSecrets(
    policies: ReadonlyMap<string, SlackSettings | undefined>,
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

  return async function handleSlackAction(request: SlackActionRequest): Promise<SlackActionResponse> {
    const policies = options.policies();
    const secrets = await signingSecrets(policies);
    const secretKeys = [...secrets.keys()];
    if (secretKeys.length === 0)
      return { status: 401, body: 'no Slack signing secret is configured, so no Slack request can be verified' };
    const verdict = verifySlackSignature({
      secrets: secretKeys.map((k) => secrets.get(k) ?? ''),
      timestamp: header(request.headers, 'x-slack-request-timestamp'),
      signature: header(request.headers, 'x-slack-signature'),
      rawBody: request.rawBody,
      now: request.now,
    });
    if (!verdict.ok) {
      logger?.warn({ reason: verdict.reason }, 'slack request refused: signature');
      return { status: 401, body: SIGNATURE_MESSAGES[verdict.reason] };
    }

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
    if (!settings.signingSecret || secretKeys[verdict.secretIndex] !== refKey(settings.signingSecret)) {
      log?.warn({}, 'slack request refused: signed for another policy');
      return { status: 401, body: `the request is not signed with the signing secret of policy ${value.policy}` };
    }

    let botToken: string | undefined;
    try {
      botToken = settings.botToken ? await resolveSecret(settings.botToken, sources) : undefined;
    } catch (error) {
      log?.warn({ code: codeOf(error) }, 'slack bot token unavailable');
    }
    const client = clientFor(botToken, [...secrets.values(), ...(botToken ? [botToken] : [])]);

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

    const name = user.username ?? user.name;
    const by = name ? `${name} (${user.id})` : user.id;
    const channel = payload.channel?.id ?? payload.container?.channel_id;
    const outcome = await applyDecision(
      options.store,
      {
        policy: value.policy,
        runId: value.runId,
        planHash: value.planHash,
        step: value.step,
        approve,
        by,
        via: 'slack',
        ...(channel ? { channel } : {}),
        ...(value.expiresAt !== undefined ? { requestExpiresAt: value.expiresAt } : {}),
      },
      request.now,
    );
    if (!outcome.ok) {
      log?.warn({ refusal: outcome.refusal }, 'slack decision refused');
      await notice(client, payload, `Nothing was recorded: ${outcome.message}.`);
      return {
        status: outcome.refusal === 'store-unavailable' || outcome.refusal === 'conflict' ? 503 : 409,
        body: outcome.message,
      };
    }
    log?.info({ decision: outcome.record.decision, by }, 'approval decided from slack');
    try {
      await options.onDecision?.(outcome.record);
    } catch (error) {
      log?.warn({ code: codeOf(error) }, 'decision hook failed');
    }
    await updateMessage(client, payload, outcome.record, botToken !== undefined, request.now, log);
    return { status: 200, body: outcome.message };
  };
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
  | { ok: true; payload: BlockActionsPayload; approve: boolean; value: z.output<typeof ApprovalButtonValueSchema> }
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
