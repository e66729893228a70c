/**
 * The garbage collector and the namespace controller of kube-controller-manager, for every kind:
 *
 * - Background: when an owner is gone, each dependent (by `ownerReferences` uid) that has no
 *   other existing owner is deleted; one that still has an owner only loses the dangling
 *   reference.
 * - Foreground: an owner marked for deletion with the `foregroundDeletion` finalizer has its
 *   dependents deleted (in the foreground themselves when they have dependents), and keeps the
 *   finalizer until no dependent with `blockOwnerDeletion: true` exists any more (a Terminating
 *   pod still exists); then the finalizer goes, and with it the owner.
 * - Orphan: an owner with the `orphan` finalizer has its reference removed from every
 *   dependent, then the finalizer goes.
 * - Namespaces: a namespace marked for deletion has its content deleted (pods gracefully), and
 *   once nothing is left, its `kubernetes` finalizer removed and the namespace deleted.
 *
 * Work runs on the next macrotask after the change that caused it, as the real controllers work
 * off their queues: a watch sees an owner's DELETED before its dependents' (resourceVersions stay
 * in order on every stream). Sources: pkg/controller/garbagecollector (attemptToDeleteItem,
 * processDeletingDependentsItem, orphanDependents), pkg/controller/namespace/deletion.
 */
import { resourceKey, type ChangeEvent, type KubeObject, type ResourceType, type Store } from '../store.ts';
import { FOREGROUND_FINALIZER, ORPHAN_FINALIZER } from '../deletion.ts';

type Ref = { type: ResourceType; namespace: string | undefined; name: string };

export type LifecycleControllers = {
  /** True when no collection or namespace deletion is queued. */
  idle(): boolean;
  close(): void;
};

