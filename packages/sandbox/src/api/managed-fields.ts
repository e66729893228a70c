/**
 * `metadata.managedFields` as the API server records them for create, update and patch (the
 * `Update` operation): one entry per field manager (manager, operation, apiVersion, subresource),
 * its `fieldsV1` set, and the time of its last change. A write gives its manager the fields it
 * added or changed and takes them away from every other manager; removed fields leave every set;
 * a manager left with no field is dropped. Entries are sorted as the server sorts them
 * (operation, time, manager, apiVersion, subresource).
 *
 * The manager is `?fieldManager=`, else the User-Agent up to its first `/` (printable characters,
 * at most 128 bytes): `prefixFromUserAgent` in k8s.io/apiserver/pkg/endpoints/handlers/create.go.
 * Server-owned metadata (name, namespace, uid, resourceVersion, generation, creationTimestamp,
 * managedFields) is never owned, as the field manager's stripMeta step does
 * (k8s.io/apiserver/pkg/endpoints/handlers/fieldmanager). `status` is owned only through the
 * status subresource of kinds that have one (their strategies reset it on main-resource writes).
 *
 * The sets follow structured-merge-diff's shapes: `f:<field>`, `k:<key fields as JSON>` for lists
 * merged by key (containers by name, ports by port and protocol...), `v:<value>` for sets
 * (finalizers), a list without a merge key is atomic (owned whole). A `.` marks a list item or a
 * map entry owned as such. Not modelled: the schema's struct-versus-pointer distinction that
 * decides `.` on nested structs, and `Apply` entries (server-side apply is refused, see patch.ts).
 */
import { listStrategy } from './strategic-merge.ts';

export type ManagedFieldsEntry = {
  manager: string;
  operation: 'Update' | 'Apply';
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: FieldsV1;
  subresource?: string;
};

export type FieldsV1 = { [element: string]: FieldsV1 };

/** Who writes: the request's field manager and the version and subresource written. */
export type Writer = { manager: string; apiVersion: string; subresource?: 'status' };

const MAX_MANAGER_BYTES = 128;

/** The default manager name of a request without `fieldManager` (see the file comment). */
export function managerFromUserAgent(userAgent: string | undefined): string {
  const head = (userAgent ?? '').split('/')[0] ?? '';
  let out = '';
  for (const char of head) {
    if (!/\P{C}/u.test(char)) continue;
    if (Buffer.byteLength(out + char) > MAX_MANAGER_BYTES) break;
    out += char;
  }
  return out;
}

/** Map-typed fields whose keys are data, not struct fields (each entry is owned as such). */
const MAP_FIELDS = new Set([
  'labels',
  'annotations',
  'data',
  'binaryData',
  'stringData',
  'matchLabels',
  'nodeSelector',
  'limits',
  'requests',
  'capacity',
  'allocatable',
]);
const STRIPPED_METADATA = new Set([
  'name',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'managedFields',
  'selfLink',
]);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Leaves = Map<string, string>; // path (elements joined by SEP) -> canonical JSON value ('' for non-leaves)

const SEP = '\u0001';

function isObject(value: unknown): value is { [key: string]: Json } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (isObject(value))
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`)
      .join(',')}}`;
  return JSON.stringify(value ?? null);
}

function keyElement(item: { [key: string]: Json }, keys: string[]): string {
  const fields: Record<string, Json> = {};
  for (const key of [...keys].sort()) if (item[key] !== undefined) fields[key] = item[key] as Json;
  return `k:${JSON.stringify(fields)}`;
}

/** The key fields of a list merged by key, as the OpenAPI `x-kubernetes-list-map-keys` declare. */
function listKeys(names: readonly string[]): string[] | 'set' | 'atomic' {
  const strategy = listStrategy(names);
  if (strategy.kind === 'set') return 'set';
  if (strategy.kind === 'replace') return 'atomic';
  return names[names.length - 1] === 'ports' ? [strategy.key, 'protocol'] : [strategy.key];
}

