/**
 * The REST verbs on one served resource: get, list, watch, create, update, patch, delete and
 * deletecollection, plus the `status` subresource (and `serviceaccounts/token`,
 * `namespaces/finalize`). Writes go through the store, which owns resourceVersion, uid,
 * generation, defaulting, validation, deletion and conflicts; this layer decodes, negotiates the
 * output (JSON or YAML, Table, PartialObjectMetadata), converts between served and stored forms
 * and shapes responses like kube-apiserver. The writes are in resource-writes.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KubeObject, Store } from '../store.ts';
import type { ResourceRoute } from './routing.ts';
import type { Served } from './served.ts';
import { methodNotAllowed, resourceNotFound } from './status.ts';
import { sendObject } from './respond.ts';
import { listPage } from './list.ts';
import { toTable, type TableOptions } from './table.ts';
import { startWatch, type OpenWatch, type WatchFaults } from './watch.ts';
import { checkTransform, negotiate, partialList, partialObject, type Negotiated } from './negotiation.ts';
import { STATUS_VERBS } from './served.ts';
import type { AccessRule } from './access-review.ts';
import type { Authorizer, UserInfo } from './rbac.ts';
import type { TokenIssuer } from './tokens.ts';
import { handleCreate, handleDelete, handleDeleteCollection, handlePatch, handleUpdate } from './resource-writes.ts';

export type ResourceContext = {
  store: Store;
  denied: () => readonly AccessRule[];
  authorizer: Authorizer;
  tokens: TokenIssuer;
  /** Real ms between BOOKMARK events on watches that allow them (kube-apiserver: about a minute). */
  bookmarkIntervalMs: number;
  watchFaults: () => WatchFaults;
  watches: Set<OpenWatch>;
  /** Real ms the admission webhooks of the last write spent timing out (then reset). */
  takeAdmissionDelay: () => number;
};

export type ResourceRequest = {
  req: IncomingMessage;
  res: ServerResponse;
  route: ResourceRoute;
  served: Served;
  query: URLSearchParams;
  verb: string;
  user: UserInfo;
  /** Told the name of the object a create stored (the request log names it, as an audit log's objectRef does). */
  created?: (name: string) => void;
};

/** Subresources the sandbox serves, with their verbs, for the resources that have them. */
function subresourceVerbs(served: Served, subresource: string): readonly string[] | undefined {
  if (subresource === 'status') return served.subresources.includes('status') ? STATUS_VERBS : undefined;
  if (subresource === 'token') return served.key === 'serviceaccounts' ? ['create'] : undefined;
  if (subresource === 'finalize') return served.key === 'namespaces' ? ['update'] : undefined;
  return undefined;
}

/** Rejects requests the resource's scope, subresources or verbs do not allow. */
function checkShape(r: ResourceRequest): void {
  const { route, served, verb } = r;
  let allowed: readonly string[] = served.verbs;
  if (route.subresource !== undefined) {
    const verbs = route.name === undefined ? undefined : subresourceVerbs(served, route.subresource);
    if (!verbs) throw resourceNotFound();
    allowed = verbs;
  }
  if (!served.namespaced && route.namespace !== undefined) throw resourceNotFound();
  const needsNamespace = route.name !== undefined || verb === 'create' || verb === 'deletecollection';
  if (served.namespaced && route.namespace === undefined && needsNamespace) throw resourceNotFound();
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

function tableOptions(ctx: ResourceContext, query: URLSearchParams, negotiated: Negotiated): TableOptions {
  const include = query.get('includeObject');
  return {
    includeObject: include === 'None' || include === 'Object' ? include : 'Metadata',
    now: ctx.store.now(),
    groupVersion: negotiated.groupVersion,
  };
}

function handleGet(ctx: ResourceContext, { req, res, route, served, query }: ResourceRequest): void {
  const negotiated = negotiate(req.headers.accept, served);
  const object = ctx.store.get(served.storage, route.namespace, route.name as string);
  sendObject(res, 200, renderOne(ctx, served, object, query, negotiated), negotiated);
}

/**
 * One object as the negotiated output shows it: a Table of one row, its PartialObjectMetadata,
 * or the object. Get, create, update, patch and delete all answer through it, as kube-apiserver's
 * handlers all end in transformResponseObject; a list form asked of one object is the 406.
 */
export function renderOne(
  ctx: ResourceContext,
  served: Served,
  object: KubeObject,
  query: URLSearchParams,
  negotiated: Negotiated,
): unknown {
  checkTransform(negotiated, served, false);
  switch (negotiated.transform) {
    case 'Table':
      return toTable(served, [object], object.metadata.resourceVersion ?? '', tableOptions(ctx, query, negotiated));
    case 'PartialObjectMetadata':
      return partialObject(object, negotiated.groupVersion);
    case 'PartialObjectMetadataList':
    case 'none':
      return served.fromStorage(object);
  }
}

function handleList(ctx: ResourceContext, { req, res, route, served, query }: ResourceRequest): void {
  const negotiated = negotiate(req.headers.accept, served);
  checkTransform(negotiated, served, true);
  const page = listPage(ctx.store, served, query, route.namespace);
  const metadata: Record<string, unknown> = { resourceVersion: String(page.resourceVersion) };
  if (page.continue !== undefined) {
    metadata.continue = page.continue;
    metadata.remainingItemCount = page.remainingItemCount;
  }
  switch (negotiated.transform) {
    case 'Table': {
      const { resourceVersion, ...rest } = metadata;
      const table = toTable(served, page.items, resourceVersion as string, tableOptions(ctx, query, negotiated), rest);
      return sendObject(res, 200, table, negotiated);
    }
    case 'PartialObjectMetadataList':
      return sendObject(res, 200, partialList(page.items, negotiated.groupVersion, metadata), negotiated);
    case 'PartialObjectMetadata':
    case 'none':
      return sendObject(
        res,
        200,
        {
          kind: `${served.kind}List`,
          apiVersion: served.apiVersion,
          metadata,
          items: page.items.map(served.fromStorage),
        },
        negotiated,
      );
  }
}

function watchRenderer(
  ctx: ResourceContext,
  served: Served,
  query: URLSearchParams,
  negotiated: Negotiated,
): (object: KubeObject) => unknown {
  switch (negotiated.transform) {
    case 'Table': {
      const options = tableOptions(ctx, query, negotiated);
      return (object) => toTable(served, [object], object.metadata.resourceVersion ?? '', options);
    }
    case 'PartialObjectMetadata':
      return (object) => partialObject(object, negotiated.groupVersion);
    case 'PartialObjectMetadataList':
    case 'none':
      // The watch encoder leaves an object whole when the transformation does not apply to it.
      return served.fromStorage;
  }
}

function handleWatch(ctx: ResourceContext, { req, res, route, served, query: input }: ResourceRequest): void {
  const negotiated = negotiate(req.headers.accept, served);
  // A watch on a named object (`.../configmaps/alpha?watch=1`) watches that name only.
  const query = new URLSearchParams(input);
  if (route.name !== undefined)
    query.set('fieldSelector', [input.get('fieldSelector'), `metadata.name=${route.name}`].filter(Boolean).join(','));
  let watch: OpenWatch | undefined = undefined;
  watch = startWatch(res, {
    store: ctx.store,
    served,
    namespace: route.namespace,
    query,
    bookmarkIntervalMs: ctx.bookmarkIntervalMs,
    faults: ctx.watchFaults(),
    render: watchRenderer(ctx, served, query, negotiated),
    onEnd: () => {
      if (watch) ctx.watches.delete(watch);
    },
  });
  if (!res.writableEnded) ctx.watches.add(watch);
}
