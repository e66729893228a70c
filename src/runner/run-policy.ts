/**
 * The run loop: observe -> decide -> persist -> act, one action at a time, holding the policy's
 * Lease. State is persisted after every decision, before the action it asks for, so a runner
 * killed at any instant resumes from the cluster and the state alone.
 */
import { randomBytes } from 'node:crypto';
import { decide, initialState, type DecideContext, type Observation } from '../engine/decide.ts';
import { changedRecords, transitions } from '../engine/events.ts';
import { planRun, type ClusterSnapshot, type PlanProblem, type RunPlan } from '../engine/plan.ts';
import { terminalPhases, type RunState, type StepRecord } from '../engine/state.ts';
import { planProblems, stateProblems, type StoredRunState } from '../engine/state-schema.ts';
import { RevrollError } from '../errors.ts';
import { isInjectedGateway } from '../mesh/gateways.ts';
import { observeMesh } from '../mesh/revisions.ts';
import { listUninstallTargets, type UninstallTarget } from '../mesh/uninstall.ts';
import { toWorkload, workloadRefs, type Workload } from '../mesh/workloads.ts';
import { isClusterError, Resources, type ClusterPort, type KubeObject } from '../ports/cluster.ts';
import { GatewayResource } from '../mesh/gateway-api.ts';
import type { EventRecorder, LostEvents } from '../ports/events.ts';
import type { Clock } from '../ports/clock.ts';
import type { Installer } from '../ports/installer.ts';
import type { Lock } from '../ports/lock.ts';
import type { RunOutcome } from '../ports/runs.ts';
import type { MetricsSource } from '../ports/metrics.ts';
import type { Notifier, ThreadMemory } from '../ports/notifier.ts';
import {
  POLICY_LABEL,
  RUN_ID_LABEL,
  stateConfigMapName,
  StateConflictError,
  type StateStore,
} from '../ports/state-store.ts';
import { policyIdentity } from '../policy/identity.ts';
import type { Policy } from '../policy/types.ts';
import type { Logger } from '../telemetry/logger.ts';
import { createExecutor } from './executor.ts';
import { formatNumber } from '../engine/gates.ts';
import { encodeGateEvaluation, GATE_RESULTS_ANNOTATION, HOLD_ANNOTATION } from '../report/evaluations.ts';

export type RunnerDeps = {
  cluster: ClusterPort;
  store: StateStore;
  lock: Lock;
  events: EventRecorder;
  notifier: Notifier;
  /** The notifier's thread memory, synchronised with the run state. */
  threads?: ThreadMemory;
  metrics?: MetricsSource;
  /** Runs the installer command (spec.install.mode istioctl/helm). */
  installer?: Installer;
  clock: Clock;
  logger: Logger;
  stateNamespace: string;
  /** Identity written into the Lease (host/pod name and a random suffix). */
  holder: string;
};

export type RunOptions = {
  signal?: AbortSignal;
  /** Called after every persisted decision with the records that changed. */
  onProgress?: (state: RunState, changed: StepRecord[]) => void;
  leaseTtlMs?: number;
  /** Windows and freezes (the daemon); absent = always open. */
  schedule?: (now: Date) => Pick<DecideContext, 'windowClosesAt' | 'windowClosed'>;
  /** Longest single sleep between re-reads of the state (to see aborts and approvals). */
  pollMs?: number;
};

export type { RunOutcome } from '../ports/runs.ts';

export type RunResult = {
  outcome: RunOutcome;
  message: string;
  state?: RunState;
  plan?: RunPlan;
  problems?: PlanProblem[];
  /** When the run wants to continue (holds with a timer, e.g. approval expiry). */
  wakeAt?: Date;
};

/**
 * Reads what the planner needs: revisions and tags, namespaces, workloads, pod counts, gateways.
 * Lists are folded page by page: pods are counted from metadata-only pages, workloads kept as
 * `Workload`s, and only the gateways' Deployments kept whole.
 */
