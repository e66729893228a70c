/**
 * The validation kube-apiserver does that clients notice: names, labels (422 Invalid with one
 * cause per error) and MicroTime fields, which must carry exactly six fraction digits (a 400 at
 * decode time, before any validation).
 */
import type { KubeObject } from '../store.ts';
import type { Served } from './served.ts';
import { ApiError, invalid } from './status.ts';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$/;

type FieldError = { field: string; message: string };

const SUBDOMAIN_HELP =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_HELP =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const LABEL_VALUE_HELP =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const QUALIFIED_HELP =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

function nameErrors(served: Served, name: string): FieldError[] {
  const bad = (help: string) => [
    { field: 'metadata.name', message: `Invalid value: ${JSON.stringify(name)}: ${help}` },
  ];
  if (served.group === 'rbac.authorization.k8s.io' || served.custom) {
    // Path-segment names (e.g. `system:controller:foo`), as RBAC and custom resources allow.
    return name === '.' || name === '..' || name.includes('/') || name.includes('%')
      ? bad("may not contain '/' or '%'")
      : [];
  }
  if (served.key === 'namespaces') return DNS_LABEL.test(name) && name.length <= 63 ? [] : bad(LABEL_HELP);
  return DNS_SUBDOMAIN.test(name) && name.length <= 253 ? [] : bad(SUBDOMAIN_HELP);
}

function labelKeyError(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (!DNS_SUBDOMAIN.test(prefix) || prefix.length > 253))
    return `prefix part ${SUBDOMAIN_HELP}`;
  if (!QUALIFIED_NAME.test(name) || name.length > 63) return QUALIFIED_HELP;
  return undefined;
}

function labelErrors(labels: unknown): FieldError[] {
  if (labels === undefined || labels === null) return [];
  if (typeof labels !== 'object' || Array.isArray(labels))
    return [{ field: 'metadata.labels', message: 'Invalid value: "object": labels must be a map of strings' }];
  const errors: FieldError[] = [];
  for (const [key, value] of Object.entries(labels)) {
    const keyError = labelKeyError(key);
    if (keyError)
      errors.push({ field: 'metadata.labels', message: `Invalid value: ${JSON.stringify(key)}: ${keyError}` });
    if (typeof value !== 'string' || !LABEL_VALUE.test(value) || value.length > 63) {
      errors.push({
        field: 'metadata.labels',
        message: `Invalid value: ${JSON.stringify(value)}: ${LABEL_VALUE_HELP}`,
      });
    }
  }
  return errors;
}

/** A CRD's name must be `<plural>.<group>`: served versions are found by that name. */
function crdErrors(served: Served, object: KubeObject): FieldError[] {
  if (served.key !== 'customresourcedefinitions.apiextensions.k8s.io') return [];
  const spec = (object.spec ?? {}) as { group?: string; names?: { plural?: string } };
  const expected = `${spec.names?.plural ?? ''}.${spec.group ?? ''}`;
  return object.metadata?.name === expected
    ? []
    : [
        {
          field: 'metadata.name',
          message: `Invalid value: ${JSON.stringify(object.metadata?.name ?? '')}: must be spec.names.plural+"."+spec.group`,
        },
      ];
}

/** Validates metadata of an object about to be stored; throws 422 Invalid. */
export function validateObject(served: Served, object: KubeObject): void {
  const name = object.metadata?.name ?? '';
  const errors = [
    ...(name === '' ? [] : nameErrors(served, name)),
    ...labelErrors(object.metadata?.labels),
    ...crdErrors(served, object),
  ];
  if (errors.length > 0) throw invalid(served.kind, name, errors);
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
