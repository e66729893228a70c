/**
 * What a policy's daemon loop does next (DESIGN section 6), as pure functions of what the loop
 * remembers, the stored run state, the policy and `now`: run the policy now, wait (until when,
 * and why), or stop. The daemon only gathers these inputs, sleeps and acts; every rule about cron
 * fires, windows, freezes, held runs, Lease back-off, catch-up and policy changes is here, and
 * `schedule-next.test.ts` has one table row per case.
 *
 * Invariants:
 * - A run that is mid-step or rolling back is continued at once: the engine only holds at wave
 *   boundaries, and a half-migrated wave must keep being watched.
 * - A finished run (promoted, rolled back or failed) of the same policy identity is never started
 *   again: repeating a finished upgrade every night is not a schedule, and retrying a rolled-back
 *   canary needs a human (change the policy to start again).
 * - An active run whose policy changed is not continued (the runner refuses it too): the loop
 *   says why and re-reads the state until the policy is restored or the run ends elsewhere.
 * - Cron fires missed while no daemon ran collapse into one, caught up only within the open
 *   period (or the grace period of a window-less schedule) it would have started in.
 */
import { estimateWaveMs } from './decide.ts';
import { nextCronFire, nextFit, openSince, scheduleStatus } from './schedule.ts';
import type { StoredRunState } from './state-schema.ts';
import { terminalPhases, type RunState } from './state.ts';
import type { Policy, Schedule } from '../policy/types.ts';

/** The loop's intervals (the daemon's options). */
export type LoopSettings = {
  /** How often the state of a held (or refused) run is re-read for decisions made elsewhere. */
  statePollMs: number;
  /** How long a held run without a timer of its own waits before it is looked at again. */
  heldRecheckMs: number;
  /** Longest back-off while another daemon holds the Lease (it ends earlier, at the Lease's expiry). */
  lockedRetryMs: number;
  /** Back-off after an error: doubles with every error in a row, from `min` to `max`. */
  errorBackoffMs: { min: number; max: number };
  /** A cron fire missed by at most this much when a policy loads is caught up (schedules without windows). */
  missedFireGraceMs: number;
  /** Longest single wait: nothing is due, the loop looks again anyway (cheap). */
  maxIdleMs: number;
};

export const defaultLoopSettings: LoopSettings = {
  statePollMs: 30_000,
  heldRecheckMs: 300_000,
  lockedRetryMs: 60_000,
  errorBackoffMs: { min: 30_000, max: 600_000 },
  missedFireGraceMs: 900_000,
  maxIdleMs: 6 * 3_600_000,
};

/** Why the loop does not invoke the runner before some instant. */
export type Backoff =
  /** Another daemon held the policy's Lease at `at`; it expires at `leaseExpiresAt` when known. */
  | { kind: 'locked'; at: Date; leaseExpiresAt?: Date }
  /** Something failed at `at`; `what` says what, for the reason shown. */
  | { kind: 'error'; at: Date; what: string };

/** What one policy's loop remembers between decisions (the cluster remembers the rest). */
export type LoopMemory = {
  /** Cron fires after this instant are still to come. */
  fireCursor: Date;
  /** A cron fire that has not started a run yet (the schedule was closed when it came). */
  pendingFire?: Date;
  /** Version of the stored state the loop last acted on; undefined until it has seen one. */
  seenVersion?: string;
  /**
   * A decision (an approval, an abort) reached the state and no invocation has acted on it yet,
   * even if the stored version looks seen: a poke, or a decision saved while the run returned.
   */
  decisionPending: boolean;
  backoff?: Backoff;
  /** Errors in a row (the error back-off doubles with each). */
  errors: number;
  /** When a held run is looked at again (its engine timer, or the re-check interval). */
  wakeAt?: Date;
};

/** The stored run state as the loop read it. */
export type StoredView =
  /** No state: the policy never ran here. */
  | { kind: 'none' }
  | { kind: 'run'; state: StoredRunState; version: string }
  /** The read failed, or the document is not a valid run state (it is not acted on). */
  | { kind: 'unreadable' };

