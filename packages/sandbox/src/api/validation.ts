/**
 * The validation kube-apiserver runs on every write, for the kinds revroll and kubectl write:
 * ObjectMeta (names per kind, generateName, labels, annotations, owner references, finalizers,
 * immutable uid/deletionTimestamp, no new finalizer on an object being deleted) and each kind's
 * own rules (validate-pods.ts, validate-kinds.ts). A failure is the real 422: `<Kind>[.group]
 * "<name>" is invalid: <field>: <msg>`, one cause per error (see status.ts `invalid`).
 *
 * Sources: k8s.io/apimachinery/pkg/api/validation/objectmeta.go (ValidateObjectMeta*,
 * ValidateOwnerReferences, ValidateFinalizers, ValidateAnnotations), pkg/apis/core/validation,
 * pkg/apis/apps/validation, pkg/apis/admissionregistration/validation, pkg/apis/rbac/validation,
 * pkg/apis/coordination/validation, pkg/apis/core/validation/events.go.
 *
 * MicroTime fields are checked at decode time instead (a 400, before any validation).
 */
import { resourceKey, type KubeObject, type ResourceType } from '../store.ts';
import type { Served } from './served.ts';
import { ApiError, invalid } from './status.ts';
import {
  forbidden,
  goStringSlice,
  immutable,
  invalidValue,
  required,
  tooLong,
  type FieldError,
} from './field-errors.ts';
import {
  dns1035Label,
  dns1123Label,
  dns1123Subdomain,
  labelValue,
  maskTrailingDash,
  pathSegmentName,
  qualifiedName,
} from './name-rules.ts';
import { validatePod, validatePodUpdate, validateWorkload, validateWorkloadUpdate } from './validate-pods.ts';
import { kindValidators, type KindValidator } from './validate-kinds.ts';

const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$/;
const TOTAL_ANNOTATION_BYTES = 256 * 1024;

type NameRule = (value: string) => string[];

/** The name function each registry strategy passes to ValidateObjectMeta. */
function nameRule(resource: ResourceType): NameRule {
  const key = resourceKey(resource);
  if (key === 'namespaces') return dns1123Label;
  if (key === 'services') return dns1035Label;
  // Events (core/v1) and RBAC objects only need to be valid path segments.
  if (key === 'events' || resource.group === 'rbac.authorization.k8s.io') return pathSegmentName;
  return dns1123Subdomain;
}

function metadataErrors(resource: ResourceType, object: KubeObject): FieldError[] {
  const meta = object.metadata;
  const errors: FieldError[] = [];
  const rule = nameRule(resource);
  if (meta.generateName)
    for (const msg of rule(maskTrailingDash(meta.generateName)))
      errors.push(invalidValue('metadata.generateName', meta.generateName, msg));
  if (!meta.name) errors.push(required('metadata.name', 'name or generateName is required'));
  else for (const msg of rule(meta.name)) errors.push(invalidValue('metadata.name', meta.name, msg));
  errors.push(...labelErrors(meta.labels, 'metadata.labels'));
  errors.push(...annotationErrors(meta.annotations));
  errors.push(...ownerReferenceErrors(meta.ownerReferences));
  errors.push(...finalizerErrors(meta.finalizers));
  return errors;
}

export function labelErrors(labels: unknown, field: string): FieldError[] {
  if (labels === undefined || labels === null) return [];
  if (typeof labels !== 'object' || Array.isArray(labels))
    return [invalidValue(field, 'object', 'labels must be a map of strings')];
  const errors: FieldError[] = [];
  for (const [key, value] of Object.entries(labels as Record<string, unknown>)) {
    for (const msg of qualifiedName(key)) errors.push(invalidValue(field, key, msg));
    const text = typeof value === 'string' ? value : String(value);
    for (const msg of labelValue(text)) errors.push(invalidValue(field, text, msg));
  }
  return errors;
}

