/**
 * `decide`: state + the observation of the last action + now -> the next state, at most one
 * action, and when to wake up. Pure. The runner performs the action through the ports, persists
 * the state, and calls `decide` again with what it observed. A crashed runner resumes by calling
 * `decide` with no observation: the in-flight step's action is emitted again (steps are idempotent).
 */
import type { Straggler } from '../mesh/convergence.ts';
import { describeStragglers } from '../mesh/convergence.ts';
import { restartKey } from '../mesh/workloads.ts';
import type { Policy } from '../policy/types.ts';
import { account, bakeVerdict, formatNumber, judgeMeasurements, type GateMeasurement } from './gates.ts';
import { rollbackSteps, type RunPlan } from './plan.ts';
import { hasGatewayApiSteps, originalOwnerNow } from './gateway-api.ts';
import type { Gates } from '../policy/types.ts';
import {
  pendingRecord,
  STATE_VERSION,
  terminalPhases,
  type ApprovalPoint,
  type ApprovalRecord,
  type GatewayApiRecord,
  type GatewayRecord,
  type HoldKind,
  type NamespaceRecord,
  type RunState,
  type Step,
  type StepKind,
  type StepRecord,
} from './state.ts';

/** Labels to set on a namespace: `null` removes a key. */
export type NamespaceLabels = { injection: string | null; rev: string | null };

/** One thing for the runner to do. */
export type Action =
  | { type: 'precheck' }
  | { type: 'install' }
  | { type: 'set-tags'; tags: { tag: string; revision: string | null }[] }
  | { type: 'request-approval'; step: string; point: ApprovalPoint; expiresAt: string; summary: string }
  /** With `gatewayApi`, the Gateways of the gateways wave (`wave` is then the wave count, no namespace wave). */
  | { type: 'measure'; wave: number; mode: 'baseline' | 'bake'; gatewayApi?: true }
  /** Sets each Gateway's own `istio.io/rev` and waits until its rendered Deployment runs `revision`. */
  | { type: 'set-gateway-labels'; gateways: GatewayLabelWrite[] }
  | { type: 'label-namespaces'; namespaces: { name: string; labels: NamespaceLabels }[] }
  | { type: 'move-gateways'; gateways: GatewayMove[] }
  /** Restarts the workloads of these namespaces not yet carrying `key`; with `only`, just those carrying `only`. */
  | {
      type: 'restart-workloads';
      namespaces: string[];
      key: string;
      only?: string;
      maxParallel: number;
      /** Workloads (`namespace/Kind/name`) never to restart (spec.workloads.unhealthy: skip). */
      leave?: string[];
    }
  | { type: 'wait-rollouts'; namespaces: string[]; key: string; timeoutMs: number }
  /** Observes which pods of these namespaces are not on `revision` (read-only). */
  | {
      type: 'verify';
      namespaces: string[];
      revision: string;
      /** Workloads left on purpose: their pods are not stragglers. */
      leave?: string[];
    }
  /** Deletes the stragglers the converge step recorded (spec.workloads.stragglers: restart). */
  | { type: 'delete-stragglers'; stragglers: Straggler[] }
  | { type: 'uninstall'; revision: string }
  | { type: 'health'; revision: string }
  /** Is the revision's istiod Ready and injecting? Nothing moves until it is. */
  | { type: 'check-revision'; revision: string };

/**
 * One gateway to move: set its template's `istio.io/rev` (`rev`; null removes it) or restart it
 * (`restart`, the idempotency key), and bring the owner label of its own objects (`relabel`) to
 * the revision it then runs, so an uninstall never selects a gateway that serves traffic.
 */
export type GatewayMove = {
  namespace: string;
  name: string;
  rev?: string | null;
  restart?: string;
  relabel?: { app: string; from: string; to: string };
};

/** One Gateway label write: `rev` null removes the key; `revision` is what its rendered Deployment must then run. */
export type GatewayLabelWrite = {
  namespace: string;
  name: string;
  deployment: string;
  rev: string | null;
  revision: string;
};

/** What the runner observed when it performed an action. */
export type Observation =
  /** `problems` stop the run before anything moves; `notes` are findings that do not. */
  | { type: 'precheck'; problems: string[]; notes?: string[] }
  | { type: 'install'; ok: boolean; message: string }
  /** Raw measurements, one per gate check: the engine judges them (judgeMeasurements). */
  | { type: 'measure'; measurements: GateMeasurement[] }
  | { type: 'wait-rollouts'; ok: boolean; pending: string[]; failed: string[]; elapsedMs: number }
  | { type: 'verify'; stragglers: Straggler[]; converged: number }
  /** `failed`: the stragglers whose delete failed, with why. */
  | { type: 'delete-stragglers'; deleted: number; failed: Straggler[] }
  | { type: 'uninstall'; ok: boolean; refused: string[]; message: string }
  | { type: 'health'; ok: boolean; message: string }
  | { type: 'check-revision'; ok: boolean; message: string }
  /** The approval request went out, or could not (`error`): the record says which. */
  | { type: 'approval-requested'; delivered: boolean; error?: string; retry?: boolean }
  /** Any other action: done, or an error (after the adapter's retries). */
  | { type: 'done'; ok: boolean; message: string };

/** What the scheduler says about time (the daemon passes windows; `run` passes nothing = always open). */
export type DecideContext = {
  now: Date;
  /** When the current maintenance window closes; undefined = no window. */
  windowClosesAt?: Date;
  /** Outside a window or inside a freeze: waves may not start. */
  windowClosed?: { reason: string };
  /**
   * The first decision of a runner invocation (`revroll run` again, or the daemon's next try): a
   * step held after spending its error budget gets a fresh one.
   */
  resumed?: boolean;
};

export type Decision = {
  state: RunState;
  action?: Action;
  /** When `decide` wants to be called again without an observation (timers, approval expiry). */
  wakeAt?: Date;
};

