/**
 * The REST verbs on one served resource: get, list, watch, create, update, patch, delete and
 * deletecollection, plus the `status` subresource. Writes go through the store, which owns
 * resourceVersion, uid, generation and conflicts; this layer decodes, converts between served
 * and stored forms, defaults, validates and shapes responses like kube-apiserver.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { KubeObject, Store } from '../store.ts';
import type { ResourceRoute } from './routing.ts';
import type { Served } from './served.ts';
import type { Defaulter } from './defaults.ts';
import { ApiError, badRequest, methodNotAllowed, resourceNotFound, successStatus } from './status.ts';
import { sendJson } from './respond.ts';
import { asObject, checkMediaType, decodeBody, mediaType } from './decode.ts';
import { listPage } from './list.ts';
import { toTable, wantsTable, type TableOptions } from './table.ts';
import { startWatch, type OpenWatch } from './watch.ts';
import { PATCH_CONTENT_TYPES, applyPatch } from './patch.ts';
import { checkMicroTimes, validateObject } from './validation.ts';
import { reviewAccess, type AccessRule } from './access-review.ts';
import { STATUS_VERBS } from './served.ts';

export type ResourceContext = {
  store: Store;
  defaulter: Defaulter;
  denied: () => readonly AccessRule[];
  keepAliveMs: number;
  watches: Set<OpenWatch>;
};

export type ResourceRequest = {
  req: IncomingMessage;
  res: ServerResponse;
  route: ResourceRoute;
  served: Served;
  query: URLSearchParams;
  verb: string;
};

const BODY_TYPES = ['application/json', 'application/yaml'];

const groupDetail = (served: Served) => (served.group ? { group: served.group } : {});

function notFound(served: Served, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${served.key} "${name}" not found`, {
    name,
    ...groupDetail(served),
    kind: served.plural,
  });
}

function tableOptions(ctx: ResourceContext, query: URLSearchParams): TableOptions {
  const include = query.get('includeObject');
  return { includeObject: include === 'None' || include === 'Object' ? include : 'Metadata', now: ctx.store.now() };
}

function isDryRun(query: URLSearchParams): boolean {
  return query.getAll('dryRun').includes('All');
}

/** Rejects requests the resource's scope, subresources or verbs do not allow. */
function checkShape(r: ResourceRequest): void {
  const { route, served, verb } = r;
  if (
    route.subresource !== undefined &&
    (route.subresource !== 'status' || !served.subresources.includes('status') || route.name === undefined)
  )
    throw resourceNotFound();
  if (!served.namespaced && route.namespace !== undefined) throw resourceNotFound();
  const needsNamespace = route.name !== undefined || verb === 'create' || verb === 'deletecollection';
  if (served.namespaced && route.namespace === undefined && needsNamespace) throw resourceNotFound();
  const allowed = route.subresource ? STATUS_VERBS : served.verbs;
  if (!allowed.includes(verb)) throw methodNotAllowed(r.req.method ?? '', served.key);
}

export async function handleResource(ctx: ResourceContext, r: ResourceRequest): Promise<void> {
  checkShape(r);
  switch (r.verb) {
    case 'get':
      return handleGet(ctx, r);
    case 'list':
      return handleList(ctx, r);
    case 'watch':
      return handleWatch(ctx, r);
    case 'create':
      return handleCreate(ctx, r);
    case 'update':
      return handleUpdate(ctx, r);
    case 'patch':
      return handlePatch(ctx, r);
    case 'delete':
      return handleDelete(ctx, r);
    case 'deletecollection':
      return handleDeleteCollection(ctx, r);
    default:
      throw methodNotAllowed(r.req.method ?? '', r.served.key);
  }
}

function handleGet(ctx: ResourceContext, { req, res, route, served, query }: ResourceRequest): void {
  const object = ctx.store.get(served.storage, route.namespace, route.name as string);
  if (wantsTable(req.headers.accept)) {
    sendJson(res, 200, toTable(served, [object], object.metadata.resourceVersion ?? '', tableOptions(ctx, query)));
    return;
  }
  sendJson(res, 200, served.fromStorage(object));
}

function handleList(ctx: ResourceContext, { req, res, route, served, query }: ResourceRequest): void {
  const page = listPage(ctx.store, served, query, route.namespace);
  const metadata: Record<string, unknown> = { resourceVersion: String(page.resourceVersion) };
  if (page.continue !== undefined) {
    metadata.continue = page.continue;
    metadata.remainingItemCount = page.remainingItemCount;
  }
  if (wantsTable(req.headers.accept)) {
    const { resourceVersion, ...rest } = metadata;
    sendJson(res, 200, toTable(served, page.items, resourceVersion as string, tableOptions(ctx, query), rest));
    return;
  }
  sendJson(res, 200, {
    kind: `${served.kind}List`,
    apiVersion: served.apiVersion,
    metadata,
    items: page.items.map(served.fromStorage),
  });
}

