/**
 * The sandbox's object store: what etcd plus the generic registry are to a real API server.
 * It owns resourceVersions, uids, generation, creationTimestamp, conflicts and the event
 * history that watches replay. The HTTP layer (api-server) and the simulated controllers
 * (controllers, admission, istio) both work through it.
 *
 * Invariant: stored objects are never mutated in place. Every write stores a fresh copy, so
 * readers may hold references (lists of 20,000 pods are served without copying) but must
 * treat them as read-only.
 */
import { randomUUID } from 'node:crypto';
import { matches, type Requirement } from './selectors.ts';
import { decideDelete, type DeleteOptions } from './deletion.ts';
import {
  isEntryList,
  isResetRequest,
  updateManagedFields,
  type ManagedFieldsEntry,
  type Writer,
} from './api/managed-fields.ts';
import { cloneJson } from './clone.ts';
import { isoSeconds } from './time.ts';

export type { DeleteOptions, PropagationPolicy } from './deletion.ts';
export type { Writer } from './api/managed-fields.ts';

/** A Kubernetes object as JSON. Only `metadata` is known to the store. */
export type KubeObject = {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
};

export type ObjectMeta = {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: {
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
  }[];
  finalizers?: string[];
  [field: string]: unknown;
};

/** A resource type the API serves: built in, or declared by a CustomResourceDefinition. */
export type ResourceType = {
  group: string; // '' for the core group
  version: string;
  kind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames?: string[];
  categories?: string[];
  /** Subresources served (e.g. `status`). */
  subresources?: string[];
  /** Whether writes to the main resource change `generation` when `spec` changes. */
  hasSpec?: boolean;
  /** How `generation` moves, when not simply with `spec` (see GenerationRule). */
  generation?: GenerationRule;
};

/**
 * What bumps `metadata.generation` on an update, per the kind's registry strategy: `spec`
 * (ReplicaSets, StatefulSets, DaemonSets, Jobs...), `spec+annotations` (Deployments: their
 * annotations are copied to ReplicaSets, pkg/registry/apps/deployment/strategy.go), `webhooks`
 * (webhook configurations), `nonMetadata` (custom resources: anything but metadata, and status
 * when the CRD has a status subresource; apiextensions customResourceStrategy).
 */
export type GenerationRule = 'spec' | 'spec+annotations' | 'webhooks' | 'nonMetadata';

/** Store errors map 1:1 onto Kubernetes `Status` reasons. */
/** `InternalError` (500) is what a failing admission webhook with `failurePolicy: Fail` returns. */
export type StoreErrorReason =
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Invalid'
  | 'BadRequest'
  | 'Expired'
  | 'MethodNotAllowed'
  | 'Forbidden'
  | 'InternalError';

export type StoreErrorDetails = {
  name?: string;
  group?: string;
  kind?: string;
  causes?: { reason: string; message: string; field: string }[];
};

export class StoreError extends Error {
  readonly reason: StoreErrorReason;
  readonly code: number;
  readonly details: StoreErrorDetails;