/** Creates the state of a new run from its plan. */
export function initialState(policy: Policy, plan: RunPlan, runId: string, now: Date): RunState {
  const namespaces: Record<string, NamespaceRecord> = {};
  for (const wave of plan.waves) {
    for (const ns of wave.namespaces) {
      const leave = ns.skipped.filter((w) => w.leave).map((w) => `${w.kind}/${w.name}`);
      namespaces[ns.name] = { wave: wave.index, ...ns.original, ...(leave.length > 0 ? { leave } : {}) };
    }
  }
  const tags = [...(plan.canaryTag ? [plan.canaryTag] : []), ...plan.promoteTags].map((t) => ({
    tag: t.tag,
    ...(t.original !== undefined ? { original: t.original } : {}),
    target: t.target,
  }));
  const at = now.toISOString();
  return {
    version: STATE_VERSION,
    policy: policy.metadata.name,
    runId,
    planHash: plan.hash,
    from: plan.from,
    to: plan.to,
    phase: 'Progressing',
    startedAt: at,
    updatedAt: at,
    cursor: 0,
    steps: plan.steps,
    records: plan.steps.map(pendingRecord),
    waves: plan.waves.map((w) => w.name),
    namespaces,
    gateways: plan.gateways.map((g) => ({
      namespace: g.namespace,
      name: g.name,
      original: g.original,
      upgrade: g.upgrade,
      mode: g.mode,
      ...(g.found ? { found: true } : {}),
      ...(g.app !== undefined ? { app: g.app } : {}),
      ...(g.objectRev !== undefined ? { objectRev: g.objectRev } : {}),
    })),
    ...(plan.gatewayApi.gateways.length > 0
      ? {
          gatewayApi: {
            order: plan.gatewayApi.order,
            ...(plan.gatewayApi.pinBefore !== undefined ? { pinBefore: plan.gatewayApi.pinBefore } : {}),
            tags: plan.gatewayApi.tags,
            ...(plan.gatewayApi.defaultRevision !== undefined
              ? { defaultRevision: plan.gatewayApi.defaultRevision }
              : {}),
            gateways: plan.gatewayApi.gateways.map((g) => ({
              namespace: g.namespace,
              name: g.name,
              deployment: g.deployment,
              waypoint: g.waypoint,
              originalRev: g.originalRev,
              ...(g.namespaceRev !== undefined ? { namespaceRev: g.namespaceRev } : {}),
              mode: g.mode,
              ...(g.wave !== undefined ? { wave: g.wave } : {}),
              pin: g.pin,
              moveTo: g.moveTo,
              unpin: g.unpin,
            })),
            ambient: plan.gatewayApi.ambient,
          },
        }
      : {}),
    tags,
    approvals: [],
  };
}

/** The gates a step is judged by: the gateways wave's own checks, or the policy's. */
export function gatesOf(policy: Policy, step: Pick<Step, 'kind'>): Gates {
  const gateway = step.kind === 'gateway-api-baseline' || step.kind === 'gateway-api-bake';
  return gateway ? { ...policy.spec.gates, checks: policy.spec.gatewayApi.gates } : policy.spec.gates;
}

/** The gate-progress index of the gateways wave: past the namespace waves. */
export function gatewayWaveIndex(state: Pick<RunState, 'waves'>): number {
  return state.waves.length;
}

const MAX_RECENT_EVALUATIONS = 5;
/** A failed approval request is sent again after this long. */
const NOTIFY_RETRY_MS = 5 * 60_000;
const HOLD_RECHECK_MS = 60_000;

/** The next state and action. See the module comment. */
export function decide(
  policy: Policy,
  previous: RunState,
  observation: Observation | undefined,
  context: DecideContext,
): Decision {
  const state: RunState = structuredClone(previous);
  const now = context.now;
  state.updatedAt = now.toISOString();
  if (terminalPhases.has(state.phase)) return { state };

  if (state.abortRequested && state.phase !== 'RollingBack') {
    startRollback(policy, state, `aborted by ${state.abortRequested.by}`, now);
    observation = undefined;
  }

  if (observation) {
    const step = state.steps[state.cursor];
    if (step) complete(policy, state, step, observation, context);
  }
  // Enter steps until one needs an action or a wait. Each pass advances the cursor or returns.
  for (let guard = 0; guard < state.steps.length + 32; guard++) {
    if (terminalPhases.has(state.phase)) return { state };
    const step = state.steps[state.cursor];
    if (!step) {
      // Only a run whose every step finished ends here; anything else is a state nobody may act on.
      const open = state.records.find((r) => r.status === 'pending' || r.status === 'running');
      if (open) throw new Error(`the run's cursor is past its steps while ${open.id} is ${open.status}`);
      finish(state, now);
      return { state };
    }
    const gated = retryGate(policy, state, step, context);
    if (gated) return gated;
    const outcome = enter(policy, state, step, context);
    if (outcome === 'advanced') continue;
    return outcome;
  }
  throw new Error(`decide did not settle at step ${state.steps[state.cursor]?.id ?? '(end)'}`);
}

type Entered = 'advanced' | Decision;

/** Marks the step's record failed, with why and when. */
function markFailed(entry: StepRecord, message: string, now: Date): void {
  entry.status = 'failed';
  entry.finishedAt = now.toISOString();
  entry.note = message;
}

function record(state: RunState, step: Step): StepRecord {
  let entry = state.records[state.cursor];
  if (!entry || entry.id !== step.id) {
    entry = pendingRecord(step);
    state.records[state.cursor] = entry;
  }
  return entry;
}

function begin(state: RunState, step: Step, now: Date): StepRecord {
  const entry = record(state, step);
  if (entry.status === 'pending') {
    entry.status = 'running';
    entry.startedAt = now.toISOString();
  }
  return entry;
}

function advance(
  state: RunState,
  step: Step,
  now: Date,
  note?: string,
  status: StepRecord['status'] = 'done',
): 'advanced' {
  const entry = record(state, step);
  entry.status = status;
  entry.finishedAt = now.toISOString();
  if (note !== undefined) entry.note = note;
  if (state.phase === 'Held') state.phase = 'Progressing';
  delete state.hold;
  delete state.retry;
  state.cursor += 1;
  return 'advanced';
}

function hold(state: RunState, kind: HoldKind, reason: string, now: Date, wakeAt?: Date, action?: Action): Decision {
  if (state.phase !== 'RollingBack') state.phase = 'Held';
  if (!state.hold || state.hold.kind !== kind || state.hold.reason !== reason)
    state.hold = { kind, reason, since: now.toISOString() };
  return { state, ...(wakeAt ? { wakeAt } : {}), ...(action ? { action } : {}) };
}

function act(state: RunState, step: Step, action: Action, now: Date): Decision {
  begin(state, step, now);
  return { state, action };
}

function movedNamespaces(state: RunState): string[] {
  return Object.entries(state.namespaces)
    .filter(([, ns]) => ns.moved)
    .map(([name]) => name)
    .sort();
}

function waveNamespaces(state: RunState, wave: number): string[] {
  return Object.entries(state.namespaces)
    .filter(([, ns]) => ns.wave === wave)
    .map(([name]) => name)
    .sort();
}

/** A gateways step moves the gateways of its moment (the step says which). */
function gatewaysFor(state: RunState, step: Step) {
  return state.gateways.filter((g) => g.upgrade === step.gateways);
}

/** The workloads of these namespaces the run leaves alone, as `namespace/Kind/name`. */
function leaveOf(state: RunState, names: readonly string[]): { leave?: string[] } {
  const leave = names.flatMap((name) => (state.namespaces[name]?.leave ?? []).map((w) => `${name}/${w}`));
  return leave.length > 0 ? { leave } : {};
}

function forwardMove(state: RunState, g: GatewayRecord): GatewayMove {
  if (g.mode === 'restart') return { namespace: g.namespace, name: g.name, restart: restartKey(state.to, state.runId) };
  return {
    namespace: g.namespace,
    name: g.name,
    rev: state.to,
    ...(g.app !== undefined && g.objectRev !== undefined
      ? { relabel: { app: g.app, from: g.objectRev, to: state.to } }
      : {}),
  };
}

/** Tags whose namespaces follow them: does the namespace's original form follow a tag revroll moved? */
function followsMovedTag(state: RunState, ns: NamespaceRecord): boolean {
  const moved = new Set(
    state.tags.filter((t) => t.moved && t.target === state.to && !isCanary(state, t.tag)).map((t) => t.tag),
  );
  if (ns.injection === 'enabled') return moved.has('default');
  if (ns.injection === undefined && ns.rev !== undefined) return moved.has(ns.rev);
  return false;
}