function handleWatch(ctx: ResourceContext, { req, res, route, served, query: input }: ResourceRequest): void {
  // A watch on a named object (`.../configmaps/alpha?watch=1`) watches that name only.
  const query = new URLSearchParams(input);
  if (route.name !== undefined)
    query.set('fieldSelector', [input.get('fieldSelector'), `metadata.name=${route.name}`].filter(Boolean).join(','));
  const table = wantsTable(req.headers.accept);
  const options = tableOptions(ctx, query);
  let watch: OpenWatch | undefined = undefined;
  watch = startWatch(res, {
    store: ctx.store,
    served,
    namespace: route.namespace,
    query,
    keepAliveMs: ctx.keepAliveMs,
    render: (object) =>
      table ? toTable(served, [object], object.metadata.resourceVersion ?? '', options) : served.fromStorage(object),
    onEnd: () => {
      if (watch) ctx.watches.delete(watch);
    },
  });
  if (!res.writableEnded) ctx.watches.add(watch);
}

/** Decoding, conversion, defaulting and validation shared by create, update and patch. */
function prepare(
  ctx: ResourceContext,
  served: Served,
  object: KubeObject,
  isCreate: boolean,
  statusOnly: boolean,
): KubeObject {
  checkMicroTimes(served, object);
  const stored = served.toStorage(object);
  const defaulted = statusOnly ? stored : ctx.defaulter(served, stored, isCreate);
  validateObject(served, defaulted);
  return defaulted;
}

function checkNamespaceExists(ctx: ResourceContext, served: Served, namespace: string | undefined): void {
  if (!served.namespaced || namespace === undefined) return;
  const namespaces = ctx.store.findType('', 'namespaces');
  if (namespaces && !ctx.store.tryGet(namespaces, undefined, namespace)) {
    throw new ApiError(404, 'NotFound', `namespaces "${namespace}" not found`, { name: namespace, kind: 'namespaces' });
  }
}

function checkBodyNamespace(object: KubeObject, route: ResourceRoute): void {
  const ns = object.metadata.namespace;
  if (route.namespace !== undefined && ns !== undefined && ns !== '' && ns !== route.namespace) {
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  }
}

async function handleCreate(ctx: ResourceContext, { req, res, route, served, query }: ResourceRequest): Promise<void> {
  checkMediaType(req, BODY_TYPES);
  const object = asObject(await decodeBody(req, served, true), served);
  if (served.key === 'selfsubjectaccessreviews.authorization.k8s.io') {
    sendJson(res, 201, reviewAccess(object, ctx.denied()));
    return;
  }
  checkBodyNamespace(object, route);
  checkNamespaceExists(ctx, served, route.namespace);
  const prepared = prepare(ctx, served, object, true, false);
  if (isDryRun(query)) {
    sendJson(res, 201, served.fromStorage(dryRunCreate(ctx, served, route, prepared)));
    return;
  }
  const created = ctx.store.create(served.storage, route.namespace, prepared);
  sendJson(res, 201, served.fromStorage(created));
}

/** What a create would store, without storing it (dryRun=All). */
function dryRunCreate(ctx: ResourceContext, served: Served, route: ResourceRoute, object: KubeObject): KubeObject {
  const name = object.metadata.name || `${object.metadata.generateName ?? ''}${randomUUID().slice(0, 5)}`;
  if (ctx.store.tryGet(served.storage, route.namespace, name)) {
    throw new ApiError(409, 'AlreadyExists', `${served.key} "${name}" already exists`, {
      name,
      ...groupDetail(served),
      kind: served.plural,
    });
  }
  const metadata = {
    ...object.metadata,
    name,
    uid: randomUUID(),
    creationTimestamp: ctx.store
      .now()
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z'),
  };
  if (route.namespace !== undefined) metadata.namespace = route.namespace;
  if (served.storage.hasSpec) metadata.generation = 1;
  return { ...object, apiVersion: served.apiVersion, kind: served.kind, metadata };
}

function checkName(object: KubeObject, route: ResourceRoute): void {
  const name = object.metadata.name;
  if (name !== undefined && name !== route.name) {
    throw badRequest(`the name of the object (${name}) does not match the name on the URL (${route.name ?? ''})`);
  }
}

function write(ctx: ResourceContext, r: ResourceRequest, object: KubeObject): KubeObject {
  const { route, served, query } = r;
  const statusOnly = route.subresource === 'status';
  if (isDryRun(query)) {
    const current = ctx.store.get(served.storage, route.namespace, route.name as string);
    return statusOnly
      ? { ...current, status: object.status }
      : { ...object, metadata: { ...current.metadata, ...object.metadata } };
  }
  return ctx.store.update(served.storage, route.namespace, object, statusOnly ? { subresource: 'status' } : {});
}

async function handleUpdate(ctx: ResourceContext, r: ResourceRequest): Promise<void> {
  const { req, res, route, served } = r;
  checkMediaType(req, BODY_TYPES);
  const object = asObject(await decodeBody(req, served, true), served);
  checkName(object, route);
  checkBodyNamespace(object, route);
  object.metadata.name = route.name;
  const prepared = prepare(ctx, served, object, false, route.subresource === 'status');
  sendJson(res, 200, served.fromStorage(write(ctx, r, prepared)));
}

