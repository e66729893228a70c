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

export function encodeContinue(rv: number, lastKey: string): string {
  const token: ContinueToken = { v: 'meta.k8s.io/v1', rv, start: `${lastKey}\u0000` };
  return Buffer.from(JSON.stringify(token)).toString('base64url');
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

/** Compares an object's sort key (namespace, then name) with a token's start key. */
function compareToStart(object: KubeObject, start: string): number {
  const [ns, name] = start.includes('/') ? (start.split('/', 2) as [string, string]) : ['', start];
  const on = object.metadata.namespace ?? '';
  if (on !== ns) return on < ns ? -1 : 1;
  const n = object.metadata.name ?? '';
  return n < name ? -1 : n > name ? 1 : 0;
}

export type Page = { items: KubeObject[]; resourceVersion: number; continue?: string; remainingItemCount?: number };

/** Selects and paginates; items are sorted by namespace then name, as upstream. */
export function listPage(store: Store, served: Served, query: URLSearchParams, namespace: string | undefined): Page {
  const selection = selectionFromQuery(query, served, namespace);
  const listed = store.list(served.storage, selection.options);
  let items = selection.extra.length > 0 ? listed.items.filter((o) => selects(store, selection, o)) : listed.items;
  const rvMatch = query.get('resourceVersionMatch');
  const requestedRv = Number(query.get('resourceVersion') ?? '');
  if (rvMatch === 'Exact' && requestedRv > 0 && requestedRv < listed.resourceVersion) {
    throw new ApiError(410, 'Expired', 'The resourceVersion for the provided list is too old.');
  }
  const continueText = query.get('continue');
  if (continueText) {
    const token = decodeContinue(continueText);
    let low = 0;
    let high = items.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (compareToStart(items[mid] as KubeObject, token.start) < 0) low = mid + 1;
      else high = mid;
    }
    items = items.slice(low);
  }
  const limit = Number(query.get('limit') ?? '0');
  if (Number.isInteger(limit) && limit > 0 && items.length > limit) {
    const page = items.slice(0, limit);
    return {
      items: page,
      resourceVersion: listed.resourceVersion,
      continue: encodeContinue(listed.resourceVersion, objectKey(page[limit - 1] as KubeObject)),
      remainingItemCount: items.length - limit,
    };
  }
  return { items, resourceVersion: listed.resourceVersion };
}
