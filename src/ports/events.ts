/** Kubernetes Events revroll emits on the objects it touches (an audit trail `kubectl get events` shows). */
export type EventTarget = { apiVersion: string; kind: string; namespace?: string; name: string; uid?: string };

/** Events that could not be recorded since the recorder was created. */
export type LostEvents = { count: number; lastError?: string };

export interface EventRecorder {
  /** Best-effort: a failed Event never fails the run, but it is counted (see `lost`). */
  record(target: EventTarget, reason: string, message: string, type?: 'Normal' | 'Warning'): Promise<void>;
  /** How many Events were lost, so the run can say so (state, `revroll status`, `/metrics`). */
  lost(): LostEvents;
}
