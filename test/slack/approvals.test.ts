import { beforeEach, describe, expect, it } from 'vitest';
import { userInfo } from 'node:os';
import { createSlackActionHandler, type SlackActionRequest } from '../../src/adapters/slack/actions.ts';
import { createApprovals, decideFromCli, type DecisionRecord } from '../../src/runner/approvals.ts';
import type { RunState } from '../../src/engine/state.ts';
import type { SlackSettings } from '../../src/policy/types.ts';
import { mockHttp, setupHttpMocks } from '../helpers/http-mock.ts';
import { captureLogger } from './capture-logger.ts';
import {
  APPROVER,
  BOT_TOKEN,
  BUTTON,
  clickPayload,
  ENV,
  finishedRun,
  GROUP,
  heldRun,
  NOW,
  PLAN_HASH,
  POLICY,
  RUN_ID,
  signedRequest,
  slackSettings,
  STEP,
} from './fixtures.ts';
import { createInMemoryStateStoreDouble, type InMemoryStateStoreDouble } from './in-memory-state-store.ts';

setupHttpMocks();

const fast = { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2, budgetMs: 1_000 };
const RESPONSE_PATH = '/actions/T000/111/SECRETRESPONSE';

type Harness = {
  store: InMemoryStateStoreDouble;
  handle: (r: SlackActionRequest) => Promise<{ status: number; body: string }>;
  decisions: DecisionRecord[];
  lines: () => string[];
};

function harness(
  options: { settings?: Partial<SlackSettings>; state?: RunState | null; policies?: Map<string, SlackSettings> } = {},
): Harness {
  const state = options.state === undefined ? heldRun() : options.state;
  const store = createInMemoryStateStoreDouble(state ? { [POLICY]: state as unknown as Record<string, unknown> } : {});
  const decisions: DecisionRecord[] = [];
  const { logger, lines } = captureLogger();
  const policies = options.policies ?? new Map([[POLICY, slackSettings(options.settings)]]);
  const handle = createSlackActionHandler({
    approvals: createApprovals({ store, onDecided: (r) => void decisions.push(r) }),
    policies: () => policies,
    env: ENV,
    logger,
    retry: fast,
  });
  return { store, handle, decisions, lines };
}

const slackApi = () => mockHttp('https://slack.com', { reqheaders: { authorization: `Bearer ${BOT_TOKEN}` } });

/** Slack's chat.update for the clicked message; returns what was sent. */
function expectMessageUpdate(): { body?: Record<string, unknown> } {
  const seen: { body?: Record<string, unknown> } = {};
  slackApi()
    .post('/api/chat.update')
    .reply(200, async (request: Request) => {
      seen.body = (await request.json()) as Record<string, unknown>;
      return { ok: true };
    });
  return seen;
}

/** The ephemeral "nothing was recorded" reply to the person who clicked. */
function expectRefusalNotice(fragment: string): void {
  mockHttp('https://hooks.slack.com')
    .post(
      RESPONSE_PATH,
      (body: Record<string, unknown>) =>
        body.response_type === 'ephemeral' && body.replace_original === false && String(body.text).includes(fragment),
    )
    .reply(200, 'ok');
}

function expectUnchanged(h: Harness, before: ReturnType<InMemoryStateStoreDouble['peek']>): void {
  expect(h.store.peek(POLICY)).toEqual(before);
  expect(h.store.writes).toBe(0);
  expect(h.decisions).toEqual([]);
}

