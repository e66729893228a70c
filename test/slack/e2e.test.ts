/**
 * Slack approvals end to end (issue 6 item 5): `revroll serve` (the real command, in process)
 * against the sandbox, with a policy whose first wave needs an approval. Only Slack is fake: its
 * Web API and response URLs are answered by the strict nock helper, which lets 127.0.0.1 through,
 * so the Kubernetes API (the sandbox) and the daemon's own HTTP server are real. A click is what
 * Slack would send: the button value the daemon posted in `chat.postMessage`, in a form-encoded
 * `block_actions` payload signed with the signing secret, POSTed to `/slack/actions`.
 *
 * The daemon runs on the real clock: a `* * * * *` cron without windows fires at once when the
 * policy loads (the fire of the current minute is caught up), and bakes are sub-second.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi, type MockInstance } from 'vitest';
import { createConfigMapStateStore, stateConfigMapName } from '../../src/adapters/kubernetes/state.ts';
import { signSlackRequest } from '../../src/adapters/slack/signature.ts';
import { ExitCode } from '../../src/cli/exit-codes.ts';
import { serveCommand } from '../../src/cli/commands/serve.ts';
import type { RunState } from '../../src/engine/state.ts';
import { Resources } from '../../src/ports/cluster.ts';
import type { RunView } from '../../src/runner/daemon.ts';
import { waitFor } from '../daemon/harness.ts';
import { mockHttp, setupHttpMocks } from '../helpers/http-mock.ts';
import { allOn, createHarness, smallScenario, STATE_NS, type Harness } from '../helpers/runner-harness.ts';

setupHttpMocks({ allowLocalhost: true });

// Recognisable fake secrets: the daemon's logs are checked for them.
const BOT_TOKEN = 'xoxb-e2e-0000-SECRETBOTTOKEN';
const SIGNING_SECRET = 'e2eSECRETsigningsecret0123456789';
const ENV = { E2E_SLACK_BOT_TOKEN: BOT_TOKEN, E2E_SLACK_SIGNING_SECRET: SIGNING_SECRET };
const APPROVER = 'U0123ABCD';
/** The channel ID Slack answers with (the policy names the channel `#mesh-upgrades`). */
const CHANNEL_ID = 'C0E2EMESH';
const RESPONSE_URL = 'https://hooks.slack.com/actions/T0E2E/1111/SECRETRESPONSE';

function policyYaml(name: string, extra = ''): string {
  return `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: ${name}}
spec:
  revisions: {from: 1-24-3, to: 1-25-1}
  waves:
    - name: first
      namespaces: {names: [alpha, bravo]}
      bake: 200ms
      approval: {required: true}
    - {name: rest, namespaces: {names: [charlie]}, bake: 200ms}
  gates: {warmup: 100ms}
  workloads: {rolloutTimeout: 20s}
  schedule:
    cron: "* * * * *"
  notify:
    slack:
      channel: "#mesh-upgrades"
      botToken: {env: E2E_SLACK_BOT_TOKEN}
      signingSecret: {env: E2E_SLACK_SIGNING_SECRET}
      approvers: {users: [${APPROVER}]}
${extra}`;
}

// ---- Slack, faked ---------------------------------------------------------------------------

type SlackCall = { method: 'chat.postMessage' | 'chat.update'; body: Record<string, unknown>; ts: string };
type Block = {
  type: string;
  text?: { text: string };
  elements?: { action_id: string; value: string; text: unknown }[];
};

/**
 * Slack's Web API for the bot token: every call recorded, posted messages get increasing ts. The
 * interceptors persist (a run posts one message per event); the helper still fails the test on
 * any other Slack call, and on either method never being called.
 */
function fakeSlackApi(): SlackCall[] {
  const calls: SlackCall[] = [];
  let next = 100;
  const scope = mockHttp('https://slack.com', { reqheaders: { authorization: `Bearer ${BOT_TOKEN}` } }).persist();
  scope.post('/api/chat.postMessage').reply(200, async (request: Request) => {
    const ts = `1700000000.000${next++}`;
    calls.push({ method: 'chat.postMessage', body: (await request.json()) as Record<string, unknown>, ts });
    return { ok: true, channel: CHANNEL_ID, ts };
  });
  scope.post('/api/chat.update').reply(200, async (request: Request) => {
    const body = (await request.json()) as Record<string, unknown>;
    calls.push({ method: 'chat.update', body, ts: String(body.ts) });
    return { ok: true, channel: body.channel, ts: body.ts };
  });
  return calls;
}