async function handlePatch(ctx: ResourceContext, r: ResourceRequest): Promise<void> {
  const { req, res, route, served } = r;
  const type = PATCH_CONTENT_TYPES[mediaType(req)];
  if (!type || (type === 'strategic' && served.custom))
    throw new ApiError(415, 'UnsupportedMediaType', '415: Unsupported Media Type', {});
  const patch = await decodeBody(req, served, type === 'apply');
  const current = ctx.store.tryGet(served.storage, route.namespace, route.name as string);
  if (!current) {
    // Server-side apply creates what does not exist yet; every other patch needs an object.
    if (type !== 'apply' || route.subresource) throw notFound(served, route.name as string);
    const object = asObject(patch, served);
    checkName(object, route);
    checkNamespaceExists(ctx, served, route.namespace);
    object.metadata.name = route.name;
    const created = ctx.store.create(served.storage, route.namespace, prepare(ctx, served, object, true, false));
    sendJson(res, 201, served.fromStorage(created));
    return;
  }
  const patched = applyPatch(type, served.fromStorage(current), patch ?? {}) as KubeObject;
  if (typeof patched !== 'object' || patched === null || Array.isArray(patched))
    throw badRequest('the patch produced something that is not an object');
  patched.metadata = typeof patched.metadata === 'object' && patched.metadata !== null ? patched.metadata : {};
  checkName(patched, route);
  patched.metadata.name = route.name;
  patched.apiVersion = served.apiVersion;
  patched.kind = served.kind;
  const prepared = prepare(ctx, served, patched, false, route.subresource === 'status');
  sendJson(res, 200, served.fromStorage(write(ctx, r, prepared)));
}

type DeleteOptions = { preconditions?: { uid?: string; resourceVersion?: string }; dryRun?: string[] };

async function deleteOptions(req: IncomingMessage, served: Served): Promise<DeleteOptions> {
  const body = await decodeBody(req, served, true);
  return typeof body === 'object' && body !== null ? (body as DeleteOptions) : {};
}

function checkPreconditions(current: KubeObject, preconditions: DeleteOptions['preconditions'], served: Served): void {
  const conflict = (what: string, expected: string, actual: string | undefined) =>
    new ApiError(
      409,
      'Conflict',
      `Operation cannot be fulfilled on ${served.key} "${current.metadata.name ?? ''}": Precondition failed: ${what} in precondition: ${expected}, ${what} in object meta: ${actual ?? ''}`,
      {
        name: current.metadata.name,
        ...groupDetail(served),
        kind: served.plural,
      },
    );
  if (preconditions?.uid && preconditions.uid !== current.metadata.uid)
    throw conflict('UID', preconditions.uid, current.metadata.uid);
  if (preconditions?.resourceVersion && preconditions.resourceVersion !== current.metadata.resourceVersion) {
    throw conflict('ResourceVersion', preconditions.resourceVersion, current.metadata.resourceVersion);
  }
}

/** Deleting a namespace deletes what it contains (the namespace controller's job, done at once). */
function deleteNamespaceContents(store: Store, namespace: string): void {
  for (const type of store.types()) {
    if (!type.namespaced) continue;
    for (const object of store.list(type, { namespace }).items)
      store.delete(type, namespace, object.metadata.name as string);
  }
}

function deleteOne(ctx: ResourceContext, served: Served, namespace: string | undefined, name: string): KubeObject {
  const deleted = ctx.store.delete(served.storage, namespace, name);
  if (served.key === 'namespaces') deleteNamespaceContents(ctx.store, name);
  return deleted;
}

async function handleDelete(ctx: ResourceContext, { req, res, route, served, query }: ResourceRequest): Promise<void> {
  const options = await deleteOptions(req, served);
  const current = ctx.store.get(served.storage, route.namespace, route.name as string);
  checkPreconditions(current, options.preconditions, served);
  const dryRun = isDryRun(query) || (options.dryRun ?? []).includes('All');
  const deleted = dryRun ? current : deleteOne(ctx, served, route.namespace, route.name as string);
  sendJson(
    res,
    200,
    successStatus({
      name: deleted.metadata.name,
      ...groupDetail(served),
      kind: served.plural,
      uid: deleted.metadata.uid,
    }),
  );
}

async function handleDeleteCollection(
  ctx: ResourceContext,
  { req, res, route, served, query }: ResourceRequest,
): Promise<void> {
  const options = await deleteOptions(req, served);
  const dryRun = isDryRun(query) || (options.dryRun ?? []).includes('All');
  const selection = new URLSearchParams(query);
  selection.delete('limit');
  selection.delete('continue');
  const { items } = listPage(ctx.store, served, selection, route.namespace);
  if (!dryRun) for (const item of items) deleteOne(ctx, served, item.metadata.namespace, item.metadata.name as string);
  sendJson(res, 200, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Success',
    details: { ...groupDetail(served), kind: served.plural },
  });
}
