/**
 * Strategic merge patch (what `kubectl apply`, `rollout restart` and client-node's ObjectApi
 * send): maps merge, lists of the built-in types merge by their `patchMergeKey`, and the
 * directives `$patch`, `$retainKeys`, `$setElementOrder/<f>` and `$deleteFromPrimitiveList/<f>`
 * are honoured. Merge keys come from the Go struct tags of k8s.io/api, matched by field name
 * and, for `ports`, by where the list sits.
 */
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const NAME_KEYED = new Set([
  'containers',
  'initContainers',
  'ephemeralContainers',
  'volumes',
  'env',
  'imagePullSecrets',
  'webhooks',
  'secrets',
  'schedulingGates',
  'resourceClaims',
]);
const CONTAINER_LISTS = new Set(['containers', 'initContainers', 'ephemeralContainers']);
const KEYED: Record<string, string> = {
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  hostAliases: 'ip',
  conditions: 'type',
  addresses: 'type',
  topologySpreadConstraints: 'topologyKey',
  ownerReferences: 'uid',
};

type ListStrategy = { kind: 'keyed'; key: string } | { kind: 'set' } | { kind: 'replace' };

/** The merge behaviour of the list at `path` (field names from the root, indices left out). */
export function listStrategy(path: readonly string[]): ListStrategy {
  const field = path[path.length - 1] ?? '';
  if (NAME_KEYED.has(field)) return { kind: 'keyed', key: 'name' };
  const keyed = KEYED[field];
  if (keyed) return { kind: 'keyed', key: keyed };
  if (field === 'ports') {
    if (path.some((p) => CONTAINER_LISTS.has(p))) return { kind: 'keyed', key: 'containerPort' };
    if (path.length === 2 && path[0] === 'spec') return { kind: 'keyed', key: 'port' }; // Service
  }
  if (field === 'finalizers' && path.length === 2 && path[0] === 'metadata') return { kind: 'set' };
  return { kind: 'replace' };
}

function withoutDirectives(value: Json): Json {
  if (Array.isArray(value))
    return value
      .filter((v) => !(isObject(v) && v.$patch !== undefined && Object.keys(v).length === 1))
      .map(withoutDirectives);
  if (!isObject(value)) return value;
  const out: JsonObject = {};
  for (const [key, v] of Object.entries(value)) if (!key.startsWith('$')) out[key] = withoutDirectives(v);
  return out;
}

function sameKey(a: Json, b: Json, key: string): boolean {
  return isObject(a) && isObject(b) && JSON.stringify(a[key]) === JSON.stringify(b[key]);
}

function mergeList(original: Json | undefined, patch: Json[], path: string[]): Json[] {
  const strategy = listStrategy(path);
  if (patch.some((item) => isObject(item) && item.$patch === 'replace'))
    return withoutDirectives(patch.filter((item) => !(isObject(item) && item.$patch === 'replace'))) as Json[];
  if (strategy.kind === 'replace') return withoutDirectives(patch) as Json[];
  const result: Json[] = Array.isArray(original) ? [...original] : [];
  if (strategy.kind === 'set') {
    for (const item of patch) if (!result.some((r) => JSON.stringify(r) === JSON.stringify(item))) result.push(item);
    return result;
  }
  for (const item of patch) {
    if (!isObject(item)) {
      result.push(item);
      continue;
    }
    const index = result.findIndex((r) => sameKey(r, item, strategy.key));
    if (item.$patch === 'delete') {
      if (index >= 0) result.splice(index, 1);
      continue;
    }
    const merged = mergeObject(index >= 0 ? result[index] : {}, item, path);
    if (merged === undefined) continue;
    if (index >= 0) result[index] = merged;
    else result.push(merged);
  }
  return result;
}

/** Orders `list` like `order` (matched by merge key or value); unlisted items keep their place after. */
function applyOrder(list: Json[], order: Json[], path: string[]): Json[] {
  const strategy = listStrategy(path);
  const keyOf = (item: Json) =>
    strategy.kind === 'keyed' && isObject(item) ? JSON.stringify(item[strategy.key]) : JSON.stringify(item);
  const rank = new Map(order.map((item, i) => [keyOf(item), i]));
  const listed = list
    .filter((item) => rank.has(keyOf(item)))
    .sort((a, b) => (rank.get(keyOf(a)) as number) - (rank.get(keyOf(b)) as number));
  return [...listed, ...list.filter((item) => !rank.has(keyOf(item)))];
}

function mergeObject(original: Json | undefined, patch: JsonObject, path: string[]): Json | undefined {
  if (patch.$patch === 'delete') return undefined;
  if (patch.$patch === 'replace') return withoutDirectives(patch);
  const result: JsonObject = isObject(original) ? { ...original } : {};
  const orders: [string, Json[]][] = [];
  const deletions: [string, Json[]][] = [];
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$setElementOrder/')) {
      if (Array.isArray(value)) orders.push([key.slice('$setElementOrder/'.length), value]);
    } else if (key.startsWith('$deleteFromPrimitiveList/')) {
      if (Array.isArray(value)) deletions.push([key.slice('$deleteFromPrimitiveList/'.length), value]);
    } else if (key.startsWith('$')) {
      continue;
    } else if (value === null) {
      delete result[key];
    } else if (isObject(value)) {
      const merged = mergeObject(result[key], value, [...path, key]);
      if (merged === undefined) delete result[key];
      else result[key] = merged;
    } else if (Array.isArray(value)) {
      result[key] = mergeList(result[key], value, [...path, key]);
    } else {
      result[key] = value;
    }
  }
  for (const [field, values] of deletions) {
    const list = result[field];
    if (Array.isArray(list))
      result[field] = list.filter((v) => !values.some((d) => JSON.stringify(d) === JSON.stringify(v)));
  }
  for (const [field, order] of orders) {
    const list = result[field];
    if (Array.isArray(list)) result[field] = applyOrder(list, order, [...path, field]);
  }
  const retain = patch.$retainKeys;
  if (Array.isArray(retain)) {
    for (const key of Object.keys(result)) if (!retain.includes(key)) delete result[key];
  }
  return result;
}

/** Applies a strategic merge patch to a whole object. */
export function strategicMerge(original: unknown, patch: Record<string, unknown>): unknown {
  return mergeObject(original as Json, patch as JsonObject, []) ?? {};
}
