/**
 * What the workload controllers share: the store, the clock, an owner index (so a controller
 * finds its pods without scanning 20,000 of them), the work queue and the Event recorder.
 */
import type { Clock } from '../clock.ts';
import type { KubeObject, Store } from '../store.ts';
import type { SimTypes } from './resource-types.ts';

export type WorkKind = 'Deployment' | 'ReplicaSet' | 'StatefulSet' | 'DaemonSet';

export type ControllerContext = {
  store: Store;
  types: SimTypes;
  clock: Clock;
  nodes: readonly string[];
  /** Active and terminating pods whose controller owner has this uid. */
  podsOf(ownerUid: string): KubeObject[];
  replicaSetsOf(ownerUid: string): KubeObject[];
  podsInNamespace(namespace: string): KubeObject[];
  enqueue(kind: WorkKind, namespace: string, name: string): void;
  /** Enqueues after a simulated delay; at most one pending timer per key. */
  enqueueAfter(simMs: number, kind: WorkKind, namespace: string, name: string): void;
  /** Writes (or bumps the count of) a core/v1 Event about `involved`. */
  recordEvent(
    involved: KubeObject,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
    component: string,
  ): void;
  /** Remembers controllers whose pod creation fails (admission), to retry them promptly. */
  setFailing(kind: WorkKind, namespace: string, name: string, failing: boolean): void;
  nowIso(): string;
};

export type Condition = {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastUpdateTime?: string;
};

/**
 * Sets a condition, keeping `lastTransitionTime` when the status does not change (as the real
 * controllers do), so no-op syncs produce identical status and therefore no writes.
 */
export function setCondition(
  conditions: Condition[],
  next: Condition,
  options: { withUpdateTime?: boolean; touch?: boolean } = {},
): Condition[] {
  const current = conditions.find((c) => c.type === next.type);
  const now = next.lastTransitionTime;
  const merged: Condition = { ...next };
  if (current && current.status === next.status) merged.lastTransitionTime = current.lastTransitionTime;
  if (options.withUpdateTime) {
    const changed =
      !current || current.status !== next.status || current.reason !== next.reason || current.message !== next.message;
    merged.lastUpdateTime = changed || options.touch ? now : (current.lastUpdateTime ?? now);
  }
  return [...conditions.filter((c) => c.type !== next.type), merged].sort(
    (a, b) => conditionOrder(a.type) - conditionOrder(b.type),
  );
}

export function removeCondition(conditions: Condition[], type: string): Condition[] {
  return conditions.filter((c) => c.type !== type);
}

function conditionOrder(type: string): number {
  const order = ['Available', 'Progressing', 'ReplicaFailure'];
  const index = order.indexOf(type);
  return index === -1 ? order.length : index;
}

/** Writes `status` through the status subresource when it differs from what is stored. */
export function writeStatus(
  ctx: ControllerContext,
  type: SimTypes[keyof SimTypes] & object,
  object: KubeObject,
  status: Record<string, unknown>,
): KubeObject {
  const current = ctx.store.tryGet(type, object.metadata.namespace, object.metadata.name ?? '');
  if (!current || current.metadata.uid !== object.metadata.uid) return object;
  return ctx.store.update(type, object.metadata.namespace, { ...current, status }, { subresource: 'status' });
}

/** The admission error text as the controllers report it in FailedCreate events. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