function walk(value: unknown, here: string, names: string[], out: Leaves, unstructured: boolean): void {
  if (Array.isArray(value)) {
    const keys = unstructured ? 'atomic' : listKeys(names);
    if (keys === 'atomic') return void out.set(here, canonical(value));
    for (const item of value) {
      if (keys === 'set') {
        out.set(`${here}${SEP}v:${JSON.stringify(item)}`, canonical(item));
        continue;
      }
      if (!isObject(item)) continue;
      const element = `${here}${SEP}${keyElement(item, keys)}`;
      out.set(element, '');
      walkObject(item, element, names, out, unstructured, false);
    }
    return;
  }
  if (isObject(value)) {
    if (Object.keys(value).length === 0) return void out.set(here, '{}');
    walkObject(value, here, names, out, unstructured, MAP_FIELDS.has(names[names.length - 1] ?? ''));
    return;
  }
  out.set(here, canonical(value));
}

/** `names` is the field names down to `value`, pushed and popped in place (no copy per field). */
function walkObject(
  value: { [key: string]: Json },
  here: string,
  names: string[],
  out: Leaves,
  unstructured: boolean,
  isMap: boolean,
): void {
  for (const [key, child] of Object.entries(value)) {
    if (child === undefined) continue;
    const childPath = `${here}${SEP}f:${key}`;
    if ((isMap || unstructured) && (isObject(child) || Array.isArray(child)) && !out.has(childPath))
      out.set(childPath, '');
    names.push(key);
    walk(child, childPath, names, out, unstructured);
    names.pop();
  }
}

/** The fields an object sets, as paths, for a main-resource write or a status write. */
function fieldPaths(object: Record<string, unknown>, scope: 'main' | 'status', unstructured: boolean): Leaves {
  const out: Leaves = new Map();
  for (const [key, value] of Object.entries(object)) {
    if (key === 'apiVersion' || key === 'kind' || value === undefined) continue;
    if ((key === 'status') !== (scope === 'status')) continue;
    if (key === 'metadata' && isObject(value)) {
      const kept = Object.fromEntries(Object.entries(value).filter(([k]) => !STRIPPED_METADATA.has(k)));
      if (Object.keys(kept).length > 0) walkObject(kept, 'f:metadata', ['metadata'], out, false, false);
      continue;
    }
    walk(value, `f:${key}`, [key], out, unstructured);
  }
  return out;
}

function toFieldsV1(paths: Iterable<string>): FieldsV1 {
  const root: FieldsV1 = {};
  const all = [...paths];
  const members = new Set(all);
  for (const path of all) {
    let node = root;
    for (const element of path.split(SEP)) node = node[element] ??= {};
  }
  // A member that also has members below it is written with a `.` entry.
  for (const path of members) {
    let node: FieldsV1 | undefined = root;
    for (const element of path.split(SEP)) node = node?.[element];
    if (node && Object.keys(node).some((k) => k !== '.')) node['.'] = {};
  }
  return root;
}

function fromFieldsV1(fields: FieldsV1 | undefined, prefix: string[] = [], out = new Set<string>()): Set<string> {
  for (const [element, child] of Object.entries(fields ?? {})) {
    if (element === '.') {
      out.add(prefix.join(SEP));
      continue;
    }
    const path = [...prefix, element];
    if (Object.keys(child).length === 0) out.add(path.join(SEP));
    else fromFieldsV1(child, path, out);
  }
  return out;
}

/** The path set of a stored `fieldsV1` (never changed in place: a write makes a new one), kept. */
const pathSets = new WeakMap<FieldsV1, ReadonlySet<string>>();

function pathsOf(fields: FieldsV1 | undefined): ReadonlySet<string> {
  if (!fields) return new Set();
  let set = pathSets.get(fields);
  if (!set) pathSets.set(fields, (set = fromFieldsV1(fields)));
  return set;
}

