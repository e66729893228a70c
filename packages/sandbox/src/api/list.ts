/**
 * Lists: label and field selectors from the query string, and `limit`/`continue` pagination
 * with opaque base64url tokens shaped like kube-apiserver's (`{"v":"meta.k8s.io/v1","rv":N,
 * "start":"<key>\u0000"}`). Items are the stored objects themselves: nothing is copied, the
 * response is serialized once.
 */
import { parseSelector, type Requirement } from '../selectors.ts';
import type { KubeObject, ListOptions, Store } from '../store.ts';
import type { Served } from './served.ts';
import { ApiError, badRequest } from './status.ts';

export type FieldRequirement = { field: string; op: '=' | '!='; value: string };

/** Field selectors beyond metadata.* that kube-apiserver supports, by storage resource. */
const EXTRA_FIELDS: Record<string, string[]> = {
  pods: [
    'spec.nodeName',
    'spec.restartPolicy',
    'spec.schedulerName',
    'spec.serviceAccountName',
    'status.phase',
    'status.podIP',
    'status.nominatedNodeName',
  ],
  events: [
    'involvedObject.kind',
    'involvedObject.namespace',
    'involvedObject.name',
    'involvedObject.uid',
    'involvedObject.apiVersion',
    'involvedObject.resourceVersion',
    'involvedObject.fieldPath',
    'reason',
    'reportingComponent',
    'source',
    'type',
  ],
  secrets: ['type'],
  namespaces: ['status.phase'],
  nodes: ['spec.unschedulable'],
  'replicasets.apps': ['status.replicas'],
  'jobs.batch': ['status.successful'],
};

/** events.k8s.io names for the core event fields above. */
const EVENTS_V1_FIELDS: Record<string, string> = {
  regarding: 'involvedObject',
  reportingController: 'reportingComponent',
  deprecatedSource: 'source',
};

export function parseFieldSelector(text: string, served: Served): FieldRequirement[] {
  const requirements: FieldRequirement[] = [];
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')) {
    const m = /^([^=!]+?)\s*(==|!=|=)\s*(.*)$/.exec(part);
    if (!m) throw badRequest(`invalid selector: '${text}'; can't understand '${part}'`);
    let field = m[1] as string;
    if (served.key === 'events.events.k8s.io') {
      const [head, ...rest] = field.split('.');
      const mapped = EVENTS_V1_FIELDS[head ?? ''];
      if (mapped) field = [mapped, ...rest].join('.');
    }
    const known =
      field === 'metadata.name' ||
      field === 'metadata.namespace' ||
      (EXTRA_FIELDS[keyOf(served)] ?? []).includes(field);
    if (!known) throw badRequest(`field label not supported: ${m[1] as string}`);
    requirements.push({ field, op: m[2] === '!=' ? '!=' : '=', value: m[3] as string });
  }
  return requirements;
}

function keyOf(served: Served): string {
  return served.storage.group === '' ? served.storage.plural : `${served.storage.plural}.${served.storage.group}`;
}

function fieldValue(object: KubeObject, path: string): string {
  let value: unknown = object;
  for (const part of path.split('.'))
    value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[part] : undefined;
  if (value === undefined || value === null) return '';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

export type Selection = {
  options: ListOptions;
  /** Field requirements the store does not evaluate (beyond metadata.*). */
  extra: FieldRequirement[];
};

export function selectionFromQuery(query: URLSearchParams, served: Served, namespace: string | undefined): Selection {
  const options: ListOptions = {};
  if (namespace !== undefined) options.namespace = namespace;
  const labelSelector = query.get('labelSelector');
  if (labelSelector) options.labelSelector = parseSelector(labelSelector) as Requirement[];
  const fields = parseFieldSelector(query.get('fieldSelector') ?? '', served);
  const metadataFields = fields.filter((f) => f.field.startsWith('metadata.'));
  if (metadataFields.length > 0) options.fieldSelector = metadataFields;
  return { options, extra: fields.filter((f) => !f.field.startsWith('metadata.')) };
}

/** Whether an object passes a selection (also used by watches). */
export function selects(store: Store, selection: Selection, object: KubeObject): boolean {
  if (!store.selects(object, selection.options)) return false;
  return selection.extra.every((f) => (fieldValue(object, f.field) === f.value) === (f.op === '='));
}

type ContinueToken = { v: string; rv: number; start: string };

function objectKey(object: KubeObject): string {
  return object.metadata.namespace
    ? `${object.metadata.namespace}/${object.metadata.name ?? ''}`
    : (object.metadata.name ?? '');
}

function encodeToken(rv: number, start: string): string {
  const token: ContinueToken = { v: 'meta.k8s.io/v1', rv, start };
  return Buffer.from(JSON.stringify(token)).toString('base64url');
}

export function encodeContinue(rv: number, lastKey: string): string {
  return encodeToken(rv, `${lastKey}\u0000`);
}

function decodeContinue(text: string): ContinueToken {
  try {
    const token = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as ContinueToken;
    if (token.v !== 'meta.k8s.io/v1' || typeof token.start !== 'string' || typeof token.rv !== 'number')
      throw new Error('bad token');
    return token;
  } catch {
    throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  }
}

/** k8s.io/apiserver/pkg/storage/etcd3 `inconsistentContinue`. */
const INCONSISTENT_CONTINUE =
  'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.';

/** Compares an object's sort key (namespace, then name) with a token's start key. */
function compareToStart(object: KubeObject, start: string): number {
  const [ns, name] = start.includes('/') ? (start.split('/', 2) as [string, string]) : ['', start];
  const on = object.metadata.namespace ?? '';
  if (on !== ns) return on < ns ? -1 : 1;
  const n = object.metadata.name ?? '';
  return n < name ? -1 : n > name ? 1 : 0;
}

function after(items: KubeObject[], start: string): KubeObject[] {
  let low = 0;
  let high = items.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (compareToStart(items[mid] as KubeObject, start) < 0) low = mid + 1;
    else high = mid;
  }
  return items.slice(low);
}

