/**
 * The controller manager: one watch on the store drives every controller. Events only mark
 * objects dirty (owner index updates are O(1) per event); a flush on the next macrotask syncs
 * each dirty object once. Nothing ever rescans all pods, so 20,000 pods stay cheap.
 *
 * Garbage collection (background, foreground, orphan) and namespace deletion run beside them
 * (garbage-collector.ts), for every kind.
 */
import type { Clock } from '../clock.ts';
import type { ChangeEvent, KubeObject, Store } from '../store.ts';
import { isoSeconds } from '../time.ts';
import { syncDaemonSet } from './daemonset.ts';
import { syncDeployment } from './deployment.ts';
import { createKubelet, type Kubelet, type ReadinessGate } from './kubelet.ts';
import { syncReplicaSet } from './replicaset.ts';
import { simTypes, type SimTypes } from './resource-types.ts';
import { syncStatefulSet } from './statefulset.ts';
import { createLifecycleControllers } from './garbage-collector.ts';
import type { ControllerContext, WorkKind } from './context.ts';
import { controllerOf, isPodReady, workloadOf } from './pod-util.ts';

export type { ReadinessGate } from './kubelet.ts';

export type Controllers = {
  types: SimTypes;
  kubelet: Kubelet;
  nodes: readonly string[];
  /** Pods in one namespace, from the index (no scan of the whole store). */
  podsInNamespace(namespace: string): KubeObject[];
  /** Re-evaluates pod readiness in a namespace (after a readiness fault changed). */
  refreshReadiness(namespace: string): void;
  /** True when no work is queued, no pod is starting and no controller is retrying. */
  quiescent(): boolean;
  /** Workloads whose rollout is not complete, as `kind/namespace/name: why`. */
  unsettled(): string[];
  /** The last sync errors (bounded), for diagnosing a simulation that misbehaves. */
  syncErrors(): readonly string[];
  /** Calls `listener` after every flush and pod start (for waitForIdle). */
  onActivity(listener: () => void): () => void;
  /**
   * Adds a controller that runs beside the workload controllers (Istio's gateway controllers,
   * the load balancer, the CNI agent): `quiescent()` waits for it too, `close()` closes it.
   */
  register(controller: { quiescent?(): boolean; close(): void }): void;
  close(): void;
};

/** How long a pod's containers take to exit on SIGTERM, by default (simulated ms). */
export const DEFAULT_STOP_LATENCY_MS = 1000;

const WORKLOADS: Record<WorkKind, 'deployments' | 'replicasets' | 'statefulsets' | 'daemonsets'> = {
  Deployment: 'deployments',
  ReplicaSet: 'replicasets',
  StatefulSet: 'statefulsets',
  DaemonSet: 'daemonsets',
};