const blocksOf = (call: SlackCall | undefined) => (call?.body.blocks ?? []) as Block[];
const buttonsOf = (call: SlackCall | undefined) => blocksOf(call).find((b) => b.type === 'actions')?.elements ?? [];
const headerOf = (call: SlackCall | undefined) => blocksOf(call)[0]?.text?.text;

/** The approval request the daemon posted for `step` (the message carrying the buttons). */
function approvalMessage(calls: SlackCall[], step: string): SlackCall | undefined {
  return calls.find(
    (c) =>
      c.method === 'chat.postMessage' &&
      buttonsOf(c).some((b) => (JSON.parse(b.value) as { step?: string }).step === step),
  );
}

/** Slack's interaction request for a click on one of the message's buttons, signed now. */
function click(
  message: SlackCall,
  actionId: 'revroll.approve' | 'revroll.reject',
): { body: string; headers: Record<string, string> } {
  const button = buttonsOf(message).find((b) => b.action_id === actionId);
  if (!button) throw new Error(`the approval message has no ${actionId} button`);
  const payload = {
    type: 'block_actions',
    user: { id: APPROVER, username: 'alice', name: 'alice', team_id: 'T0E2E' },
    api_app_id: 'A0E2E',
    token: 'legacy-verification-token',
    container: { type: 'message', message_ts: message.ts, channel_id: CHANNEL_ID, is_ephemeral: false },
    trigger_id: '1.2.3',
    team: { id: 'T0E2E', domain: 'example' },
    channel: { id: CHANNEL_ID, name: 'mesh-upgrades' },
    message: { type: 'message', ts: message.ts, text: message.body.text },
    response_url: RESPONSE_URL,
    actions: [
      {
        action_id: button.action_id,
        block_id: 'revroll.approval',
        text: button.text,
        value: button.value,
        type: 'button',
        action_ts: (Date.now() / 1000).toFixed(6),
      },
    ],
  };
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const timestamp = String(Math.floor(Date.now() / 1000));
  return {
    body,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': timestamp,
      'x-slack-signature': signSlackRequest(SIGNING_SECRET, timestamp, body),
    },
  };
}

async function post(
  url: string,
  request: { body: string; headers: Record<string, string> },
): Promise<{ status: number; text: string }> {
  const answer = await fetch(`${url}/slack/actions`, { method: 'POST', body: request.body, headers: request.headers });
  return { status: answer.status, text: await answer.text() };
}

// ---- revroll serve, in process --------------------------------------------------------------

/**
 * serveCommand logs (pino) to process.stderr: captured here, per test, and kept out of the test
 * output. After a clean stop it arms an unref'd `process.exit` 2 s later as a safety net for a
 * real process; in this test worker that call is recorded instead of ending the worker.
 */
let logs: string[] = [];
let stderrSpy: MockInstance<typeof process.stderr.write>;
let exitSpy: MockInstance<typeof process.exit>;
let stopped = 0;
/** Counted here: the spy's own call log is cleared between tests. */
const exits: unknown[] = [];