  constructor(reason: StoreErrorReason, code: number, message: string, details: StoreErrorDetails = {}) {
    super(message);
    this.reason = reason;
    this.code = code;
    this.details = details;
  }
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One change, as kept in the history and delivered to watchers. */
export type ChangeEvent = {
  type: WatchEventType;
  resourceVersion: number;
  resource: ResourceType;
  object: KubeObject;
  /** The object before the change (MODIFIED and DELETED). */
  previous?: KubeObject;
};

export type ListOptions = {
  namespace?: string;
  labelSelector?: readonly Requirement[];
  /** `metadata.name` / `metadata.namespace` equality and inequality. */
  fieldSelector?: readonly { field: string; op: '=' | '!='; value: string }[];
};

/** Runs before an object is stored on create; may change it or throw a StoreError. */
export type CreateHook = (resource: ResourceType, object: KubeObject) => KubeObject;

export type WriteOptions = {
  /**
   * Write a subresource: `status` changes only status (generation stays); `binding` only a pod's
   * `spec.nodeName` (pods/binding, what the scheduler writes; a bound pod cannot be re-bound).
   */
  subresource?: 'status' | 'binding';
  /** Skip create hooks (used by the store's own seeding). */
  skipHooks?: boolean;
  /** Compute what would be stored, store nothing (`dryRun=All`). */
  dryRun?: boolean;
  /** The API request's field manager: its write is recorded in `metadata.managedFields`. */
  writer?: Writer;
  /**
   * The managedFields a server-side apply leaves (an `Apply` entry for the applier's fields),
   * stored as given: the sandbox's own controllers that apply as Istio's do (gateway deployment
   * controller, field manager istio.io/gateway-controller) compute them themselves.
   */
  applied?: unknown[];
};

export function resourceKey(resource: Pick<ResourceType, 'group' | 'plural'>): string {
  return resource.group === '' ? resource.plural : `${resource.plural}.${resource.group}`;
}

export function groupVersion(resource: Pick<ResourceType, 'group' | 'version'>): string {
  return resource.group === '' ? resource.version : `${resource.group}/${resource.version}`;
}

function objectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

/** Where writes go through what kube-apiserver runs on every write (set by `registerBuiltins`). */
export type WritePipeline = {
  /** Server-side defaults, applied in place (idempotent) on create (`old` undefined) and update. */
  defaults?: (resource: ResourceType, object: KubeObject, old: KubeObject | undefined) => void;
  /** Validation of a create (`old` undefined) or a main-resource update; throws a 422. */
  validate?: (resource: ResourceType, object: KubeObject, old: KubeObject | undefined) => void;
};

/** A consistent list read, kept for the continue tokens issued from it. */
type Snapshot = { resourceVersion: number; items: KubeObject[]; takenAtMs: number };

/** Creates an empty store. `now` is injected so simulations and tests control time. */
export function createStore(
  options: { now?: () => Date; historySize?: number; snapshotTtlMs?: number; maxSnapshots?: number } = {},
) {
  const now = options.now ?? (() => new Date());
  const historySize = options.historySize ?? 20_000;
  // etcd compacts every 5 minutes by default (kube-apiserver --etcd-compaction-interval): a
  // continue token older than that meets a compacted revision.
  const snapshotTtlMs = options.snapshotTtlMs ?? 5 * 60_000;
  const maxSnapshots = options.maxSnapshots ?? 64;
  const types = new Map<string, ResourceType>(); // resourceKey -> type
  const objects = new Map<string, Map<string, KubeObject>>(); // resourceKey -> objectKey -> object
  const history: ChangeEvent[] = [];
  const snapshots = new Map<string, Snapshot>(); // `${resourceKey}@${rv}`
  let oldestRetained = 1; // smallest RV a watch may resume from
  let revision = 1;
  const watchers = new Set<(event: ChangeEvent) => void>();
  const createHooks: CreateHook[] = [];
  let pipeline: WritePipeline = {};

  const timestamp = () => isoSeconds(now());

  function bucket(resource: ResourceType): Map<string, KubeObject> {
    const key = resourceKey(resource);
    let map = objects.get(key);
    if (!map) {
      map = new Map();
      objects.set(key, map);
    }
    return map;
  }

  const details = (resource: ResourceType, name: string) => ({
    name,
    ...(resource.group === '' ? {} : { group: resource.group }),
    kind: resource.plural,
  });

  function notFound(resource: ResourceType, name: string): StoreError {
    return new StoreError('NotFound', 404, `${resourceKey(resource)} "${name}" not found`, details(resource, name));
  }

  function conflict(resource: ResourceType, name: string, why: string): StoreError {
    return new StoreError(
      'Conflict',
      409,
      `Operation cannot be fulfilled on ${resourceKey(resource)} "${name}": ${why}`,
      details(resource, name),
    );
  }

  function record(event: ChangeEvent): void {
    // Replayed watches need only the object; keeping `previous` too would retain two versions of
    // every object in the history.
    const { previous: _previous, ...kept } = event;
    history.push(kept);
    // Trim in batches: splicing the head on every write is quadratic at 20,000 pods.
    if (history.length > historySize * 1.25) {
      const drop = history.length - historySize;
      history.splice(0, drop);
      oldestRetained = history[0]?.resourceVersion ?? revision;
    }
    for (const watcher of watchers) watcher(event);
  }

  function nextRevision(): number {
    revision += 1;
    return revision;
  }

  function checkNamespace(resource: ResourceType, namespace: string | undefined): void {
    if (resource.namespaced && !namespace) {
      throw new StoreError('BadRequest', 400, `${resourceKey(resource)} is namespaced: a namespace is required`);
    }
  }

  /** NamespaceLifecycle admission: nothing new in a namespace being deleted (403, with the real cause). */
  function checkNotTerminating(resource: ResourceType, namespace: string | undefined, name: string): void {
    if (!resource.namespaced || !namespace) return;
    const ns = objects.get('namespaces')?.get(namespace);
    if (!ns?.metadata.deletionTimestamp) return;
    const subject = name ? `${resourceKey(resource)} "${name}"` : resourceKey(resource);
    throw new StoreError(
      'Forbidden',
      403,
      `${subject} is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`,
      {
        ...(name ? { name } : {}),
        ...(resource.group === '' ? {} : { group: resource.group }),
        kind: resource.plural,
        causes: [
          {
            reason: 'NamespaceTerminating',
            message: `namespace ${namespace} is being terminated`,
            field: 'metadata.namespace',
          },
        ],
      },
    );
  }

  function withManagedFields(
    resource: ResourceType,
    before: KubeObject | undefined,
    after: KubeObject,
    writer: Writer | undefined,
    sent: unknown,
  ): void {
    if (!writer) return;
    if (isResetRequest(sent)) {
      delete after.metadata.managedFields;
      return;
    }
    const stored = (before?.metadata.managedFields ?? []) as ManagedFieldsEntry[];
    // A client that sends back what it read, nothing or `[]` does not mean to set them.
    const base =
      sent === undefined || (Array.isArray(sent) && sent.length === 0) || jsonEqual(sent, stored) || !isEntryList(sent)
        ? stored
        : sent;
    const entries = updateManagedFields(base, before, after, writer, timestamp(), isCustom(resource));
    if (entries.length > 0) after.metadata.managedFields = entries;
    else delete after.metadata.managedFields;
  }

  function removeNow(resource: ResourceType, key: string, current: KubeObject): KubeObject {
    bucket(resource).delete(key);
    const rv = nextRevision();
    const deleted = { ...current, metadata: { ...current.metadata, resourceVersion: String(rv) } };
    record({ type: 'DELETED', resourceVersion: rv, resource, object: deleted, previous: current });
    return deleted;
  }

  function storeModified(resource: ResourceType, key: string, current: KubeObject, next: KubeObject): KubeObject {
    const rv = nextRevision();
    next.metadata.resourceVersion = String(rv);
    bucket(resource).set(key, next);
    record({ type: 'MODIFIED', resourceVersion: rv, resource, object: next, previous: current });
    return next;
  }

  /** The object a main-resource update would store (server-owned fields kept, defaults, generation). */
  function nextVersion(
    resource: ResourceType,
    current: KubeObject,
    input: KubeObject,
    options: WriteOptions,
  ): KubeObject {
    if (options.subresource === 'binding') {
      const bound = (current.spec as { nodeName?: string } | undefined)?.nodeName;
      const nodeName = (input.spec as { nodeName?: string } | undefined)?.nodeName;
      if (bound && bound !== nodeName)
        throw conflict(
          resource,
          current.metadata.name ?? '',
          `pod ${current.metadata.name ?? ''} is already assigned to node "${bound}"`,
        );
      return { ...current, metadata: { ...current.metadata }, spec: { ...(current.spec as object), nodeName } };
    }
    if (options.subresource === 'status') {
      const next = { ...current, metadata: { ...current.metadata }, status: cloneJson(input.status) };
      if (next.status === undefined) delete next.status;
      withManagedFields(resource, current, next, options.writer, input.metadata.managedFields);
      return next;
    }
    const next = cloneJson(input);
    const sentManagedFields = input.metadata.managedFields;
    // Server-owned fields survive a client's PUT (rest.BeforeUpdate); a different uid is a 422.
    if (!next.metadata.uid) next.metadata.uid = current.metadata.uid;
    next.metadata.creationTimestamp = current.metadata.creationTimestamp;
    next.metadata.namespace = current.metadata.namespace;
    if (current.metadata.deletionTimestamp) next.metadata.deletionTimestamp = current.metadata.deletionTimestamp;
    if (
      current.metadata.deletionGracePeriodSeconds !== undefined &&
      next.metadata.deletionGracePeriodSeconds === undefined
    )
      next.metadata.deletionGracePeriodSeconds = current.metadata.deletionGracePeriodSeconds;
    if (current.metadata.generation !== undefined) next.metadata.generation = current.metadata.generation;
    else delete next.metadata.generation;
    next.metadata.managedFields = current.metadata.managedFields;
    if (resource.subresources?.includes('status')) {
      if ('status' in current) next.status = current.status;
      else delete next.status;
    }
    next.apiVersion = groupVersion(resource);
    next.kind = resource.kind;
    pipeline.defaults?.(resource, next, current);
    pipeline.validate?.(resource, next, current);
    if (generationChanged(resource, current, next)) next.metadata.generation = (current.metadata.generation ?? 1) + 1;
    withManagedFields(resource, current, next, options.writer, sentManagedFields);
    if (options.applied) next.metadata.managedFields = options.applied;
    return next;
  }

  const store = {
    now,

    /** Registers a resource type (built-in at start, or from a CRD). Re-registering is a no-op. */
    registerType(resource: ResourceType): void {
      types.set(resourceKey(resource), resource);
    },

    unregisterType(resource: Pick<ResourceType, 'group' | 'plural'>): void {
      types.delete(resourceKey(resource));
      objects.delete(resourceKey(resource));
    },

    types(): ResourceType[] {
      return [...types.values()];
    },

    /** Finds a type by group and plural (what URLs name). */
    findType(group: string, plural: string): ResourceType | undefined {
      return types.get(group === '' ? plural : `${plural}.${group}`);
    },

    /** Finds a type by apiVersion and kind (what manifests name). */
    findTypeByKind(apiVersion: string, kind: string): ResourceType | undefined {
      for (const type of types.values()) {
        if (type.kind === kind && groupVersion(type) === apiVersion) return type;
      }
      return undefined;
    },

    /** The current resourceVersion of the whole store. */
    resourceVersion(): number {
      return revision;
    },

    addCreateHook(hook: CreateHook): void {
      createHooks.push(hook);
    },

    /** Installs defaulting and validation for every writer (the API and the simulation alike). */
    setPipeline(next: WritePipeline): void {
      pipeline = next;
    },

    get(resource: ResourceType, namespace: string | undefined, name: string): KubeObject {
      checkNamespace(resource, namespace);
      const object = bucket(resource).get(objectKey(resource.namespaced ? namespace : undefined, name));
      if (!object) throw notFound(resource, name);
      return object;
    },

    tryGet(resource: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
      return bucket(resource).get(objectKey(resource.namespaced ? namespace : undefined, name));
    },

    /** Lists objects sorted by namespace then name (the order the real server returns). */
    list(resource: ResourceType, options: ListOptions = {}): { items: KubeObject[]; resourceVersion: number } {
      const items: KubeObject[] = [];
      for (const object of bucket(resource).values()) {
        if (store.selects(object, options)) items.push(object);
      }
      items.sort((a, b) => compareKeys(a, b));
      return { items, resourceVersion: revision };
    },

    /**
     * Every object of a type at the current version, kept so that later pages of a paginated list
     * read the same snapshot (as etcd serves a continue token at its revision).
     */
    snapshot(resource: ResourceType): { items: KubeObject[]; resourceVersion: number } {
      const key = `${resourceKey(resource)}@${revision}`;
      let taken = snapshots.get(key);
      if (!taken) {
        taken = { resourceVersion: revision, items: store.list(resource).items, takenAtMs: now().getTime() };
        snapshots.set(key, taken);
        while (snapshots.size > maxSnapshots) snapshots.delete(snapshots.keys().next().value as string);
      }
      return taken;
    },

    /** The snapshot of a type at `resourceVersion`, unless it was compacted (or expired). */
    snapshotAt(resource: ResourceType, resourceVersion: number): KubeObject[] | undefined {
      const key = `${resourceKey(resource)}@${resourceVersion}`;
      const taken = snapshots.get(key);
      if (taken && now().getTime() - taken.takenAtMs > snapshotTtlMs) snapshots.delete(key);
      return snapshots.get(key)?.items;
    },

    /** Whether an object passes a list's namespace, label and field selectors. */
    selects(object: KubeObject, options: ListOptions): boolean {
      if (options.namespace !== undefined && object.metadata.namespace !== options.namespace) return false;
      if (options.labelSelector && !matches(options.labelSelector, object.metadata.labels)) return false;
      for (const f of options.fieldSelector ?? []) {
        const actual =
          f.field === 'metadata.name'
            ? object.metadata.name
            : f.field === 'metadata.namespace'
              ? (object.metadata.namespace ?? '')
              : undefined;
        if (actual === undefined) return false;
        if ((f.op === '=') !== (actual === f.value)) return false;
      }
      return true;
    },

    create(
      resource: ResourceType,
      namespace: string | undefined,
      input: KubeObject,
      options: WriteOptions = {},
    ): KubeObject {
      checkNamespace(resource, namespace);
      let object: KubeObject = cloneJson(input);
      object.metadata = object.metadata ?? {};
      const sentManagedFields = object.metadata.managedFields;
      if (resource.namespaced) object.metadata.namespace = namespace;
      else delete object.metadata.namespace;
      checkNotTerminating(resource, namespace, object.metadata.name ?? '');
      if (!options.skipHooks) {
        for (const hook of createHooks) object = hook(resource, object);
      }
      if (!object.metadata.name && object.metadata.generateName)
        object.metadata.name = `${object.metadata.generateName}${randomSuffix()}`;
      object.apiVersion = groupVersion(resource);
      object.kind = resource.kind;
      // Server-owned metadata is never taken from the client (rest.BeforeCreate).
      for (const field of [
        'uid',
        'resourceVersion',
        'creationTimestamp',
        'deletionTimestamp',
        'deletionGracePeriodSeconds',
      ])
        delete object.metadata[field];
      delete object.metadata.managedFields;
      if (generationRule(resource)) object.metadata.generation = 1;
      else delete object.metadata.generation;
      pipeline.defaults?.(resource, object, undefined);
      pipeline.validate?.(resource, object, undefined);
      const name = object.metadata.name as string;
      const map = bucket(resource);
      const key = objectKey(resource.namespaced ? namespace : undefined, name);
      if (map.has(key)) {
        throw new StoreError(
          'AlreadyExists',
          409,
          `${resourceKey(resource)} "${name}" already exists`,
          details(resource, name),
        );
      }
      object.metadata.uid = randomUUID();
      object.metadata.creationTimestamp = timestamp();
      withManagedFields(
        resource,
        undefined,
        object,
        options.writer,
        isResetRequest(sentManagedFields) ? undefined : sentManagedFields,
      );
      if (options.applied) object.metadata.managedFields = options.applied;
      if (options.dryRun) return object;
      const rv = nextRevision();
      object.metadata.resourceVersion = String(rv);
      map.set(key, object);
      record({ type: 'ADDED', resourceVersion: rv, resource, object });
      return object;
    },

    /**
     * Replaces an object. A `metadata.resourceVersion` in the input is a precondition (409 when
     * stale); without one the update is unconditional, as on a real server. An update that leaves
     * an object being deleted without finalizers (and no grace period left) deletes it.
     */
    update(
      resource: ResourceType,
      namespace: string | undefined,
      input: KubeObject,
      options: WriteOptions = {},
    ): KubeObject {
      checkNamespace(resource, namespace);
      const name = input.metadata?.name;
      if (!name)
        throw new StoreError('Invalid', 422, `${resource.kind} "" is invalid: metadata.name: Required value`, {
          kind: resource.kind,
        });
      const key = objectKey(resource.namespaced ? namespace : undefined, name);
      const current = bucket(resource).get(key);
      if (!current) throw notFound(resource, name);
      const precondition = input.metadata.resourceVersion;
      if (precondition !== undefined && precondition !== '' && precondition !== current.metadata.resourceVersion) {
        throw conflict(
          resource,
          name,
          'the object has been modified; please apply your changes to the latest version and try again',
        );
      }
      const next = nextVersion(resource, current, input, options);
      if (jsonEqual(stripRv(current), stripRv(next))) return current; // no-op writes do not bump RV
      if (options.dryRun)
        return { ...next, metadata: { ...next.metadata, resourceVersion: current.metadata.resourceVersion } };
      const finalizersLeft = (next.metadata.finalizers ?? []).length;
      if (
        current.metadata.deletionTimestamp &&
        finalizersLeft === 0 &&
        (current.metadata.deletionGracePeriodSeconds ?? 0) === 0
      ) {
        // The last finalizer is gone: the object goes (the store's shouldDeleteDuringUpdate).
        const stored = storeModified(resource, key, current, next);
        if (resource.plural !== 'namespaces' || resource.group !== '') return removeNow(resource, key, stored);
        return stored;
      }
      return storeModified(resource, key, current, next);
    },

    /**
     * Deletes as a DELETE request does (see deletion.ts): removed at once, or marked with a
     * deletionTimestamp while a grace period runs or finalizers remain. `removed` tells which.
     */
    remove(
      resource: ResourceType,
      namespace: string | undefined,
      name: string,
      options: DeleteOptions = {},
    ): { object: KubeObject; removed: boolean } {
      checkNamespace(resource, namespace);
      const key = objectKey(resource.namespaced ? namespace : undefined, name);
      const current = bucket(resource).get(key);
      if (!current) throw notFound(resource, name);
      const pre = options.preconditions;
      const preconditionFailed = (what: string, expected: string, actual: string | undefined) =>
        conflict(
          resource,
          name,
          `Precondition failed: ${what} in precondition: ${expected}, ${what} in object meta: ${actual ?? ''}`,
        );
      if (pre?.uid && pre.uid !== current.metadata.uid) throw preconditionFailed('UID', pre.uid, current.metadata.uid);
      if (pre?.resourceVersion && pre.resourceVersion !== current.metadata.resourceVersion)
        throw preconditionFailed('ResourceVersion', pre.resourceVersion, current.metadata.resourceVersion);
      const kind =
        resource.group === '' && (resource.plural === 'pods' || resource.plural === 'namespaces')
          ? resource.plural
          : 'other';
      const decision = decideDelete(current, kind, options, now().getTime());
      switch (decision.action) {
        case 'unchanged':
          return { object: current, removed: false };
        case 'mark':
          if (options.dryRun) return { object: decision.object, removed: false };
          return { object: storeModified(resource, key, current, decision.object), removed: false };
        case 'remove':
          if (options.dryRun) return { object: current, removed: true };
          return { object: removeNow(resource, key, current), removed: true };
      }
    },

    /** `remove` for callers that only need the object (the simulation's controllers, Istio helpers). */
    delete(
      resource: ResourceType,
      namespace: string | undefined,
      name: string,
      options: DeleteOptions = {},
    ): KubeObject {
      return store.remove(resource, namespace, name, options).object;
    },

    /**
     * Subscribes to changes after `fromResourceVersion` (replaying retained history first).
     * Throws Expired (410) when that version is older than the retained history.
     */
    watch(fromResourceVersion: number | undefined, listener: (event: ChangeEvent) => void): () => void {
      if (fromResourceVersion !== undefined) {
        if (fromResourceVersion < oldestRetained - 1) {
          throw new StoreError('Expired', 410, `too old resource version: ${fromResourceVersion} (${revision})`);
        }
        for (const event of history) {
          if (event.resourceVersion > fromResourceVersion) listener(event);
        }
      }
      watchers.add(listener);
      return () => {
        watchers.delete(listener);
      };
    },

    /** Forgets history older than the newest `keep` events and every list snapshot (etcd compaction). */
    compact(keep = 0): void {
      const drop = Math.max(0, history.length - keep);
      history.splice(0, drop);
      oldestRetained = history[0]?.resourceVersion ?? revision + 1;
      snapshots.clear();
    },

    /** Number of objects per resource (for sizing and the scale benchmark). */
    counts(): Record<string, number> {
      const result: Record<string, number> = {};
      for (const [key, map] of objects) result[key] = map.size;
      return result;
    },
  };
  return store;
}

/** How a kind's `metadata.generation` moves (its registry strategy's PrepareForUpdate). */
export function generationRule(resource: ResourceType): GenerationRule | undefined {
  return resource.generation ?? (resource.hasSpec ? 'spec' : undefined);
}

function isCustom(resource: ResourceType): boolean {
  return resource.generation === 'nonMetadata';
}

function generationChanged(resource: ResourceType, current: KubeObject, next: KubeObject): boolean {
  const rule = generationRule(resource);
  switch (rule) {
    case undefined:
      return false;
    case 'spec':
      return !jsonEqual(current.spec, next.spec);
    case 'spec+annotations':
      return (
        !jsonEqual(current.spec, next.spec) ||
        !jsonEqual(current.metadata.annotations ?? {}, next.metadata.annotations ?? {})
      );
    case 'webhooks':
      return !jsonEqual(current.webhooks, next.webhooks);
    case 'nonMetadata': {
      const strip = (o: KubeObject) => {
        const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o;
        return resource.subresources?.includes('status') ? rest : { ...rest, status: o.status };
      };
      return !jsonEqual(strip(current), strip(next));
    }
  }
}

export type Store = ReturnType<typeof createStore>;

function compareKeys(a: KubeObject, b: KubeObject): number {
  const an = a.metadata.namespace ?? '';
  const bn = b.metadata.namespace ?? '';
  if (an !== bn) return an < bn ? -1 : 1;
  const a1 = a.metadata.name ?? '';
  const b1 = b.metadata.name ?? '';
  return a1 < b1 ? -1 : a1 > b1 ? 1 : 0;
}

function stripRv(object: KubeObject): KubeObject {
  return { ...object, metadata: { ...object.metadata, resourceVersion: '' } };
}

/** Structural equality of JSON values (key order ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((value, i) => jsonEqual(value, bb[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined);
  return ak.length === bk.length && ak.every((k) => jsonEqual(ao[k], bo[k]));
}

const ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
function randomSuffix(length = 5): string {
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[Math.floor(Math.random() * ALPHABET.length)];
  return out;
}