function isCanary(state: RunState, tag: string): boolean {
  return state.steps.some((s) => s.kind === 'canary-tag') && state.tags[0]?.tag === tag;
}

function approvalTimeout(policy: Policy, step: Step): { timeout: number; onTimeout: 'reject' | 'rollback' | 'hold' } {
  const spec = policy.spec;
  if (step.point === 'wave' && step.wave !== undefined) {
    const approval = spec.waves[step.wave]?.approval;
    if (approval) return { timeout: approval.timeout, onTimeout: approval.onTimeout };
  }
  if (step.point === 'promote')
    return { timeout: spec.promote.approval.timeout, onTimeout: spec.promote.approval.onTimeout };
  return { timeout: spec.approvals.timeout, onTimeout: spec.approvals.onTimeout };
}

/** Handles a pending approval for `step` (forward approvals and inconclusive bakes). */
function approvalGate(
  policy: Policy,
  state: RunState,
  step: Step,
  point: ApprovalPoint,
  summary: string,
  now: Date,
): 'approved' | Decision {
  const { timeout, onTimeout } = approvalTimeout(policy, step);
  // Why the run waits: an inconclusive bake says why it asks (a Prometheus outage, missing data),
  // and a request that could not be sent says so and how to decide meanwhile.
  const waiting = (approval: ApprovalRecord) =>
    `${point === 'inconclusive' ? `${summary}; ` : ''}waiting for approval of ${step.id} until ${approval.expiresAt}${
      approval.notifyError
        ? ` (the request could not be sent: ${approval.notifyError}; decide with revroll approve|reject)`
        : ''
    }`;
  const request = (reminder: boolean): Decision => {
    const approval: ApprovalRecord = {
      step: step.id,
      point,
      requestedAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + timeout).toISOString(),
    };
    state.approvals.push(approval);
    begin(state, step, now);
    return hold(state, 'approval', waiting(approval), now, new Date(approval.expiresAt), {
      type: 'request-approval',
      step: step.id,
      point,
      expiresAt: approval.expiresAt,
      summary: reminder ? `reminder: ${summary}` : summary,
    });
  };
  const approval = state.approvals.findLast((a) => a.step === step.id && a.point === point);
  if (!approval) return request(false);
  if (approval.decision === 'approved') return 'approved';
  // Not sent yet (a crash between saving the request and sending it), or a failed send whose
  // retry time has come: send it (again). A send that cannot succeed is not retried.
  const unsent =
    !approval.notified &&
    (approval.notifyError === undefined ||
      (approval.notifyRetryAt !== undefined && now.getTime() >= Date.parse(approval.notifyRetryAt)));
  if (approval.decision === undefined && unsent && now.getTime() < Date.parse(approval.expiresAt)) {
    begin(state, step, now);
    return hold(state, 'approval', waiting(approval), now, new Date(approval.expiresAt), {
      type: 'request-approval',
      step: step.id,
      point,
      expiresAt: approval.expiresAt,
      summary,
    });
  }
  if (approval.decision === 'rejected') {
    startRollback(
      policy,
      state,
      `${step.id} rejected by ${approval.by ?? 'someone'}${approval.via ? ` (${approval.via})` : ''}`,
      now,
    );
    return { state };
  }
  if (approval.decision === 'expired' || now.getTime() >= Date.parse(approval.expiresAt)) {
    approval.decision = 'expired';
    approval.decidedAt ??= now.toISOString();
    if (onTimeout === 'hold' || (onTimeout === 'reject' && !policy.spec.rollback.automatic)) return request(true);
    startRollback(policy, state, `approval for ${step.id} expired (${onTimeout})`, now);
    return { state };
  }
  const retryAt = approval.notifyRetryAt ? new Date(approval.notifyRetryAt) : undefined;
  return hold(state, 'approval', waiting(approval), now, earliest(new Date(approval.expiresAt), retryAt));
}

/** Step kinds before the first wave. */
type SetupKind = 'precheck' | 'install' | 'canary-tag' | 'approval' | 'baseline' | 'canary-health';
/** Step kinds of a wave. */
type WaveKind = 'migrate' | 'gateways' | 'restart' | 'rollout' | 'converge' | 'delete-stragglers' | 'warmup' | 'bake';
/** Step kinds of Gateway API Gateways and waypoints (forward and rollback). */
type GatewayApiKind =
  | 'pin-gateways'
  | 'gateway-api-baseline'
  | 'gateway-api-move'
  | 'gateway-api-warmup'
  | 'gateway-api-bake'
  | 'unpin-gateways'
  | 'rollback-gateway-api'
  | 'rollback-unpin-gateways';
/** Step kinds of the promotion. */
type PromoteKind = 'promote-tags' | 'restore-labels' | 'verify' | 'uninstall';
/** Step kinds of the rollback. */
type RollbackKind = Exclude<StepKind, SetupKind | WaveKind | PromoteKind | GatewayApiKind>;

function enter(policy: Policy, state: RunState, step: Step, context: DecideContext): Entered {
  const now = context.now;
  const spec = policy.spec;
  switch (step.kind) {
    case 'precheck':
      return act(state, step, { type: 'precheck' }, now);
    case 'install':
      return act(state, step, { type: 'install' }, now);
    case 'canary-tag': {
      const tag = state.tags[0];
      if (!tag) return advance(state, step, now, 'no canary tag');
      tag.moved = true;
      return act(state, step, { type: 'set-tags', tags: [{ tag: tag.tag, revision: state.to }] }, now);
    }
    case 'approval': {
      const point = step.point ?? 'wave';
      const summary =
        point === 'promote'
          ? `promote ${state.to}: move ${state.tags
              .filter((t) => !isCanary(state, t.tag))
              .map((t) => t.tag)
              .join(', ')}`
          : `continue ${state.policy}: ${state.from} -> ${state.to}`;
      const result = approvalGate(policy, state, step, point, summary, now);
      return result === 'approved' ? advance(state, step, now, 'approved') : result;
    }
    case 'baseline': {
      if (spec.gates.checks.length === 0) return advance(state, step, now, 'no gates', 'skipped');
      const blocked = windowBlocks(policy, state, step, context);
      if (blocked) return blocked;
      return act(state, step, { type: 'measure', wave: step.wave ?? 0, mode: 'baseline' }, now);
    }
    case 'canary-health':
      return act(state, step, { type: 'check-revision', revision: state.to }, now);
    default:
      return enterWave(policy, state, step, step.kind, context);
  }
}