export type Page = { items: KubeObject[]; resourceVersion: number; continue?: string; remainingItemCount?: number };

/**
 * Selects and paginates; items are sorted by namespace then name, as upstream. A paginated list
 * reads one snapshot: the first page takes it (only when there is a next page), later pages read
 * it at the token's resourceVersion, as etcd serves a revision. After compaction (or when the
 * snapshot expired, 5 minutes) a token is 410 Expired with a fresh `metadata.continue` whose
 * resourceVersion is -1: it continues from the same key in the current state (inconsistently),
 * as kube-apiserver's handleCompactedErrorForPaging does. `resourceVersion=0` lists are served
 * whole, ignoring `limit`, as from the watch cache.
 */
export function listPage(store: Store, served: Served, query: URLSearchParams, namespace: string | undefined): Page {
  const selection = selectionFromQuery(query, served, namespace);
  const pick = (items: KubeObject[]) => items.filter((o) => selects(store, selection, o));
  const rvParam = query.get('resourceVersion') ?? '';
  const limitParam = Number(query.get('limit') ?? '0');
  const limit = Number.isInteger(limitParam) && limitParam > 0 && rvParam !== '0' ? limitParam : 0;
  const continueText = query.get('continue');
  let items: KubeObject[];
  let resourceVersion: number;
  let snapshotAll: (() => KubeObject[]) | undefined;
  if (continueText) {
    if (rvParam !== '') throw badRequest('specifying resource version is not allowed when using continue');
    const token = decodeContinue(continueText);
    const start = token.start; // `<last key>\u0000`: strictly after the last key served
    if (token.rv === -1) {
      const listed = store.list(served.storage, selection.options);
      resourceVersion = listed.resourceVersion;
      items = after(pick(listed.items), start);
    } else {
      const snapshot = store.snapshotAt(served.storage, token.rv);
      if (!snapshot)
        throw new ApiError(
          410,
          'Expired',
          INCONSISTENT_CONTINUE,
          undefined,
          {},
          { continue: encodeToken(-1, token.start) },
        );
      resourceVersion = token.rv;
      items = after(pick(snapshot), start);
    }
  } else {
    const listed = store.list(served.storage, selection.options);
    const rvMatch = query.get('resourceVersionMatch');
    const requestedRv = Number(rvParam);
    if (rvMatch === 'Exact' && requestedRv > 0 && requestedRv < listed.resourceVersion) {
      throw new ApiError(410, 'Expired', 'The resourceVersion for the provided list is too old.');
    }
    resourceVersion = listed.resourceVersion;
    items = selection.extra.length > 0 ? pick(listed.items) : listed.items;
    snapshotAll = () => store.snapshot(served.storage).items;
  }
  if (limit > 0 && items.length > limit) {
    // Later pages must see this version: keep the snapshot (taken now, at the same version).
    snapshotAll?.();
    const page = items.slice(0, limit);
    return {
      items: page,
      resourceVersion,
      continue: encodeContinue(resourceVersion, objectKey(page[limit - 1] as KubeObject)),
      remainingItemCount: items.length - limit,
    };
  }
  return { items, resourceVersion };
}
