/**
 * The cluster port: what the mesh layer and the runner need from a Kubernetes API, in plain
 * JSON objects and resource references (no client-library types). Kept narrow on purpose:
 * read, write, watch, and ask for permission.
 */
import { ExternalError } from '../errors.ts';

/** A Kubernetes object as plain JSON. */
export type KubeObject = {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    creationTimestamp?: string;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
    [field: string]: unknown;
  };
  [field: string]: unknown;
};

/** Names a resource type the way URLs do. `group` is '' for the core group. */
export type ResourceRef = {
  group: string;
  version: string;
  /** Plural resource name, e.g. `deployments`. */
  resource: string;
  kind: string;
  namespaced: boolean;
};

export type ListQuery = {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
};

/** A single write. Patches name only the keys revroll owns (safety invariant 4). */
export type Mutation =
  | { op: 'create'; ref: ResourceRef; namespace?: string; object: KubeObject }
  | { op: 'merge-patch'; ref: ResourceRef; namespace?: string; name: string; patch: Record<string, unknown> }
  | { op: 'strategic-patch'; ref: ResourceRef; namespace?: string; name: string; patch: Record<string, unknown> }
  /** Replace with optimistic concurrency: `object.metadata.resourceVersion` must be current. */
  | { op: 'replace'; ref: ResourceRef; namespace?: string; object: KubeObject }
  | {
      op: 'delete';
      ref: ResourceRef;
      namespace?: string;
      name: string;
      propagation?: 'Foreground' | 'Background' | 'Orphan';
    };

/** What a watch reports. */
export type WatchEvent = { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: KubeObject };

export type WaitOptions = ReadOptions & { project?: (object: KubeObject) => KubeObject };

export type PermissionCheck = { verb: string; group: string; resource: string; namespace?: string };

/**
 * How much of each object a read returns. `metadataOnly` asks the API server for
 * PartialObjectMetadata (name, namespace, labels, annotations, owners, deletionTimestamp; no spec
 * or status): what counting and convergence judge by, at a fraction of the bytes.
 */
export type ReadOptions = { metadataOnly?: boolean };

export interface ClusterPort {
  /** Lists every matching object (pagination handled inside). */
  list(ref: ResourceRef, query?: ListQuery, options?: ReadOptions): Promise<KubeObject[]>;
  /**
   * Lists page by page, giving each object to `visit` as its page arrives; keeps nothing, so a
   * caller that folds objects into a small projection never holds the whole collection.
   */
  scan(ref: ResourceRef, query: ListQuery, visit: (object: KubeObject) => void, options?: ReadOptions): Promise<void>;
  /** Reads one object; `undefined` when it does not exist. */
  get(ref: ResourceRef, namespace: string | undefined, name: string): Promise<KubeObject | undefined>;
  /**
   * Performs one write; returns the object as stored (the deleted object for deletes, `undefined`
   * if it was already gone). With `metadataOnly` the answer may carry the stored object's metadata
   * only (PartialObjectMetadata): for a caller that reads nothing else of it, at a fraction of the
   * bytes (a restart's answer is the whole Deployment).
   */
  mutate(mutation: Mutation, options?: ReadOptions): Promise<KubeObject | undefined>;
  /**
   * Lists, then watches from the list's resourceVersion, calling `onState` with the full current
   * set after the list and after every event, until `onState` returns true (resolves) or the
   * timeout passes (resolves false). Reconnects transparently; re-lists on 410 Gone. With
   * `project`, the set holds each object as `project` reduced it (and events carry the reduced
   * object), so a watch over thousands of objects keeps only the fields its check reads.
   */
  waitFor(
    ref: ResourceRef,
    query: ListQuery,
    onState: (objects: ReadonlyMap<string, KubeObject>, event?: WatchEvent) => boolean,
    timeoutMs: number,
    signal?: AbortSignal,
    options?: WaitOptions,
  ): Promise<boolean>;
  /** SelfSubjectAccessReview for each check; returns those that are denied. */
  denied(checks: readonly PermissionCheck[]): Promise<PermissionCheck[]>;
}