beforeAll(() => {
  const write = process.stderr.write.bind(process.stderr);
  stderrSpy = vi.spyOn(process.stderr, 'write').mockImplementation(((
    chunk: string | Uint8Array,
    ...rest: unknown[]
  ) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    if (text.includes('"app":"revroll"')) {
      logs.push(...text.split('\n').filter((line) => line.length > 0));
      return true;
    }
    return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stderr.write);
  exitSpy = vi.spyOn(process, 'exit').mockImplementation(((code?: unknown) => {
    exits.push(code);
  }) as never);
});

afterAll(async () => {
  // Every stopped daemon armed its exit safety net; let them fire into the spy before restoring.
  try {
    await waitFor(() => exits.length >= stopped, "serve's exit safety nets", 10_000);
    // A clean stop arms exit code 0.
    expect(exits).toEqual(Array.from({ length: stopped }, () => ExitCode.ok));
  } finally {
    exitSpy.mockRestore();
    stderrSpy.mockRestore();
  }
});

type Served = { url: string; policy: string; runs(): Promise<RunView[]>; stop(): Promise<ExitCode> };

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(h: Harness, policy: string, yaml: string): Promise<Served> {
  const dir = mkdtempSync(join(tmpdir(), 'revroll-slack-e2e-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'policies'));
  writeFileSync(join(dir, 'policies', `${policy}.yaml`), yaml);
  logs = [];
  const before = new Set(process.listeners('SIGTERM'));
  const io = { out: () => undefined, err: () => undefined, isTty: false, env: { ...ENV }, cwd: dir };
  const exit = serveCommand(
    { policies: 'policies', listen: '127.0.0.1:0', kubeconfig: h.kubeconfigFile, stateNamespace: STATE_NS },
    io,
  );
  let failed: unknown;
  exit.catch((error: unknown) => (failed = error));
  let url: string | undefined;
  await waitFor(
    () => {
      if (failed) throw failed;
      const line = logs.find((l) => l.includes('"msg":"revroll serve listening"'));
      url = line ? (JSON.parse(line) as { url: string }).url : undefined;
      return url !== undefined;
    },
    'revroll serve to listen',
    20_000,
  );
  // serve waits for SIGTERM; its own listener is delivered the signal, no other one of the worker.
  const listener = process.listeners('SIGTERM').find((l) => !before.has(l));
  if (!listener) throw new Error('revroll serve registered no SIGTERM listener');
  let code: ExitCode | undefined;
  const stop = async () => {
    if (code === undefined) {
      (listener as (signal: NodeJS.Signals) => void)('SIGTERM');
      code = await exit;
      stopped += 1;
    }
    return code;
  };
  cleanups.push(stop);
  const base = url as string;
  return {
    url: base,
    policy,
    async runs() {
      const answer = (await (await fetch(`${base}/api/runs`)).json()) as { policies: RunView[] };
      return answer.policies;
    },
    stop,
  };
}

async function started(): Promise<Harness> {
  const h = await createHarness(smallScenario());
  cleanups.push(() => h.close());
  return h;
}

async function stateOf(h: Harness, policy: string): Promise<{ state: RunState; version: string }> {
  const stored = await createConfigMapStateStore(h.cluster, STATE_NS).load(policy);
  if (!stored) throw new Error(`no run state for ${policy}`);
  return { state: stored.document as unknown as RunState, version: stored.version };
}

async function decisionEvents(h: Harness, policy: string): Promise<{ reason: string; message: string }[]> {
  const events = await h.cluster.list(Resources.events, { namespace: STATE_NS });
  return events
    .filter(
      (e) =>
        (e as { involvedObject?: { kind?: string; name?: string } }).involvedObject?.name ===
        stateConfigMapName(policy),
    )
    .filter((e) => (e as { involvedObject?: { kind?: string } }).involvedObject?.kind === 'ConfigMap')
    .map((e) => e as unknown as { reason: string; message: string })
    .filter((e) => e.reason === 'RevrollApproved' || e.reason === 'RevrollRejected')
    .map((e) => ({ reason: e.reason, message: e.message }));
}

/** The policy's run is held at `step` for an approval, and the invocation that held it has returned. */
async function heldAt(d: Served, step: string): Promise<RunView> {
  let view: RunView | undefined;
  await waitFor(
    async () => {
      view = (await d.runs()).find((r) => r.name === d.policy);
      if (view?.phase === 'Failed' || view?.phase === 'RolledBack' || view?.phase === 'Promoted')
        throw new Error(`the run ended (${view.phase}: ${view.lastMessage ?? ''}) instead of holding at ${step}`);
      return view?.phase === 'Held' && view.step === step && view.running === false;
    },
    `the run to hold at ${step}`,
    30_000,
  );
  return view as RunView;
}

/** The run reached `phase` and the daemon's invocation that got it there has returned. */
async function finishedAs(d: Served, h: Harness, phase: 'Promoted' | 'RolledBack'): Promise<RunState> {
  let state: RunState | undefined;
  await waitFor(
    async () => {
      state = (await stateOf(h, d.policy)).state;
      if (
        state.phase === 'Failed' ||
        (state.phase !== phase && (state.phase === 'Promoted' || state.phase === 'RolledBack'))
      )
        throw new Error(`the run ended ${state.phase}: ${state.outcome ?? ''}`);
      if (state.phase !== phase) return false;
      return (await d.runs()).find((r) => r.name === d.policy)?.running === false;
    },
    `the run to end ${phase}`,
    30_000,
  );
  return state as RunState;
}

function noSecretsIn(lines: string[]): void {
  for (const secret of [BOT_TOKEN, SIGNING_SECRET, 'SECRETRESPONSE'])
    expect(lines.filter((l) => l.includes(secret))).toEqual([]);
}

describe('Slack approvals end to end (revroll serve against the sandbox)', () => {
  it('holds for approval, takes a signed Approve click on /slack/actions, records who/when/where, and promotes', async () => {
    const slack = fakeSlackApi();
    const h = await started();
    const d = await serve(h, 'slack-approve', policyYaml('slack-approve'));

    const held = await heldAt(d, 'wave/first/approval');
    expect(held).toMatchObject({ valid: true, phase: 'Held', hold: { kind: 'approval' }, lastOutcome: 'held' });
    // The first wave moved, the second did not: the run really waits at the wave boundary.
    expect(await h.namespaceLabels('alpha')).toMatchObject({ 'istio.io/rev': '1-25-1' });
    expect(await h.namespaceLabels('charlie')).toMatchObject({ 'istio-injection': 'enabled' });
    const request = approvalMessage(slack, 'wave/first/approval');
    expect(request, JSON.stringify(slack.map((c) => [c.method, headerOf(c)]))).toBeDefined();
    const { state: waiting } = await stateOf(h, d.policy);
    expect([waiting.phase, waiting.hold?.kind, waiting.steps[waiting.cursor]?.id]).toEqual([
      'Held',
      'approval',
      'wave/first/approval',
    ]);
    expect(waiting.approvals).toMatchObject([{ step: 'wave/first/approval', point: 'wave' }]);
    expect(waiting.approvals[0]?.decision).toBeUndefined();
    // Posted in the run's thread and broadcast to the channel, buttons bound to run, step and plan.
    expect(request?.body).toMatchObject({ channel: CHANNEL_ID, reply_broadcast: true });
    expect(request?.body.thread_ts).toBe(slack.find((c) => c.method === 'chat.postMessage')?.ts);
    expect(JSON.parse(buttonsOf(request)[0]?.value ?? '{}')).toEqual({
      policy: d.policy,
      runId: waiting.runId,
      step: 'wave/first/approval',
      planHash: waiting.planHash,
      expiresAt: waiting.approvals[0]?.expiresAt,
    });

    const clickedAt = new Date();
    const answer = await post(d.url, click(request as SlackCall, 'revroll.approve'));
    const answeredAt = new Date();
    expect(answer.status, answer.text).toBe(200);

    const done = await finishedAs(d, h, 'Promoted');
    expect(done.runId).toBe(waiting.runId);
    const decision = done.approvals.find((a) => a.step === 'wave/first/approval');
    expect(decision).toMatchObject({
      decision: 'approved',
      by: `alice (${APPROVER})`,
      via: 'slack',
      channel: CHANNEL_ID,
    });
    const decidedAt = Date.parse(decision?.decidedAt ?? '');
    expect(decidedAt >= clickedAt.getTime() - 1_000 && decidedAt <= answeredAt.getTime()).toBe(true);
    // The second wave started only after the decision.
    const restStarted = Date.parse(done.records.find((r) => r.id === 'wave/rest/migrate')?.startedAt ?? '');
    expect(restStarted).toBeGreaterThanOrEqual(decidedAt);
    expect(await h.namespaceLabels('charlie')).toMatchObject({ 'istio-injection': 'enabled' });
    expect(allOn(await h.podRevisions('charlie'), '1-25-1')).toBe(true);
    expect(await h.defaultRevision()).toBe('1-25-1');
    // The decision is an Event on the run's state ConfigMap.
    expect(await decisionEvents(h, d.policy)).toEqual([
      {
        reason: 'RevrollApproved',
        message: `wave/first/approval approved by alice (${APPROVER}) (slack in ${CHANNEL_ID})`,
      },
    ]);
    // In Slack: the clicked message lost its buttons and says who approved; the thread ends with the promotion.
    const replaced = slack.filter((c) => c.method === 'chat.update' && c.ts === request?.ts);
    expect(replaced.length).toBeGreaterThan(0);
    for (const update of replaced) expect(buttonsOf(update)).toEqual([]);
    expect(JSON.stringify(replaced.at(-1)?.body)).toContain(APPROVER);
    expect(headerOf(slack.filter((c) => c.method === 'chat.postMessage').at(-1))).toContain('promoted');
    expect((await d.runs()).find((r) => r.name === d.policy)).toMatchObject({
      phase: 'Promoted',
      lastOutcome: 'promoted',
    });

    expect(await d.stop()).toBe(ExitCode.ok);
    noSecretsIn(logs);
  });

  it('rolls the wave back on a signed Reject click: labels restored, state RolledBack', async () => {
    const slack = fakeSlackApi();
    const h = await started();
    const labelsBefore = {
      alpha: await h.namespaceLabels('alpha'),
      bravo: await h.namespaceLabels('bravo'),
      charlie: await h.namespaceLabels('charlie'),
    };
    const d = await serve(h, 'slack-reject', policyYaml('slack-reject'));

    await heldAt(d, 'wave/first/approval');
    expect(await h.namespaceLabels('bravo')).toMatchObject({ 'istio.io/rev': '1-25-1' });
    const request = approvalMessage(slack, 'wave/first/approval');
    expect(request).toBeDefined();
    const answer = await post(d.url, click(request as SlackCall, 'revroll.reject'));
    expect(answer.status, answer.text).toBe(200);

    const done = await finishedAs(d, h, 'RolledBack');
    expect(done.approvals.find((a) => a.step === 'wave/first/approval')).toMatchObject({
      decision: 'rejected',
      by: `alice (${APPROVER})`,
      via: 'slack',
      channel: CHANNEL_ID,
    });
    // Namespaces back in their original label form, workloads back on the old revision; the second wave never moved.
    expect(await h.namespaceLabels('alpha')).toEqual(labelsBefore.alpha);
    expect(await h.namespaceLabels('bravo')).toEqual(labelsBefore.bravo);
    expect(await h.namespaceLabels('charlie')).toEqual(labelsBefore.charlie);
    expect(allOn(await h.podRevisions('alpha'), '1-24-3')).toBe(true);
    expect(allOn(await h.podRevisions('bravo'), '1-24-3')).toBe(true);
    expect(done.records.find((r) => r.id === 'wave/rest/migrate')?.startedAt).toBeUndefined();
    expect(await h.defaultRevision()).toBe('1-24-3');
    expect(await decisionEvents(h, d.policy)).toEqual([
      {
        reason: 'RevrollRejected',
        message: `wave/first/approval rejected by alice (${APPROVER}) (slack in ${CHANNEL_ID})`,
      },
    ]);

    expect(await d.stop()).toBe(ExitCode.ok);
    noSecretsIn(logs);
  });

  it('answers a replayed click with 409 and changes nothing', async () => {
    const slack = fakeSlackApi();
    // The refused clicker is told why, privately, through the interaction's response URL (once).
    const notices: Record<string, unknown>[] = [];
    mockHttp('https://hooks.slack.com')
      .post('/actions/T0E2E/1111/SECRETRESPONSE')
      .reply(200, async (request: Request) => {
        notices.push((await request.json()) as Record<string, unknown>);
        return 'ok';
      });
    const h = await started();
    // A second approval before promotion keeps the run held after the first decision, so "nothing changes" is checkable.
    const d = await serve(h, 'slack-replay', policyYaml('slack-replay', '  promote: {approval: {required: true}}\n'));

    await heldAt(d, 'wave/first/approval');
    const request = approvalMessage(slack, 'wave/first/approval');
    expect(request).toBeDefined();
    const approve = click(request as SlackCall, 'revroll.approve');
    const first = await post(d.url, approve);
    expect(first.status, first.text).toBe(200);
    await heldAt(d, 'approval/promote');
    const before = await stateOf(h, d.policy);
    const eventsBefore = await decisionEvents(h, d.policy);
    expect(eventsBefore.map((e) => e.reason)).toEqual(['RevrollApproved']);
    const slackCallsBefore = slack.length;

    // The very same request again (same timestamp, same signature, within Slack's 5-minute window).
    const replay = await post(d.url, approve);
    expect(replay.status).toBe(409);
    expect(replay.text).toContain('wave/first/approval was already approved');

    // Nothing changed: the state was not written, no Event, no message touched, the run still waits.
    const after = await stateOf(h, d.policy);
    expect(after.version).toBe(before.version);
    expect(after.state).toEqual(before.state);
    expect(after.state.approvals.map((a) => [a.step, a.decision])).toEqual([
      ['wave/first/approval', 'approved'],
      ['approval/promote', undefined],
    ]);
    expect(await decisionEvents(h, d.policy)).toEqual(eventsBefore);
    expect(slack.length).toBe(slackCallsBefore);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatchObject({ response_type: 'ephemeral', replace_original: false });
    expect(JSON.stringify(notices[0])).toContain('Nothing was recorded');
    expect((await d.runs()).find((r) => r.name === d.policy)).toMatchObject({
      phase: 'Held',
      step: 'approval/promote',
      running: false,
    });

    expect(await d.stop()).toBe(ExitCode.ok);
    noSecretsIn(logs);
  });
});