export function createControllers(options: {
  store: Store;
  clock: Clock;
  nodes: readonly string[];
  startLatencyMs: number;
  /** Simulated ms a pod's containers take to stop after a delete (capped by its grace period). */
  stopLatencyMs?: number;
  readiness?: ReadinessGate;
}): Controllers {
  const { store, clock } = options;
  const types = simTypes(store);
  const nodes = options.nodes;
  const dependents = new Map<
    string,
    Map<string, { plural: 'pods' | 'replicasets'; namespace: string; name: string }>
  >();
  const podsByNamespace = new Map<string, Set<string>>();
  const queue = new Set<string>();
  const delayed = new Map<string, () => void>();
  const failing = new Set<string>();
  const backoff = new Map<string, number>();
  const listeners = new Set<() => void>();
  const eventNames = new Map<string, string>();
  const syncErrors: string[] = [];
  const extra: { quiescent?(): boolean; close(): void }[] = [];
  let flushHandle: NodeJS.Immediate | undefined;
  let closed = false;
  let eventCounter = 0;
  let nextNode = 0;
  const pickNode = () => nodes[nextNode++ % nodes.length] ?? 'node-1';

  const kubelet = createKubelet({
    store,
    types,
    clock,
    startLatencyMs: options.startLatencyMs,
    stopLatencyMs: options.stopLatencyMs ?? DEFAULT_STOP_LATENCY_MS,
    readiness: options.readiness ?? (() => true),
    nodes,
  });
  const lifecycle = createLifecycleControllers(store);

  const key = (kind: WorkKind, namespace: string, name: string) => `${kind}|${namespace}|${name}`;

  function schedule(): void {
    if (flushHandle || closed) return;
    flushHandle = setImmediate(flush);
  }

  function notify(): void {
    for (const listener of listeners) listener();
  }

  const ctx: ControllerContext = {
    store,
    types,
    clock,
    nodes,
    podsOf(ownerUid) {
      const out: KubeObject[] = [];
      for (const ref of dependents.get(ownerUid)?.values() ?? []) {
        if (ref.plural !== 'pods') continue;
        const pod = store.tryGet(types.pods, ref.namespace, ref.name);
        if (pod) out.push(pod);
      }
      return out;
    },
    replicaSetsOf(ownerUid) {
      const out: KubeObject[] = [];
      for (const ref of dependents.get(ownerUid)?.values() ?? []) {
        if (ref.plural !== 'replicasets') continue;
        const rs = store.tryGet(types.replicasets, ref.namespace, ref.name);
        if (rs) out.push(rs);
      }
      return out;
    },
    podsInNamespace,
    enqueue(kind, namespace, name) {
      queue.add(key(kind, namespace, name));
      schedule();
    },
    enqueueAfter(simMs, kind, namespace, name) {
      const k = key(kind, namespace, name);
      if (delayed.has(k)) return;
      const cancel = clock.after(simMs, () => {
        delayed.delete(k);
        ctx.enqueue(kind, namespace, name);
      });
      delayed.set(k, cancel);
    },
    recordEvent(involved, type, reason, message, component) {
      // A recorder drops what it cannot write (a namespace being deleted refuses new Events).
      try {
        writeEvent(involved, type, reason, message, component);
      } catch {
        // dropped, as client-go's event broadcaster drops failed Events
      }
    },
    setFailing(kind, namespace, name, isFailing) {
      if (isFailing) failing.add(key(kind, namespace, name));
      else failing.delete(key(kind, namespace, name));
    },
    nowIso: () => isoSeconds(clock.now()),
  };

  function writeEvent(
    involved: KubeObject,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
    component: string,
  ): void {
    if (!types.events) return;
    // Events about cluster-scoped objects go to `default`, with no involvedObject.namespace.
    const namespace = involved.metadata.namespace ?? 'default';
    const dedupe = `${involved.metadata.uid}|${reason}|${message}`;
    const now = isoSeconds(clock.now());
    const existingName = eventNames.get(dedupe);
    const existing = existingName ? store.tryGet(types.events, namespace, existingName) : undefined;
    if (existing) {
      store.update(types.events, namespace, {
        ...existing,
        count: ((existing.count as number | undefined) ?? 1) + 1,
        lastTimestamp: now,
      });
      return;
    }
    eventCounter++;
    // client-go's recorder names an Event `%v.%x` of the object's name and the UnixNano time;
    // the counter stands for the nanoseconds a millisecond clock lacks.
    const nanos = BigInt(Date.now()) * 1_000_000n + BigInt(eventCounter % 1_000_000);
    const name = `${involved.metadata.name}.${nanos.toString(16)}`;
    eventNames.set(dedupe, name);
    store.create(types.events, namespace, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace },
      involvedObject: {
        apiVersion: involved.apiVersion,
        kind: involved.kind,
        name: involved.metadata.name,
        ...(involved.metadata.namespace ? { namespace } : {}),
        uid: involved.metadata.uid,
        resourceVersion: involved.metadata.resourceVersion,
      },
      reason,
      message,
      type,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component },
      reportingComponent: component,
      reportingInstance: '',
    });
  }

  function podsInNamespace(namespace: string): KubeObject[] {
    const out: KubeObject[] = [];
    for (const name of podsByNamespace.get(namespace) ?? []) {
      const pod = store.tryGet(types.pods, namespace, name);
      if (pod) out.push(pod);
    }
    return out;
  }

  function indexDependent(event: ChangeEvent, plural: 'pods' | 'replicasets'): void {
    const object = event.object;
    const owner = controllerOf(object);
    const ref = { plural, namespace: object.metadata.namespace ?? '', name: object.metadata.name ?? '' };
    const refKey = `${plural}|${ref.namespace}|${ref.name}`;
    if (event.type === 'DELETED') {
      if (owner) dependents.get(owner.uid)?.delete(refKey);
      return;
    }
    const previousOwner = event.previous ? controllerOf(event.previous) : undefined;
    if (previousOwner && previousOwner.uid !== owner?.uid) dependents.get(previousOwner.uid)?.delete(refKey);
    if (owner) {
      let map = dependents.get(owner.uid);
      if (!map) {
        map = new Map();
        dependents.set(owner.uid, map);
      }
      map.set(refKey, ref);
    }
  }

  function enqueueOwner(object: KubeObject): void {
    const owner = controllerOf(object);
    if (owner && owner.kind in WORKLOADS)
      ctx.enqueue(owner.kind as WorkKind, object.metadata.namespace ?? '', owner.name);
  }

  /** A pod gone for good may unblock its Deployment (Recreate waits for every old pod). */
  function enqueueDeploymentOf(pod: KubeObject): void {
    const workload = workloadOf(pod);
    if (workload?.kind === 'Deployment') ctx.enqueue('Deployment', pod.metadata.namespace ?? '', workload.name);
  }

  function onEvent(event: ChangeEvent): void {
    if (closed) return;
    const { resource, object } = event;
    const namespace = object.metadata.namespace ?? '';
    const name = object.metadata.name ?? '';
    if (resource === types.pods) {
      indexDependent(event, 'pods');
      if (event.type === 'DELETED') podsByNamespace.get(namespace)?.delete(name);
      else {
        let set = podsByNamespace.get(namespace);
        if (!set) {
          set = new Set();
          podsByNamespace.set(namespace, set);
        }
        set.add(name);
      }
      if (event.type === 'ADDED') kubelet.podAdded(object);
      if (event.type !== 'DELETED' && object.metadata.deletionTimestamp) kubelet.podTerminating(object);
      enqueueOwner(object);
      if (event.type === 'DELETED') enqueueDeploymentOf(object);
      // An istiod (or any) pod turning Ready may unblock controllers whose creates were
      // rejected by a webhook: retry them now instead of waiting for their backoff.
      if (
        failing.size > 0 &&
        event.type === 'MODIFIED' &&
        isPodReady(object) &&
        event.previous &&
        !isPodReady(event.previous)
      ) {
        for (const k of failing) {
          const [kind, ns, n] = k.split('|') as [WorkKind, string, string];
          ctx.enqueue(kind, ns, n);
        }
      }
      return;
    }
    if (resource === types.replicasets) {
      indexDependent(event, 'replicasets');
      if (event.type !== 'DELETED') ctx.enqueue('ReplicaSet', namespace, name);
      enqueueOwner(object);
      return;
    }
    for (const kind of ['Deployment', 'StatefulSet', 'DaemonSet'] as const) {
      if (resource === types[WORKLOADS[kind]]) {
        if (event.type === 'DELETED') dependents.delete(object.metadata.uid ?? '');
        else if (event.type === 'ADDED' || !event.previous || specChanged(event.previous, object))
          ctx.enqueue(kind, namespace, name);
        return;
      }
    }
  }

  function flush(): void {
    flushHandle = undefined;
    if (closed) return;
    // Bounded rounds per macrotask so timers and HTTP requests interleave with big rollouts.
    for (let round = 0; round < 20 && queue.size > 0; round++) {
      const batch = [...queue];
      queue.clear();
      for (const item of batch) {
        const [kind, namespace, name] = item.split('|') as [WorkKind, string, string];
        const type = types[WORKLOADS[kind]];
        if (!type) continue;
        const object = store.tryGet(type, namespace, name);
        if (!object) {
          failing.delete(item);
          continue;
        }
        try {
          if (kind === 'Deployment') syncDeployment(ctx, object);
          else if (kind === 'ReplicaSet') syncReplicaSet(ctx, object, pickNode, backoff);
          else if (kind === 'StatefulSet') syncStatefulSet(ctx, object, pickNode);
          else syncDaemonSet(ctx, object);
        } catch (error) {
          // A failed sync is retried, as a work queue would; the error is kept for diagnosis
          // (a throw here would take the whole process down from a setImmediate).
          if (!closed) ctx.enqueueAfter(100, kind, namespace, name);
          syncErrors.push(`${item}: ${error instanceof Error ? error.message : String(error)}`);
          if (syncErrors.length > 50) syncErrors.shift();
        }
      }
    }
    if (queue.size > 0) schedule();
    notify();
  }

  // Index what already exists, then follow every change.
  const stop = store.watch(undefined, onEvent);
  for (const rs of store.list(types.replicasets).items) {
    indexDependent({ type: 'ADDED', resourceVersion: 0, resource: types.replicasets, object: rs }, 'replicasets');
    ctx.enqueue('ReplicaSet', rs.metadata.namespace ?? '', rs.metadata.name ?? '');
  }
  for (const pod of store.list(types.pods).items) {
    onEvent({ type: 'ADDED', resourceVersion: 0, resource: types.pods, object: pod });
  }
  for (const kind of ['Deployment', 'StatefulSet', 'DaemonSet'] as const) {
    for (const object of store.list(types[WORKLOADS[kind]]).items)
      ctx.enqueue(kind, object.metadata.namespace ?? '', object.metadata.name ?? '');
  }

  // Pod starts notify too, so waitForIdle re-checks once the last pod is up.
  const activityTimer = clock.every(20, () => {
    if (listeners.size > 0) notify();
  });

  return {
    types,
    kubelet,
    nodes,
    podsInNamespace,
    refreshReadiness(namespace) {
      kubelet.refresh(namespace, podsInNamespace(namespace));
    },
    quiescent: () =>
      queue.size === 0 &&
      !flushHandle &&
      kubelet.pending() === 0 &&
      kubelet.terminating() === 0 &&
      failing.size === 0 &&
      lifecycle.idle() &&
      extra.every((c) => c.quiescent?.() ?? true),
    unsettled() {
      const out: string[] = [];
      for (const d of store.list(types.deployments).items) {
        const why = deploymentUnsettled(d);
        if (why) out.push(`deployment/${d.metadata.namespace}/${d.metadata.name}: ${why}`);
      }
      for (const s of store.list(types.statefulsets).items) {
        const st = (s.status ?? {}) as Record<string, unknown>;
        const replicas = (s.spec as { replicas?: number }).replicas ?? 1;
        if (
          st.observedGeneration !== s.metadata.generation ||
          st.readyReplicas !== replicas ||
          st.updatedReplicas !== replicas ||
          st.currentRevision !== st.updateRevision
        ) {
          out.push(
            `statefulset/${s.metadata.namespace}/${s.metadata.name}: ${st.readyReplicas ?? 0}/${replicas} ready, ${st.updatedReplicas ?? 0} updated`,
          );
        }
      }
      for (const s of store.list(types.daemonsets).items) {
        const st = (s.status ?? {}) as Record<string, unknown>;
        if (
          st.observedGeneration !== s.metadata.generation ||
          st.numberAvailable !== nodes.length ||
          st.updatedNumberScheduled !== nodes.length
        ) {
          out.push(
            `daemonset/${s.metadata.namespace}/${s.metadata.name}: ${st.numberAvailable ?? 0}/${nodes.length} available, ${st.updatedNumberScheduled ?? 0} updated`,
          );
        }
      }
      return out;
    },
    syncErrors: () => syncErrors,
    onActivity(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    register(controller) {
      extra.push(controller);
    },
    close() {
      closed = true;
      for (const controller of extra.splice(0)) controller.close();
      stop();
      lifecycle.close();
      activityTimer();
      for (const cancel of delayed.values()) cancel();
      delayed.clear();
      if (flushHandle) clearImmediate(flushHandle);
      flushHandle = undefined;
      listeners.clear();
    },
  };
}

