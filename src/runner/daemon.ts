/**
 * The `serve` daemon: loads every policy of a folder, keeps it loaded as the folder changes, and
 * supervises one loop per policy. A loop only asks and acts: it reads the policy's run state,
 * asks the pure `nextStep` (src/engine/schedule-next.ts: cron, windows, freezes, held runs, Lease
 * back-off, catch-up, policy changes) what to do, then invokes the runner or sleeps until the
 * step's wake-up or a poke (a decision recorded here, a policy change, shutdown).
 *
 * Time is injected: every wait is `clock.sleep` until an instant the decision computed from
 * `clock.now()`, so tests drive weeks of nights with a fake clock. File watching and rescans use
 * real timers: the folder lives in the real world.
 *
 * Invariants:
 * - One loop per loaded policy name; a loop either sleeps or awaits one `runPolicy` at a time.
 * - A run is never killed mid-step: removal and shutdown abort its signal, and `runPolicy` stops
 *   at the next step boundary with its state persisted (the next runner resumes it).
 * - Which runs start, continue or wait is decided by `nextStep` alone (its invariants are there).
 */
import { policyIdentity } from '../policy/identity.ts';
import {
  afterInvocation,
  defaultLoopSettings,
  initialMemory,
  nextStep,
  poked,
  type LoopMemory,
  type LoopSettings,
  type StoredView,
  type WaitReason,
} from '../engine/schedule-next.ts';
import type { RunPhase, RunState, StepRecord } from '../engine/state.ts';
import type { PolicySet, PolicySourceFactory } from '../ports/policy-source.ts';
import { formatProblem } from '../errors.ts';
import type { Clock } from '../ports/clock.ts';
import type { RunView } from '../ports/runs.ts';
import type { Lock } from '../ports/lock.ts';
import type { StateStore } from '../ports/state-store.ts';
import type { Policy, SlackSettings } from '../policy/types.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { RunnerMetrics } from '../telemetry/metrics.ts';
import { parseStoredState, runPolicy, type RunnerDeps, type RunResult } from './run-policy.ts';
import { engineWindow } from '../engine/schedule.ts';

export type DaemonOptions = {
  /** Where the policies come from (the policy folder, built by the composition root). */
  policies: PolicySourceFactory;
  clock: Clock;
  logger: Logger;
  metrics: RunnerMetrics;
  /** The run states (to see active runs, decisions and other daemons' progress between runs). */
  store: StateStore;
  /** The Leases (to know until when another daemon holds a policy). */
  lock: Lock;
  /** Runner dependencies for one invocation; `holder` must be this daemon's stable identity. */
  runnerDeps: (policy: Policy) => RunnerDeps | Promise<RunnerDeps>;
  /** Lease time-to-live of a run (default 30 s, renewed every third). */
  leaseTtlMs?: number;
  /** How often a held or contended run's state is re-read for decisions (default 30 s). */
  statePollMs?: number;
  /** Longest sleep inside a run between re-reads of its state (default 5 s). */
  runPollMs?: number;
  /** Retry interval while another daemon holds the Lease (default 60 s, or earlier at its expiry). */
  lockedRetryMs?: number;
  /** Backoff after an error: doubles from `min` to `max` (default 30 s to 10 min). */
  errorBackoffMs?: { min: number; max: number };
  /** How long a held run without a timer waits before it is re-checked (default 5 min). */
  heldRecheckMs?: number;
  /** A cron fire missed by at most this much when a policy loads is caught up (window-less schedules; default 15 min). */
  missedFireGraceMs?: number;
};

export type { RunView } from '../ports/runs.ts';

export type Daemon = {
  /** Loads the folder, starts watching it and starts one loop per valid policy. */
  start(): Promise<void>;
  /** Stops loops and in-flight runs (at their next step boundary) and the watchers. */
  stop(): Promise<void>;
  /** Reloads the folder now. */
  rescan(): Promise<void>;
  /** Every file and policy, for `/api/runs`. */
  runs(): RunView[];
  /** Wakes a policy's loop (its state changed: a decision was recorded). */
  poke(policy: string): void;
  /** Slack settings of the loaded policies (for the Slack actions handler). */
  slackSettings(): ReadonlyMap<string, SlackSettings | undefined>;
  /** A loaded policy by name (for the dashboard's reports); undefined when none is loaded. */
  policy(name: string): Policy | undefined;
  /** Loops alive now (each is asleep or awaiting one run); fake clocks use it to know when all wait. */
  loops(): number;
};

