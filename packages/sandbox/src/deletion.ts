/**
 * What a DELETE does to an object, decided the way the generic registry decides it
 * (k8s.io/apiserver/pkg/registry/generic/registry/store.go `Delete`, pkg/registry/rest/delete.go
 * `BeforeDelete`), as a pure function of the stored object, the delete options and the time:
 *
 * - Garbage-collection finalizers first: `propagationPolicy: Orphan` puts `orphan` on the object,
 *   `Foreground` puts `foregroundDeletion`, an explicit `Background` removes both
 *   (`deletionFinalizersForGarbageCollection`). Without a policy the object's finalizers decide.
 * - Pods are deleted gracefully (`podStrategy.CheckGracefulDelete`): the grace period is the
 *   request's `gracePeriodSeconds`, else the pod's `terminationGracePeriodSeconds`; a pod not
 *   bound to a node, or already Succeeded/Failed, goes at once; a negative period becomes 1.
 *   Other kinds are not graceful (period 0).
 * - An object with a grace period or with finalizers is only marked: `deletionTimestamp` (now +
 *   the period), `deletionGracePeriodSeconds`, and `generation` + 1 when it has one. Otherwise it
 *   is removed. A second delete of a marked object may only shorten a pod's grace period.
 * - A Namespace is first only marked (phase Terminating); it goes once its `spec.finalizers` are
 *   empty (the namespace controller empties them after deleting the content), as
 *   pkg/registry/core/namespace/storage `REST.Delete` does.
 */
import type { KubeObject } from './store.ts';
import { isoSeconds } from './time.ts';

export type PropagationPolicy = 'Foreground' | 'Background' | 'Orphan';

export type DeleteOptions = {
  gracePeriodSeconds?: number;
  propagationPolicy?: PropagationPolicy;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
};

export const FOREGROUND_FINALIZER = 'foregroundDeletion';
export const ORPHAN_FINALIZER = 'orphan';

export type DeleteDecision =
  | { action: 'remove' }
  | { action: 'mark'; object: KubeObject }
  /** Already being deleted and nothing changes: answer with the object as it is. */
  | { action: 'unchanged' };

export type DeleteKind = 'pods' | 'namespaces' | 'other';

function gcFinalizers(current: readonly string[], policy: PropagationPolicy | undefined): string[] {
  if (policy === undefined) return [...current];
  const kept = current.filter((f) => f !== ORPHAN_FINALIZER && f !== FOREGROUND_FINALIZER);
  if (policy === 'Orphan') kept.push(ORPHAN_FINALIZER);
  if (policy === 'Foreground') kept.push(FOREGROUND_FINALIZER);
  return kept;
}

/** The grace period of a pod deletion (see the file comment). */
export function podGracePeriod(pod: KubeObject, requested: number | undefined): number {
  const spec = (pod.spec ?? {}) as { nodeName?: string; terminationGracePeriodSeconds?: number };
  const phase = (pod.status as { phase?: string } | undefined)?.phase;
  let period = requested ?? spec.terminationGracePeriodSeconds ?? 0;
  if (!spec.nodeName) period = 0;
  if (phase === 'Succeeded' || phase === 'Failed') period = 0;
  if (period < 0) period = 1;
  return period;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

export function decideDelete(
  current: KubeObject,
  kind: DeleteKind,
  options: DeleteOptions,
  nowMs: number,
): DeleteDecision {
  const meta = current.metadata;
  const before = meta.finalizers ?? [];
  const finalizers = gcFinalizers(before, options.propagationPolicy);
  const period = kind === 'pods' ? podGracePeriod(current, options.gracePeriodSeconds) : 0;

  if (kind === 'namespaces') {
    const specFinalizers = ((current.spec as { finalizers?: string[] } | undefined)?.finalizers ?? []).length;
    if (meta.deletionTimestamp) {
      if (specFinalizers === 0 && finalizers.length === 0) return { action: 'remove' };
      return sameList(before, finalizers) ? { action: 'unchanged' } : mark(current, finalizers, 0, nowMs);
    }
    const marked = mark(current, finalizers, 0, nowMs).object;
    return {
      action: 'mark',
      object: { ...marked, status: { ...((current.status as object) ?? {}), phase: 'Terminating' } },
    };
  }

  if (meta.deletionTimestamp) {
    const remainingMs = Date.parse(meta.deletionTimestamp) - nowMs;
    const shorter = kind === 'pods' && period * 1000 < remainingMs;
    if (finalizers.length === 0 && (period === 0 || (meta.deletionGracePeriodSeconds ?? 0) === 0))
      return { action: 'remove' };
    if (!shorter && sameList(before, finalizers)) return { action: 'unchanged' };
    const object: KubeObject = { ...current, metadata: { ...meta, finalizers } };
    if (finalizers.length === 0) delete object.metadata.finalizers;
    if (shorter) {
      object.metadata.deletionTimestamp = isoSeconds(nowMs + period * 1000);
      object.metadata.deletionGracePeriodSeconds = period;
    }
    return { action: 'mark', object };
  }

  if (period === 0 && finalizers.length === 0) return { action: 'remove' };
  return mark(current, finalizers, period, nowMs);
}

function mark(
  current: KubeObject,
  finalizers: string[],
  period: number,
  nowMs: number,
): { action: 'mark'; object: KubeObject } {
  const metadata = { ...current.metadata };
  if (!metadata.deletionTimestamp && (metadata.generation ?? 0) > 0)
    metadata.generation = (metadata.generation ?? 0) + 1;
  if (!metadata.deletionTimestamp) metadata.deletionTimestamp = isoSeconds(nowMs + period * 1000);
  metadata.deletionGracePeriodSeconds = period;
  if (finalizers.length > 0) metadata.finalizers = finalizers;
  else delete metadata.finalizers;
  return { action: 'mark', object: { ...current, metadata } };
}