/** Entering a step of a wave: move, restart, wait, converge, bake. */
function enterWave(
  policy: Policy,
  state: RunState,
  step: Step,
  kind: Exclude<StepKind, SetupKind>,
  context: DecideContext,
): Entered {
  const now = context.now;
  const spec = policy.spec;
  switch (kind) {
    case 'migrate': {
      const wave = step.wave ?? 0;
      const names = waveNamespaces(state, wave);
      if (names.length === 0) return advance(state, step, now, 'no namespace in this wave', 'skipped');
      if (spec.gates.checks.length === 0) {
        const blocked = windowBlocks(policy, state, step, context);
        if (blocked) return blocked;
      }
      // Recorded before the API call: a crash after the patch can never lose what to restore.
      for (const name of names) (state.namespaces[name] as NamespaceRecord).moved = true;
      const target = spec.strategy.type === 'tags' ? (spec.strategy.canaryTag ?? state.to) : state.to;
      return act(
        state,
        step,
        {
          type: 'label-namespaces',
          namespaces: names.map((name) => ({ name, labels: { injection: null, rev: target } })),
        },
        now,
      );
    }
    case 'gateways': {
      const gateways = gatewaysFor(state, step);
      if (gateways.length === 0) return advance(state, step, now, 'no gateway', 'skipped');
      for (const g of gateways) g.moved = true;
      return act(
        state,
        step,
        {
          type: 'move-gateways',
          gateways: gateways.map((g) => forwardMove(state, g)),
        },
        now,
      );
    }
    case 'restart': {
      const names = waveNamespaces(state, step.wave ?? 0);
      if (names.length === 0) return advance(state, step, now, 'no namespace in this wave', 'skipped');
      const maxParallel = spec.waves[step.wave ?? 0]?.maxParallelRestarts ?? 5;
      return act(
        state,
        step,
        {
          type: 'restart-workloads',
          namespaces: names,
          key: restartKey(state.to, state.runId),
          maxParallel,
          ...leaveOf(state, names),
        },
        now,
      );
    }
    case 'rollout': {
      const names = waveNamespaces(state, step.wave ?? 0);
      if (names.length === 0) return advance(state, step, now, 'no namespace in this wave', 'skipped');
      return act(
        state,
        step,
        {
          type: 'wait-rollouts',
          namespaces: names,
          key: restartKey(state.to, state.runId),
          timeoutMs: spec.workloads.rolloutTimeout,
        },
        now,
      );
    }
    case 'converge': {
      const names = waveNamespaces(state, step.wave ?? 0);
      if (names.length === 0) return advance(state, step, now, 'no namespace in this wave', 'skipped');
      return act(
        state,
        step,
        {
          type: 'verify',
          namespaces: names,
          revision: state.to,
          ...leaveOf(state, names),
        },
        now,
      );
    }
    case 'delete-stragglers':
      return enterDeleteStragglers(state, step, now);
    case 'warmup': {
      begin(state, step, now);
      if (!state.warmupUntil) state.warmupUntil = new Date(now.getTime() + spec.gates.warmup).toISOString();
      if (now.getTime() >= Date.parse(state.warmupUntil)) {
        delete state.warmupUntil;
        return advance(state, step, now);
      }
      return { state, wakeAt: new Date(state.warmupUntil) };
    }
    case 'bake':
      return enterBake(policy, state, step, context);
    case 'pin-gateways':
    case 'gateway-api-baseline':
    case 'gateway-api-move':
    case 'gateway-api-warmup':
    case 'gateway-api-bake':
    case 'unpin-gateways':
    case 'rollback-gateway-api':
    case 'rollback-unpin-gateways':
      return enterGatewayApi(policy, state, step, kind, context);
    default:
      return enterPromote(policy, state, step, kind, context);
  }
}

/** Entering a Gateway API step: pin, move, gates of the gateways wave, unpin, and their rollback. */
function enterGatewayApi(
  policy: Policy,
  state: RunState,
  step: Step,
  kind: GatewayApiKind,
  context: DecideContext,
): Entered {
  const now = context.now;
  const all = (state.gatewayApi?.gateways ?? []).filter((g) => g.mode === 'pinned');
  const write = (g: GatewayApiRecord, rev: string | null, revision: string): GatewayLabelWrite => ({
    namespace: g.namespace,
    name: g.name,
    deployment: g.deployment,
    rev,
    revision,
  });
  const labels = (gateways: GatewayLabelWrite[], none: string): Entered =>
    gateways.length === 0
      ? advance(state, step, now, none, 'skipped')
      : act(state, step, { type: 'set-gateway-labels', gateways }, now);
  switch (kind) {
    case 'pin-gateways': {
      const pins = all.filter((g) => g.pin);
      // Recorded before the API call: a crash after the patch can never lose that a pin must come off.
      for (const g of pins) g.pinned = true;
      return labels(
        pins.map((g) => write(g, state.from, state.from)),
        'no Gateway to pin',
      );
    }
    case 'gateway-api-move': {
      const moving = all.filter((g) => g.wave === step.wave);
      const first = step.wave === undefined && policy.spec.gatewayApi.gates.length === 0;
      const blocked = first && moving.length > 0 ? windowBlocks(policy, state, step, context) : undefined;
      if (blocked) return blocked;
      for (const g of moving) g.moved = true;
      return labels(
        moving.map((g) => write(g, g.moveTo, state.to)),
        'no Gateway to move',
      );
    }
    case 'gateway-api-baseline': {
      if (policy.spec.gatewayApi.gates.length === 0) return advance(state, step, now, 'no gates', 'skipped');
      const blocked = windowBlocks(policy, state, step, context);
      if (blocked) return blocked;
      return act(
        state,
        step,
        { type: 'measure', wave: gatewayWaveIndex(state), mode: 'baseline', gatewayApi: true },
        now,
      );
    }
    case 'gateway-api-warmup': {
      begin(state, step, now);
      if (!state.warmupUntil) state.warmupUntil = new Date(now.getTime() + policy.spec.gatewayApi.warmup).toISOString();
      if (now.getTime() >= Date.parse(state.warmupUntil)) {
        delete state.warmupUntil;
        return advance(state, step, now);
      }
      return { state, wakeAt: new Date(state.warmupUntil) };
    }
    case 'gateway-api-bake':
      return enterBake(policy, state, step, context);
    case 'unpin-gateways': {
      // Only those that resolve to the new revision without the pin; the rest keep it (the plan warned).
      const ready = all.filter((g) => g.moved && g.unpin && originalOwnerNow(state, g) === state.to);
      return labels(
        ready.map((g) => write(g, g.originalRev, state.to)),
        'no pin to remove',
      );
    }
    case 'rollback-gateway-api': {
      // First (invariant 3): back to the old revision, by their original labels where these
      // resolve to it now, else held there by their own label until the tags and labels are back.
      const touched = all.filter((g) => g.pinned || g.moved);
      const writes = touched.map((g) => {
        const restore = originalOwnerNow(state, g) === state.from;
        if (!restore) g.held = true;
        return write(g, restore ? g.originalRev : state.from, state.from);
      });
      return labels(writes, 'no Gateway moved or pinned');
    }
    case 'rollback-unpin-gateways': {
      const held = all.filter((g) => g.held);
      return labels(
        held.map((g) => write(g, g.originalRev, state.from)),
        'no Gateway held on the old revision',
      );
    }
  }
}