export function createLifecycleControllers(store: Store): LifecycleControllers {
  const byUid = new Map<string, Ref>(); // every object that may own something
  const dependents = new Map<string, Map<string, Ref>>(); // owner uid -> dependent key -> ref
  const owners = new Map<string, string[]>(); // dependent key -> owner uids
  const terminatingNamespaces = new Set<string>();
  const ownerQueue = new Set<string>();
  const namespaceQueue = new Set<string>();
  let handle: NodeJS.Immediate | undefined;
  let closed = false;

  const refKey = (type: ResourceType, object: KubeObject) =>
    `${resourceKey(type)}|${object.metadata.namespace ?? ''}|${object.metadata.name ?? ''}`;

  function schedule(): void {
    if (!handle && !closed) handle = setImmediate(flush);
  }

  /** The owners' uids of an object, in order (what the index keeps of its references). */
  const sameOwners = (a: KubeObject, b: KubeObject) => {
    const x = a.metadata.ownerReferences ?? [];
    const y = b.metadata.ownerReferences ?? [];
    return x === y || (x.length === y.length && x.every((r, i) => r.uid === y[i]?.uid));
  };

  function index(event: ChangeEvent): void {
    const { resource, object, previous } = event;
    const uid = object.metadata.uid ?? '';
    // Most changes (status writes, scaling) keep the uid and the owners: the index stays as it is.
    if (event.type === 'MODIFIED' && previous?.metadata.uid === uid && sameOwners(previous, object)) return;
    const key = refKey(resource, object);
    for (const owner of owners.get(key) ?? []) dependents.get(owner)?.delete(key);
    owners.delete(key);
    if (event.type === 'DELETED') {
      byUid.delete(uid);
      return;
    }
    byUid.set(uid, { type: resource, namespace: object.metadata.namespace, name: object.metadata.name ?? '' });
    const refs = object.metadata.ownerReferences ?? [];
    if (refs.length === 0) return;
    const ref = { type: resource, namespace: object.metadata.namespace, name: object.metadata.name ?? '' };
    owners.set(
      key,
      refs.map((r) => r.uid),
    );
    for (const r of refs) {
      let map = dependents.get(r.uid);
      if (!map) dependents.set(r.uid, (map = new Map()));
      map.set(key, ref);
    }
  }

  function onEvent(event: ChangeEvent): void {
    if (closed) return;
    const before = event.previous?.metadata.ownerReferences ?? [];
    index(event);
    const { object } = event;
    const uid = object.metadata.uid ?? '';
    const after = event.type === 'DELETED' ? [] : (object.metadata.ownerReferences ?? []);
    // An owner that went, or is going with finalizers to act on.
    if (event.type === 'DELETED' || object.metadata.deletionTimestamp) ownerQueue.add(uid);
    // A dependent that went or changed owners may unblock an owner deleting in the foreground.
    const refsChanged = before.length !== after.length || before.some((r, i) => r.uid !== after[i]?.uid);
    if (event.type === 'DELETED' || refsChanged)
      for (const r of [...before, ...after]) if (isDeleting(r.uid)) ownerQueue.add(r.uid);
    if (resourceKey(event.resource) === 'namespaces' && object.metadata.deletionTimestamp && event.type !== 'DELETED') {
      terminatingNamespaces.add(object.metadata.name ?? '');
      namespaceQueue.add(object.metadata.name ?? '');
    }
    const ns = object.metadata.namespace;
    if (ns && terminatingNamespaces.has(ns) && event.type === 'DELETED') namespaceQueue.add(ns);
    if (ownerQueue.size + namespaceQueue.size > 0) schedule();
  }

  const get = (ref: Ref) => store.tryGet(ref.type, ref.namespace, ref.name);
  const isDeleting = (uid: string) => {
    const ref = byUid.get(uid);
    return ref !== undefined && get(ref)?.metadata.deletionTimestamp !== undefined;
  };
  const exists = (uid: string) => {
    const ref = byUid.get(uid);
    return ref !== undefined && get(ref)?.metadata.uid === uid;
  };

  function removeFinalizer(ref: Ref, finalizer: string): void {
    const current = get(ref);
    if (!current?.metadata.finalizers?.includes(finalizer)) return;
    const finalizers = current.metadata.finalizers.filter((f) => f !== finalizer);
    store.update(ref.type, ref.namespace, {
      ...current,
      metadata: { ...current.metadata, finalizers },
    });
  }

  function dropOwnerRef(ref: Ref, ownerUids: (uid: string) => boolean): void {
    const current = get(ref);
    if (!current) return;
    const ownerReferences = (current.metadata.ownerReferences ?? []).filter((r) => !ownerUids(r.uid));
    const metadata: KubeObject['metadata'] = { ...current.metadata, ownerReferences };
    if (ownerReferences.length === 0) delete metadata.ownerReferences;
    store.update(ref.type, ref.namespace, { ...current, metadata });
  }

  function deleteDependent(ref: Ref, policy: 'Foreground' | 'Background'): void {
    const current = get(ref);
    if (!current || current.metadata.deletionTimestamp) return;
    store.delete(ref.type, ref.namespace, ref.name, {
      propagationPolicy: policy,
      preconditions: { uid: current.metadata.uid ?? '' },
    });
  }

  function processOwner(uid: string): void {
    const ownerRef = byUid.get(uid);
    const owner = ownerRef ? get(ownerRef) : undefined;
    const gone = !owner || owner.metadata.uid !== uid;
    if (!gone && !owner.metadata.deletionTimestamp) return;
    const deps = [...(dependents.get(uid)?.values() ?? [])];
    if (gone) {
      // Background: the owner is gone.
      for (const dep of deps) {
        const current = get(dep);
        if (!current) continue;
        const solid = (current.metadata.ownerReferences ?? []).some((r) => r.uid !== uid && exists(r.uid));
        if (solid) dropOwnerRef(dep, (u) => !exists(u));
        else deleteDependent(dep, 'Background');
      }
      dependents.delete(uid);
      return;
    }
    if (!ownerRef) return;
    const finalizers = owner.metadata.finalizers ?? [];
    if (finalizers.includes(ORPHAN_FINALIZER)) {
      for (const dep of deps) dropOwnerRef(dep, (u) => u === uid);
      removeFinalizer(ownerRef, ORPHAN_FINALIZER);
      return;
    }
    if (!finalizers.includes(FOREGROUND_FINALIZER)) return;
    for (const dep of deps) {
      const current = get(dep);
      if (!current) continue;
      const hasDependents = (dependents.get(current.metadata.uid ?? '')?.size ?? 0) > 0;
      deleteDependent(dep, hasDependents ? 'Foreground' : 'Background');
    }
    const blocking = deps.some((dep) =>
      get(dep)?.metadata.ownerReferences?.some((r) => r.uid === uid && r.blockOwnerDeletion === true),
    );
    if (!blocking) removeFinalizer(ownerRef, FOREGROUND_FINALIZER);
  }

  function processNamespace(name: string): void {
    const namespaces = store.findType('', 'namespaces');
    const ns = namespaces ? store.tryGet(namespaces, undefined, name) : undefined;
    if (!namespaces || !ns?.metadata.deletionTimestamp) {
      terminatingNamespaces.delete(name);
      return;
    }
    let remaining = 0;
    for (const type of store.types()) {
      if (!type.namespaced) continue;
      for (const object of store.list(type, { namespace: name }).items) {
        remaining++;
        if (!object.metadata.deletionTimestamp) store.delete(type, name, object.metadata.name ?? '');
      }
    }
    if (remaining > 0) return;
    // Content gone: finalize (remove `kubernetes` from spec.finalizers), then delete for good.
    const spec = (ns.spec ?? {}) as { finalizers?: string[] };
    if ((spec.finalizers ?? []).length > 0)
      store.update(namespaces, undefined, { ...ns, spec: { ...spec, finalizers: [] } });
    store.delete(namespaces, undefined, name);
  }

  function flush(): void {
    handle = undefined;
    if (closed) return;
    for (let round = 0; round < 20 && ownerQueue.size + namespaceQueue.size > 0; round++) {
      const uids = [...ownerQueue];
      ownerQueue.clear();
      for (const uid of uids) processOwner(uid);
      const names = [...namespaceQueue];
      namespaceQueue.clear();
      for (const name of names) processNamespace(name);
    }
    if (ownerQueue.size + namespaceQueue.size > 0) schedule();
  }

  const stop = store.watch(undefined, onEvent);
  for (const type of store.types())
    for (const object of store.list(type).items) onEvent({ type: 'ADDED', resourceVersion: 0, resource: type, object });

  return {
    idle: () => !handle && ownerQueue.size === 0 && namespaceQueue.size === 0,
    close() {
      closed = true;
      stop();
      if (handle) clearImmediate(handle);
      handle = undefined;
    },
  };
}
