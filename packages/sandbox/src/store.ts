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
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
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
};

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
  | 'InternalError';

export class StoreError extends Error {
  readonly reason: StoreErrorReason;
  readonly code: number;
  readonly details: { name?: string; group?: string; kind?: string };

  constructor(
    reason: StoreErrorReason,
    code: number,
    message: string,
    details: { name?: string; group?: string; kind?: string } = {},
  ) {
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
  /** Write the `status` subresource: only `status` changes, generation stays. */
  subresource?: 'status';
  /** Skip create hooks (used by the store's own seeding). */
  skipHooks?: boolean;
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

/** Creates an empty store. `now` is injected so simulations and tests control time. */
export function createStore(options: { now?: () => Date; historySize?: number } = {}) {
  const now = options.now ?? (() => new Date());
  const historySize = options.historySize ?? 20_000;
  const types = new Map<string, ResourceType>(); // resourceKey -> type
  const objects = new Map<string, Map<string, KubeObject>>(); // resourceKey -> objectKey -> object
  const history: ChangeEvent[] = [];
  let oldestRetained = 1; // smallest RV a watch may resume from
  let revision = 1;
  const watchers = new Set<(event: ChangeEvent) => void>();
  const createHooks: CreateHook[] = [];

  const timestamp = () =>
    now()
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z');

  function bucket(resource: ResourceType): Map<string, KubeObject> {
    const key = resourceKey(resource);
    let map = objects.get(key);
    if (!map) {
      map = new Map();
      objects.set(key, map);
    }
    return map;
  }

  function notFound(resource: ResourceType, name: string): StoreError {
    return new StoreError('NotFound', 404, `${resourceKey(resource)} "${name}" not found`, {
      name,
      ...(resource.group === '' ? {} : { group: resource.group }),
      kind: resource.plural,
    });
  }

  function record(event: Omit<ChangeEvent, 'resourceVersion'> & { resourceVersion: number }): void {
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
      let object: KubeObject = structuredClone(input);
      object.metadata = object.metadata ?? {};
      if (resource.namespaced) object.metadata.namespace = namespace;
      else delete object.metadata.namespace;
      if (!object.metadata.name) {
        if (object.metadata.generateName) {
          object.metadata.name = `${object.metadata.generateName}${randomSuffix()}`;
        } else {
          throw new StoreError(
            'Invalid',
            422,
            `${resource.kind} "" is invalid: metadata.name: Required value: name or generateName is required`,
            { kind: resource.kind },
          );
        }
      }
      if (!options.skipHooks) {
        for (const hook of createHooks) object = hook(resource, object);
      }
      const name = object.metadata.name as string;
      const map = bucket(resource);
      const key = objectKey(resource.namespaced ? namespace : undefined, name);
      if (map.has(key)) {
        throw new StoreError('AlreadyExists', 409, `${resourceKey(resource)} "${name}" already exists`, {
          name,
          ...(resource.group === '' ? {} : { group: resource.group }),
          kind: resource.plural,
        });
      }
      const rv = nextRevision();
      object.apiVersion = groupVersion(resource);
      object.kind = resource.kind;
      object.metadata.uid = randomUUID();
      object.metadata.resourceVersion = String(rv);
      object.metadata.creationTimestamp = timestamp();
      if (resource.hasSpec) object.metadata.generation = 1;
      else delete object.metadata.generation;
      map.set(key, object);
      record({ type: 'ADDED', resourceVersion: rv, resource, object });
      return object;
    },

    /**
     * Replaces an object. A `metadata.resourceVersion` in the input is a precondition (409 when
     * stale); without one the update is unconditional, as on a real server.
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
      const map = bucket(resource);
      const key = objectKey(resource.namespaced ? namespace : undefined, name);
      const current = map.get(key);
      if (!current) throw notFound(resource, name);
      const precondition = input.metadata.resourceVersion;
      if (precondition !== undefined && precondition !== '' && precondition !== current.metadata.resourceVersion) {
        throw new StoreError(
          'Conflict',
          409,
          `Operation cannot be fulfilled on ${resourceKey(resource)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
          { name, ...(resource.group === '' ? {} : { group: resource.group }), kind: resource.plural },
        );
      }
      let next: KubeObject;
      if (options.subresource === 'status') {
        next = { ...current, metadata: { ...current.metadata }, status: structuredClone(input.status) };
      } else {
        next = structuredClone(input);
        // Server-owned fields survive a client's PUT.
        next.metadata.uid = current.metadata.uid;
        next.metadata.creationTimestamp = current.metadata.creationTimestamp;
        next.metadata.namespace = current.metadata.namespace;
        if (current.metadata.deletionTimestamp) next.metadata.deletionTimestamp = current.metadata.deletionTimestamp;
        if ('status' in current && resource.subresources?.includes('status')) next.status = current.status;
        if (resource.hasSpec) {
          const generation = current.metadata.generation ?? 1;
          next.metadata.generation = jsonEqual(current.spec, next.spec) ? generation : generation + 1;
        }
      }
      next.apiVersion = groupVersion(resource);
      next.kind = resource.kind;
      if (jsonEqual(stripRv(current), stripRv(next))) return current; // no-op writes do not bump RV
      const rv = nextRevision();
      next.metadata.resourceVersion = String(rv);
      map.set(key, next);
      record({ type: 'MODIFIED', resourceVersion: rv, resource, object: next, previous: current });
      return next;
    },

    delete(resource: ResourceType, namespace: string | undefined, name: string): KubeObject {
      checkNamespace(resource, namespace);
      const map = bucket(resource);
      const key = objectKey(resource.namespaced ? namespace : undefined, name);
      const current = map.get(key);
      if (!current) throw notFound(resource, name);
      map.delete(key);
      const rv = nextRevision();
      const deleted = { ...current, metadata: { ...current.metadata, resourceVersion: String(rv) } };
      record({ type: 'DELETED', resourceVersion: rv, resource, object: deleted, previous: current });
      return deleted;
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

    /** Forgets history older than the newest `keep` events (to test 410 Gone on demand). */
    compact(keep = 0): void {
      const drop = Math.max(0, history.length - keep);
      history.splice(0, drop);
      oldestRetained = history[0]?.resourceVersion ?? revision + 1;
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