export async function snapshotCluster(cluster: ClusterPort, policy: Policy): Promise<ClusterSnapshot> {
  const istioNs = policy.spec.revisions.istioNamespace;
  const kinds = policy.spec.workloads.kinds;
  const podCounts: Record<string, number> = {};
  const named = new Set(policy.spec.gateways.map((g) => `${g.namespace}/${g.name}`));
  const gateways: KubeObject[] = [];
  const byKind = new Map<string, Workload[]>(kinds.map((kind) => [kind, []]));
  const [mesh] = await Promise.all([
    observeMesh(cluster, istioNs),
    cluster.scan(
      Resources.pods,
      {},
      (pod) => {
        const ns = pod.metadata.namespace ?? '';
        podCounts[ns] = (podCounts[ns] ?? 0) + 1;
      },
      { metadataOnly: true },
    ),
    // Every Deployment: the restart kinds usually include them, and gateways are found among them.
    cluster.scan(Resources.deployments, {}, (d) => {
      byKind.get('Deployment')?.push(toWorkload('Deployment', d));
      if (named.has(`${d.metadata.namespace ?? ''}/${d.metadata.name ?? ''}`) || isInjectedGateway(d)) gateways.push(d);
    }),
    ...kinds
      .filter((kind) => kind !== 'Deployment')
      .map((kind) => cluster.scan(workloadRefs[kind], {}, (o) => byKind.get(kind)?.push(toWorkload(kind, o)))),
  ]);
  // Deployments first, then the other kinds in the policy's order.
  const order = [...kinds].sort((a, b) => Number(b === 'Deployment') - Number(a === 'Deployment'));
  const workloads: Workload[] = order.flatMap((kind) => byKind.get(kind) ?? []);
  const uninstall: Record<string, UninstallTarget[]> = {};
  const from = policy.spec.revisions.from === 'auto' ? mesh.defaultRevision : policy.spec.revisions.from;
  if (policy.spec.promote.uninstallPrevious && from) uninstall[from] = await listUninstallTargets(cluster, from);
  if (policy.spec.rollback.uninstallCanary) {
    const to = policy.spec.revisions.to;
    uninstall[to] = await listUninstallTargets(cluster, to);
  }
  const gatewayApi = await listGatewayApi(cluster);
  return { mesh, workloads, podCounts, gateways, ...(gatewayApi.length > 0 ? { gatewayApi } : {}), uninstall };
}

/** Every Gateway API Gateway; none when the Gateway API CRDs are not installed. */
export async function listGatewayApi(cluster: ClusterPort): Promise<KubeObject[]> {
  try {
    return await cluster.list(GatewayResource);
  } catch (error) {
    if (isClusterError(error, 'not-found')) return [];
    throw error;
  }
}

type StoredRun = StoredRunState;

/**
 * Validates a stored document in full before anything acts on it (safety invariant 8). `where`
 * names the ConfigMap's namespace for the message.
 */
export function parseStoredState(document: Record<string, unknown>, policy: string, where?: string): StoredRun {
  const { state, problems } = stateProblems(document, policy);
  if (!state) throw invalidState(policy, where, problems);
  return state;
}

function invalidState(policy: string, where: string | undefined, problems: readonly string[]): RevrollError {
  const configMap = `ConfigMap ${where ? `${where}/` : ''}${stateConfigMapName(policy)}`;
  return new RevrollError(
    'STATE_INVALID',
    `the run state in ${configMap} is not valid, so revroll will not act on it (nothing was changed): ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? `; and ${problems.length - 5} more` : ''}. Restore it, or delete it to start a new run once the cluster is as you want it`,
  );
}

/** Takes decisions made elsewhere (abort, approvals) from the stored state into ours. */
export function mergeExternal(ours: StoredRun, theirs: StoredRun): StoredRun {
  const merged = structuredClone(ours);
  if (theirs.abortRequested && !merged.abortRequested) merged.abortRequested = theirs.abortRequested;
  if (theirs.slackThread && !merged.slackThread) merged.slackThread = theirs.slackThread;
  for (const approval of merged.approvals) {
    if (approval.decision !== undefined) continue;
    const decided = theirs.approvals.find(
      (a) => a.step === approval.step && a.requestedAt === approval.requestedAt && a.decision !== undefined,
    );
    if (decided) Object.assign(approval, decided);
  }
  return merged;
}

export function newRunId(now: Date): string {
  return `${now.toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(3).toString('hex')}`;
}