function specChanged(previous: KubeObject, next: KubeObject): boolean {
  // Status writes keep the same spec object (stored objects are immutable): the common case.
  if (previous.spec === next.spec && previous.metadata.deletionTimestamp === next.metadata.deletionTimestamp)
    return false;
  return (
    previous.metadata.generation !== next.metadata.generation ||
    JSON.stringify(previous.spec) !== JSON.stringify(next.spec) ||
    previous.metadata.deletionTimestamp !== next.metadata.deletionTimestamp
  );
}

function deploymentUnsettled(d: KubeObject): string | undefined {
  const st = (d.status ?? {}) as {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
  };
  const replicas = (d.spec as { replicas?: number; paused?: boolean }).replicas ?? 1;
  if ((d.spec as { paused?: boolean }).paused) return undefined;
  if (st.observedGeneration !== d.metadata.generation) return 'generation not observed';
  if ((st.updatedReplicas ?? 0) < replicas) return `${st.updatedReplicas ?? 0} of ${replicas} updated`;
  if ((st.replicas ?? 0) > (st.updatedReplicas ?? 0))
    return `${(st.replicas ?? 0) - (st.updatedReplicas ?? 0)} old replicas pending termination`;
  if ((st.availableReplicas ?? 0) < (st.updatedReplicas ?? 0))
    return `${st.availableReplicas ?? 0} of ${st.updatedReplicas ?? 0} available`;
  return undefined;
}
