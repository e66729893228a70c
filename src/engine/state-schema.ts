/**
 * The one validator of stored run state (safety invariant 8): a state read back from its
 * ConfigMap is believed only while it is valid in full, against this schema and against the plan
 * its policy makes. Hand edits, truncation or a bug must end in a clear refusal, never in a run
 * that acts on a cursor it cannot explain or claims a phase its records do not show.
 */
import { z } from 'zod';
import type { Policy } from '../policy/types.ts';
import { gatewayApiShape, hasGatewayApiSteps } from './gateway-api.ts';
import { buildSteps, rollbackSteps, type PlannedGateway, type PlannedWave } from './plan.ts';
import { STATE_VERSION, terminalPhases, type RunState, type Step, type StepRecord } from './state.ts';

const iso = z.string().refine((text) => !Number.isNaN(Date.parse(text)), 'is not a date');
const count = z.number().int().min(0);

const StepKindSchema = z.enum([
  'precheck',
  'install',
  'canary-tag',
  'approval',
  'baseline',
  'canary-health',
  'migrate',
  'restart',
  'rollout',
  'converge',
  'delete-stragglers',
  'warmup',
  'bake',
  'gateways',
  'pin-gateways',
  'gateway-api-baseline',
  'gateway-api-move',
  'gateway-api-warmup',
  'gateway-api-bake',
  'unpin-gateways',
  'promote-tags',
  'restore-labels',
  'verify',
  'uninstall',
  'rollback-gateway-api',
  'rollback-gateways',
  'rollback-labels',
  'rollback-restart',
  'rollback-rollout',
  'rollback-tags',
  'rollback-gateway-restarts',
  'rollback-restore-labels',
  'rollback-unpin-gateways',
  'rollback-verify',
  'rollback-uninstall',
  'rollback-health',
]);
const ApprovalPointSchema = z.enum(['before-first-wave', 'wave', 'promote', 'inconclusive']);

const GatewayUpgradeSchema = z.enum(['withFirstWave', 'afterLastWave', 'onPromote']);

const stepMeaning = {
  wave: count.optional(),
  point: ApprovalPointSchema.optional(),
  revision: z.string().optional(),
  // Absent in states written before gateways steps named their moment (filled on load, see migrateSteps).
  gateways: GatewayUpgradeSchema.optional(),
};

const StepSchema = z.strictObject({ id: z.string().min(1), kind: StepKindSchema, ...stepMeaning });

const StepRecordSchema = z.strictObject({
  id: z.string().min(1),
  // Absent in states written before records carried their step's meaning (filled on load, see migrateSteps).
  kind: StepKindSchema.optional(),
  ...stepMeaning,
  status: z.enum(['pending', 'running', 'done', 'skipped', 'failed']),
  startedAt: iso.optional(),
  finishedAt: iso.optional(),
  note: z.string().optional(),
});

const GateResultSchema = z.strictObject({
  check: z.string(),
  outcome: z.enum(['Pass', 'Fail', 'NoData', 'Error']),
  value: z.number().nullable().optional(),
  baseline: z.number().nullable().optional(),
  traffic: z.number().nullable().optional(),
  shadow: z.boolean().optional(),
  message: z.string(),
});

/** Stored JSON has no NaN or infinities: they come back as null. */
const numberOrNull = z.number().nullable();