export type NextStepInput = {
  memory: LoopMemory;
  stored: StoredView;
  policy: Policy;
  /** `policyIdentity(policy)`: what the stored run's `policyHash` is compared with. */
  identity: string;
  /** The policy's file left the folder: its loop ends. */
  removed: boolean;
  now: Date;
  settings: LoopSettings;
};

/** Why the loop invokes the runner now. */
export type RunReason =
  /** A run is mid-step or rolling back: continue it. */
  | 'active-run'
  /** The state of a held run changed since the loop last acted (a decision, an abort): act on it. */
  | 'state-changed'
  /** A held run seen for the first time (start-up, a policy newly loaded): look at it now. */
  | 'held-run-found'
  /** A run held for its window: the next wave fits now. */
  | 'window-open'
  /** A held run's timer is due (approval expiry, re-check). */
  | 'hold-timer'
  /** A cron fire is due and the schedule is open. */
  | 'cron-fire';

/** Why the loop waits. */
export type WaitReason =
  /** Another daemon holds the policy's Lease. */
  | 'locked'
  /** Backing off after an error. */
  | 'error'
  /** The active run started under another version of the policy; it is not continued. */
  | 'policy-changed'
  /** A run held for its window: no window ahead is long enough for the next wave. */
  | 'no-window-fits'
  /** A run held for its window: waiting for the next window the next wave fits in. */
  | 'wave-window'
  /** A held run waits for its timer or for a decision. */
  | 'held'
  /** The last run of this policy (same identity) is finished. */
  | 'finished'
  /** No schedule: the daemon continues runs of this policy but never starts one. */
  | 'no-schedule'
  /** Waiting for the next cron fire. */
  | 'next-fire'
  /** A cron fire is due but the schedule is closed (outside the windows, or a freeze). */
  | 'closed';

export type NextStep =
  | { kind: 'run'; reason: RunReason; why: string }
  | {
      kind: 'wait';
      reason: WaitReason;
      why: string;
      /** The instant waited for (the runs API's `nextScheduledAt`); undefined: nothing is scheduled. */
      until?: Date;
      /** When the loop asks again at the latest (earlier for state polls and idle wake-ups). */
      wakeAt: Date;
    }
  /** The loop ends (its policy was removed). */
  | { kind: 'stop'; why: string };

export type Decision = { step: NextStep; memory: LoopMemory };

/** Memory of a policy just loaded at `now`: where cron fires start counting (catch-up). */
export function initialMemory(schedule: Schedule | undefined, now: Date, settings: LoopSettings): LoopMemory {
  return { fireCursor: catchUpFrom(schedule, now, settings), decisionPending: false, errors: 0 };
}

/**
 * A fire missed while no daemon ran (a restart during the window) is caught up if it came since
 * the open period began (or, without windows, within the grace period). One millisecond before
 * the opening: a fire exactly at the opening instant counts.
 */
function catchUpFrom(schedule: Schedule | undefined, now: Date, settings: LoopSettings): Date {
  if (!schedule) return now;
  const since = openSince(schedule, now);
  if (schedule.windows.length === 0)
    return new Date(Math.max(since ? since.getTime() - 1 : 0, now.getTime() - settings.missedFireGraceMs));
  return since ? new Date(since.getTime() - 1) : now;
}

/** A decision about this policy was recorded here (the Slack endpoint): act on it at once. */
export function poked(memory: LoopMemory): LoopMemory {
  return { ...memory, decisionPending: true };
}

/** The instant a back-off ends. */
export function backoffEnds(backoff: Backoff, errors: number, settings: LoopSettings): Date {
  const at = backoff.at.getTime();
  if (backoff.kind === 'locked') {
    const retry = at + settings.lockedRetryMs;
    const expiry = backoff.leaseExpiresAt ? backoff.leaseExpiresAt.getTime() + 1_000 : retry;
    return new Date(Math.max(Math.min(retry, expiry), at + 1_000));
  }
  const { min, max } = settings.errorBackoffMs;
  return new Date(at + Math.min(max, min * 2 ** Math.min(Math.max(errors, 1) - 1, 16)));
}