/** Runs (or resumes) a policy until it is done, held, interrupted, or locked by another runner. */
export async function runPolicy(policy: Policy, deps: RunnerDeps, options: RunOptions = {}): Promise<RunResult> {
  const name = policy.metadata.name;
  const ttl = options.leaseTtlMs ?? 30_000;
  const log = deps.logger.child({ policy: name });
  // A stored state that cannot be believed stops the run before anything is written, the Lease included.
  const stored = await deps.store.load(name);
  if (stored) parseStoredState(stored.document, name, deps.stateNamespace);
  let acquired = await deps.lock.acquire(name, deps.holder, ttl);
  // A lease that expired between the two reads is free: one more try before reporting a holder.
  if (!acquired && !(await deps.lock.holder(name))) acquired = await deps.lock.acquire(name, deps.holder, ttl);
  if (!acquired) {
    const holder = await deps.lock.holder(name);
    return {
      outcome: 'locked',
      message: `another revroll (${holder?.holder ?? 'unknown'}) is running policy ${name}${holder ? ` (lease until ${holder.expiresAt.toISOString()})` : ''}; not acting`,
    };
  }
  const lost = new AbortController();
  const stop = options.signal ? AbortSignal.any([options.signal, lost.signal]) : lost.signal;
  const renew = setInterval(
    () => {
      deps.lock.renew(name, deps.holder, ttl).then(
        (held) => {
          if (!held) {
            log.error('lease lost; stopping without further action');
            lost.abort(new RevrollError('LEASE_LOST', `the lease of ${name} was taken by another runner`));
          }
        },
        (error: unknown) => log.warn({ err: error }, 'lease renewal failed'),
      );
    },
    Math.max(1000, Math.floor(ttl / 3)),
  );
  try {
    return await loop(policy, deps, options, stop, log);
  } finally {
    clearInterval(renew);
    await deps.lock
      .release(name, deps.holder)
      .catch((error: unknown) => log.warn({ err: error }, 'lease release failed'));
  }
}

/**
 * No plan: nothing to do. When the same policy's run already promoted (a runner killed after
 * saving that, before it exited, or the run started again), the cluster is where the policy wants it.
 */
function unplannable(
  name: string,
  hash: string,
  existing: StoredRun | undefined,
  problems: RunResult['problems'],
): RunResult {
  if (existing?.phase === 'Promoted' && existing.policyHash === hash)
    return { outcome: 'promoted', message: `already promoted ${existing.to} (run ${existing.runId})`, state: existing };
  return { outcome: 'failed', message: `cannot plan ${name}: nothing was changed`, ...(problems ? { problems } : {}) };
}

