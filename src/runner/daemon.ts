/**
 * The `serve` daemon: loads every policy of a folder, keeps it loaded as the folder changes, and
 * supervises one loop per policy that starts runs on the policy's cron schedule, continues held
 * runs when their window opens, their timer fires or their state changes (an approval, an abort),
 * and backs off when another daemon holds the policy's Lease.
 *
 * Time is injected: every wait is `clock.sleep` until an instant computed from `clock.now()`,
 * cron's next date and the schedule's windows, so tests drive weeks of nights with a fake clock.
 * File watching and rescans use real timers: the folder lives in the real world.
 *
 * Invariants:
 * - One loop per loaded policy name; a loop either sleeps or awaits one `runPolicy` at a time.
 * - A run is never killed mid-step: removal and shutdown abort its signal, and `runPolicy` stops
 *   at the next step boundary with its state persisted (the next runner resumes it).
 * - The daemon never starts a new run of a policy whose last run of the same spec finished
 *   (promoted, rolled back or failed): repeating a finished upgrade every night is not a schedule,
 *   and retrying a rolled-back canary needs a human (change the policy to start again).
 */
import { policyIdentity } from '../policy/identity.ts';
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { estimateWaveMs } from '../engine/decide.ts';
import { terminalPhases, type Hold, type RunPhase, type RunState, type StepRecord } from '../engine/state.ts';
import { formatProblem, type PolicyProblem } from '../errors.ts';
import type { Lock } from '../ports/lock.ts';
import type { StateStore } from '../ports/state-store.ts';
import { loadPolicyText, MAX_ALIAS_COUNT, MAX_POLICY_BYTES } from '../policy/load.ts';
import type { Policy, SlackSettings } from '../policy/types.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { RunnerMetrics } from '../telemetry/metrics.ts';
import {
  parseStoredState,
  runPolicy,
  type Clock,
  type RunnerDeps,
  type RunOutcome,
  type RunResult,
} from './run-policy.ts';
import { engineWindow, nextCronFire, nextFit, openSince, scheduleStatus } from '../engine/schedule.ts';

export type DaemonOptions = {
  /** Folder of policy files (`*.yaml`, `*.yml`; dot-files and ConfigMap `..data` links ignored). */
  policiesDir: string;
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
  /** Real-time interval of the safety-net rescan (default 30 s); 0 disables it. */
  rescanMs?: number;
  /** Real-time debounce of watch events (default 200 ms). */
  debounceMs?: number;
  /** Watch the folder with fs.watch (default true). */
  watch?: boolean;
};

/** One file of the folder, as loaded. */
type FileEntry = {
  file: string;
  hash: string;
  policy?: Policy;
  problems: PolicyProblem[];
  warnings: PolicyProblem[];
  /** `metadata.name` of an invalid file, when it can be read (for the runs API only). */
  name?: string;
  /** Name of the last valid version of an invalid file: that version keeps running. */
  lastGood?: Policy;
};

/** One policy's status in the runs API. */
export type RunView = {
  /** Policy name (undefined when the file does not load far enough to tell). */
  name?: string;
  file: string;
  valid: boolean;
  /** `file:line:col path: message`, every problem at once. */
  problems: string[];
  warnings: string[];
  /** The file is invalid but its last valid version keeps running. */
  stale?: boolean;
  /** The file is gone; its loop ends at the next step boundary. */
  removed?: boolean;
  scheduled: boolean;
  /** A runner invocation is in flight in this daemon. */
  running: boolean;
  runId?: string;
  phase?: RunPhase;
  step?: string;
  hold?: Hold;
  lastOutcome?: RunOutcome | 'error';
  lastMessage?: string;
  lastRunAt?: string;
  nextScheduledAt?: string;
  /** Why the loop waits until `nextScheduledAt`. */
  waiting?: string;
};

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

type Wait = { kind: 'wait'; until?: Date; poll: boolean; why: string };
type Next = { kind: 'run'; why: string } | Wait;