describe('POST /slack/actions (src/adapters/slack/actions, src/runner/approvals)', () => {
  it('records an approval bound to run, step and plan, calls the hook, and updates the message', async () => {
    const h = harness();
    const update = expectMessageUpdate();
    const response = await h.handle(signedRequest(clickPayload()));
    expect(response).toEqual({
      status: 200,
      body: `approved step ${STEP} of run ${RUN_ID} (policy ${POLICY}) as alice (${APPROVER})`,
    });
    const approval = (h.store.peek(POLICY)?.document as unknown as RunState).approvals[0];
    expect(approval).toMatchObject({
      step: STEP,
      decision: 'approved',
      by: `alice (${APPROVER})`,
      via: 'slack',
      channel: 'C0UPGRADES',
      decidedAt: NOW.toISOString(),
    });
    expect(h.decisions).toEqual([
      {
        policy: POLICY,
        runId: RUN_ID,
        step: STEP,
        point: 'wave',
        decision: 'approved',
        by: `alice (${APPROVER})`,
        via: 'slack',
        channel: 'C0UPGRADES',
        decidedAt: NOW.toISOString(),
      },
    ]);
    expect(update.body).toMatchObject({ channel: 'C0UPGRADES', ts: '1741572000.000200' });
    expect(JSON.stringify(update.body?.blocks)).toContain(`Approved by <@${APPROVER}>`);
    expect(JSON.stringify(update.body?.blocks)).not.toContain('revroll.approve');
  });

  it('records a rejection', async () => {
    const h = harness();
    expectMessageUpdate();
    const response = await h.handle(signedRequest(clickPayload({ approve: false })));
    expect(response.status).toBe(200);
    expect((h.store.peek(POLICY)?.document as unknown as RunState).approvals[0]?.decision).toBe('rejected');
  });

  it('refuses the same request replayed after the decision (409) and changes nothing', async () => {
    const h = harness();
    expectMessageUpdate();
    const request = signedRequest(clickPayload());
    expect((await h.handle(request)).status).toBe(200);
    const after = h.store.peek(POLICY);
    expectRefusalNotice('already approved');
    const replay = await h.handle(request);
    expect(replay).toEqual({
      status: 409,
      body: `step ${STEP} was already approved by alice (${APPROVER}) at ${NOW.toISOString()}`,
    });
    expect(h.store.peek(POLICY)).toEqual(after);
    expect(h.store.writes).toBe(1);
    expect(h.decisions).toHaveLength(1);
  });

  const payload = clickPayload();
  const json = JSON.stringify(payload);
  it.each([
    ['a forged signature', 401, () => signedRequest(payload, { secret: 'not-the-signing-secret' }), 'does not match'],
    [
      'an unsigned request',
      401,
      () => ({ ...signedRequest(payload), headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
      'missing or malformed',
    ],
    [
      'a timestamp 6 minutes old',
      401,
      () => signedRequest(payload, { at: new Date(NOW.getTime() - 360_000) }),
      'more than 5 minutes',
    ],
    [
      'a body changed after signing',
      401,
      () => ({
        ...signedRequest(payload),
        rawBody: new URLSearchParams({ payload: json.replace('revroll.approve', 'revroll.reject') }).toString(),
      }),
      'does not match',
    ],
    ['a body without payload', 400, () => signedRequest('token=x'), 'no payload field'],
    ['a payload that is not JSON', 400, () => signedRequest('payload=%7Bnot-json'), 'not JSON'],
    [
      'another interaction type',
      400,
      () => signedRequest({ ...payload, type: 'view_submission' }),
      'not a block_actions interaction',
    ],
    [
      'a foreign button',
      400,
      () => signedRequest({ ...payload, actions: [{ action_id: 'other.app', value: '{}' }] }),
      'no revroll approval action',
    ],
    ['a button value that is not JSON', 400, () => signedRequest(clickPayload({ value: 'approve' })), 'not JSON'],
    [
      'a button value with extra keys',
      400,
      () => signedRequest(clickPayload({ value: JSON.stringify({ ...BUTTON, admin: true }) })),
      'not valid',
    ],
    [
      'a response URL off hooks.slack.com',
      400,
      () => signedRequest(clickPayload({ responseUrl: 'https://attacker.example/hook' })),
      'response_url',
    ],
    [
      'an unknown policy',
      404,
      () => signedRequest(clickPayload({ value: { ...BUTTON, policy: 'other-policy' } })),
      'unknown policy other-policy',
    ],
  ] as const)('answers %s with %i and changes nothing', async (_name, status, request, fragment) => {
    const h = harness();
    const before = h.store.peek(POLICY);
    const response = await h.handle(request());
    expect(response.status).toBe(status);
    expect(response.body).toContain(fragment);
    expectUnchanged(h, before);
  });

  it.each([
    [
      'a click from an older run',
      { ...BUTTON, runId: 'run-20260309-0200' },
      `this decision is for run run-20260309-0200, but the current run of policy ${POLICY} is ${RUN_ID}`,
    ],
    [
      'a click on a changed plan',
      { ...BUTTON, planHash: 'ffff0000' },
      `the plan of run ${RUN_ID} changed since the approval was requested (plan ffff0000, now ${PLAN_HASH}); decide on the new request`,
    ],
    [
      'a click for a step that is not pending',
      { ...BUTTON, step: 'promote/approval' },
      `run ${RUN_ID} has no approval request for step promote/approval`,
    ],
  ])('refuses %s with 409 and changes nothing', async (_name, value, message) => {
    const h = harness();
    const before = h.store.peek(POLICY);
    expectRefusalNotice('Nothing was recorded');
    const response = await h.handle(signedRequest(clickPayload({ value })));
    expect(response).toEqual({ status: 409, body: message.replace(/\.$/, '') });
    expectUnchanged(h, before);
  });

  it('refuses a replayed click on a later request for the same step', async () => {
    const first = heldRun().approvals[0]!;
    const later = { ...first, requestedAt: '2026-03-10T01:58:00.000Z', expiresAt: '2026-03-10T02:58:00.000Z' };
    const h = harness({
      state: heldRun({
        approvals: [{ ...first, decision: 'rejected', by: 'bob', decidedAt: '2026-03-10T01:57:00.000Z' }, later],
      }),
    });
    const before = h.store.peek(POLICY);
    expectRefusalNotice('earlier approval request');
    const response = await h.handle(signedRequest(clickPayload()));
    expect(response).toEqual({
      status: 409,
      body: `this button belongs to an earlier approval request for step ${STEP}; use the latest request`,
    });
    expectUnchanged(h, before);
  });

  it('refuses an expired approval with 409 and says when it expired', async () => {
    const h = harness();
    const before = h.store.peek(POLICY);
    expectRefusalNotice('expired');
    const later = new Date('2026-03-10T03:00:00.000Z');
    const response = await h.handle(signedRequest(clickPayload(), { at: later, now: later }));
    expect(response).toEqual({
      status: 409,
      body: `the approval for step ${STEP} expired at 2026-03-10T02:55:00.000Z`,
    });
    expectUnchanged(h, before);
  });

  it('refuses an approval the engine already marked expired', async () => {
    const h = harness({
      state: heldRun({
        approvals: [{ ...heldRun().approvals[0]!, decision: 'expired', decidedAt: '2026-03-10T02:55:00.000Z' }],
      }),
    });
    const before = h.store.peek(POLICY);
    expectRefusalNotice('expired');
    expect((await h.handle(signedRequest(clickPayload()))).status).toBe(409);
    expectUnchanged(h, before);
  });

  it.each([
    ['a finished run', finishedRun(), 409, `run ${RUN_ID} of policy ${POLICY} is finished (RolledBack)`],
    ['a policy without run state', null, 409, `policy ${POLICY} has no run waiting for a decision`],
  ])('refuses a click on %s', async (_name, state, status, fragment) => {
    const h = harness({ state });
    const before = h.store.peek(POLICY);
    expectRefusalNotice('Nothing was recorded');
    const response = await h.handle(signedRequest(clickPayload()));
    expect(response.status).toBe(status);
    expect(response.body).toContain(fragment);
    expectUnchanged(h, before);
  });

  it('refuses a user who is not an approver (403) and changes nothing', async () => {
    const h = harness();
    const before = h.store.peek(POLICY);
    expectRefusalNotice('not an approver');
    const response = await h.handle(signedRequest(clickPayload({ user: 'U0INTRUDER' })));
    expect(response).toEqual({ status: 403, body: `user U0INTRUDER may not approve policy ${POLICY}` });
    expectUnchanged(h, before);
    expect(h.lines().some((l) => l.includes('user not allowed'))).toBe(true);
  });

  it('allows members of the approvers user group, looking the group up once while cached', async () => {
    const h = harness({ settings: { approvers: { users: [], userGroup: GROUP } } });
    slackApi()
      .get('/api/usergroups.users.list')
      .query({ usergroup: GROUP })
      .once()
      .reply(200, { ok: true, users: ['U0MEMBER'] });
    expectRefusalNotice('not an approver');
    expect((await h.handle(signedRequest(clickPayload({ user: 'U0OUTSIDER' })))).status).toBe(403);
    expectMessageUpdate();
    expect((await h.handle(signedRequest(clickPayload({ user: 'U0MEMBER' })))).status).toBe(200);
    expect(h.decisions[0]?.by).toBe('alice (U0MEMBER)');
  });

  it('answers 503 when the user group cannot be read, and changes nothing', async () => {
    const h = harness({ settings: { approvers: { users: [], userGroup: GROUP } } });
    const before = h.store.peek(POLICY);
    slackApi()
      .get('/api/usergroups.users.list')
      .query({ usergroup: GROUP })
      .reply(200, { ok: false, error: 'missing_scope' });
    expectRefusalNotice('Could not check');
    expect((await h.handle(signedRequest(clickPayload()))).status).toBe(503);
    expectUnchanged(h, before);
    expect(h.lines().some((l) => l.includes('missing_scope'))).toBe(true);
  });

  it('retries on a version conflict and keeps the concurrent change', async () => {
    const h = harness();
    h.store.interfere(1, (doc) => {
      doc.updatedAt = '2026-03-10T01:59:59.000Z';
    });
    expectMessageUpdate();
    expect((await h.handle(signedRequest(clickPayload()))).status).toBe(200);
    const state = h.store.peek(POLICY)?.document as unknown as RunState;
    expect(state.approvals[0]?.decision).toBe('approved');
    expect(h.store.writes).toBe(1);
  });

  it('answers 503 when the state keeps changing, without recording', async () => {
    const h = harness();
    h.store.interfere(100);
    expectRefusalNotice('kept changing');
    const response = await h.handle(signedRequest(clickPayload()));
    expect(response.status).toBe(503);
    expect((h.store.peek(POLICY)?.document as unknown as RunState).approvals[0]?.decision).toBeUndefined();
    expect(h.decisions).toEqual([]);
  });

  it('updates the message through the response URL when there is no bot token', async () => {
    const h = harness({ settings: { botToken: undefined, webhookUrl: { env: 'SLACK_WEBHOOK_URL' } } });
    mockHttp('https://hooks.slack.com')
      .post(
        RESPONSE_PATH,
        (body: Record<string, unknown>) =>
          body.replace_original === true && JSON.stringify(body.blocks).includes(`Approved by <@${APPROVER}>`),
      )
      .reply(200, 'ok');
    expect((await h.handle(signedRequest(clickPayload()))).status).toBe(200);
  });

  it("refuses a request signed with another policy's signing secret", async () => {
    const policies = new Map([
      [POLICY, slackSettings()],
      ['team-b', slackSettings({ signingSecret: { env: 'TEAM_B_SECRET' } })],
    ]);
    const store = createInMemoryStateStoreDouble({ [POLICY]: heldRun() as unknown as Record<string, unknown> });
    const handle = createSlackActionHandler({
      approvals: createApprovals({ store }),
      policies: () => policies,
      env: { ...ENV, TEAM_B_SECRET: 'team-b-signing-secret' },
      retry: fast,
    });
    const response = await handle(signedRequest(clickPayload(), { secret: 'team-b-signing-secret' }));
    expect(response).toEqual({
      status: 401,
      body: `the request is not signed with the signing secret of policy ${POLICY}`,
    });
    expect(store.writes).toBe(0);
  });

  it('answers 401 when no signing secret is configured', async () => {
    const h = harness({ settings: { signingSecret: undefined } });
    expect((await h.handle(signedRequest(clickPayload()))).status).toBe(401);
    expect(h.store.writes).toBe(0);
  });
});

describe('revroll approve|reject (decideFromCli)', () => {
  let store: InMemoryStateStoreDouble;
  beforeEach(() => {
    store = createInMemoryStateStoreDouble({ [POLICY]: heldRun() as unknown as Record<string, unknown> });
  });

  it('approves the pending step as the --as name, via cli', async () => {
    const decisions: DecisionRecord[] = [];
    const result = await decideFromCli({
      store,
      policy: POLICY,
      approve: true,
      as: 'bob',
      now: NOW,
      onDecision: (r) => void decisions.push(r),
    });
    expect(result).toMatchObject({
      ok: true,
      message: `approved step ${STEP} of run ${RUN_ID} (policy ${POLICY}) as bob`,
    });
    expect((store.peek(POLICY)?.document as unknown as RunState).approvals[0]).toMatchObject({
      decision: 'approved',
      by: 'bob',
      via: 'cli',
      decidedAt: NOW.toISOString(),
    });
    expect(decisions).toHaveLength(1);
  });

  it('rejects a named step as the OS user by default', async () => {
    const result = await decideFromCli({ store, policy: POLICY, approve: false, step: STEP, now: NOW });
    expect(result.ok).toBe(true);
    expect((store.peek(POLICY)?.document as unknown as RunState).approvals[0]).toMatchObject({
      decision: 'rejected',
      by: userInfo().username,
      via: 'cli',
    });
  });

  it('retries on a version conflict', async () => {
    store.interfere(2);
    expect((await decideFromCli({ store, policy: POLICY, approve: true, as: 'bob', now: NOW })).ok).toBe(true);
    expect(store.writes).toBe(1);
  });

  it.each([
    ['an unknown step', { step: 'promote/approval' }, NOW, 'has no approval request for step promote/approval'],
    ['an expired approval', {}, new Date('2026-03-10T03:00:00Z'), 'expired at 2026-03-10T02:55:00.000Z'],
    ['an unknown policy', { policy: 'nope' }, NOW, 'policy nope has no run waiting for a decision'],
  ])('refuses %s and changes nothing', async (_name, extra, now, fragment) => {
    const before = store.peek(POLICY);
    const result = await decideFromCli({ store, policy: POLICY, approve: true, as: 'bob', now, ...extra });
    expect(result.ok).toBe(false);
    expect(result.message).toContain(fragment);
    expect(store.peek(POLICY)).toEqual(before);
    expect(store.writes).toBe(0);
  });

  it('refuses a second decision', async () => {
    await decideFromCli({ store, policy: POLICY, approve: true, as: 'bob', now: NOW });
    const result = await decideFromCli({ store, policy: POLICY, approve: false, as: 'carol', now: NOW });
    expect(result).toEqual({ ok: false, message: `step ${STEP} was already approved by bob at ${NOW.toISOString()}` });
  });
});
