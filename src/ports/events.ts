/** Kubernetes Events revroll emits on the objects it touches (an audit trail `kubectl get events` shows). */
export type EventTarget = { apiVersion: string; kind: string; namespace?: string; name: string; uid?: string };

export interface EventRecorder {
  /** Best-effort: a failed Event never fails the run. */
  record(target: EventTarget, reason: string, message: string, type?: 'Normal' | 'Warning'): Promise<void>;
}