type Slot = {
  name: string;
  file: string;
  policy: Policy;
  /** `policyIdentity(policy)`. */
  identity: string;
  log: Logger;
  removed: boolean;
  run?: AbortController;
  sleep?: AbortController;
  /** A wake-up came while the loop was busy: its next sleep is skipped. */
  woken: boolean;
  /** What the scheduling decision remembers between steps. */
  memory: LoopMemory;
  lastPhase?: RunPhase;
  lastEvaluations?: number;
  view: Pick<
    RunView,
    'runId' | 'phase' | 'step' | 'hold' | 'lastOutcome' | 'lastMessage' | 'lastRunAt' | 'nextScheduledAt' | 'waiting'
  >;
  done?: Promise<void>;
};

/** How loudly a wait is logged when the loop starts waiting for a new reason. */
const waitLogLevel: Record<WaitReason, 'debug' | 'info' | 'warn'> = {
  locked: 'info',
  error: 'warn',
  'policy-changed': 'warn',
  'no-window-fits': 'warn',
  'wave-window': 'info',
  held: 'info',
  finished: 'debug',
  'no-schedule': 'debug',
  'next-fire': 'debug',
  closed: 'info',
};

/** What the loops share: the daemon's options, the decision's settings, and whether it is stopping. */
type LoopContext = {
  options: DaemonOptions;
  settings: LoopSettings;
  stopping(): boolean;
};

export function createDaemon(options: DaemonOptions): Daemon {
  const { clock, logger, metrics } = options;
  const defaults = defaultLoopSettings;
  const context: LoopContext = {
    options,
    settings: {
      statePollMs: options.statePollMs ?? defaults.statePollMs,
      heldRecheckMs: options.heldRecheckMs ?? defaults.heldRecheckMs,
      lockedRetryMs: options.lockedRetryMs ?? defaults.lockedRetryMs,
      errorBackoffMs: options.errorBackoffMs ?? defaults.errorBackoffMs,
      missedFireGraceMs: options.missedFireGraceMs ?? defaults.missedFireGraceMs,
      maxIdleMs: defaults.maxIdleMs,
    },
    stopping: () => stopping,
  };
  const slots = new Map<string, Slot>();
  let stopping = false;
  let liveLoops = 0;
  const folder = options.policies((set) => reconcile(set));

  /** Starts a loop per new policy, hands changed policies to theirs, ends the loops of removed ones. */
  function reconcile(set: PolicySet): void {
    metrics.invalidPolicies(set.invalid);
    if (stopping) return;
    for (const [name, { file, policy }] of set.policies) {
      const slot = slots.get(name);
      if (!slot || slot.removed) {
        if (slot?.removed) continue; // the old loop is still finishing its step; its end starts the new one
        startSlot(name, file, policy);
        continue;
      }
      slot.file = file;
      const identity = policyIdentity(policy);
      if (identity !== slot.identity || slot.policy !== policy) {
        slot.policy = policy;
        if (identity !== slot.identity) slot.log.info({ file }, 'policy changed; applies from the next invocation');
        slot.identity = identity;
        wake(slot);
      }
    }
    for (const slot of slots.values()) {
      if (set.policies.has(slot.name) || slot.removed) continue;
      slot.removed = true;
      slot.log.info('policy removed; its loop stops at the next step boundary');
      slot.run?.abort();
      wake(slot);
    }
  }

  function startSlot(name: string, file: string, policy: Policy): void {
    const slot: Slot = {
      name,
      file,
      policy,
      identity: policyIdentity(policy),
      log: logger.child({ policy: name }),
      removed: false,
      woken: false,
      memory: initialMemory(policy.spec.schedule, clock.now(), context.settings),
      view: {},
    };
    slots.set(name, slot);
    liveLoops += 1;
    slot.done = loop(context, slot)
      .catch((error: unknown) => slot.log.error({ err: (error as Error).message }, 'policy loop crashed'))
      .finally(() => {
        liveLoops -= 1;
        if (slots.get(name) === slot) slots.delete(name);
        metrics.forget(name);
        // A file that came back while the old loop finished its step gets a fresh loop.
        if (slot.removed && !stopping) reconcile(folder.current());
      });
  }

  return {
    start: () => folder.start(),
    async stop() {
      stopping = true;
      const folderStopped = folder.stop();
      for (const slot of slots.values()) {
        slot.run?.abort();
        wake(slot);
      }
      await Promise.all([...[...slots.values()].map((s) => s.done), folderStopped]);
    },
    rescan: () => folder.rescan(),
    runs: () => runViews(folder.current(), slots),
    poke(policy) {
      const slot = slots.get(policy);
      if (!slot) return;
      slot.memory = poked(slot.memory);
      wake(slot);
    },
    slackSettings() {
      return new Map(
        [...slots.values()].filter((s) => !s.removed).map((s) => [s.name, s.policy.spec.notify.slack] as const),
      );
    },
    policy(name) {
      const slot = slots.get(name);
      return slot && !slot.removed ? slot.policy : undefined;
    },
    loops: () => liveLoops,
  };
}

