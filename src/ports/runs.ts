/**
 * The runs view: what the daemon shows of its policies and their runs (the runs API and the
 * dashboard read it; the daemon produces it).
 */
import type { Hold, RunPhase, RunState } from '../engine/state.ts';

/** How one runner invocation ended. */
export type RunOutcome = 'promoted' | 'rolled-back' | 'held' | 'failed' | 'locked' | 'interrupted';

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

/** What the runs views read of a stored run state. */
export type StoredRunSummary = Pick<RunState, 'runId' | 'phase' | 'hold' | 'records'>;