/** Entering a promotion step: tags, labels, verify, uninstall. */
function enterPromote(
  policy: Policy,
  state: RunState,
  step: Step,
  kind: Exclude<StepKind, SetupKind | WaveKind | GatewayApiKind>,
  context: DecideContext,
): Entered {
  const now = context.now;
  switch (kind) {
    case 'promote-tags': {
      const tags = state.tags.filter((t) => !isCanary(state, t.tag));
      if (tags.length === 0) return advance(state, step, now, 'no tag to move', 'skipped');
      for (const t of tags) t.moved = true;
      return act(state, step, { type: 'set-tags', tags: tags.map((t) => ({ tag: t.tag, revision: state.to })) }, now);
    }
    case 'restore-labels': {
      const restore = movedNamespaces(state).filter((name) =>
        followsMovedTag(state, state.namespaces[name] as NamespaceRecord),
      );
      if (restore.length === 0) return advance(state, step, now, 'no namespace follows a moved tag', 'skipped');
      return act(
        state,
        step,
        {
          type: 'label-namespaces',
          namespaces: restore.map((name) => ({
            name,
            labels: originalLabels(state.namespaces[name] as NamespaceRecord),
          })),
        },
        now,
      );
    }
    case 'verify': {
      const names = movedNamespaces(state);
      if (names.length === 0) return advance(state, step, now, 'nothing moved', 'skipped');
      return act(state, step, { type: 'verify', namespaces: names, revision: state.to, ...leaveOf(state, names) }, now);
    }
    case 'uninstall':
      return act(state, step, { type: 'uninstall', revision: step.revision ?? state.from }, now);
    default:
      return enterRollback(policy, state, step, kind, context);
  }
}

/** Entering a rollback step, in the order of safety invariant 3. */
function enterRollback(
  policy: Policy,
  state: RunState,
  step: Step,
  kind: RollbackKind,
  context: DecideContext,
): Entered {
  const now = context.now;
  const spec = policy.spec;
  switch (kind) {
    case 'rollback-gateways': {
      // Gateways moved by their template go back first (invariant 3); those that follow a tag can
      // only go back with it (rollback-gateway-restarts).
      const moved = state.gateways.filter((g) => g.moved && g.mode === 'relabel');
      if (moved.length === 0) return advance(state, step, now, 'no gateway moved', 'skipped');
      const gateways = moved.map((g): GatewayMove => {
        const relabel = g.app !== undefined && g.objectRev !== undefined;
        return {
          namespace: g.namespace,
          name: g.name,
          rev: g.original,
          ...(relabel ? { relabel: { app: g.app as string, from: state.to, to: g.objectRev as string } } : {}),
        };
      });
      return act(state, step, { type: 'move-gateways', gateways }, now);
    }
    case 'rollback-gateway-restarts': {
      const moved = state.gateways.filter((g) => g.moved && g.mode === 'restart');
      if (moved.length === 0) return advance(state, step, now, 'no gateway follows a moved tag', 'skipped');
      const key = restartKey(`${state.from}-rollback`, state.runId);
      const gateways = moved.map((g): GatewayMove => ({ namespace: g.namespace, name: g.name, restart: key }));
      return act(state, step, { type: 'move-gateways', gateways }, now);
    }
    case 'rollback-labels': {
      const names = movedNamespaces(state);
      if (names.length === 0) return advance(state, step, now, 'no namespace moved', 'skipped');
      const namespaces = names.map((name) => {
        const ns = state.namespaces[name] as NamespaceRecord;
        // While a tag it follows still points at the new revision, pin it to the old one so the
        // restart lands there; its original label comes back after the tags move back.
        if (followsMovedTag(state, ns)) {
          ns.pinned = true;
          return { name, labels: { injection: null, rev: state.from } };
        }
        return { name, labels: originalLabels(ns) };
      });
      return act(state, step, { type: 'label-namespaces', namespaces }, now);
    }
    case 'rollback-restart': {
      const names = movedNamespaces(state);
      if (names.length === 0) return advance(state, step, now, 'no namespace moved', 'skipped');
      return act(
        state,
        step,
        {
          type: 'restart-workloads',
          namespaces: names,
          key: restartKey(`${state.from}-rollback`, state.runId),
          only: restartKey(state.to, state.runId),
          maxParallel: maxRollbackParallel(policy),
        },
        now,
      );
    }
    case 'rollback-rollout': {
      const names = movedNamespaces(state);
      if (names.length === 0) return advance(state, step, now, 'no namespace moved', 'skipped');
      return act(
        state,
        step,
        {
          type: 'wait-rollouts',
          namespaces: names,
          key: restartKey(`${state.from}-rollback`, state.runId),
          timeoutMs: spec.workloads.rolloutTimeout,
        },
        now,
      );
    }
    case 'rollback-tags': {
      const moved = state.tags.filter((t) => t.moved);
      if (moved.length === 0) return advance(state, step, now, 'no tag moved', 'skipped');
      return act(
        state,
        step,
        { type: 'set-tags', tags: moved.map((t) => ({ tag: t.tag, revision: t.original ?? null })) },
        now,
      );
    }
    case 'rollback-restore-labels': {
      const pinned = Object.entries(state.namespaces).filter(([, ns]) => ns.pinned);
      if (pinned.length === 0) return advance(state, step, now, 'no namespace pinned', 'skipped');
      return act(
        state,
        step,
        { type: 'label-namespaces', namespaces: pinned.map(([name, ns]) => ({ name, labels: originalLabels(ns) })) },
        now,
      );
    }
    case 'rollback-verify': {
      const names = movedNamespaces(state);
      if (names.length === 0) return advance(state, step, now, 'no namespace moved', 'skipped');
      return act(state, step, { type: 'verify', namespaces: names, revision: state.from }, now);
    }
    case 'rollback-uninstall':
      return act(state, step, { type: 'uninstall', revision: step.revision ?? state.to }, now);
    case 'rollback-health':
      return act(state, step, { type: 'health', revision: state.from }, now);
    default: {
      const unknown: never = kind;
      throw new Error(`decide has no step kind ${String(unknown)}`);
    }
  }
}

function maxRollbackParallel(policy: Policy): number {
  return Math.max(...policy.spec.waves.map((w) => w.maxParallelRestarts));
}

function originalLabels(ns: NamespaceRecord): NamespaceLabels {
  return { injection: ns.injection ?? null, rev: ns.rev ?? null };
}

/** A wave starts only when its window is open and the wave fits before it closes (DESIGN section 6). */
function windowBlocks(policy: Policy, state: RunState, step: Step, context: DecideContext): Decision | undefined {
  const now = context.now;
  // The gateways wave is a wave too: it starts only when it fits the window.
  const gatewayWave = step.kind.startsWith('gateway-api-');
  const name = gatewayWave ? 'the gateways wave' : `wave ${state.waves[step.wave ?? 0]}`;
  if (context.windowClosed) return hold(state, 'window', `${name} waits: ${context.windowClosed.reason}`, now);
  if (context.windowClosesAt) {
    const needed = gatewayWave
      ? rolloutEstimateMs(policy, state) + policy.spec.gatewayApi.warmup + policy.spec.gatewayApi.bake
      : estimateWaveMs(policy, state, step.wave ?? 0);
    if (now.getTime() + needed > context.windowClosesAt.getTime()) {
      return hold(
        state,
        'window',
        `${name} needs about ${Math.ceil(needed / 60_000)} min but the window closes at ${context.windowClosesAt.toISOString()}`,
        now,
      );
    }
  }
  if (state.hold?.kind === 'window') {
    delete state.hold;
    state.phase = 'Progressing';
  }
  return undefined;
}