// ---- one policy's loop ------------------------------------------------------------------

/** Ask what to do (nextStep), then act: invoke the runner, or sleep until the step's wake-up or a poke. */
async function loop(context: LoopContext, slot: Slot): Promise<void> {
  const { clock } = context.options;
  slot.log.debug({ file: slot.file }, 'policy loop started');
  let shown: WaitReason | undefined;
  while (!context.stopping()) {
    const stored = await readState(context.options, slot);
    if (context.stopping()) break;
    const { step, memory } = nextStep({
      memory: slot.memory,
      stored,
      policy: slot.policy,
      identity: slot.identity,
      removed: slot.removed,
      now: clock.now(),
      settings: context.settings,
    });
    slot.memory = memory;
    if (step.kind === 'stop') break;
    if (step.kind === 'run') {
      shown = undefined;
      slot.view.nextScheduledAt = undefined;
      slot.view.waiting = undefined;
      await invoke(context.options, slot, step.why);
      continue;
    }
    slot.view.nextScheduledAt = step.until?.toISOString();
    slot.view.waiting = step.why;
    if (step.reason !== shown)
      slot.log[waitLogLevel[step.reason]]({ reason: step.reason, until: step.until?.toISOString() }, step.why);
    shown = step.reason;
    await sleepUntil(clock, slot, step.wakeAt);
  }
  slot.log.debug('policy loop stopped');
}

function wake(slot: Slot): void {
  slot.woken = true;
  slot.sleep?.abort();
}

/** Sleeps until `at`, or until woken (a wake-up that came while the loop was busy skips the sleep). */
async function sleepUntil(clock: Clock, slot: Slot, at: Date): Promise<void> {
  if (slot.woken) {
    slot.woken = false;
    return;
  }
  const controller = new AbortController();
  slot.sleep = controller;
  try {
    await clock.sleep(Math.max(0, at.getTime() - clock.now().getTime()), controller.signal);
  } catch {
    // Woken early: the loop asks again.
  } finally {
    slot.sleep = undefined;
    slot.woken = false;
  }
}

/** The stored run state, validated; folded into the view and the gauges. */
async function readState(options: DaemonOptions, slot: Slot): Promise<StoredView> {
  try {
    const stored = await options.store.load(slot.name);
    const state = stored ? parseStoredState(stored.document, slot.name) : undefined;
    observeState(options.metrics, slot, state);
    return stored && state ? { kind: 'run', state, version: stored.version } : { kind: 'none' };
  } catch (error) {
    slot.log.error({ err: (error as Error).message }, 'cannot read the run state');
    return { kind: 'unreadable' };
  }
}

/** One runner invocation, then what the next decision needs to know about it. */
async function invoke(options: DaemonOptions, slot: Slot, why: string): Promise<void> {
  const { clock, metrics } = options;
  const policy = slot.policy;
  const controller = new AbortController();
  slot.run = controller;
  slot.view.lastRunAt = clock.now().toISOString();
  slot.log.info({ reason: why }, 'invoking runner');
  let result: RunResult;
  try {
    const deps = await options.runnerDeps(policy);
    result = await runPolicy(policy, deps, {
      signal: controller.signal,
      leaseTtlMs: options.leaseTtlMs ?? 30_000,
      pollMs: options.runPollMs ?? 5_000,
      schedule: (now) => engineWindow(policy.spec.schedule, now),
      onProgress: (state, changed) => progress(metrics, slot, state, changed),
    });
  } catch (error) {
    slot.view.lastOutcome = 'error';
    slot.view.lastMessage = (error as Error).message;
    metrics.runFinished(slot.name, 'error');
    slot.log.error({ err: (error as Error).message }, 'the runner failed');
    slot.memory = afterInvocation(slot.memory, { outcome: 'error' }, clock.now());
    return;
  } finally {
    slot.run = undefined;
  }
  metrics.runFinished(slot.name, result.outcome);
  slot.view.lastOutcome = result.outcome;
  slot.view.lastMessage = result.message;
  const log = result.state ? slot.log.child({ runId: result.state.runId }) : slot.log;
  log.info(
    {
      outcome: result.outcome,
      message: result.message,
      problems: result.problems?.map((p) => `${p.path}: ${p.message}`),
    },
    'runner returned',
  );
  if (result.state) observeState(metrics, slot, result.state);
  if (result.outcome === 'promoted') metrics.promoted(slot.name, clock.now());
  // Until when the other daemon's Lease holds, or the state the run left behind.
  const facts =
    result.outcome === 'locked' ? await leaseExpiry(options.lock, slot) : await latestState(options.store, slot);
  slot.memory = afterInvocation(
    slot.memory,
    { outcome: result.outcome, ...definedOnly({ state: result.state, wakeAt: result.wakeAt }), ...facts },
    clock.now(),
  );
}