function fieldsOf(paths: ReadonlySet<string>): FieldsV1 {
  const fields = toFieldsV1(paths);
  pathSets.set(fields, paths);
  return fields;
}

const sameEntry = (e: ManagedFieldsEntry, w: Writer) =>
  e.manager === w.manager &&
  e.operation === 'Update' &&
  e.apiVersion === w.apiVersion &&
  (e.subresource ?? '') === (w.subresource ?? '');

function sortEntries(entries: ManagedFieldsEntry[]): ManagedFieldsEntry[] {
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return entries.sort(
    (a, b) =>
      cmp(a.operation, b.operation) ||
      Date.parse(a.time) - Date.parse(b.time) ||
      cmp(a.manager, b.manager) ||
      cmp(a.apiVersion, b.apiVersion) ||
      cmp(a.subresource ?? '', b.subresource ?? ''),
  );
}

/**
 * The managedFields after `writer` turned `before` (undefined on create) into `after`.
 * `existing` are the entries to start from (the stored ones, or those a client set).
 */
export function updateManagedFields(
  existing: readonly ManagedFieldsEntry[],
  before: Record<string, unknown> | undefined,
  after: Record<string, unknown>,
  writer: Writer,
  now: string,
  unstructured: boolean,
): ManagedFieldsEntry[] {
  const scope = writer.subresource === 'status' ? 'status' : 'main';
  const oldPaths = before ? fieldPaths(before, scope, unstructured) : new Map<string, string>();
  const newPaths = fieldPaths(after, scope, unstructured);
  const changed = new Set<string>();
  for (const [path, value] of newPaths) if (oldPaths.get(path) !== value) changed.add(path);
  const removed = new Set<string>();
  for (const path of oldPaths.keys()) if (!newPaths.has(path)) removed.add(path);
  if (changed.size === 0 && removed.size === 0) return [...existing];
  const entries: ManagedFieldsEntry[] = [];
  let mine: ReadonlySet<string> = new Set();
  let mineFields: FieldsV1 | undefined;
  for (const entry of existing) {
    const set = pathsOf(entry.fieldsV1);
    if (sameEntry(entry, writer)) {
      mine = set;
      mineFields = entry.fieldsV1;
      continue;
    }
    const kept = [...set].filter((p) => !changed.has(p) && !removed.has(p));
    if (kept.length === 0) continue;
    entries.push(kept.length === set.size ? entry : { ...entry, fieldsV1: fieldsOf(new Set(kept)) });
  }
  // The writer's set changes only when it gains a field or loses one it had; else it stays as it was.
  const same =
    mineFields !== undefined && [...changed].every((p) => mine.has(p)) && ![...removed].some((p) => mine.has(p));
  const owned = same ? mine : new Set([...mine, ...changed].filter((p) => !removed.has(p)));
  if (owned.size > 0) {
    entries.push({
      manager: writer.manager,
      operation: 'Update',
      apiVersion: writer.apiVersion,
      time: now,
      fieldsType: 'FieldsV1',
      fieldsV1: same && mineFields ? mineFields : fieldsOf(owned),
      ...(writer.subresource ? { subresource: writer.subresource } : {}),
    });
  }
  return sortEntries(entries);
}

/** Whether a client-sent list asks to strip managedFields (`[{}]`, the documented reset). */
export function isResetRequest(value: unknown): boolean {
  return Array.isArray(value) && value.length === 1 && isObject(value[0]) && Object.keys(value[0]).length === 0;
}

/** Whether a client-sent value is a well-formed list of entries (else it is ignored, as stale input). */
export function isEntryList(value: unknown): value is ManagedFieldsEntry[] {
  return (
    Array.isArray(value) &&
    value.every(
      (e) =>
        isObject(e) &&
        typeof e.manager === 'string' &&
        (e.operation === 'Update' || e.operation === 'Apply') &&
        (e.fieldsV1 === undefined || isObject(e.fieldsV1)),
    )
  );
}