export const RunStateSchema = z.strictObject({
  version: z.literal(STATE_VERSION),
  policy: z.string().min(1),
  runId: z.string().min(1),
  planHash: z.string().min(1),
  policyHash: z.string().optional(),
  from: z.string().min(1),
  to: z.string().min(1),
  phase: z.enum(['Progressing', 'Held', 'RollingBack', 'Promoted', 'RolledBack', 'Failed']),
  startedAt: iso,
  updatedAt: iso,
  cursor: count,
  steps: z.array(StepSchema).min(1),
  records: z.array(StepRecordSchema),
  waves: z.array(z.string().min(1)).min(1),
  namespaces: z.record(
    z.string(),
    z.strictObject({
      wave: count,
      injection: z.string().optional(),
      rev: z.string().optional(),
      moved: z.boolean().optional(),
      pinned: z.boolean().optional(),
      leave: z.array(z.string()).optional(),
    }),
  ),
  gateways: z.array(
    z.strictObject({
      namespace: z.string(),
      name: z.string(),
      original: z.string().nullable(),
      upgrade: GatewayUpgradeSchema,
      // Absent in states written before gateways could be restarted.
      mode: z.enum(['relabel', 'restart']).default('relabel'),
      found: z.boolean().optional(),
      app: z.string().optional(),
      objectRev: z.string().optional(),
      moved: z.boolean().optional(),
    }),
  ),
  gatewayApi: z
    .strictObject({
      order: z.enum(['after-waves', 'before-waves']),
      pinBefore: z.string().min(1).optional(),
      tags: z.record(z.string(), z.string()),
      defaultRevision: z.string().optional(),
      gateways: z.array(
        z.strictObject({
          namespace: z.string().min(1),
          name: z.string().min(1),
          deployment: z.string().min(1),
          waypoint: z.boolean(),
          originalRev: z.string().nullable(),
          namespaceRev: z.string().optional(),
          mode: z.enum(['pinned', 'follow']),
          wave: count.optional(),
          pin: z.boolean(),
          moveTo: z.string().nullable(),
          unpin: z.boolean(),
          pinned: z.boolean().optional(),
          moved: z.boolean().optional(),
          held: z.boolean().optional(),
        }),
      ),
      ambient: z.record(z.string(), count),
    })
    .optional(),
  tags: z.array(
    z.strictObject({
      tag: z.string(),
      original: z.string().optional(),
      target: z.string(),
      moved: z.boolean().optional(),
    }),
  ),
  approvals: z.array(
    z.strictObject({
      step: z.string(),
      point: ApprovalPointSchema,
      requestedAt: iso,
      expiresAt: iso,
      decision: z.enum(['approved', 'rejected', 'expired']).optional(),
      by: z.string().optional(),
      via: z.enum(['slack', 'cli']).optional(),
      channel: z.string().optional(),
      decidedAt: iso.optional(),
      notified: z.boolean().optional(),
      notifyError: z.string().optional(),
      notifyRetryAt: iso.optional(),
    }),
  ),
  gates: z
    .strictObject({
      wave: count,
      baseline: z.record(z.string(), numberOrNull),
      failures: z.record(z.string(), count),
      consecutiveErrors: z.record(z.string(), count),
      recent: z.array(z.strictObject({ at: iso, results: z.array(GateResultSchema) })),
      evaluations: count,
    })
    .optional(),
  stragglers: z
    .strictObject({
      wave: count,
      pods: z.array(
        z.strictObject({
          namespace: z.string(),
          pod: z.string(),
          revision: z.string().optional(),
          owner: z.string(),
          reason: z.string(),
        }),
      ),
    })
    .optional(),
  warmupUntil: iso.optional(),
  bakeUntil: iso.optional(),
  nextGateAt: iso.optional(),
  hold: z
    .strictObject({
      kind: z.enum(['approval', 'window', 'gates', 'error', 'uninstall']),
      reason: z.string(),
      since: iso,
    })
    .optional(),
  retry: z.strictObject({ step: z.string(), attempts: count, lastError: z.string(), nextAt: iso }).optional(),
  rollbackReason: z.string().optional(),
  abortRequested: z.strictObject({ by: z.string(), at: iso }).optional(),
  outcome: z.string().optional(),
  audit: z.strictObject({ eventsLost: count, lastError: z.string().optional() }).optional(),
  slackThread: z.strictObject({ channel: z.string(), ts: z.string() }).optional(),
});

export type StoredRunState = RunState & { policyHash?: string };