function annotationErrors(annotations: Record<string, string> | undefined): FieldError[] {
  if (!annotations) return [];
  const errors: FieldError[] = [];
  let size = 0;
  for (const [key, value] of Object.entries(annotations)) {
    for (const msg of qualifiedName(key.toLowerCase())) errors.push(invalidValue('metadata.annotations', key, msg));
    size += Buffer.byteLength(key) + Buffer.byteLength(String(value));
  }
  if (size > TOTAL_ANNOTATION_BYTES) errors.push(tooLong('metadata.annotations', TOTAL_ANNOTATION_BYTES));
  return errors;
}

function ownerReferenceErrors(refs: KubeObject['metadata']['ownerReferences']): FieldError[] {
  if (!refs) return [];
  const errors: FieldError[] = [];
  const field = 'metadata.ownerReferences';
  for (const ref of refs) {
    const version = (ref.apiVersion ?? '').split('/').at(-1) ?? '';
    if (!version) errors.push(invalidValue(`${field}.apiVersion`, ref.apiVersion ?? '', 'version must not be empty'));
    if (!ref.kind) errors.push(invalidValue(`${field}.kind`, ref.kind ?? '', 'kind must not be empty'));
    if (!ref.name) errors.push(invalidValue(`${field}.name`, ref.name ?? '', 'name must not be empty'));
    if (!ref.uid) errors.push(invalidValue(`${field}.uid`, ref.uid ?? '', 'uid must not be empty'));
  }
  const controllers = refs.filter((r) => r.controller === true);
  if (controllers.length > 1) {
    errors.push(
      invalidValue(
        field,
        {
          go: `[]v1.OwnerReference{${refs
            .map(
              (r) =>
                `v1.OwnerReference{APIVersion:${JSON.stringify(r.apiVersion)}, Kind:${JSON.stringify(r.kind)}, Name:${JSON.stringify(r.name)}, UID:${JSON.stringify(r.uid)}}`,
            )
            .join(', ')}}`,
        },
        `Only one reference can have Controller set to true. Found "true" in references for ${controllers
          .map((r) => `${r.kind}/${r.name}`)
          .join(' and ')}`,
      ),
    );
  }
  return errors;
}

function finalizerErrors(finalizers: string[] | undefined): FieldError[] {
  if (!finalizers) return [];
  const errors: FieldError[] = [];
  for (const f of finalizers)
    for (const msg of qualifiedName(f)) errors.push(invalidValue('metadata.finalizers', f, msg));
  if (finalizers.includes('orphan') && finalizers.includes('foregroundDeletion'))
    errors.push(
      invalidValue(
        'metadata.finalizers',
        goStringSlice(finalizers),
        'finalizer orphan and foregroundDeletion cannot be both set',
      ),
    );
  return errors;
}

/** ValidateObjectMetaUpdate: what a write may not change in metadata. */
function metadataUpdateErrors(object: KubeObject, old: KubeObject): FieldError[] {
  const errors: FieldError[] = [];
  const meta = object.metadata;
  if (meta.uid !== old.metadata.uid) errors.push(immutable('metadata.uid', meta.uid ?? ''));
  if (meta.deletionTimestamp !== old.metadata.deletionTimestamp)
    errors.push(immutable('metadata.deletionTimestamp', { go: goTime(meta.deletionTimestamp) }));
  if (old.metadata.deletionTimestamp) {
    const added = (meta.finalizers ?? []).filter((f) => !(old.metadata.finalizers ?? []).includes(f));
    if (added.length > 0)
      errors.push(
        forbidden(
          'metadata.finalizers',
          `no new finalizers can be added if the object is being deleted, found new finalizers ${goStringSlice(added).go}`,
        ),
      );
  }
  return errors;
}

/** A metav1.Time as Go prints it (`2026-11-22 03:58:31 +0000 UTC`). */
function goTime(value: string | undefined): string {
  if (!value) return 'null';
  return new Date(value)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, ' +0000 UTC');
}

function kindErrors(resource: ResourceType, object: KubeObject, old: KubeObject | undefined): FieldError[] {
  const key = resourceKey(resource);
  switch (key) {
    case 'pods':
      return old ? [...validatePod(object, 'spec'), ...validatePodUpdate(object, old)] : validatePod(object, 'spec');
    case 'deployments.apps':
    case 'replicasets.apps':
    case 'statefulsets.apps':
    case 'daemonsets.apps':
      return [...validateWorkload(key, object), ...(old ? validateWorkloadUpdate(key, object, old) : [])];
  }
  const validator: KindValidator | undefined = kindValidators[key];
  return validator ? validator(object, old, resource) : [];
}

