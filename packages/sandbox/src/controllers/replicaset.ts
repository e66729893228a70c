/**
 * The ReplicaSet controller: keeps `spec.replicas` pods, creating them through `store.create`
 * (so admission webhooks run) and deleting the least useful ones first. When admission rejects a
 * pod, it behaves like kube-controller-manager: a `FailedCreate` Warning Event on the ReplicaSet
 * carrying the webhook's message, a `ReplicaFailure` condition, and a retry with backoff.
 */
import { StoreError, type KubeObject } from '../store.ts';
import {
  errorMessage,
  removeCondition,
  setCondition,
  writeStatus,
  type Condition,
  type ControllerContext,
} from './context.ts';
import { isPodActive, isPodReady, podFromTemplate, type PodTemplate } from './pod-util.ts';

/** The most pods one sync creates (kube-controller-manager's burstReplicas). */
const BURST = 500;

export type NodePicker = () => string;

export function syncReplicaSet(
  ctx: ControllerContext,
  rs: KubeObject,
  pickNode: NodePicker,
  backoff: Map<string, number>,
): void {
  const namespace = rs.metadata.namespace ?? '';
  const name = rs.metadata.name ?? '';
  const spec = (rs.spec ?? {}) as { replicas?: number; template?: PodTemplate; minReadySeconds?: number };
  const desired = spec.replicas ?? 1;
  const pods = ctx.podsOf(rs.metadata.uid ?? '').filter(isPodActive);
  let conditions = [...(((rs.status as { conditions?: Condition[] } | undefined)?.conditions ?? []) as Condition[])];
  const key = `${namespace}/${name}`;

  if (pods.length < desired && !rs.metadata.deletionTimestamp) {
    const toCreate = Math.min(desired - pods.length, BURST);
    let failure: unknown;
    for (let i = 0; i < toCreate; i++) {
      const pod = podFromTemplate(spec.template ?? {}, { generateName: `${name}-`, owner: rs, nodeName: pickNode() });
      try {
        ctx.store.create(ctx.types.pods, namespace, pod);
      } catch (error) {
        failure = error;
        break;
      }
    }
    if (failure !== undefined) {
      const message = errorMessage(failure);
      ctx.recordEvent(rs, 'Warning', 'FailedCreate', `Error creating: ${message}`, 'replicaset-controller');
      conditions = setCondition(conditions, {
        type: 'ReplicaFailure',
        status: 'True',
        reason: 'FailedCreate',
        message: failure instanceof StoreError || failure instanceof Error ? message : String(failure),
        lastTransitionTime: ctx.nowIso(),
      });
      // Exponential backoff (in simulated time), reset once a create succeeds; retries also
      // happen as soon as istiod pods become ready (see setFailing in the controller manager).
      const delay = Math.min((backoff.get(key) ?? 50) * 2, 5_000);
      backoff.set(key, delay);
      ctx.setFailing('ReplicaSet', namespace, name, true);
      ctx.enqueueAfter(delay, 'ReplicaSet', namespace, name);
    } else {
      backoff.delete(key);
      ctx.setFailing('ReplicaSet', namespace, name, false);
      conditions = removeCondition(conditions, 'ReplicaFailure');
      if (desired - pods.length > BURST) ctx.enqueue('ReplicaSet', namespace, name);
    }
  } else if (pods.length > desired) {
    // Victims in the real controller's order: unscheduled, then pending, then not ready, then
    // the most recently created.
    const ranked = [...pods].sort((a, b) => rank(a) - rank(b) || compareCreated(b, a));
    for (const pod of ranked.slice(0, pods.length - desired)) {
      if (ctx.store.tryGet(ctx.types.pods, namespace, pod.metadata.name ?? ''))
        ctx.store.delete(ctx.types.pods, namespace, pod.metadata.name ?? '');
    }
    backoff.delete(key);
    ctx.setFailing('ReplicaSet', namespace, name, false);
    conditions = removeCondition(conditions, 'ReplicaFailure');
  } else {
    backoff.delete(key);
    ctx.setFailing('ReplicaSet', namespace, name, false);
    conditions = removeCondition(conditions, 'ReplicaFailure');
  }

  const current = ctx.podsOf(rs.metadata.uid ?? '').filter(isPodActive);
  const ready = current.filter(isPodReady).length;
  const status: Record<string, unknown> = {
    replicas: current.length,
    fullyLabeledReplicas: current.length,
    readyReplicas: ready,
    availableReplicas: ready,
    observedGeneration: rs.metadata.generation ?? 1,
  };
  if (conditions.length > 0) status.conditions = conditions;
  writeStatus(ctx, ctx.types.replicasets, rs, status);
}

function rank(pod: KubeObject): number {
  const spec = pod.spec as { nodeName?: string } | undefined;
  if (!spec?.nodeName) return 0;
  const phase = (pod.status as { phase?: string } | undefined)?.phase;
  if (phase === 'Pending') return 1;
  if (!isPodReady(pod)) return 2;
  return 3;
}

function compareCreated(a: KubeObject, b: KubeObject): number {
  const ac = a.metadata.creationTimestamp ?? '';
  const bc = b.metadata.creationTimestamp ?? '';
  if (ac !== bc) return ac < bc ? -1 : 1;
  return Number(a.metadata.resourceVersion ?? 0) - Number(b.metadata.resourceVersion ?? 0);
}