/** Migration + warm-up + bake; migration estimated from the last wave's rollouts, else a quarter of the rollout timeout. */
export function estimateWaveMs(policy: Policy, state: RunState, wave: number): number {
  const spec = policy.spec;
  return rolloutEstimateMs(policy, state) + spec.gates.warmup + (spec.waves[wave]?.bake ?? 0);
}

/** How long a wave's rollouts take: the last wave's, else a quarter of the rollout timeout. */
function rolloutEstimateMs(policy: Policy, state: RunState): number {
  const lastRollout = [...state.records]
    .reverse()
    .find((r) => r.kind === 'rollout' && r.status === 'done' && r.startedAt && r.finishedAt);
  return lastRollout
    ? Date.parse(lastRollout.finishedAt as string) - Date.parse(lastRollout.startedAt as string)
    : policy.spec.workloads.rolloutTimeout / 4;
}

function enterBake(policy: Policy, state: RunState, step: Step, context: DecideContext): Entered {
  const now = context.now;
  const gates = gatesOf(policy, step);
  const gatewayWave = step.kind === 'gateway-api-bake';
  const wave = gatewayWave ? gatewayWaveIndex(state) : (step.wave ?? 0);
  const bakeMs = gatewayWave ? policy.spec.gatewayApi.bake : (policy.spec.waves[wave]?.bake ?? 0);
  begin(state, step, now);
  if (!state.bakeUntil) state.bakeUntil = new Date(now.getTime() + bakeMs).toISOString();
  if (!state.gates || state.gates.wave !== wave) {
    state.gates = {
      wave,
      baseline: state.gates?.wave === wave ? state.gates.baseline : {},
      failures: {},
      consecutiveErrors: {},
      recent: [],
      evaluations: 0,
    };
  }
  const bakeUntil = Date.parse(state.bakeUntil);
  if (gates.checks.length === 0) {
    if (now.getTime() >= bakeUntil) return finishBake(state, step, now);
    return { state, wakeAt: new Date(bakeUntil) };
  }
  const due = !state.nextGateAt || now.getTime() >= Date.parse(state.nextGateAt);
  if (due)
    return { state, action: { type: 'measure', wave, mode: 'bake', ...(gatewayWave ? { gatewayApi: true } : {}) } };
  if (now.getTime() >= bakeUntil && state.gates.evaluations > 0) return judgeBake(policy, state, step, now);
  const next = Math.min(Date.parse(state.nextGateAt as string), Math.max(bakeUntil, now.getTime()));
  return { state, wakeAt: new Date(next) };
}

function finishBake(state: RunState, step: Step, now: Date): 'advanced' {
  delete state.bakeUntil;
  delete state.nextGateAt;
  return advance(state, step, now);
}

function judgeBake(policy: Policy, state: RunState, step: Step, now: Date): Entered {
  const gates = gatesOf(policy, step);
  const last = state.gates?.recent.at(-1)?.results ?? [];
  const verdict = bakeVerdict(gates, last);
  if (verdict.pass) {
    // A human may have overridden an inconclusive bake; either way the wave passes.
    const note = `${state.gates?.evaluations ?? 0} evaluation(s), all enforced gates pass`;
    finishBake(state, step, now);
    return advanceNote(state, note);
  }
  if (policy.spec.approvals.onInconclusive) {
    const result = approvalGate(
      policy,
      state,
      step,
      'inconclusive',
      `gates inconclusive for ${step.kind === 'gateway-api-bake' ? 'the gateways wave' : `wave ${state.waves[step.wave ?? 0]}`}: ${verdict.reason}`,
      now,
    );
    if (result === 'approved') {
      finishBake(state, step, now);
      return advanceNote(state, `inconclusive gates approved: ${verdict.reason}`);
    }
    if (result.state.phase === 'RollingBack') return result;
    // Keep evaluating while held: data may come back and decide on its own.
    return { ...result, wakeAt: earliest(result.wakeAt, state.nextGateAt ? new Date(state.nextGateAt) : undefined) };
  }
  return hold(
    state,
    'gates',
    `gates undecided at the end of the bake: ${verdict.reason}`,
    now,
    state.nextGateAt ? new Date(state.nextGateAt) : new Date(now.getTime() + HOLD_RECHECK_MS),
  );
}

function advanceNote(state: RunState, note: string): 'advanced' {
  const entry = state.records[state.cursor - 1];
  if (entry) entry.note = note;
  return 'advanced';
}

function earliest(a: Date | undefined, b: Date | undefined): Date | undefined {
  if (!a) return b;
  if (!b) return a;
  return a.getTime() <= b.getTime() ? a : b;
}

const MAX_BACKOFF_MS = 5 * 60_000;
/** When the daemon tries a run held on a spent error budget again (with a fresh budget). */
const BUDGET_HOLD_RECHECK_MS = 5 * 60_000;

/**
 * A failed attempt of the current step (safety invariant 6): it is tried again after a back-off
 * that doubles, until `spec.errorBudget.attempts` attempts failed in a row; then the run holds,
 * naming the step and the last error, until the next invocation. With `final`, the failure waits
 * for a human (abort, or run again) without retries.
 */
function failAttempt(policy: Policy, state: RunState, step: Step, message: string, now: Date, final = false): void {
  const budget = policy.spec.errorBudget;
  const attempts = final ? budget.attempts : (state.retry?.step === step.id ? state.retry.attempts : 0) + 1;
  const delay = Math.min(budget.backoff * 2 ** (attempts - 1), MAX_BACKOFF_MS);
  state.retry = { step: step.id, attempts, lastError: message, nextAt: new Date(now.getTime() + delay).toISOString() };
  if (attempts < budget.attempts) return;
  const reason = final
    ? `${step.id}: ${message}`
    : `${step.id} failed ${attempts} time(s) in a row (spec.errorBudget.attempts); last error: ${message}`;
  hold(state, 'error', `${reason}; run revroll again to retry from this step`, now);
}

/** Keeps a failing step from being tried again before its back-off, or at all once its budget is spent. */
function retryGate(policy: Policy, state: RunState, step: Step, context: DecideContext): Decision | undefined {
  const retry = state.retry;
  if (!retry) return undefined;
  if (retry.step !== step.id) {
    delete state.retry;
    return undefined;
  }
  if (retry.attempts >= policy.spec.errorBudget.attempts) {
    if (!context.resumed) return { state, wakeAt: new Date(context.now.getTime() + BUDGET_HOLD_RECHECK_MS) };
    delete state.retry;
    if (state.hold?.kind === 'error') {
      delete state.hold;
      if (state.phase === 'Held') state.phase = 'Progressing';
    }
    return undefined;
  }
  const nextAt = Date.parse(retry.nextAt);
  if (context.now.getTime() < nextAt) return { state, wakeAt: new Date(nextAt) };
  return undefined;
}