/** What the loop does now, and what it remembers afterwards. */
export function nextStep(input: NextStepInput): Decision {
  const { now, settings } = input;
  if (input.removed) return { step: { kind: 'stop', why: 'policy removed' }, memory: input.memory };
  let memory = input.memory;
  if (memory.backoff) {
    const until = backoffEnds(memory.backoff, memory.errors, settings);
    if (now < until) return { step: backoffWait(memory.backoff, until, settings, now), memory };
    const { backoff: _over, ...rest } = memory;
    memory = rest;
  }
  const stored = input.stored;
  if (stored.kind === 'unreadable') {
    const backoff: Backoff = { kind: 'error', at: now, what: 'cannot read the run state' };
    memory = { ...memory, errors: memory.errors + 1, backoff };
    return { step: backoffWait(backoff, backoffEnds(backoff, memory.errors, settings), settings, now), memory };
  }
  if (stored.kind === 'run' && !terminalPhases.has(stored.state.phase)) return activeStep(input, memory, stored);
  if (stored.kind === 'run' && stored.state.policyHash === input.identity) {
    const why = `finished (${stored.state.phase}); change the policy to run again`;
    return { step: wait('finished', why, undefined, false, settings, now), memory };
  }
  return scheduledStep(input, memory);
}

function backoffWait(backoff: Backoff, until: Date, settings: LoopSettings, now: Date): NextStep {
  if (backoff.kind === 'locked') return wait('locked', 'another runner holds the policy', until, false, settings, now);
  return wait('error', `${backoff.what}; retrying`, until, false, settings, now);
}

/** A run that is not finished: continue it, or wait for its window, its timer or a decision. */
function activeStep(input: NextStepInput, memory: LoopMemory, stored: Extract<StoredView, { kind: 'run' }>): Decision {
  const { now, settings, policy } = input;
  const state = stored.state;
  if (state.policyHash !== undefined && state.policyHash !== input.identity) {
    const why = `policy ${policy.metadata.name} changed while its run ${state.runId} is active (phase ${state.phase}); restore the policy it started with, or abort the run`;
    return { step: wait('policy-changed', why, undefined, true, settings, now), memory };
  }
  if (state.phase !== 'Held') return run('active-run', 'active run', memory);
  if (memory.seenVersion === undefined)
    return run('held-run-found', 'held run found', { ...memory, seenVersion: stored.version });
  if (stored.version !== memory.seenVersion || memory.decisionPending)
    return run('state-changed', 'run state changed', memory);
  const schedule = policy.spec.schedule;
  if (state.hold?.kind === 'window' && schedule) {
    const wave = state.steps[state.cursor]?.wave ?? 0;
    const at = nextFit(schedule, now, estimateWaveMs(policy, state, wave));
    if (!at) {
      const why = 'no window ahead is long enough for the next wave';
      return { step: wait('no-window-fits', why, undefined, true, settings, now), memory };
    }
    if (at <= now) return run('window-open', 'window open', memory);
    const why = 'held until the next window the wave fits in';
    return { step: wait('wave-window', why, at, true, settings, now), memory };
  }
  const at = memory.wakeAt ?? new Date(now.getTime() + settings.heldRecheckMs);
  if (at <= now) return run('hold-timer', 'hold timer', memory);
  const why = `held: ${state.hold?.kind ?? 'hold'}`;
  return { step: wait('held', why, at, true, settings, now), memory: { ...memory, wakeAt: at } };
}

/** No active run: start one when a cron fire is due and the schedule is open. */
function scheduledStep(input: NextStepInput, memory: LoopMemory): Decision {
  const { now, settings } = input;
  const schedule = input.policy.spec.schedule;
  if (!schedule) return { step: wait('no-schedule', 'no schedule', undefined, false, settings, now), memory };
  if (!memory.pendingFire) {
    const fire = nextCronFire(schedule, memory.fireCursor);
    if (fire > now) return { step: wait('next-fire', 'next cron fire', fire, false, settings, now), memory };
    // Every fire up to now is this one: missed fires collapse into a single run.
    memory = { ...memory, pendingFire: fire, fireCursor: now };
  }
  const status = scheduleStatus(schedule, now);
  if (status.open) return run('cron-fire', 'cron fire', memory);
  return { step: wait('closed', `due; ${status.reason}`, status.opensAt, false, settings, now), memory };
}