async function loop(
  policy: Policy,
  deps: RunnerDeps,
  options: RunOptions,
  stop: AbortSignal,
  log: Logger,
): Promise<RunResult> {
  const name = policy.metadata.name;
  const hash = policyIdentity(policy);
  const stored = await deps.store.load(name);
  let state: StoredRun;
  let version: string | undefined = stored?.version;
  let previous: StoredRun | undefined;
  let plan: RunPlan | undefined;

  const existing = stored ? parseStoredState(stored.document, name, deps.stateNamespace) : undefined;
  if (existing && !terminalPhases.has(existing.phase)) {
    if (existing.policyHash && existing.policyHash !== hash) {
      return {
        outcome: 'failed',
        message: `policy ${name} changed while its run ${existing.runId} is active (phase ${existing.phase}); restore the policy it started with, or abort the run`,
        state: existing,
      };
    }
    const mismatch = planProblems(policy, existing);
    if (mismatch.length > 0) throw invalidState(name, deps.stateNamespace, mismatch);
    state = existing;
    previous = existing;
    if (state.slackThread) await deps.threads?.set(state.runId, state.slackThread);
    log.info({ runId: state.runId, step: state.steps[state.cursor]?.id }, 'resuming run');
  } else {
    const snapshot = await snapshotCluster(deps.cluster, policy);
    const planned = planRun(policy, snapshot);
    if (!planned.plan) return unplannable(name, hash, existing, planned.problems);
    plan = planned.plan;
    const now = deps.clock.now();
    state = { ...initialState(policy, plan, newRunId(now), now), policyHash: hash };
    version = await saveNewRun(deps.store, name, state, version);
    await notifyAll(deps, log, transitions(undefined, state));
    previous = state;
  }
  // Every Event of the run carries its policy and run ID, so `revroll report` finds them by label.
  const events = deps.events.scoped?.({ [POLICY_LABEL]: name, [RUN_ID_LABEL]: state.runId }) ?? deps.events;
  const executor = createExecutor(policy, {
    cluster: deps.cluster,
    events,
    notifier: deps.notifier,
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
    ...(deps.installer ? { installer: deps.installer } : {}),
    now: () => deps.clock.now(),
    stateNamespace: deps.stateNamespace,
    onOutput: (text) => log.info({ output: text.slice(-2000) }, 'installer output'),
    signal: stop,
  });

  // Events lost by earlier invocations of this run, plus this invocation's (the recorder counts).
  const lostBefore = state.audit?.eventsLost ?? 0;
  // The first decision of this invocation: a step held on a spent error budget gets a fresh one.
  let resumed = true;
  let observation: Observation | undefined;
  for (;;) {
    if (stop.aborted)
      return {
        outcome: 'interrupted',
        message: `stopped at ${state.steps[state.cursor]?.id ?? 'the end'}; the run resumes from there`,
        state,
        ...(plan ? { plan } : {}),
      };
    const now = deps.clock.now();
    const decision = decide(policy, state, observation, {
      now,
      ...(options.schedule?.(now) ?? {}),
      ...(resumed ? { resumed: true } : {}),
    });
    resumed = false;
    observation = undefined;
    state = withLostEvents({ ...decision.state, policyHash: hash }, lostBefore, deps.events.lost());
    ({ state, version } = await persist(deps.store, name, state, version, log));
    options.onProgress?.(state, changedRecords(previous, state));
    await notifyAll(deps, log, transitions(previous, state));
    await recordGateEvaluation(deps, events, previous, state);
    await recordHold(deps, events, previous, state);
    const thread = await deps.threads?.get(state.runId);
    if (thread && (thread.ts !== state.slackThread?.ts || thread.channel !== state.slackThread?.channel))
      state.slackThread = thread;
    previous = state;

    if (terminalPhases.has(state.phase)) {
      const outcome = state.phase === 'Promoted' ? 'promoted' : state.phase === 'RolledBack' ? 'rolled-back' : 'failed';
      return { outcome, message: state.outcome ?? state.phase, state, ...(plan ? { plan } : {}) };
    }
    if (decision.action) {
      const stepLog = log.child({ runId: state.runId, step: state.steps[state.cursor]?.id });
      stepLog.debug({ action: decision.action.type }, 'executing');
      observation = await executor.execute(state, decision.action);

      if (observation.type === 'done' && !observation.ok)
        stepLog.warn({ reason: observation.message }, 'action failed');
      continue;
    }
    if (state.hold) {
      return {
        outcome: 'held',
        message: state.hold.reason,
        state,
        ...(decision.wakeAt ? { wakeAt: decision.wakeAt } : {}),
        ...(plan ? { plan } : {}),
      };
    }
    // A timer (warm-up, bake interval): sleep, then re-read the state for aborts and approvals.
    const wait = Math.max(0, (decision.wakeAt?.getTime() ?? now.getTime() + 1000) - deps.clock.now().getTime());
    try {
      await deps.clock.sleep(Math.min(wait, options.pollMs ?? 5_000), stop);
    } catch {
      continue; // aborted: the loop head returns
    }
    const latest = await deps.store.load(name);
    if (latest && latest.version !== version) {
      state = mergeExternal(state, parseStoredState(latest.document, name, deps.stateNamespace));
      version = latest.version;
    }
  }
}

function withLostEvents(state: StoredRun, before: number, lost: LostEvents): StoredRun {
  if (lost.count === 0) return state;
  return {
    ...state,
    audit: { eventsLost: before + lost.count, ...(lost.lastError ? { lastError: lost.lastError } : {}) },
  };
}

async function saveState(
  store: StateStore,
  policy: string,
  state: StoredRun,
  version: string | undefined,
): Promise<string> {
  return store.save(policy, state as unknown as Record<string, unknown>, version);
}

/**
 * Saves the state of a new run over the previous (finished) one. A conflict means the stored
 * document changed since it was read: take its new version unless it is another active run.
 * Nothing is merged from it: decisions of a finished run must not leak into the new one.
 */