async function leaseExpiry(lock: Lock, slot: Slot): Promise<{ leaseExpiresAt?: Date }> {
  try {
    const holder = await lock.holder(slot.name);
    return holder ? { leaseExpiresAt: holder.expiresAt } : {};
  } catch (error) {
    slot.log.warn({ err: (error as Error).message }, 'lease holder unknown');
    return {};
  }
}

/** The state right after a run (a decision saved while the run returned is in it, not in the run's copy). */
async function latestState(store: StateStore, slot: Slot): Promise<{ latest?: { version: string; state: RunState } }> {
  try {
    const stored = await store.load(slot.name);
    return stored ? { latest: { version: stored.version, state: parseStoredState(stored.document, slot.name) } } : {};
  } catch (error) {
    slot.log.warn({ err: (error as Error).message }, 'run state unreadable after the run');
    return {};
  }
}

// ---- views and gauges -------------------------------------------------------------------

/** Folds a state into the view and the gauges. */
function observeState(metrics: RunnerMetrics, slot: Slot, state: RunState | undefined): void {
  if (!state) {
    slot.view.phase = undefined;
    slot.view.step = undefined;
    slot.view.hold = undefined;
    slot.view.runId = undefined;
    return;
  }
  slot.view.runId = state.runId;
  slot.view.phase = state.phase;
  slot.view.step = state.steps[state.cursor]?.id;
  slot.view.hold = state.hold;
  metrics.phase(slot.name, state.phase);
  metrics.pendingApprovals(slot.name, state.approvals.filter((a) => a.decision === undefined).length);
  if (state.phase === 'RollingBack' && slot.lastPhase !== undefined && slot.lastPhase !== 'RollingBack')
    metrics.rollbackStarted(slot.name);
  slot.lastPhase = state.phase;
}

function progress(metrics: RunnerMetrics, slot: Slot, state: RunState, changed: StepRecord[]): void {
  observeState(metrics, slot, state);
  for (const record of changed) {
    if (record.kind !== 'bake' || record.wave === undefined || record.status !== 'done' || !record.finishedAt) continue;
    const first = state.records.find((r) => r.wave === record.wave && r.startedAt);
    if (first?.startedAt)
      metrics.waveDuration(slot.name, (Date.parse(record.finishedAt) - Date.parse(first.startedAt)) / 1000);
  }
  const gates = state.gates;
  if (gates && gates.evaluations !== slot.lastEvaluations) {
    const latest = gates.recent.at(-1);
    if (slot.lastEvaluations !== undefined && latest) {
      for (const result of latest.results)
        metrics.gateEvaluation(slot.name, result.check, result.outcome, result.value);
    }
    slot.lastEvaluations = gates.evaluations;
  }
}

/** The runs API: every file of the set with its loop's view, then loops whose file is gone. */
function runViews(set: PolicySet, slots: ReadonlyMap<string, Slot>): RunView[] {
  const views: RunView[] = [];
  const listed = new Set<string>();
  for (const file of set.files) {
    const slot = file.name && !file.duplicate ? slots.get(file.name) : undefined;
    if (slot) listed.add(slot.name);
    views.push({
      ...(file.name ? { name: file.name } : {}),
      file: file.file,
      valid: file.valid,
      problems: file.problems.map(formatProblem),
      warnings: file.warnings.map(formatProblem),
      ...(file.stale ? { stale: true } : {}),
      scheduled: slot !== undefined && slot.policy.spec.schedule !== undefined,
      running: slot?.run !== undefined,
      ...(slot ? definedOnly(slot.view) : {}),
    });
  }
  // Loops whose file is gone, still finishing their step.
  for (const slot of slots.values()) {
    if (listed.has(slot.name)) continue;
    views.push({
      name: slot.name,
      file: slot.file,
      valid: true,
      problems: [],
      warnings: [],
      removed: true,
      scheduled: false,
      running: slot.run !== undefined,
      ...definedOnly(slot.view),
    });
  }
  return views;
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
