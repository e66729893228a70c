/**
 * What the API serves: store types seen through URLs. A URL names (group, version, plural); the
 * store keys objects by (group, plural). Most resources map 1:1; custom resources are served at
 * every served version of their CRD; `events.k8s.io/v1` events are the core/v1 events converted
 * field by field, exactly as kube-apiserver stores both in one place.
 */
import { groupVersion, resourceKey, type KubeObject, type ResourceType, type Store } from '../store.ts';
import { crdPrinterColumns, crdServedVersions, findCrd, type PrinterColumn } from './crd.ts';
import { CREATE_ONLY, builtinResources } from '../resources.ts';

export const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
export const STATUS_VERBS = ['get', 'patch', 'update'];

export type Served = {
  group: string;
  version: string;
  plural: string;
  kind: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  subresources: string[];
  verbs: string[];
  /** `plural` or `plural.group`, as in Status details and fault filters. */
  key: string;
  apiVersion: string;
  /** The type handed to the store (may differ in version, or in group for events.k8s.io). */
  storage: ResourceType;
  /** Declared by a CRD: no strategic merge patch, printer columns from the CRD. */
  custom: boolean;
  printerColumns: PrinterColumn[];
  toStorage(object: KubeObject): KubeObject;
  /** Returns the stored object itself when no conversion is needed (lists stay copy-free). */
  fromStorage(object: KubeObject): KubeObject;
};

const EVENTS_GROUP = 'events.k8s.io';

function plain(type: ResourceType, version: string, custom: boolean, printerColumns: PrinterColumn[]): Served {
  const apiVersion = groupVersion({ group: type.group, version });
  const storageApiVersion = groupVersion(type);
  return {
    group: type.group,
    version,
    plural: type.plural,
    kind: type.kind,
    singular: type.singular,
    namespaced: type.namespaced,
    shortNames: type.shortNames ?? [],
    categories: type.categories ?? [],
    subresources: type.subresources ?? [],
    verbs: CREATE_ONLY.has(resourceKey(type)) ? ['create'] : ALL_VERBS,
    key: resourceKey(type),
    apiVersion,
    storage: type,
    custom,
    printerColumns,
    toStorage: (object) =>
      object.apiVersion === storageApiVersion ? object : { ...object, apiVersion: storageApiVersion },
    fromStorage: (object) => (object.apiVersion === apiVersion ? object : { ...object, apiVersion }),
  };
}

/** events.k8s.io/v1 <-> core/v1 field mapping (pkg/apis/events/v1 conversion). */
const EVENT_RENAMES: [events: string, core: string][] = [
  ['regarding', 'involvedObject'],
  ['note', 'message'],
  ['deprecatedSource', 'source'],
  ['deprecatedFirstTimestamp', 'firstTimestamp'],
  ['deprecatedLastTimestamp', 'lastTimestamp'],
  ['deprecatedCount', 'count'],
  ['reportingController', 'reportingComponent'],
];

function renameFields(object: KubeObject, pairs: [from: string, to: string][], apiVersion: string): KubeObject {
  const out: KubeObject = { ...object, apiVersion };
  for (const [from, to] of pairs) {
    delete out[to];
    if (object[from] !== undefined) out[to] = object[from];
    delete out[from];
  }
  return out;
}

function eventsAlias(coreEvents: ResourceType): Served {
  const served = plain(coreEvents, 'v1', false, []);
  return {
    ...served,
    group: EVENTS_GROUP,
    key: `events.${EVENTS_GROUP}`,
    apiVersion: `${EVENTS_GROUP}/v1`,
    shortNames: [],
    toStorage: (object) => renameFields(object, EVENT_RENAMES, 'v1'),
    fromStorage: (object) =>
      renameFields(
        object,
        EVENT_RENAMES.map(([a, b]) => [b, a]),
        `${EVENTS_GROUP}/v1`,
      ),
  };
}

/** Resolves a URL's (group, version, plural) to what is served there. */
export function resolveServed(store: Store, group: string, version: string, plural: string): Served | undefined {
  if (group === EVENTS_GROUP) {
    const coreEvents = store.findType('', 'events');
    return version === 'v1' && plural === 'events' && coreEvents ? eventsAlias(coreEvents) : undefined;
  }
  const type = store.findType(group, plural);
  if (!type) return undefined;
  if (type.version === version && builtinKeys.has(resourceKey(type))) return plain(type, version, false, []);
  const crd = findCrd(store, type);
  if (!crd) return type.version === version ? plain(type, version, false, []) : undefined;
  if (!crdServedVersions(crd).includes(version)) return undefined;
  return plain(type, version, true, crdPrinterColumns(crd, version));
}

const builtinKeys = new Set(builtinResources.map((t) => resourceKey(t)));
const builtinGroupOrder = [...new Set(builtinResources.map((t) => t.group))];

export type ServedGroup = { group: string; versions: { version: string; resources: Served[] }[] };

/** Every served group with its versions (preferred first) and resources, core group first. */
export function servedGroups(store: Store): ServedGroup[] {
  const byGroup = new Map<string, Map<string, Served[]>>();
  const add = (served: Served) => {
    let versions = byGroup.get(served.group);
    if (!versions) byGroup.set(served.group, (versions = new Map()));
    let list = versions.get(served.version);
    if (!list) versions.set(served.version, (list = []));
    list.push(served);
  };
  for (const type of store.types()) {
    const crd = builtinKeys.has(resourceKey(type)) ? undefined : findCrd(store, type);
    const versions = crd ? crdServedVersions(crd) : [type.version];
    for (const version of versions)
      add(plain(type, version, crd !== undefined, crd ? crdPrinterColumns(crd, version) : []));
    if (type.group === '' && type.plural === 'events') add(eventsAlias(type));
  }
  const rank = (group: string) => {
    const index = builtinGroupOrder.indexOf(group);
    return index === -1 ? builtinGroupOrder.length : index;
  };
  const groups = [...byGroup.keys()].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  return groups.map((group) => {
    const versions = byGroup.get(group) as Map<string, Served[]>;
    return {
      group,
      versions: [...versions.keys()].sort(compareKubeVersions).map((version) => ({
        version,
        resources: (versions.get(version) as Served[]).sort((a, b) =>
          a.plural < b.plural ? -1 : a.plural > b.plural ? 1 : 0,
        ),
      })),
    };
  });
}

/** Kubernetes version priority: GA > beta > alpha, higher numbers first, others last by name. */
export function compareKubeVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return undefined;
    const level = m[2] === undefined ? 2 : m[2] === 'beta' ? 1 : 0;
    return [level, Number(m[1]), Number(m[3] ?? 0)] as const;
  };
  const pa = parse(a);
  const pb = parse(b);
  if (pa && pb) return pb[0] - pa[0] || pb[1] - pa[1] || pb[2] - pa[2];
  if (pa) return -1;
  if (pb) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