/** Structure and internal consistency; every problem, as `path: message`. */
export function stateProblems(document: unknown, policyName: string): { state?: StoredRunState; problems: string[] } {
  const parsed = RunStateSchema.safeParse(document);
  if (!parsed.success) {
    return {
      problems: parsed.error.issues
        .slice(0, 10)
        .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`),
    };
  }
  const state = parsed.data as StoredRunState;
  const problems: string[] = migrateSteps(state);
  if (state.policy !== policyName) problems.push(`policy: is ${state.policy}, not ${policyName}`);
  if (state.records.length !== state.steps.length)
    problems.push(`records: ${state.records.length} record(s) for ${state.steps.length} step(s)`);
  const ids = new Set<string>();
  state.steps.forEach((step, i) => {
    if (ids.has(step.id)) problems.push(`steps[${i}]: step ${step.id} appears twice`);
    ids.add(step.id);
    if (state.records[i] && state.records[i]?.id !== step.id)
      problems.push(`records[${i}]: is for ${state.records[i]?.id}, but step ${i} is ${step.id}`);
    if (step.wave !== undefined && step.wave >= state.waves.length)
      problems.push(`steps[${i}].wave: ${step.wave} is not a wave of the run`);
  });
  if (state.cursor > state.steps.length)
    problems.push(`cursor: ${state.cursor} is past the last step (${state.steps.length} steps)`);
  for (const [name, ns] of Object.entries(state.namespaces))
    if (ns.wave >= state.waves.length) problems.push(`namespaces.${name}.wave: ${ns.wave} is not a wave of the run`);
  (state.gatewayApi?.gateways ?? []).forEach((g, i) => {
    if (g.wave !== undefined && g.wave >= state.waves.length)
      problems.push(`gatewayApi.gateways[${i}].wave: ${g.wave} is not a wave of the run`);
  });
  for (const [name, wave] of Object.entries(state.gatewayApi?.ambient ?? {}))
    if (wave >= state.waves.length) problems.push(`gatewayApi.ambient.${name}: ${wave} is not a wave of the run`);
  problems.push(...progressProblems(state));
  return problems.length > 0 ? { problems } : { state, problems };
}

/** A step's meaning, as one comparable string (and as words for messages). */
function meaningKey(step: Partial<Step>): string {
  return JSON.stringify([
    step.kind ?? null,
    step.wave ?? null,
    step.point ?? null,
    step.revision ?? null,
    step.gateways ?? null,
  ]);
}

function describeMeaning(step: Partial<Step>): string {
  const parts = [
    step.wave !== undefined ? `wave ${step.wave}` : undefined,
    step.point !== undefined ? `point ${step.point}` : undefined,
    step.revision !== undefined ? `revision ${step.revision}` : undefined,
    step.gateways !== undefined ? `gateways ${step.gateways}` : undefined,
  ].filter((p) => p !== undefined);
  return `a ${step.kind ?? '(no kind)'} step${parts.length > 0 ? ` (${parts.join(', ')})` : ''}`;
}

function meaningOf(step: Step): Omit<Step, 'id'> {
  const { id: _id, ...meaning } = step;
  return meaning;
}

/**
 * States written before steps carried their whole meaning are brought up to date from what the
 * state itself says: a gateways step gets its moment (one in a wave moves with the first wave; one
 * before the tags are promoted, after the last wave; else on promotion), the promotion's uninstall
 * its revision (the run's `from`), and a record without a kind the meaning of its step. A record
 * whose meaning disagrees with its step's is a problem: nothing may act on a record it cannot trust.
 */
function migrateSteps(state: StoredRunState): string[] {
  const problems: string[] = [];
  const promoteAt = state.steps.findIndex((s) => s.kind === 'promote-tags');
  state.steps.forEach((step, i) => {
    if (step.kind === 'gateways' && step.gateways === undefined)
      step.gateways = step.wave !== undefined ? 'withFirstWave' : i < promoteAt ? 'afterLastWave' : 'onPromote';
    if (step.kind === 'uninstall' && step.revision === undefined) step.revision = state.from;
  });
  state.records.forEach((record, i) => {
    const step = state.steps[i];
    if (!step || record.id !== step.id) return; // reported by stateProblems
    if ((record as Partial<StepRecord>).kind === undefined) {
      Object.assign(record, meaningOf(step));
      return;
    }
    if (record.kind === 'gateways' && record.gateways === undefined) record.gateways = step.gateways;
    if (record.kind === 'uninstall' && record.revision === undefined) record.revision = step.revision;
    if (meaningKey(record) !== meaningKey(step))
      problems.push(
        `records[${i}]: step ${step.id} is recorded as ${describeMeaning(record)}, but the run's plan has ${describeMeaning(step)} of that id`,
      );
  });
  return problems;
}

/**
 * The cursor and the phase must be what the records show: every step before the cursor finished,
 * none after it started; a finished phase only when its steps did (a terminal phase is believed
 * only when the records agree).
 */