/** Deletes the stragglers the converge step of this wave recorded; nothing recorded, nothing to do. */
function enterDeleteStragglers(state: RunState, step: Step, now: Date): Entered {
  const recorded = state.stragglers;
  if (!recorded || recorded.wave !== (step.wave ?? 0) || recorded.pods.length === 0) {
    delete state.stragglers;
    return advance(state, step, now, 'no straggler to delete', 'skipped');
  }
  return act(state, step, { type: 'delete-stragglers', stragglers: recorded.pods }, now);
}

/** Every straggler deleted: the wave goes on (their controllers recreate them on the revision). A failed delete fails the wave as a straggler would. */
function completeDeleteStragglers(
  policy: Policy,
  state: RunState,
  step: Step,
  observation: Extract<Observation, { type: 'delete-stragglers' }>,
  now: Date,
  fail: (message: string) => void,
): void {
  delete state.stragglers;
  const left = observation.failed;
  if (left.length === 0) {
    advance(state, step, now, `deleted ${observation.deleted} straggler(s)`);
    return;
  }
  const message = `${left.length} pod(s) not on ${state.to}: ${describeStragglers(left)}`;
  fail(message);
  if (policy.spec.rollback.automatic) startRollback(policy, state, message, now);
  else
    failAttempt(policy, state, step, `${message}; automatic rollback is off: abort, or fix and run again`, now, true);
}

/** Applies the observation of the current step's action. */
function complete(policy: Policy, state: RunState, step: Step, observation: Observation, context: DecideContext): void {
  const now = context.now;
  const spec = policy.spec;
  const entry = record(state, step);
  const fail = (message: string) => markFailed(entry, message, now);
  switch (observation.type) {
    case 'precheck':
      if (observation.problems.length > 0) {
        fail(observation.problems.join('; '));
        state.phase = 'Failed';
        state.outcome = `precheck failed, nothing was changed: ${observation.problems.join('; ')}`;
      } else {
        const notes = observation.notes ?? [];
        advance(state, step, now, `cluster ready for the upgrade${notes.length > 0 ? `; ${notes.join('; ')}` : ''}`);
      }
      return;
    case 'install':
      if (!observation.ok) {
        fail(observation.message);
        state.phase = 'Failed';
        state.outcome = `installing ${state.to} failed before any namespace moved: ${observation.message}`;
      } else {
        advance(state, step, now, observation.message);
      }
      return;
    case 'approval-requested': {
      const pending = state.approvals.findLast((a) => a.step === step.id);
      if (pending) {
        pending.notified = observation.delivered;
        delete pending.notifyError;
        delete pending.notifyRetryAt;
        if (!observation.delivered) {
          pending.notifyError = observation.error ?? 'not delivered';
          if (observation.retry) pending.notifyRetryAt = new Date(now.getTime() + NOTIFY_RETRY_MS).toISOString();
        }
      }
      return;
    }
    case 'measure': {
      const gates = gatesOf(policy, step);
      const isBaseline = step.kind === 'baseline' || step.kind === 'gateway-api-baseline';
      const gateWave = step.kind.startsWith('gateway-api-') ? gatewayWaveIndex(state) : (step.wave ?? 0);
      const results = judgeMeasurements(
        gates.checks,
        isBaseline ? 'baseline' : 'bake',
        observation.measurements,
        state.gates?.baseline ?? {},
      );
      const gp =
        state.gates && state.gates.wave === gateWave
          ? state.gates
          : { wave: gateWave, baseline: {}, failures: {}, consecutiveErrors: {}, recent: [], evaluations: 0 };
      state.gates = gp;
      if (isBaseline) {
        for (const result of results) gp.baseline[result.check] = result.value ?? null;
        advance(
          state,
          step,
          now,
          results
            .map((r) => `${r.check}=${r.value === undefined || r.value === null ? 'none' : formatNumber(r.value)}`)
            .join(', '),
        );
        return;
      }
      gp.evaluations += 1;
      gp.recent.push({ at: now.toISOString(), results });
      if (gp.recent.length > MAX_RECENT_EVALUATIONS) gp.recent.splice(0, gp.recent.length - MAX_RECENT_EVALUATIONS);
      state.nextGateAt = new Date(now.getTime() + spec.gates.interval).toISOString();
      const { counters, decision } = account(gates, gp, results);
      gp.failures = counters.failures;
      gp.consecutiveErrors = counters.consecutiveErrors;
      if (decision.kind === 'fail') {
        fail(decision.reason);
        if (spec.rollback.automatic) startRollback(policy, state, decision.reason, now);
        else hold(state, 'gates', `${decision.reason}; automatic rollback is off: abort or approve`, now);
      } else if (decision.kind === 'error') {
        if (spec.gates.onError === 'rollback') {
          fail(decision.reason);
          startRollback(policy, state, decision.reason, now);
        } else {
          hold(state, 'error', decision.reason, now);
        }
      } else if (state.hold?.kind === 'error') {
        delete state.hold;
        state.phase = 'Progressing';
      }
      return;
    }
    default:
      completeMovement(policy, state, step, observation, context);
  }
}

/** Applies the observation of a step that moved or checked workloads, revisions or tags. */
function completeMovement(
  policy: Policy,
  state: RunState,
  step: Step,
  observation: Exclude<Observation, { type: 'precheck' | 'install' | 'approval-requested' | 'measure' }>,
  context: DecideContext,
): void {
  const now = context.now;
  const spec = policy.spec;
  const entry = record(state, step);
  const fail = (message: string) => markFailed(entry, message, now);
  switch (observation.type) {
    case 'wait-rollouts':
      if (observation.ok) {
        advance(state, step, now, `rolled out in ${(observation.elapsedMs / 1000).toFixed(1)}s`);
      } else {
        const message = `rollouts did not finish: ${[...observation.failed, ...observation.pending].slice(0, 10).join(', ')}`;
        if (state.phase === 'RollingBack') {
          failAttempt(policy, state, step, message, now);
        } else {
          fail(message);
          if (spec.rollback.automatic) startRollback(policy, state, message, now);
          else
            failAttempt(
              policy,
              state,
              step,
              `${message}; automatic rollback is off: abort, or fix and run again`,
              now,
              true,
            );
        }
      }
      return;
    case 'verify': {
      const stragglers = observation.stragglers;
      if (step.kind === 'converge' && spec.workloads.stragglers === 'restart' && stragglers.length > 0) {
        // Deleting them is the next step's action (delete-stragglers): recorded, then performed.
        state.stragglers = { wave: step.wave ?? 0, pods: stragglers };
        advance(state, step, now, `${stragglers.length} straggler(s) to delete: ${describeStragglers(stragglers, 5)}`);
        return;
      }
      if (
        stragglers.length === 0 ||
        (step.kind === 'converge' && spec.workloads.stragglers === 'ignore') ||
        step.kind === 'rollback-verify'
      ) {
        const note =
          stragglers.length === 0
            ? `${observation.converged} pod(s) on ${step.kind === 'rollback-verify' ? state.from : state.to}`
            : `${stragglers.length} straggler(s) left as they are: ${describeStragglers(stragglers, 5)}`;
        advance(state, step, now, note);
        return;
      }
      const message = `${stragglers.length} pod(s) not on ${state.to}: ${describeStragglers(stragglers)}`;
      if (step.kind === 'verify') {
        failAttempt(policy, state, step, message, now);
        return;
      }
      fail(message);
      if (spec.rollback.automatic) startRollback(policy, state, message, now);
      else
        failAttempt(
          policy,
          state,
          step,
          `${message}; automatic rollback is off: abort, or fix and run again`,
          now,
          true,
        );
      return;
    }
    case 'delete-stragglers':
      completeDeleteStragglers(policy, state, step, observation, now, fail);
      return;
    case 'uninstall':
      if (observation.ok) advance(state, step, now, observation.message);
      else
        advance(
          state,
          step,
          now,
          `uninstall of ${step.revision ?? ''} skipped: ${observation.refused.slice(0, 5).join('; ') || observation.message}`,
          'skipped',
        );
      return;
    case 'health':
      advance(state, step, now, observation.message);
      return;
    case 'check-revision': {
      if (observation.ok) {
        advance(state, step, now, observation.message);
        return;
      }
      // Nothing moves onto an unhealthy canary: roll back what earlier waves moved, or hold.
      const message = `the new revision is not healthy before ${step.id}: ${observation.message}`;
      if (spec.rollback.automatic) {
        fail(message);
        startRollback(policy, state, message, now);
      } else failAttempt(policy, state, step, `${message}; automatic rollback is off`, now);
      return;
    }
    case 'done':
      if (observation.ok) {
        advance(state, step, now, observation.message);
      } else {
        // An action that failed past the adapter's retries (safety invariant 6).
        failAttempt(policy, state, step, observation.message, now);
      }
      return;
  }
}