async function saveNewRun(
  store: StateStore,
  policy: string,
  state: StoredRun,
  version: string | undefined,
): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await saveState(store, policy, state, version);
    } catch (error) {
      if (!(error instanceof StateConflictError) || attempt >= 4) throw error;
      const latest = await store.load(policy);
      if (latest) {
        const stored = parseStoredState(latest.document, policy);
        if (stored.runId === state.runId) return latest.version;
        if (!terminalPhases.has(stored.phase)) {
          throw new RevrollError(
            'RUN_ACTIVE',
            `run ${stored.runId} of ${policy} became active while this run was starting; not acting`,
          );
        }
      }
      version = latest?.version;
    }
  }
}

/** Saves, merging decisions written by others (abort, approvals) when the write conflicts. */
async function persist(
  store: StateStore,
  policy: string,
  state: StoredRun,
  version: string | undefined,
  log: Logger,
): Promise<{ state: StoredRun; version: string }> {
  let current = state;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      return { state: current, version: await saveState(store, policy, current, version) };
    } catch (error) {
      if (!(error instanceof StateConflictError)) throw error;
      const latest = await store.load(policy);
      if (!latest) throw error;
      log.debug('state changed by someone else; merging');
      current = mergeExternal(current, parseStoredState(latest.document, policy));
      version = latest.version;
    }
  }
  throw new RevrollError(
    'STATE_CONFLICT',
    `could not save the run state of ${policy}: it keeps changing under the runner`,
  );
}

/**
 * Every gate evaluation becomes an Event on the run's state ConfigMap: the state keeps only the
 * last few, the Events (and logs) keep the whole history.
 */
async function recordGateEvaluation(
  deps: RunnerDeps,
  events: EventRecorder,
  previous: RunState | undefined,
  state: RunState,
): Promise<void> {
  const gates = state.gates;
  if (!gates || (previous?.gates?.wave === gates.wave && previous.gates.evaluations === gates.evaluations)) return;
  const last = gates.recent.at(-1);
  if (!last || gates.evaluations === 0) return;
  const text = last.results
    .map(
      (r) =>
        `${r.check}=${r.outcome}${r.value === undefined || r.value === null ? '' : `(${formatNumber(r.value)}${r.baseline !== undefined && r.baseline !== null ? ` vs ${formatNumber(r.baseline)}` : ''})`}${r.shadow ? '[shadow]' : ''}`,
    )
    .join(' ');
  const failing = last.results.some((r) => !r.shadow && r.outcome !== 'Pass');
  await events.record(
    { apiVersion: 'v1', kind: 'ConfigMap', namespace: deps.stateNamespace, name: stateConfigMapName(state.policy) },
    'RevrollGateEvaluation',
    `${state.waves[gates.wave] !== undefined ? `wave ${state.waves[gates.wave]}` : 'gateways wave'} evaluation ${gates.evaluations}: ${text}`,
    failing ? 'Warning' : 'Normal',
    {
      [GATE_RESULTS_ANNOTATION]: encodeGateEvaluation({
        wave: gates.wave,
        evaluation: gates.evaluations,
        at: last.at,
        results: last.results,
      }),
    },
  );
}

/** A new hold becomes an Event on the state ConfigMap: the state keeps only the current one, a report shows them all. */
async function recordHold(
  deps: RunnerDeps,
  events: EventRecorder,
  previous: RunState | undefined,
  state: RunState,
): Promise<void> {
  const hold = state.hold;
  if (!hold || (previous?.hold?.since === hold.since && previous.hold.reason === hold.reason)) return;
  const step = state.steps[state.cursor]?.id;
  await events.record(
    { apiVersion: 'v1', kind: 'ConfigMap', namespace: deps.stateNamespace, name: stateConfigMapName(state.policy) },
    'RevrollHeld',
    `held (${hold.kind})${step ? ` at ${step}` : ''}: ${hold.reason}`,
    hold.kind === 'approval' || hold.kind === 'window' ? 'Normal' : 'Warning',
    {
      [HOLD_ANNOTATION]: JSON.stringify({
        kind: hold.kind,
        reason: hold.reason.slice(0, 1000),
        since: hold.since,
        ...(step ? { step } : {}),
      }),
    },
  );
}

async function notifyAll(deps: RunnerDeps, log: Logger, events: ReturnType<typeof transitions>): Promise<void> {
  for (const event of events) {
    log.info({ event: event.kind, step: event.step, detail: event.message }, 'run event');
    await deps.notifier
      .notify(event)
      .catch((error: unknown) => log.warn({ err: error, event: event.kind }, 'notification failed'));
  }
}