function progressProblems(state: StoredRunState): string[] {
  const problems: string[] = [];
  const firstRollback = state.steps.findIndex((s) => s.kind.startsWith('rollback-'));
  const rollingBack = state.phase === 'RollingBack' || state.phase === 'RolledBack';
  if (rollingBack && firstRollback < 0) problems.push(`phase: ${state.phase} but the run has no rollback steps`);
  if (!rollingBack && state.phase !== 'Failed' && firstRollback >= 0)
    problems.push(`phase: ${state.phase} but the run holds rollback steps`);
  const terminal = terminalPhases.has(state.phase);
  if (!terminal && state.cursor >= state.steps.length)
    problems.push(`cursor: at the end of the steps, but the phase is ${state.phase}`);
  // Forward steps the rollback superseded are skipped or failed; nothing else is left unfinished behind the cursor.
  const behind = terminal
    ? []
    : state.records.filter((r, i) => i < state.cursor && (r.status === 'pending' || r.status === 'running'));
  if (behind.length > 0)
    problems.push(
      `records: ${behind.length} step(s) before the cursor (${state.cursor}) are unfinished, the first ${behind[0]?.id} (${behind[0]?.status})`,
    );
  const ahead = state.records.filter(
    (r, i) => i > state.cursor && r.status !== 'pending' && !(firstRollback >= 0 && i < firstRollback),
  );
  if (ahead.length > 0)
    problems.push(
      `records: ${ahead.length} step(s) after the cursor (${state.cursor}) have started, the first ${ahead[0]?.id} (${ahead[0]?.status})`,
    );
  const forward = firstRollback >= 0 ? state.records.slice(0, firstRollback) : state.records;
  const rollback = firstRollback >= 0 ? state.records.slice(firstRollback) : [];
  const finished = (status: string) => status === 'done' || status === 'skipped';
  switch (state.phase) {
    case 'Promoted': {
      const open = forward.filter((r) => !finished(r.status));
      if (open.length > 0)
        problems.push(
          `phase: Promoted, but step ${open[0]?.id} is ${open[0]?.status}${open.length > 1 ? ` (and ${open.length - 1} more)` : ''}`,
        );
      if (!forward.some((r) => r.kind === 'verify' && r.status === 'done'))
        problems.push('phase: Promoted, but the promotion was not verified (its verify step is not done)');
      break;
    }
    case 'RolledBack': {
      const open = rollback.filter((r) => !finished(r.status));
      if (open.length > 0) problems.push(`phase: RolledBack, but rollback step ${open[0]?.id} is ${open[0]?.status}`);
      break;
    }
    case 'Failed':
      if (!state.records.some((r) => r.status === 'failed')) problems.push('phase: Failed, but no step failed');
      break;
    case 'Progressing':
    case 'Held':
    case 'RollingBack':
      break;
  }
  return problems;
}

/**
 * The steps the policy's plan makes for this run (forward, then rollback once it started): the
 * stored steps must be exactly these, so a stored step list can never skip or invent a step.
 */
export function expectedSteps(policy: Policy, state: RunState): Step[] {
  const waves = state.waves.map((name, index) => ({ index, name }) as PlannedWave);
  const gateways = state.gateways.map((g) => ({ upgrade: g.upgrade }) as PlannedGateway);
  const forward = buildSteps(policy, waves, gateways, state.from, gatewayApiShape(state.gatewayApi));
  const rolledBack = state.steps.some((s) => s.kind.startsWith('rollback-'));
  return rolledBack
    ? [...forward, ...rollbackSteps(policy.spec.rollback.uninstallCanary, state.to, hasGatewayApiSteps(state))]
    : forward;
}

/** Problems of the stored steps against the plan. */
export function planProblems(policy: Policy, state: RunState): string[] {
  const expected = expectedSteps(policy, state);
  const key = (s: Step) => JSON.stringify([s.id, meaningKey(s)]);
  if (expected.length !== state.steps.length)
    return [`steps: ${state.steps.length} stored, but the policy's plan has ${expected.length}`];
  const index = expected.findIndex((s, i) => key(s) !== key(state.steps[i] as Step));
  if (index >= 0) {
    const stored = state.steps[index] as Step;
    const planned = expected[index] as Step;
    return [
      stored.id === planned.id
        ? `steps[${index}]: step ${stored.id} is stored as ${describeMeaning(stored)}, but the policy's plan has ${describeMeaning(planned)}`
        : `steps[${index}]: is ${stored.id}, but the policy's plan has ${planned.id} there`,
    ];
  }
  // Each record is its plan step's (by id, and by what the step is).
  const byId = new Map(expected.map((s) => [s.id, s]));
  return state.records.flatMap((record, i) => {
    const planned = byId.get(record.id);
    if (!planned) return [`records[${i}]: step ${record.id} is not a step of the policy's plan`];
    return meaningKey(record) === meaningKey(planned)
      ? []
      : [
          `records[${i}]: step ${record.id} is recorded as ${describeMeaning(record)}, but the policy's plan has ${describeMeaning(planned)}`,
        ];
  });
}
