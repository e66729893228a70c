/** Notifications about a run (Slack in production). Best-effort: a failed notification never fails a run. */

export type RunEventKind =
  | 'run-started'
  | 'wave-started'
  | 'wave-finished'
  | 'gate-failed'
  | 'hold'
  | 'rollback-started'
  | 'rollback-finished'
  | 'approval-requested'
  | 'approval-decided'
  | 'promoted'
  | 'error';

export type RunEvent = {
  kind: RunEventKind;
  policy: string;
  runId: string;
  message: string;
  step?: string;
  /** Extra facts for rich formatting (gate values, namespaces, approval expiry...). */
  details?: Record<string, unknown>;
};

/**
 * What became of a notification: it never throws, but says whether anyone was told, and whether
 * trying again later may help (`retry`: a Slack outage may pass; no channel configured will not).
 */
export type Delivery = { delivered: true } | { delivered: false; error: string; retry: boolean };

export interface Notifier {
  notify(event: RunEvent): Promise<Delivery>;
}

/** Where a notifier keeps the message thread of each run (backed by the run state, so a restarted runner replies in the same thread). */
export interface ThreadMemory {
  get(runId: string): Promise<{ channel: string; ts: string } | undefined>;
  set(runId: string, thread: { channel: string; ts: string }): Promise<void>;
}