/** Switches to the rollback steps (once). Forward steps not done are marked skipped. */
export function startRollback(policy: Policy, state: RunState, reason: string, now: Date): void {
  if (state.phase === 'RollingBack' || terminalPhases.has(state.phase)) return;
  for (let i = state.cursor; i < state.steps.length; i++) {
    const entry = state.records[i];
    if (entry && (entry.status === 'pending' || entry.status === 'running')) {
      entry.status = i === state.cursor && entry.status === 'running' ? 'failed' : 'skipped';
      if (!entry.finishedAt && entry.status === 'failed') entry.finishedAt = now.toISOString();
    }
  }
  const steps = rollbackSteps(policy.spec.rollback.uninstallCanary, state.to, hasGatewayApiSteps(state));
  const start = state.steps.length;
  state.steps = [...state.steps, ...steps];
  state.records = [...state.records, ...steps.map(pendingRecord)];
  state.cursor = start;
  state.phase = 'RollingBack';
  state.rollbackReason = reason;
  delete state.hold;
  delete state.warmupUntil;
  delete state.bakeUntil;
  delete state.nextGateAt;
}

function finish(state: RunState, now: Date): void {
  if (state.phase === 'RollingBack') {
    state.phase = 'RolledBack';
    state.outcome = `rolled back to ${state.from}: ${state.rollbackReason ?? 'unknown reason'}`;
  } else {
    state.phase = 'Promoted';
    state.outcome = `promoted ${state.to} (from ${state.from})`;
  }
  state.updatedAt = now.toISOString();
  delete state.hold;
}

/** Why `recordDecision` refused a decision. Every refusal leaves the state as it was. */
export type DecisionRefusal =
  /** The decision names another run than the policy's current one (a button from an older run's message). */
  | 'other-run'
  /** The run's plan changed since the approval was requested: the request decided on is not the one pending. */
  | 'plan-changed'
  /** The run is finished; nothing waits for a decision. */
  | 'finished'
  /** No approval was requested (for the step named, or at all). */
  | 'not-requested'
  /** The step was decided already (a replayed or a second decision). */
  | 'already-decided'
  /** The approval expired: by the clock, or marked so by `decide`. */
  | 'expired'
  /** The decision was made on an earlier request for the step than the one pending (a replayed button). */
  | 'superseded';

/** A human decision, and what it says about the request it decides (each given binding must match the run). */
export type HumanDecision = {
  approve: boolean;
  by: string;
  via: 'slack' | 'cli';
  channel?: string;
  /** The step decided; without it, the latest pending request. */
  step?: string;
  runId?: string;
  planHash?: string;
  /** The `expiresAt` of the very request decided on (Slack buttons carry it). */
  requestExpiresAt?: string;
};

export type RecordedDecision =
  { ok: true; state: RunState; approval: ApprovalRecord } | { ok: false; refusal: DecisionRefusal; message: string };

/**
 * Records a human decision on a pending approval: the ONE place that checks a decision against
 * the run (run, plan, phase, step, expiry, request). Callers map refusals to their answers.
 */
export function recordDecision(state: RunState, decision: HumanDecision, now: Date): RecordedDecision {
  const refuse = (refusal: DecisionRefusal, message: string): RecordedDecision => ({ ok: false, refusal, message });
  if (decision.runId !== undefined && decision.runId !== state.runId)
    return refuse(
      'other-run',
      `this decision is for run ${decision.runId}, but the current run of policy ${state.policy} is ${state.runId}`,
    );
  if (decision.planHash !== undefined && decision.planHash !== state.planHash)
    return refuse(
      'plan-changed',
      `the plan of run ${state.runId} changed since the approval was requested (plan ${decision.planHash}, now ${state.planHash}); decide on the new request`,
    );
  if (terminalPhases.has(state.phase))
    return refuse(
      'finished',
      `run ${state.runId} of policy ${state.policy} is finished (${state.phase}); nothing is waiting for a decision`,
    );
  const candidates = state.approvals
    .map((approval, index) => ({ approval, index }))
    .filter(({ approval }) => decision.step === undefined || approval.step === decision.step);
  // The latest pending request; failing that, the latest one, to say why nothing is pending.
  const found = candidates.filter(({ approval }) => approval.decision === undefined).at(-1) ?? candidates.at(-1);
  if (!found)
    return refuse(
      'not-requested',
      decision.step !== undefined
        ? `run ${state.runId} has no approval request for step ${decision.step}`
        : `run ${state.runId} of policy ${state.policy} is not waiting for an approval`,
    );
  const target = found.approval;
  const expired = `the approval for step ${target.step} expired at ${target.expiresAt}`;
  if (target.decision === 'expired') return refuse('expired', expired);
  if (target.decision !== undefined)
    return refuse(
      'already-decided',
      `step ${target.step} was already ${target.decision}${target.by ? ` by ${target.by}` : ''}${target.decidedAt ? ` at ${target.decidedAt}` : ''}`,
    );
  // An unparseable expiry is no licence to decide: NaN compares false, so test for "not before".
  if (!(now.getTime() < Date.parse(target.expiresAt))) return refuse('expired', expired);
  if (decision.requestExpiresAt !== undefined && decision.requestExpiresAt !== target.expiresAt)
    return refuse(
      'superseded',
      `this button belongs to an earlier approval request for step ${target.step}; use the latest request`,
    );
  const next = structuredClone(state);
  const approval = next.approvals[found.index] as ApprovalRecord;
  approval.decision = decision.approve ? 'approved' : 'rejected';
  approval.by = decision.by;
  approval.via = decision.via;
  if (decision.channel) approval.channel = decision.channel;
  approval.decidedAt = now.toISOString();
  next.updatedAt = now.toISOString();
  return { ok: true, state: next, approval };
}