/** An invocation starts: the fire it serves and the hold timer it answers are used up. */
function run(reason: RunReason, why: string, memory: LoopMemory): Decision {
  const { pendingFire: _fire, wakeAt: _timer, ...rest } = memory;
  return { step: { kind: 'run', reason, why }, memory: rest };
}

/** A wait until `until` (or idle), looking again after one state poll when `poll`. */
function wait(
  reason: WaitReason,
  why: string,
  until: Date | undefined,
  poll: boolean,
  settings: LoopSettings,
  now: Date,
): NextStep {
  const t = now.getTime();
  const wakeAt = Math.min(
    until ? Math.max(until.getTime(), t) : Number.POSITIVE_INFINITY,
    poll ? t + settings.statePollMs : Number.POSITIVE_INFINITY,
    t + settings.maxIdleMs,
  );
  return { kind: 'wait', reason, why, ...(until ? { until } : {}), wakeAt: new Date(wakeAt) };
}

/** How an invocation of the runner ended (the runner's outcomes, and `error` when it threw). */
export type InvocationOutcome = 'promoted' | 'rolled-back' | 'held' | 'failed' | 'locked' | 'interrupted' | 'error';

export type Invocation = {
  outcome: InvocationOutcome;
  /** The state the runner returned with. */
  state?: RunState;
  /** From a held result: when the engine wants to look again. */
  wakeAt?: Date;
  /** With `locked`: when the other daemon's Lease expires, when known. */
  leaseExpiresAt?: Date;
  /** The stored state read right after the invocation; undefined when there was none or the read failed. */
  latest?: { version: string; state: RunState };
};

/** What the loop remembers after an invocation that ended at `now`. */
export function afterInvocation(memory: LoopMemory, invocation: Invocation, now: Date): LoopMemory {
  switch (invocation.outcome) {
    case 'error':
      return {
        ...memory,
        errors: memory.errors + 1,
        backoff: { kind: 'error', at: now, what: 'the last invocation failed' },
      };
    case 'locked': {
      const lease = invocation.leaseExpiresAt ? { leaseExpiresAt: invocation.leaseExpiresAt } : {};
      return { ...memory, backoff: { kind: 'locked', at: now, ...lease } };
    }
    case 'failed':
      // An active run left behind (its policy changed under it): do not spin, back off.
      if (invocation.state && !terminalPhases.has(invocation.state.phase))
        return seen(
          {
            ...memory,
            errors: memory.errors + 1,
            backoff: { kind: 'error', at: now, what: 'the run cannot continue' },
          },
          invocation,
        );
      return seen({ ...memory, errors: 0 }, invocation);
    case 'held': {
      const timer = invocation.wakeAt ? { wakeAt: invocation.wakeAt } : {};
      return seen({ ...memory, ...timer, errors: 0 }, invocation);
    }
    case 'promoted':
    case 'rolled-back':
    case 'interrupted':
      return seen({ ...memory, errors: 0 }, invocation);
  }
}

/**
 * Remembers the state version the run left behind. A decision written between the run's last
 * save and the read after it is not one the run acted on: it stays pending, so the loop acts on
 * it at once.
 */
function seen(memory: LoopMemory, invocation: Invocation): LoopMemory {
  const latest = invocation.latest;
  if (!latest) return memory;
  const ours = invocation.state;
  const external =
    ours !== undefined &&
    (JSON.stringify(latest.state.approvals) !== JSON.stringify(ours.approvals) ||
      Boolean(latest.state.abortRequested) !== Boolean(ours.abortRequested));
  return { ...memory, seenVersion: latest.version, decisionPending: external };
}