/** Well-known resource references. */
export const Resources = {
  namespaces: { group: '', version: 'v1', resource: 'namespaces', kind: 'Namespace', namespaced: false },
  pods: { group: '', version: 'v1', resource: 'pods', kind: 'Pod', namespaced: true },
  services: { group: '', version: 'v1', resource: 'services', kind: 'Service', namespaced: true },
  configmaps: { group: '', version: 'v1', resource: 'configmaps', kind: 'ConfigMap', namespaced: true },
  secrets: { group: '', version: 'v1', resource: 'secrets', kind: 'Secret', namespaced: true },
  serviceaccounts: { group: '', version: 'v1', resource: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true },
  events: { group: '', version: 'v1', resource: 'events', kind: 'Event', namespaced: true },
  deployments: { group: 'apps', version: 'v1', resource: 'deployments', kind: 'Deployment', namespaced: true },
  statefulsets: { group: 'apps', version: 'v1', resource: 'statefulsets', kind: 'StatefulSet', namespaced: true },
  daemonsets: { group: 'apps', version: 'v1', resource: 'daemonsets', kind: 'DaemonSet', namespaced: true },
  replicasets: { group: 'apps', version: 'v1', resource: 'replicasets', kind: 'ReplicaSet', namespaced: true },
  mutatingwebhookconfigurations: {
    group: 'admissionregistration.k8s.io',
    version: 'v1',
    resource: 'mutatingwebhookconfigurations',
    kind: 'MutatingWebhookConfiguration',
    namespaced: false,
  },
  validatingwebhookconfigurations: {
    group: 'admissionregistration.k8s.io',
    version: 'v1',
    resource: 'validatingwebhookconfigurations',
    kind: 'ValidatingWebhookConfiguration',
    namespaced: false,
  },
  leases: { group: 'coordination.k8s.io', version: 'v1', resource: 'leases', kind: 'Lease', namespaced: true },
  roles: { group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'roles', kind: 'Role', namespaced: true },
  rolebindings: {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    resource: 'rolebindings',
    kind: 'RoleBinding',
    namespaced: true,
  },
  clusterroles: {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    resource: 'clusterroles',
    kind: 'ClusterRole',
    namespaced: false,
  },
  clusterrolebindings: {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    resource: 'clusterrolebindings',
    kind: 'ClusterRoleBinding',
    namespaced: false,
  },
  poddisruptionbudgets: {
    group: 'policy',
    version: 'v1',
    resource: 'poddisruptionbudgets',
    kind: 'PodDisruptionBudget',
    namespaced: true,
  },
  horizontalpodautoscalers: {
    group: 'autoscaling',
    version: 'v2',
    resource: 'horizontalpodautoscalers',
    kind: 'HorizontalPodAutoscaler',
    namespaced: true,
  },
  envoyfilters: {
    group: 'networking.istio.io',
    version: 'v1alpha3',
    resource: 'envoyfilters',
    kind: 'EnvoyFilter',
    namespaced: true,
  },
} as const satisfies Record<string, ResourceRef>;

/**
 * What went wrong talking to the cluster, in the port's terms: the runner branches on `kind`,
 * never on an HTTP status or message text.
 */
export type ClusterErrorKind =
  /** The object changed since it was read (optimistic concurrency): observe again and re-plan. */
  | 'conflict'
  /** The object (or its namespace) does not exist. */
  | 'not-found'
  /** The credentials may not do this. */
  | 'forbidden'
  /** The API server rejected the request as invalid. */
  | 'invalid'
  /** The API server did not answer, or answered with a server error, past the retry budget. */
  | 'unavailable'
  /** Anything else the API server refused. */
  | 'other';

/** A failed cluster call. Adapters throw it (or a subclass); its `kind` says what happened. */
export class ClusterError extends ExternalError {
  readonly kind: ClusterErrorKind;

  constructor(kind: ClusterErrorKind, code: string, message: string, target: string, options?: { cause?: unknown }) {
    super(code, message, target, options);
    this.kind = kind;
  }
}

/** The error is a cluster error of this kind. */
export function isClusterError(error: unknown, kind: ClusterErrorKind): error is ClusterError {
  return error instanceof ClusterError && error.kind === kind;
}
