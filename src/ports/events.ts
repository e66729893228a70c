/** Kubernetes Events revroll emits on the objects it touches (an audit trail `kubectl get events` shows). */
export type EventTarget = { apiVersion: string; kind: string; namespace?: string; name: string; uid?: string };

/** Events that could not be recorded since the recorder was created. */
export type LostEvents = { count: number; lastError?: string };

export interface EventRecorder {
  /**
   * Best-effort: a failed Event never fails the run, but it is counted (see `lost`).
   * `annotations` carry machine-readable facts (a gate evaluation's results) beside the message.
   */
  record(
    target: EventTarget,
    reason: string,
    message: string,
    type?: 'Normal' | 'Warning',
    annotations?: Record<string, string>,
  ): Promise<void>;
  /**
   * A recorder stamping every Event with `labels` (the run's policy and ID), so a report finds a
   * run's Events by label selector wherever they were written.
   */
  scoped(labels: Record<string, string>): EventRecorder;
  /** How many Events were lost (by this recorder and every recorder scoped from it), so the run can say so. */
  lost(): LostEvents;
}
