/**
 * The Slack notifier: one thread per run with a bot token (the parent message shows the run's
 * current status and is updated in place; each event is a reply), or one message per event with
 * an incoming webhook (webhooks cannot thread). Approval requests carry Approve/Reject buttons
 * bound to the run, step and plan hash.
 *
 * Best-effort by contract (DESIGN section 5, style rule 11): `notify` never throws, and each
 * call is bounded (~14 s: the client's retry budget plus one request timeout). A failure is
 * logged with Slack's error code (never a secret) and counted (`failures`, `onFailure`).
 */
import type { AxiosInstance } from 'axios';
import { RevrollError } from '../../errors.ts';
import type { Delivery, Notifier, RunEvent, RunEventKind } from '../../ports/notifier.ts';
import type { SlackSettings } from '../../policy/types.ts';
import type { Logger } from '../../telemetry/logger.ts';
import { redactSecrets } from '../http.ts';
import type { RetryPolicy } from '../retry.ts';
import { resolveSecret, type SecretSources } from '../secrets.ts';
import {
  ALERT_KINDS,
  describeEvent,
  formatApprovalDecided,
  formatApprovalRequest,
  formatEvent,
  formatRunStatus,
  parseDetails,
  runLink,
  type RunStatus,
  type SlackMessage,
} from './blocks.ts';
import { createSlackClient, SlackError, type SlackClient } from './client.ts';

/** Where a run's thread lives: the parent message's channel ID and timestamp. */
export type ThreadRef = { channel: string; ts: string };

/**
 * Remembers each run's thread beyond this process, so a restarted daemon keeps replying in the
 * same thread. The runner backs it with the run state; errors are logged, never fatal.
 */
export interface ThreadStore {
  get(runId: string): Promise<ThreadRef | undefined>;
  set(runId: string, thread: ThreadRef): Promise<void>;
}

/** A ThreadStore in memory (the default: threads survive until the process ends). */
export function createMemoryThreadStore(): ThreadStore {
  const threads = new Map<string, ThreadRef>();
  return {
    async get(runId) {
      return threads.get(runId);
    },
    async set(runId, thread) {
      threads.set(runId, thread);
    },
  };
}

/** One failed notification, as reported to `onFailure` (no secret in any field). */
export type SlackFailure = {
  kind: RunEventKind;
  policy: string;
  runId: string;
  /** revroll's error code (`SLACK_API_ERROR`, `SLACK_RATE_LIMITED`, `SECRET_UNAVAILABLE`...). */
  code: string;
  /** Slack's error code (`channel_not_found`, `invalid_auth`...), when Slack sent one. */
  slackError?: string;
  status?: number;
  message: string;
};

export type SlackNotifierOptions = {
  settings: SlackSettings;
  env: SecretSources['env'];
  readFile?: SecretSources['readFile'];
  /** An axios instance from src/adapters/http.ts; the client creates one when absent. */
  http?: AxiosInstance;
  /** Web API root (tests, proxies). */
  apiUrl?: string;
  now: () => Date;
  logger?: Logger;
  /** Called once per failed notification (the metrics module counts them). */
  onFailure?: (failure: SlackFailure) => void;
  /** `notify.dashboardUrl` of the policy: messages link to the run's page there. */
  dashboardUrl?: string;
  /** Persists thread references (default: in memory). */
  threads?: ThreadStore;
  /** Overrides the client's retry policy (tests). */
  retry?: RetryPolicy;
  sleep?: (ms: number) => Promise<void>;
};

export type SlackNotifier = Notifier & {
  /** Notifications that failed since creation. */
  readonly failures: number;
  /** Waits until every notification accepted so far has been delivered or given up. */
  flush(): Promise<void>;
};

type Resolved = {
  client: SlackClient;
  mode: 'bot' | 'webhook';
  webhookUrl?: string;
  secrets: string[];
  buttons: boolean;
};

/** Runs whose status is kept for the parent message; older ones are forgotten first. */
const MAX_TRACKED_RUNS = 200;
const FINAL_KINDS: ReadonlySet<RunEventKind> = new Set(['promoted', 'rollback-finished']);