/** The store's validation step: every writer's creates and main-resource updates go through it. */
export function validateWrite(resource: ResourceType, object: KubeObject, old: KubeObject | undefined): void {
  const errors = [
    ...metadataErrors(resource, object),
    ...(old ? metadataUpdateErrors(object, old) : []),
    ...kindErrors(resource, object, old),
  ];
  if (errors.length > 0) throw invalid(resource.kind, resource.group, object.metadata.name ?? '', errors);
}

/**
 * ValidateEventCreate's strict part, for events.k8s.io/v1 creates (core/v1 keeps only the legacy
 * rules): a DNS-subdomain name, `eventTime` set, `type` Normal or Warning, a valid series, and the
 * deprecated core fields (`firstTimestamp`, `lastTimestamp`, `count`, `source`) unset. The object
 * is in the stored (core/v1) form, as the real validation sees the internal Event.
 */
export function validateEventsV1(event: KubeObject): void {
  const errors: FieldError[] = [];
  const name = event.metadata.name ?? '';
  if (name) for (const msg of dns1123Subdomain(name)) errors.push(invalidValue('metadata.name', name, msg));
  if (event.metadata.generateName)
    for (const msg of dns1123Subdomain(maskTrailingDash(event.metadata.generateName)))
      errors.push(invalidValue('metadata.generateName', event.metadata.generateName, msg));
  const series = event.series as { count?: number; lastObservedTime?: string } | undefined;
  if (series) {
    if ((series.count ?? 0) < 2) errors.push(invalidValue('series.count', '', 'should be at least 2'));
    if (!series.lastObservedTime) errors.push(required('series.lastObservedTime'));
  }
  if (event.eventTime === undefined || event.eventTime === null) errors.push(required('eventTime'));
  if (event.type !== 'Normal' && event.type !== 'Warning')
    errors.push(invalidValue('type', '', `has invalid value: ${String(event.type ?? '')}`));
  for (const field of ['firstTimestamp', 'lastTimestamp'])
    if (event[field] !== undefined && event[field] !== null) errors.push(invalidValue(field, '', 'needs to be unset'));
  if (event.count !== undefined && event.count !== null && event.count !== 0)
    errors.push(invalidValue('count', '', 'needs to be unset'));
  const source = event.source as { component?: string; host?: string } | undefined;
  if (source?.component || source?.host) errors.push(invalidValue('source', '', 'needs to be unset'));
  if (errors.length > 0) throw invalid('Event', 'events.k8s.io', name, errors);
}

/** MicroTime fields by served type, as paths from the object root. */
const MICRO_TIME_FIELDS: Record<string, string[][]> = {
  'leases.coordination.k8s.io': [
    ['spec', 'acquireTime'],
    ['spec', 'renewTime'],
  ],
  events: [['eventTime'], ['series', 'lastObservedTime']],
  'events.events.k8s.io': [['eventTime'], ['series', 'lastObservedTime']],
};

/** Rejects MicroTime values without exactly six fraction digits, as Go's decoder does (400). */
export function checkMicroTimes(served: Served, object: KubeObject): void {
  for (const path of MICRO_TIME_FIELDS[served.key] ?? []) {
    let value: unknown = object;
    for (const part of path)
      value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[part] : undefined;
    if (value === undefined || value === null) continue;
    if (typeof value === 'string' && MICRO_TIME.test(value)) continue;
    const text = String(value);
    const rest = text.length > 19 ? text.slice(19) : text;
    throw new ApiError(
      400,
      'BadRequest',
      `${served.kind} in version "${served.version}" cannot be handled as a ${served.kind}: parsing time ${JSON.stringify(text)} as "2006-01-02T15:04:05.000000Z07:00": cannot parse ${JSON.stringify(rest)} as ".000000"`,
    );
  }
}
