/**
 * Workloads that carry proxies: finding them, restarting them the way `kubectl rollout restart`
 * does, and telling when their rollouts are done, as `kubectl rollout status` does.
 */
import { nodeAgentOf } from './ambient.ts';
import { Resources, type KubeObject, type Mutation, type ResourceRef } from '../ports/cluster.ts';
import { Annotation, injectionOptOut, Label } from './labels.ts';

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet';

export const workloadRefs: Record<WorkloadKind, ResourceRef> = {
  Deployment: Resources.deployments,
  StatefulSet: Resources.statefulsets,
  DaemonSet: Resources.daemonsets,
};

/** A workload as revroll sees it. */
export type Workload = {
  kind: WorkloadKind;
  namespace: string;
  name: string;
  /** Desired pods (DaemonSets: desiredNumberScheduled). */
  replicas: number;
  /** Why revroll leaves it alone, when it does (opt-out label or annotation, hostNetwork). */
  optOut?: string;
  /** The revroll restart key last written to its template, if any. */
  restartedFor?: string;
  /** Why a restart now could not finish (paused, not Ready, mid-rollout), with what to do. */
  unhealthy?: string;
};

type PodTemplate = {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { hostNetwork?: boolean };
};

export function toWorkload(kind: WorkloadKind, object: KubeObject): Workload {
  const spec = (object.spec ?? {}) as { replicas?: number; template?: PodTemplate };
  const status = (object.status ?? {}) as { desiredNumberScheduled?: number };
  const template = spec.template ?? {};
  const labels = template.metadata?.labels ?? {};
  const annotations = template.metadata?.annotations ?? {};
  let optOut: string | undefined;
  const optedOut = injectionOptOut({ labels, annotations });
  if (optedOut) optOut = `pod template ${optedOut.by} ${Label.inject}=${optedOut.value}`;
  else if (template.spec?.hostNetwork) optOut = 'hostNetwork pods are never injected';
  const replicas = kind === 'DaemonSet' ? (status.desiredNumberScheduled ?? 0) : (spec.replicas ?? 1);
  // ztunnel and istio-cni serve every node: a wave never restarts them (issue 15, item 7).
  const agent = kind === 'DaemonSet' ? nodeAgentOf(object) : undefined;
  if (agent) optOut = `${agent.kind} is a node agent revroll never restarts`;
  const restartedFor = annotations[Annotation.restartedFor];
  const unhealthy = unhealthyReason(kind, object);
  return {
    kind,
    namespace: object.metadata.namespace ?? '',
    name: object.metadata.name ?? '',
    replicas,
    ...(optOut ? { optOut } : {}),
    ...(restartedFor ? { restartedFor } : {}),
    ...(unhealthy ? { unhealthy } : {}),
  };
}

/**
 * Why restarting this workload now would not finish: a paused Deployment never rolls out, and
 * one that is not settled (not every replica updated and ready) may never get there. Undefined
 * when it is healthy. The advice names the kubectl command an operator would use.
 */
export function unhealthyReason(kind: WorkloadKind, object: KubeObject): string | undefined {
  const ref = `${kind.toLowerCase()}/${object.metadata.name ?? ''} -n ${object.metadata.namespace ?? ''}`;
  if (kind === 'Deployment' && (object.spec as { paused?: boolean } | undefined)?.paused === true)
    return `paused (spec.paused: true), so its rollout would never finish: resume it (kubectl rollout resume ${ref}) or leave it out`;
  const state = rolloutState(kind, object);
  if (state.done) return undefined;
  return `not healthy before the upgrade (${state.message}): fix it (kubectl rollout status ${ref}) or leave it out`;
}

/** `<revision>@<runId>`: written on restart so a resumed run never restarts a workload twice for the same move. */
export function restartKey(revision: string, runId: string): string {
  return `${revision}@${runId}`;
}

/** The strategic merge patch `kubectl rollout restart` sends, plus revroll's idempotency key. */
export function planRestart(workload: Pick<Workload, 'kind' | 'namespace' | 'name'>, key: string, now: Date): Mutation {
  return {
    op: 'strategic-patch',
    ref: workloadRefs[workload.kind],
    namespace: workload.namespace,
    name: workload.name,
    patch: {
      spec: {
        template: {
          metadata: {
            annotations: {
              [Annotation.restartedAt]: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
              [Annotation.restartedFor]: key,
            },
          },
        },
      },
    },
  };
}

/** Where a rollout stands, as `kubectl rollout status` would say it. */
export type RolloutState = { done: true } | { done: false; failed: boolean; message: string };

type Condition = { type?: string; status?: string; reason?: string; message?: string };

/**
 * The checks `kubectl rollout status` makes, in its order (kubernetes/kubernetes
 * staging/src/k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go @18ff3ed), plus the two
 * cases where it would wait forever for a restart: a paused Deployment (`kubectl rollout
 * restart` refuses it, objectrestarter.go) and an OnDelete StatefulSet or DaemonSet (kubectl
 * refuses their status: only RollingUpdate rolls). Those fail at once with what to do.
 */