/** Creates the notifier. Secrets are read at the first notification, never logged. */
export function createSlackNotifier(options: SlackNotifierOptions): SlackNotifier {
  const { settings, logger } = options;
  const threads = options.threads ?? createMemoryThreadStore();
  const memory = new Map<string, ThreadRef>();
  const statuses = new Map<string, RunStatus>();
  const approvalMessages = new Map<string, ThreadRef>();
  const queues = new Map<string, Promise<unknown>>();
  let failures = 0;
  let known: string[] = [];

  async function resolve(): Promise<Resolved> {
    const slack = await resolveSlack(options);
    known = slack.secrets;
    return slack;
  }

  // Resolved once; a failure is not cached, so a secret mounted later is picked up.
  let resolved: Promise<Resolved> | undefined;
  function client(): Promise<Resolved> {
    resolved ??= resolve().catch((error: unknown) => {
      resolved = undefined;
      throw error;
    });
    return resolved;
  }

  const link = (event: RunEvent) => runLink(options.dashboardUrl, event.policy);

  function trackStatus(event: RunEvent): RunStatus {
    const details = parseDetails(event);
    const { emoji, state } = describeEvent(event, details);
    const previous = statuses.get(event.runId);
    const status = runStatus(event, details, emoji, state, previous, options.now(), link(event));
    rememberLast(statuses, event.runId, status, MAX_TRACKED_RUNS);
    return status;
  }

  const messageFor = (event: RunEvent, slack: Resolved) => eventMessage(event, slack, settings, link(event), logger);

  async function threadOf(runId: string): Promise<ThreadRef | undefined> {
    const cached = memory.get(runId);
    if (cached) return cached;
    try {
      const stored = await threads.get(runId);
      if (stored) memory.set(runId, stored);
      return stored;
    } catch (error) {
      logger?.warn({ runId, code: codeOf(error) }, 'slack thread store read failed: starting a new thread');
      return undefined;
    }
  }

  async function deliverThreaded(event: RunEvent, slack: Resolved): Promise<void> {
    const status = trackStatus(event);
    let thread = await threadOf(event.runId);
    let parentIsCurrent = false;
    if (!thread) {
      thread = await slack.client.postMessage({ channel: settings.channel, message: formatRunStatus(status) });
      parentIsCurrent = true;
      memory.set(event.runId, thread);
      try {
        await threads.set(event.runId, thread);
      } catch (error) {
        logger?.warn(
          { runId: event.runId, code: codeOf(error) },
          'slack thread store write failed: a restart will start a new thread',
        );
      }
    }
    // Approval requests and alerts are also shown in the channel: people must see them without opening the thread.
    const broadcast = event.kind === 'approval-requested' || ALERT_KINDS.has(event.kind);
    const reply = await slack.client.postMessage({
      channel: thread.channel,
      threadTs: thread.ts,
      broadcast,
      message: messageFor(event, slack),
    });
    if (event.kind === 'approval-requested' && event.step !== undefined)
      approvalMessages.set(approvalKey(event.runId, event.step), reply);
    if (event.kind === 'approval-decided' && event.step !== undefined) await retireApprovalMessage(event, slack);
    if (!parentIsCurrent)
      await slack.client.updateMessage({ channel: thread.channel, ts: thread.ts, message: formatRunStatus(status) });
    if (FINAL_KINDS.has(event.kind)) {
      statuses.delete(event.runId);
      memory.delete(event.runId);
      for (const key of approvalMessages.keys())
        if (key.startsWith(`${event.runId}\u0000`)) approvalMessages.delete(key);
    }
  }

  /** A decided or expired approval's buttons are removed, whoever decided (Slack, CLI, or expiry). */
  async function retireApprovalMessage(event: RunEvent, slack: Resolved): Promise<void> {
    const key = approvalKey(event.runId, event.step ?? '');
    const posted = approvalMessages.get(key);
    const details = parseDetails(event);
    if (!posted || details.decision === undefined) return;
    approvalMessages.delete(key);
    const message = decidedMessage(event, details, details.decision, options.now());
    await slack.client.updateMessage({ channel: posted.channel, ts: posted.ts, message });
  }

  async function deliver(event: RunEvent): Promise<Delivery> {
    try {
      const slack = await client();
      if (slack.mode === 'bot') await deliverThreaded(event, slack);
      else await slack.client.postWebhook(slack.webhookUrl ?? '', messageFor(event, slack));
      return { delivered: true };
    } catch (error) {
      failures += 1;
      const failure = reportFailure(event, error, known, options);
      return { delivered: false, error: `Slack: ${failure.message}`, retry: true };
    }
  }

  return {
    get failures() {
      return failures;
    },
    notify(event: RunEvent): Promise<Delivery> {
      // Events of one run are delivered in order, so the parent is posted once and replies follow it.
      const previous: Promise<unknown> = queues.get(event.runId) ?? Promise.resolve();
      const next = previous.then(() => deliver(event));
      queues.set(event.runId, next);
      void next.then(() => {
        if (queues.get(event.runId) === next) queues.delete(event.runId);
      });
      return next;
    },
    async flush() {
      await Promise.all([...queues.values()]);
    },
  };
}

function approvalKey(runId: string, step: string): string {
  return `${runId}\u0000${step}`;
}

function codeOf(error: unknown): string {
  return error instanceof RevrollError ? error.code : 'UNEXPECTED';
}

/** A failure without secrets: revroll errors carry safe messages; anything else is redacted. */
function describeFailure(event: RunEvent, error: unknown, secrets: readonly string[]): SlackFailure {
  const base = { kind: event.kind, policy: event.policy, runId: event.runId };
  if (error instanceof SlackError) {
    return {
      ...base,
      code: error.code,
      ...(error.slackError ? { slackError: error.slackError } : {}),
      ...(error.status !== undefined ? { status: error.status } : {}),
      message: redactSecrets(error.message, secrets),
    };
  }
  if (error instanceof RevrollError)
    return { ...base, code: error.code, message: redactSecrets(error.message, secrets) };
  return {
    ...base,
    code: 'UNEXPECTED',
    message: redactSecrets(error instanceof Error ? error.message : String(error), secrets),
  };
}