type Slot = {
  name: string;
  file: string;
  policy: Policy;
  hash: string;
  log: Logger;
  removed: boolean;
  run?: AbortController;
  sleep?: AbortController;
  woken: boolean;
  /** Cron fires after this instant are still to come. */
  fireCursor: Date;
  /** A cron fire that has not started a run yet (the window was closed). */
  pendingFire?: Date;
  /** Version of the state the loop last acted on; a different one means someone decided something. */
  seenVersion?: string;
  /** No invocation before this (another daemon holds the Lease, or an error backoff). */
  retryAt?: Date;
  errors: number;
  /** From the last held result: when the engine wants to look again. */
  wakeAt?: Date;
  lastPhase?: RunPhase;
  lastEvaluations?: number;
  view: Pick<
    RunView,
    'runId' | 'phase' | 'step' | 'hold' | 'lastOutcome' | 'lastMessage' | 'lastRunAt' | 'nextScheduledAt' | 'waiting'
  >;
  done?: Promise<void>;
};

const POLICY_FILE = /\.ya?ml$/i;
/** Longest single sleep when nothing is due (a wake-up to re-evaluate; cheap). */
const MAX_IDLE_MS = 6 * 3_600_000;

export function createDaemon(options: DaemonOptions): Daemon {
  const { clock, logger, metrics, store, lock } = options;
  const leaseTtlMs = options.leaseTtlMs ?? 30_000;
  const statePollMs = options.statePollMs ?? 30_000;
  const runPollMs = options.runPollMs ?? 5_000;
  const lockedRetryMs = options.lockedRetryMs ?? 60_000;
  const backoff = options.errorBackoffMs ?? { min: 30_000, max: 600_000 };
  const heldRecheckMs = options.heldRecheckMs ?? 300_000;
  const graceMs = options.missedFireGraceMs ?? 900_000;
  const files = new Map<string, FileEntry>();
  const slots = new Map<string, Slot>();
  let stopping = false;
  let liveLoops = 0;
  let watcher: FSWatcher | undefined;
  let rescanTimer: NodeJS.Timeout | undefined;
  let debounceTimer: NodeJS.Timeout | undefined;
  let scanning: Promise<void> | undefined;
  let scanAgain = false;

  // ---- the folder -------------------------------------------------------------------------

  async function loadFile(file: string, previous: FileEntry | undefined): Promise<FileEntry | undefined> {
    let bytes: Buffer;
    try {
      const info = await stat(file);
      if (!info.isFile()) return undefined; // a directory named *.yaml, a dangling link mid-swap
      if (info.size > MAX_POLICY_BYTES) {
        const problem: PolicyProblem = {
          path: '',
          rule: 'size',
          message: `the file is ${info.size} bytes; policies are limited to ${MAX_POLICY_BYTES} bytes`,
          location: { file, line: 1, col: 1 },
        };
        return {
          file,
          hash: `size:${info.size}:${info.mtimeMs}`,
          problems: [problem],
          warnings: [],
          ...lastGoodOf(previous),
        };
      }
      bytes = await readFile(file);
    } catch (error) {
      // Vanished between readdir and read (a ConfigMap symlink swap): the next scan sees the new state.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      const problem: PolicyProblem = {
        path: '',
        rule: 'read',
        message: `cannot read policy file: ${(error as Error).message}`,
        location: { file, line: 1, col: 1 },
      };
      return { file, hash: 'unreadable', problems: [problem], warnings: [], ...lastGoodOf(previous) };
    }
    const hash = createHash('sha256').update(bytes).digest('hex');
    if (previous && previous.hash === hash) return previous;
    const loaded = loadPolicyText(bytes.toString('utf8'), file);
    if (loaded.policy) return { file, hash, policy: loaded.policy, problems: [], warnings: loaded.warnings };
    const name = nameOf(bytes.toString('utf8'));
    return {
      file,
      hash,
      problems: loaded.problems,
      warnings: loaded.warnings,
      ...(name ? { name } : {}),
      ...lastGoodOf(previous),
    };
  }

  function lastGoodOf(previous: FileEntry | undefined): { lastGood?: Policy } {
    const good = previous?.policy ?? previous?.lastGood;
    return good ? { lastGood: good } : {};
  }

  async function scanOnce(): Promise<void> {
    let names: string[];
    try {
      names = (await readdir(options.policiesDir)).filter((n) => !n.startsWith('.') && POLICY_FILE.test(n)).sort();
    } catch (error) {
      logger.error({ dir: options.policiesDir, err: (error as Error).message }, 'policy folder unreadable');
      return;
    }
    const seen = new Set<string>();
    for (const name of names) {
      const file = join(options.policiesDir, name);
      const previous = files.get(file);
      const entry = await loadFile(file, previous);
      if (!entry) continue;
      seen.add(file);
      if (entry === previous) continue;
      files.set(file, entry);
      if (entry.policy) {
        logger.info(
          { file, policy: entry.policy.metadata.name, warnings: entry.warnings.map(formatProblem) },
          previous ? 'policy reloaded' : 'policy loaded',
        );
      } else {
        logger.error(
          { file, problems: entry.problems.map(formatProblem), keeps: entry.lastGood?.metadata.name },
          'invalid policy',
        );
      }
    }
    for (const file of [...files.keys()]) {
      if (seen.has(file)) continue;
      files.delete(file);
      logger.info({ file }, 'policy file removed');
    }
    reconcile();
  }

  /** Loaded policies by name: the first file (in name order) defining a name wins. */
  function effectivePolicies(): Map<string, { file: string; policy: Policy; stale: boolean }> {
    const byName = new Map<string, { file: string; policy: Policy; stale: boolean }>();
    for (const entry of [...files.values()].sort((a, b) => a.file.localeCompare(b.file))) {
      const policy = entry.policy ?? entry.lastGood;
      if (!policy || byName.has(policy.metadata.name)) continue;
      byName.set(policy.metadata.name, { file: entry.file, policy, stale: !entry.policy });
    }
    return byName;
  }

  function duplicateOf(entry: FileEntry, effective: Map<string, { file: string }>): string | undefined {
    const name = entry.policy?.metadata.name;
    const owner = name ? effective.get(name) : undefined;
    return owner && owner.file !== entry.file ? owner.file : undefined;
  }

  function reconcile(): void {
    const effective = effectivePolicies();
    metrics.invalidPolicies([...files.values()].filter((e) => !e.policy || duplicateOf(e, effective)).length);
    if (stopping) return;
    for (const [name, { file, policy }] of effective) {
      const slot = slots.get(name);
      if (!slot || slot.removed) {
        if (slot?.removed) continue; // the old loop is still finishing its step; the next scan restarts it
        startSlot(name, file, policy);
        continue;
      }
      slot.file = file;
      const hash = policyIdentity(policy);
      if (hash !== slot.hash || slot.policy !== policy) {
        slot.policy = policy;
        if (hash !== slot.hash) slot.log.info({ file }, 'policy changed; applies from the next invocation');
        slot.hash = hash;
        wake(slot);
      }
    }
    for (const slot of slots.values()) {
      if (effective.has(slot.name) || slot.removed) continue;
      slot.removed = true;
      slot.log.info('policy removed; its loop stops at the next step boundary');
      slot.run?.abort();
      wake(slot);
    }
  }

  async function rescan(): Promise<void> {
    if (scanning) {
      scanAgain = true;
      return scanning;
    }
    scanning = (async () => {
      try {
        do {
          scanAgain = false;
          await scanOnce();
        } while (scanAgain && !stopping);
      } finally {
        scanning = undefined;
      }
    })();
    return scanning;
  }

  function scheduleRescan(): void {
    if (stopping) return;
    if (debounceTimer) clearTimeout(debounceTimer);
    debounceTimer = setTimeout(() => {
      debounceTimer = undefined;
      rescan().catch((error: unknown) => logger.error({ err: (error as Error).message }, 'policy rescan failed'));
    }, options.debounceMs ?? 200);
  }

  // ---- the loops --------------------------------------------------------------------------

  function startSlot(name: string, file: string, policy: Policy): void {
    const now = clock.now();
    const slot: Slot = {
      name,
      file,
      policy,
      hash: policyIdentity(policy),
      log: logger.child({ policy: name }),
      removed: false,
      woken: false,
      fireCursor: catchUpFrom(policy, now),
      errors: 0,
      view: {},
    };
    slots.set(name, slot);
    liveLoops += 1;
    slot.done = loop(slot)
      .catch((error: unknown) => slot.log.error({ err: (error as Error).message }, 'policy loop crashed'))
      .finally(() => {
        liveLoops -= 1;
        if (slots.get(name) === slot) slots.delete(name);
        metrics.forget(name);
        // A file that came back while the old loop finished its step gets a fresh loop.
        if (slot.removed && !stopping) reconcile();
      });
  }

  /**
   * Where cron fires start counting when a policy loads: a fire missed while no daemon ran (a
   * restart during the window) is caught up if it happened since the window opened (or, without
   * windows, within the grace period).
   */
  function catchUpFrom(policy: Policy, now: Date): Date {
    const schedule = policy.spec.schedule;
    if (!schedule) return now;
    // One millisecond before the opening: a fire exactly at the opening instant counts.
    const since = openSince(schedule, now);
    if (schedule.windows.length === 0)
      return new Date(Math.max(since ? since.getTime() - 1 : 0, now.getTime() - graceMs));
    return since ? new Date(since.getTime() - 1) : now;
  }

  function wake(slot: Slot): void {
    slot.woken = true;
    slot.sleep?.abort();
  }

  async function sleepUntil(slot: Slot, wait: Wait): Promise<void> {
    if (slot.woken) {
      slot.woken = false;
      return;
    }
    const now = clock.now().getTime();
    let ms = wait.until ? Math.max(0, wait.until.getTime() - now) : MAX_IDLE_MS;
    if (wait.poll) ms = Math.min(ms, statePollMs);
    ms = Math.min(ms, MAX_IDLE_MS);
    const controller = new AbortController();
    slot.sleep = controller;
    try {
      await clock.sleep(ms, controller.signal);
    } catch {
      // Woken early: the loop re-evaluates.
    } finally {
      slot.sleep = undefined;
      slot.woken = false;
    }
  }

  async function loop(slot: Slot): Promise<void> {
    slot.log.debug({ file: slot.file }, 'policy loop started');
    while (!stopping && !slot.removed) {
      let next: Next;
      try {
        next = await decideNext(slot);
      } catch (error) {
        next = failed(slot, error, 'cannot read the run state');
      }
      if (stopping || slot.removed) break;
      if (next.kind === 'run') {
        slot.view.nextScheduledAt = undefined;
        slot.view.waiting = undefined;
        await invoke(slot, next.why);
        continue;
      }
      slot.view.nextScheduledAt = next.until?.toISOString();
      slot.view.waiting = next.why;
      await sleepUntil(slot, next);
    }
    slot.log.debug('policy loop stopped');
  }

  function failed(slot: Slot, error: unknown, what: string): Wait {
    slot.errors += 1;
    const delay = Math.min(backoff.max, backoff.min * 2 ** Math.min(slot.errors - 1, 16));
    slot.retryAt = new Date(clock.now().getTime() + delay);
    slot.log.error({ err: (error as Error).message, retryInMs: delay }, 'policy loop error; backing off');
    return { kind: 'wait', until: slot.retryAt, poll: false, why: `${what}; retrying` };
  }

  /** What the loop does now: run the policy, or wait (until when, and why). */
  async function decideNext(slot: Slot): Promise<Next> {
    const now = clock.now();
    if (slot.retryAt && now < slot.retryAt)
      return {
        kind: 'wait',
        until: slot.retryAt,
        poll: false,
        why: slot.view.lastOutcome === 'locked' ? 'another runner holds the policy' : 'backing off after an error',
      };
    slot.retryAt = undefined;
    const stored = await store.load(slot.name);
    const state = stored ? parseStoredState(stored.document, slot.name) : undefined;
    observeState(slot, state);
    const changed = stored !== undefined && stored.version !== slot.seenVersion;
    const schedule = slot.policy.spec.schedule;

    if (state && !terminalPhases.has(state.phase)) {
      // Mid-step (a restart, a takeover) or rolling back: continue now; the engine only holds
      // at wave boundaries, and a half-migrated wave must keep being watched.
      if (state.phase !== 'Held') return { kind: 'run', why: 'active run' };
      if (changed && slot.seenVersion !== undefined) return { kind: 'run', why: 'run state changed' };
      if (slot.seenVersion === undefined) {
        slot.seenVersion = stored?.version;
        return { kind: 'run', why: 'held run found' };
      }
      if (state.hold?.kind === 'window' && schedule) {
        const wave = state.steps[state.cursor]?.wave ?? 0;
        const at = nextFit(schedule, now, estimateWaveMs(slot.policy, state, wave));
        if (!at) return { kind: 'wait', poll: true, why: 'no window ahead is long enough for the next wave' };
        if (at <= now) return { kind: 'run', why: 'window open' };
        return { kind: 'wait', until: at, poll: true, why: 'held until the next window the wave fits in' };
      }
      const at = slot.wakeAt ?? new Date(now.getTime() + heldRecheckMs);
      slot.wakeAt = at;
      if (at <= now) {
        slot.wakeAt = undefined;
        return { kind: 'run', why: 'hold timer' };
      }
      return { kind: 'wait', until: at, poll: true, why: `held: ${state.hold?.kind ?? 'hold'}` };
    }

    if (state && terminalPhases.has(state.phase) && state.policyHash === slot.hash) {
      return { kind: 'wait', poll: false, why: `finished (${state.phase}); change the policy to run again` };
    }
    if (!schedule) return { kind: 'wait', poll: false, why: 'no schedule' };
    if (!slot.pendingFire) {
      const fire = nextCronFire(schedule, slot.fireCursor);
      if (fire > now) return { kind: 'wait', until: fire, poll: false, why: 'next cron fire' };
      slot.pendingFire = fire;
      slot.fireCursor = now;
    }
    // Another daemon may have started a run for this fire already.
    if (state && Date.parse(state.startedAt) >= slot.pendingFire.getTime() && state.policyHash === slot.hash) {
      slot.pendingFire = undefined;
      return { kind: 'wait', until: now, poll: false, why: 'run already started elsewhere' };
    }
    const status = scheduleStatus(schedule, now);
    if (status.open) return { kind: 'run', why: 'cron fire' };
    return { kind: 'wait', until: status.opensAt, poll: false, why: `due; ${status.reason}` };
  }

  async function invoke(slot: Slot, why: string): Promise<void> {
    const policy = slot.policy;
    const controller = new AbortController();
    slot.run = controller;
    slot.pendingFire = undefined;
    slot.wakeAt = undefined;
    const startedAt = clock.now();
    slot.view.lastRunAt = startedAt.toISOString();
    slot.log.info({ reason: why }, 'invoking runner');
    let result: RunResult;
    try {
      const deps = await options.runnerDeps(policy);
      result = await runPolicy(policy, deps, {
        signal: controller.signal,
        leaseTtlMs,
        pollMs: runPollMs,
        schedule: (now) => engineWindow(policy.spec.schedule, now),
        onProgress: (state, changed) => progress(slot, state, changed),
      });
    } catch (error) {
      slot.view.lastOutcome = 'error';
      slot.view.lastMessage = (error as Error).message;
      metrics.runFinished(slot.name, 'error');
      failed(slot, error, 'the last invocation failed');
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
    if (result.state) observeState(slot, result.state);
    switch (result.outcome) {
      case 'locked':
        slot.retryAt = await lockedRetry(slot);
        return;
      case 'held':
        if (result.wakeAt) slot.wakeAt = result.wakeAt;
        break;
      case 'promoted':
        metrics.promoted(slot.name, clock.now());
        break;
      case 'failed':
        // With an active run left (the policy changed under it), do not spin: back off.
        if (result.state && !terminalPhases.has(result.state.phase))
          failed(slot, new Error(result.message), 'the run cannot continue');
        break;
      case 'rolled-back':
      case 'interrupted':
        break;
    }
    if (!(result.outcome === 'failed' && slot.retryAt)) slot.errors = 0;
    await recordSeen(slot, result);
  }

  /** Until when another daemon's Lease holds: its expiry, bounded by the retry interval. */
  async function lockedRetry(slot: Slot): Promise<Date> {
    const now = clock.now().getTime();
    let at = now + lockedRetryMs;
    try {
      const holder = await lock.holder(slot.name);
      if (holder) at = Math.min(at, holder.expiresAt.getTime() + 1_000);
    } catch (error) {
      slot.log.warn({ err: (error as Error).message }, 'lease holder unknown');
    }
    return new Date(Math.max(at, now + 1_000));
  }

  /**
   * Remembers the state version the run left behind. A decision written between the run's last
   * save and this read is not ours: leave the version unseen so the loop acts on it at once.
   */
  async function recordSeen(slot: Slot, result: RunResult): Promise<void> {
    try {
      const stored = await store.load(slot.name);
      if (!stored) return;
      const latest = parseStoredState(stored.document, slot.name);
      const external =
        result.state &&
        (JSON.stringify(latest.approvals) !== JSON.stringify(result.state.approvals) ||
          Boolean(latest.abortRequested) !== Boolean(result.state.abortRequested));
      slot.seenVersion = external ? `${stored.version}-unseen` : stored.version;
    } catch (error) {
      slot.log.warn({ err: (error as Error).message }, 'run state unreadable after the run');
    }
  }

  /** Folds a state into the view and the gauges. */
  function observeState(slot: Slot, state: RunState | undefined): void {
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

  function progress(slot: Slot, state: RunState, changed: StepRecord[]): void {
    observeState(slot, state);
    for (const record of changed) {
      const match = /^wave\/(.+)\/bake$/.exec(record.id);
      if (!match || record.status !== 'done' || !record.finishedAt) continue;
      const first = state.records.find((r) => r.id.startsWith(`wave/${match[1]}/`) && r.startedAt);
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

  // ---- the API ----------------------------------------------------------------------------

  function runs(): RunView[] {
    const effective = effectivePolicies();
    const views: RunView[] = [];
    const listed = new Set<string>();
    for (const entry of [...files.values()].sort((a, b) => a.file.localeCompare(b.file))) {
      const duplicate = duplicateOf(entry, effective);
      const policy = entry.policy ?? entry.lastGood;
      const name = policy?.metadata.name ?? entry.name;
      const slot = name && !duplicate ? slots.get(name) : undefined;
      if (slot) listed.add(slot.name);
      const problems = entry.problems.map(formatProblem);
      if (duplicate)
        problems.push(
          `${entry.file}:1:1 metadata.name: policy ${name} is already defined in ${duplicate}; this file is ignored`,
        );
      views.push({
        ...(name ? { name } : {}),
        file: entry.file,
        valid: entry.policy !== undefined && !duplicate,
        problems,
        warnings: entry.warnings.map(formatProblem),
        ...(!entry.policy && entry.lastGood ? { stale: true } : {}),
        scheduled: slot !== undefined && slot.policy.spec.schedule !== undefined,
        running: slot?.run !== undefined,
        ...(slot ? definedOnly(slot.view) : {}),
      });
    }
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

  return {
    async start() {
      await rescan();
      if (options.watch !== false) {
        try {
          // The folder, not the files: ConfigMap mounts change by swapping the `..data` symlink.
          watcher = watch(options.policiesDir, { persistent: false }, () => scheduleRescan());
          watcher.on('error', (error) =>
            logger.warn({ err: error.message }, 'policy folder watch failed; relying on rescans'),
          );
        } catch (error) {
          logger.warn({ err: (error as Error).message }, 'policy folder watch failed; relying on rescans');
        }
      }
      const every = options.rescanMs ?? 30_000;
      if (every > 0) {
        rescanTimer = setInterval(() => scheduleRescan(), every);
        rescanTimer.unref();
      }
    },
    async stop() {
      stopping = true;
      watcher?.close();
      if (rescanTimer) clearInterval(rescanTimer);
      if (debounceTimer) clearTimeout(debounceTimer);
      for (const slot of slots.values()) {
        slot.run?.abort();
        wake(slot);
      }
      await Promise.all([...slots.values()].map((s) => s.done));
      await scanning;
    },
    rescan,
    runs,
    poke(policy) {
      const slot = slots.get(policy);
      if (!slot) return;
      slot.seenVersion = slot.seenVersion === undefined ? undefined : `${slot.seenVersion}-poked`;
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

/** Best effort: the `metadata.name` of a document that does not load as a policy. */
function nameOf(text: string): string | undefined {
  try {
    const document = parse(text, { maxAliasCount: MAX_ALIAS_COUNT }) as { metadata?: { name?: unknown } } | undefined;
    const name = document?.metadata?.name;
    return typeof name === 'string' && name.length <= 253 ? name : undefined;
  } catch {
    return undefined;
  }
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