export function rolloutState(kind: WorkloadKind, object: KubeObject): RolloutState {
  const name = object.metadata.name ?? '';
  const generation = object.metadata.generation ?? 0;
  const status = (object.status ?? {}) as Record<string, unknown> & { conditions?: Condition[] };
  const spec = (object.spec ?? {}) as {
    replicas?: number;
    paused?: boolean;
    updateStrategy?: { type?: string; rollingUpdate?: { partition?: number } };
  };
  const num = (key: string) => (typeof status[key] === 'number' ? (status[key] as number) : 0);
  const observed = typeof status.observedGeneration === 'number' ? status.observedGeneration : 0;
  if (observed < generation)
    return { done: false, failed: false, message: `waiting for the ${kind.toLowerCase()} spec update to be observed` };

  switch (kind) {
    case 'Deployment': {
      if (spec.paused === true)
        return {
          done: false,
          failed: true,
          message: `deployment "${name}" is paused (spec.paused): it rolls out nothing until resumed (kubectl rollout resume)`,
        };
      const progressing = status.conditions?.find((c) => c.type === 'Progressing');
      if (progressing?.reason === 'ProgressDeadlineExceeded') {
        return {
          done: false,
          failed: true,
          message: `deployment "${name}" exceeded its progress deadline${progressing.message ? `: ${progressing.message}` : ''}`,
        };
      }
      const replicas = spec.replicas ?? 1;
      const updated = num('updatedReplicas');
      // Pods that cannot be created (an admission webhook refusing them, a quota): say why.
      const replicaFailure = status.conditions?.find((c) => c.type === 'ReplicaFailure' && c.status === 'True');
      const cause = replicaFailure
        ? `, ${num('availableReplicas')} available; pods cannot be created (${replicaFailure.reason ?? 'ReplicaFailure'}): ${replicaFailure.message ?? ''}`
        : '';
      if (updated < replicas)
        return {
          done: false,
          failed: false,
          message: `${updated} out of ${replicas} new replicas have been updated${cause}`,
        };
      if (num('replicas') > updated)
        return {
          done: false,
          failed: false,
          message: `${num('replicas') - updated} old replicas are pending termination`,
        };
      if (num('availableReplicas') < updated)
        return {
          done: false,
          failed: false,
          message: `${num('availableReplicas')} of ${updated} updated replicas are available`,
        };
      return { done: true };
    }
    case 'StatefulSet': {
      const replicas = spec.replicas ?? 1;
      if (spec.updateStrategy?.type === 'OnDelete')
        return {
          done: false,
          failed: true,
          message: `statefulset "${name}" uses the OnDelete update strategy: pods must be deleted to restart`,
        };
      if (num('readyReplicas') < replicas)
        return { done: false, failed: false, message: `${num('readyReplicas')} of ${replicas} pods are ready` };
      const partition = spec.updateStrategy?.rollingUpdate?.partition ?? 0;
      if (partition > 0) {
        if (num('updatedReplicas') < replicas - partition)
          return {
            done: false,
            failed: false,
            message: `${num('updatedReplicas')} of ${replicas - partition} pods are updated`,
          };
        return { done: true };
      }
      if (status.updateRevision !== status.currentRevision || num('updatedReplicas') < replicas) {
        return { done: false, failed: false, message: `${num('updatedReplicas')} of ${replicas} pods are updated` };
      }
      return { done: true };
    }
    case 'DaemonSet': {
      if (spec.updateStrategy?.type === 'OnDelete')
        return {
          done: false,
          failed: true,
          message: `daemonset "${name}" uses the OnDelete update strategy: pods must be deleted to restart`,
        };
      const desired = num('desiredNumberScheduled');
      if (num('updatedNumberScheduled') < desired)
        return {
          done: false,
          failed: false,
          message: `${num('updatedNumberScheduled')} of ${desired} updated pods are scheduled`,
        };
      if (num('numberAvailable') < desired)
        return {
          done: false,
          failed: false,
          message: `${num('numberAvailable')} of ${desired} updated pods are available`,
        };
      return { done: true };
    }
  }
}

export function workloadId(w: Pick<Workload, 'kind' | 'namespace' | 'name'>): string {
  return `${w.kind}/${w.namespace}/${w.name}`;
}

/**
 * The workload a pod belongs to, from its owner reference: a ReplicaSet stands for the Deployment
 * whose name it carries before the pod's `pod-template-hash` (as the Deployment controller names
 * it); StatefulSets and DaemonSets own their pods directly.
 */
export function podWorkload(pod: KubeObject): { kind: WorkloadKind; name: string } | undefined {
  const owner = (
    pod.metadata.ownerReferences as { kind?: string; name?: string; controller?: boolean }[] | undefined
  )?.find((o) => o.controller !== false);
  if (!owner?.name) return undefined;
  if (owner.kind === 'StatefulSet' || owner.kind === 'DaemonSet') return { kind: owner.kind, name: owner.name };
  if (owner.kind !== 'ReplicaSet') return undefined;
  const hash = pod.metadata.labels?.['pod-template-hash'];
  if (!hash || !owner.name.endsWith(`-${hash}`)) return undefined;
  return { kind: 'Deployment', name: owner.name.slice(0, -hash.length - 1) };
}
