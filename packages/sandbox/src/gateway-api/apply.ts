/**
 * Server-side apply as istiod's gateway deployment controller uses it (`deploymentcontroller.go`
 * `apply`: `Force: true`, field manager `istio.io/gateway-controller`), reduced to what the
 * rendered objects need:
 *
 * - `canManage`: an existing object without `gateway.istio.io/managed` is never overwritten.
 * - The manager owns the label and annotation keys it applied (recorded in `managedFields` as
 *   FieldsV1): keys it stops applying are removed, keys other managers added (a
 *   `kubectl rollout restart` annotation, a user's label) stay. Every revision applies under
 *   the same manager name, so a new owner takes over the old owner's keys.
 * - Fields the template leaves out (Deployment `replicas`, `strategy`; Service `clusterIP`) keep
 *   what the API server defaulted or someone else set.
 * - An apply that changes nothing writes nothing (no new resourceVersion, no event).
 */
import { jsonEqual, type KubeObject, type ResourceType, type Store } from '../store.ts';
import { MANAGED_LABEL } from './render.ts';
import { cloneJson } from '../clone.ts';

export const FIELD_MANAGER = 'istio.io/gateway-controller';

type Meta = { labels?: Record<string, string>; annotations?: Record<string, string> };
type Fields = Record<string, unknown>;
type ManagedField = {
  manager?: string;
  operation?: string;
  apiVersion?: string;
  time?: string;
  fieldsType?: string;
  fieldsV1?: Fields;
};

function keysOf(fields: Fields | undefined, ...path: string[]): Set<string> {
  let node: unknown = fields;
  for (const step of path) node = typeof node === 'object' && node !== null ? (node as Fields)[`f:${step}`] : undefined;
  if (typeof node !== 'object' || node === null) return new Set();
  return new Set(
    Object.keys(node)
      .filter((k) => k.startsWith('f:'))
      .map((k) => k.slice(2)),
  );
}

const asFields = (map: Record<string, string> | undefined): Fields =>
  Object.fromEntries(Object.keys(map ?? {}).map((k) => [`f:${k}`, {}]));

function fieldsOf(object: KubeObject): Fields {
  const template = (object.spec as { template?: { metadata?: Meta } } | undefined)?.template;
  return {
    'f:metadata': {
      'f:labels': asFields(object.metadata.labels),
      'f:annotations': asFields(object.metadata.annotations),
      'f:ownerReferences': {},
    },
    'f:spec': template
      ? {
          'f:template': {
            'f:metadata': {
              'f:labels': asFields(template.metadata?.labels),
              'f:annotations': asFields(template.metadata?.annotations),
            },
          },
        }
      : {},
  };
}

/** Merges `desired` into `existing` for one string map: drop keys we owned and no longer apply. */
function mergeMap(
  existing: Record<string, string> | undefined,
  desired: Record<string, string> | undefined,
  owned: Set<string>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(existing ?? {})) if (!owned.has(k)) out[k] = v;
  return { ...out, ...(desired ?? {}) };
}

function withoutTime(object: KubeObject): KubeObject {
  const fields = (object.metadata.managedFields as ManagedField[] | undefined)?.map(({ time: _time, ...rest }) => rest);
  return { ...object, metadata: { ...object.metadata, resourceVersion: '', managedFields: fields } };
}

export type ApplyOutcome = 'created' | 'updated' | 'unchanged' | 'not-managed';

/**
 * Applies `rendered` as the gateway controller. The store is written directly, not through
 * HTTP, so `normalize` fills what the API server defaults on every write (container and pod
 * fields, so a later PUT by someone else does not look like a change) and `createDefaults` what
 * it defaults on create only (Deployment `replicas`, a Service's cluster IP).
 */
export function applyRendered(
  store: Store,
  type: ResourceType,
  rendered: KubeObject,
  options: {
    now: string;
    normalize?: (object: KubeObject) => KubeObject;
    createDefaults?: (object: KubeObject) => KubeObject;
  },
): ApplyOutcome {
  const desired = options.normalize ? options.normalize(cloneJson(rendered)) : rendered;
  const namespace = desired.metadata.namespace;
  const name = desired.metadata.name ?? '';
  const existing = store.tryGet(type, namespace, name);
  const entry: ManagedField = {
    manager: FIELD_MANAGER,
    operation: 'Apply',
    apiVersion: desired.apiVersion ?? type.version,
    time: options.now,
    fieldsType: 'FieldsV1',
    fieldsV1: fieldsOf(desired),
  };
  if (!existing) {
    const created = options.createDefaults ? options.createDefaults(cloneJson(desired)) : cloneJson(desired);
    store.create(type, namespace, created, { applied: [entry] });
    return 'created';
  }
  if (existing.metadata.labels?.[MANAGED_LABEL] === undefined) return 'not-managed';

  const managed = (existing.metadata.managedFields as ManagedField[] | undefined) ?? [];
  const ours = managed.find((m) => m.manager === FIELD_MANAGER && m.operation === 'Apply')?.fieldsV1;
  const next: KubeObject = {
    ...existing,
    metadata: {
      ...existing.metadata,
      labels: mergeMap(existing.metadata.labels, desired.metadata.labels, keysOf(ours, 'metadata', 'labels')),
      annotations: mergeMap(
        existing.metadata.annotations,
        desired.metadata.annotations,
        keysOf(ours, 'metadata', 'annotations'),
      ),
      ownerReferences: desired.metadata.ownerReferences,
      managedFields: [...managed.filter((m) => !(m.manager === FIELD_MANAGER && m.operation === 'Apply')), entry],
    },
  };
  const desiredSpec = desired.spec as Record<string, unknown> | undefined;
  if (desiredSpec) {
    const spec: Record<string, unknown> = { ...(existing.spec as Record<string, unknown>), ...desiredSpec };
    const desiredTemplate = desiredSpec.template as { metadata?: Meta; spec?: unknown } | undefined;
    const existingTemplate = (existing.spec as { template?: { metadata?: Meta } } | undefined)?.template;
    if (desiredTemplate) {
      spec.template = {
        ...desiredTemplate,
        metadata: {
          ...desiredTemplate.metadata,
          labels: mergeMap(
            existingTemplate?.metadata?.labels,
            desiredTemplate.metadata?.labels,
            keysOf(ours, 'spec', 'template', 'metadata', 'labels'),
          ),
          annotations: mergeMap(
            existingTemplate?.metadata?.annotations,
            desiredTemplate.metadata?.annotations,
            keysOf(ours, 'spec', 'template', 'metadata', 'annotations'),
          ),
        },
      };
    }
    next.spec = spec;
  }
  if (jsonEqual(withoutTime(next), withoutTime(existing))) return 'unchanged';
  store.update(
    type,
    namespace,
    { ...next, metadata: { ...next.metadata, resourceVersion: existing.metadata.resourceVersion } },
    { applied: next.metadata.managedFields as unknown[] },
  );
  return 'updated';
}