/** Reads the secrets and builds the client: bot (threads, updates) or webhook (posts only). */
async function resolveSlack(options: SlackNotifierOptions): Promise<Resolved> {
  const { settings } = options;
  const sources: SecretSources = { env: options.env, ...(options.readFile ? { readFile: options.readFile } : {}) };
  const botToken = settings.botToken ? await resolveSecret(settings.botToken, sources) : undefined;
  const webhookUrl = !botToken && settings.webhookUrl ? await resolveSecret(settings.webhookUrl, sources) : undefined;
  // Buttons only when clicks can be verified; otherwise the message says how to decide from a terminal.
  const buttons = settings.signingSecret !== undefined;
  const secrets = [botToken, webhookUrl].filter((s): s is string => s !== undefined);
  const client = createSlackClient({
    ...(botToken ? { botToken } : {}),
    ...(options.http ? { http: options.http } : {}),
    ...(options.apiUrl ? { apiUrl: options.apiUrl } : {}),
    ...(options.retry ? { retry: options.retry } : {}),
    ...(options.sleep ? { sleep: options.sleep } : {}),
    secrets,
  });
  if (botToken) return { client, mode: 'bot', secrets, buttons };
  if (webhookUrl) return { client, mode: 'webhook', webhookUrl, secrets, buttons };
  throw new SlackError({
    code: 'SLACK_NOT_CONFIGURED',
    message: 'Slack needs a botToken or a webhookUrl to post',
    target: 'slack settings',
    retryable: false,
  });
}

/** The parent message's status after `event`: what it says, plus what earlier events told. */
function runStatus(
  event: RunEvent,
  details: ReturnType<typeof parseDetails>,
  emoji: string,
  state: string,
  previous: RunStatus | undefined,
  now: Date,
  link: string | undefined,
): RunStatus {
  return {
    policy: event.policy,
    runId: event.runId,
    emoji,
    state,
    latest: event.message,
    updatedAt: now,
    ...(link !== undefined ? { link } : {}),
    ...((details.from ?? previous?.from) !== undefined ? { from: details.from ?? previous?.from } : {}),
    ...((details.to ?? previous?.to) !== undefined ? { to: details.to ?? previous?.to } : {}),
    ...((details.wave !== undefined ? String(details.wave) : previous?.wave) !== undefined
      ? { wave: details.wave !== undefined ? String(details.wave) : previous?.wave }
      : {}),
  };
}

/** The approval message once decided: who, how, when; no buttons. */
function decidedMessage(
  event: RunEvent,
  details: ReturnType<typeof parseDetails>,
  decision: NonNullable<ReturnType<typeof parseDetails>['decision']>,
  now: Date,
): SlackMessage {
  const at =
    details.decidedAt !== undefined && !Number.isNaN(Date.parse(details.decidedAt)) ? new Date(details.decidedAt) : now;
  return formatApprovalDecided({
    policy: event.policy,
    runId: event.runId,
    step: event.step ?? '',
    decision,
    by: details.by ?? 'revroll',
    at,
    via: details.via === 'cli' ? 'cli' : 'slack',
  });
}

/** Logs a failed notification (secrets redacted) and tells the failure hook; returns what failed. */
function reportFailure(
  event: RunEvent,
  error: unknown,
  known: readonly string[],
  options: Pick<SlackNotifierOptions, 'logger' | 'onFailure'>,
): ReturnType<typeof describeFailure> {
  const { logger } = options;
  const failure = describeFailure(event, error, known);
  logger?.warn(
    {
      policy: failure.policy,
      runId: failure.runId,
      event: failure.kind,
      code: failure.code,
      slackError: failure.slackError,
      status: failure.status,
      reason: failure.message,
    },
    'slack notification failed',
  );
  try {
    options.onFailure?.(failure);
  } catch {
    // A failing metrics hook must not turn a best-effort notification into a crash.
  }
  return failure;
}

/** The message of an event: an approval request with buttons when clicks can be verified, else the event's text. */
function eventMessage(
  event: RunEvent,
  slack: Resolved,
  settings: SlackNotifierOptions['settings'],
  href: string | undefined,
  logger: SlackNotifierOptions['logger'],
): SlackMessage {
  if (event.kind === 'approval-requested' && slack.buttons && event.step !== undefined) {
    const { planHash, expiresAt } = parseDetails(event);
    if (planHash !== undefined)
      return formatApprovalRequest(
        event,
        {
          policy: event.policy,
          runId: event.runId,
          step: event.step,
          planHash,
          ...(expiresAt !== undefined ? { expiresAt } : {}),
        },
        href,
      );
    logger?.warn(
      { policy: event.policy, runId: event.runId, step: event.step },
      'approval request without a plan hash: posted without buttons',
    );
  }
  return formatEvent(event, { mentions: settings.mentionOnFailure, ...(href !== undefined ? { link: href } : {}) });
}

/** Sets `key` as the newest entry, forgetting the oldest past `max`. */
function rememberLast<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
}
