/**
 * Create, update, patch, delete and deletecollection, as kube-apiserver's handlers shape them:
 * the request's field manager is recorded in managedFields (`?fieldManager=`, else the
 * User-Agent prefix), `dryRun=All` computes without storing, events.k8s.io/v1 writes get that
 * API's strict Event validation, a DELETE answers with the object while its deletion is pending
 * (grace period, finalizers) and for kinds whose registry returns deleted objects (pods, service
 * accounts, namespaces), else with a Status. Server-side apply is refused (see patch.ts).
 * Every answer is in the output the Accept header negotiated (negotiation.ts), as the real
 * handlers negotiate before they write and transform the stored object after: a write may ask for
 * its answer as PartialObjectMetadata (metadata only) or a Table; one asking for a list form is
 * stored and then answered 406, as kube-apiserver does.
 */
import type { IncomingMessage } from 'node:http';
import type { KubeObject, Writer } from '../store.ts';
import type { DeleteOptions, PropagationPolicy } from '../deletion.ts';
import type { ResourceRoute } from './routing.ts';
import type { Served } from './served.ts';
import { renderOne, type ResourceContext, type ResourceRequest } from './resource-handler.ts';
import { ApiError, badRequest, invalid, successStatus, unsupportedMediaType } from './status.ts';
import { sendJson, sendObject } from './respond.ts';
import { negotiate } from './negotiation.ts';
import { asObject, checkMediaType, decodeBody, mediaType } from './decode.ts';
import { delay } from './faults.ts';
import { listPage } from './list.ts';
import { PATCH_CONTENT_TYPES, applyPatch } from './patch.ts';
import { checkMicroTimes, validateEventsV1 } from './validation.ts';
import { managerFromUserAgent } from './managed-fields.ts';
import { notSupported, invalidValue, type FieldError } from './field-errors.ts';
import { reviewAccess } from './access-review.ts';
import { handleTokenRequest } from './tokens.ts';

const BODY_TYPES = ['application/json', 'application/yaml'];

/** Registries with ReturnDeletedObject: a DELETE answers with the object, not a Status. */
const RETURNS_DELETED = new Set(['pods', 'serviceaccounts', 'namespaces']);

const groupDetail = (served: Served) => (served.group ? { group: served.group } : {});

function isDryRun(query: URLSearchParams): boolean {
  return query.getAll('dryRun').includes('All');
}

function writer(r: ResourceRequest): Writer {
  const manager = r.query.get('fieldManager') || managerFromUserAgent(r.req.headers['user-agent']);
  return {
    manager,
    apiVersion: r.served.apiVersion,
    ...(r.route.subresource === 'status' ? { subresource: 'status' as const } : {}),
  };
}

/** Decode-time checks and conversion to the stored form, shared by create, update and patch. */
function prepare(served: Served, object: KubeObject, isCreate: boolean): KubeObject {
  checkMicroTimes(served, object);
  const stored = served.toStorage(object);
  // events.k8s.io/v1 is stricter than core/v1 on create (ValidateEventCreate).
  if (isCreate && served.key === 'events.events.k8s.io') validateEventsV1(stored);
  return stored;
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

function checkName(object: KubeObject, route: ResourceRoute): void {
  const name = object.metadata.name;
  if (name !== undefined && name !== route.name) {
    throw badRequest(`the name of the object (${name}) does not match the name on the URL (${route.name ?? ''})`);
  }
}

export async function handleCreate(ctx: ResourceContext, r: ResourceRequest): Promise<void> {
  const { req, res, route, served, query } = r;
  const negotiated = negotiate(req.headers.accept, served);
  checkMediaType(req, BODY_TYPES);
  const body = await decodeBody(req, served, true);
  if (route.subresource === 'token') return handleTokenRequest(ctx, r, body);
  const object = asObject(body, served);
  if (
    served.key === 'selfsubjectaccessreviews.authorization.k8s.io' ||
    served.key === 'subjectaccessreviews.authorization.k8s.io'
  ) {
    sendJson(res, 201, reviewAccess(served.kind, object, r.user, ctx.authorizer, ctx.denied()));
    return;
  }
  checkBodyNamespace(object, route);
  checkNamespaceExists(ctx, served, route.namespace);
  const prepared = prepare(served, object, true);
  ctx.takeAdmissionDelay(); // what earlier (simulation) writes left is not this request's
  let created: KubeObject;
  try {
    const options = { writer: writer(r), dryRun: isDryRun(query) };
    created = inServedGroup(served, () => ctx.store.create(served.storage, route.namespace, prepared, options));
  } finally {
    // A webhook that timed out made this request wait its timeoutSeconds, success or failure.
    await delay(ctx.takeAdmissionDelay());
  }
  if (created.metadata.name !== undefined) r.created?.(created.metadata.name);
  sendObject(res, 201, renderOne(ctx, served, created, query, negotiated), negotiated);
}

/**
 * The store validates in the stored kind; a request through another group (events.k8s.io/v1
 * Events are core Events) names its own group in the 422, as the real server does.
 */
function inServedGroup<T>(served: Served, write: () => T): T {
  try {
    return write();
  } catch (error) {
    const storedGroup = served.storage.group;
    if (!(error instanceof ApiError) || error.code !== 422 || served.group === storedGroup) throw error;
    const kind = served.kind;
    const message = error.message.replace(`${kind} "`, `${kind}.${served.group} "`);
    throw new ApiError(422, error.reason, message, { ...error.details, group: served.group });
  }
}

function write(ctx: ResourceContext, r: ResourceRequest, object: KubeObject): KubeObject {
  const { route, served, query } = r;
  if (route.subresource === 'finalize') {
    // namespaces/finalize writes spec.finalizers only.
    const current = ctx.store.get(served.storage, route.namespace, route.name as string);
    const finalizers = (object.spec as { finalizers?: string[] } | undefined)?.finalizers ?? [];
    object = { ...current, spec: { ...(current.spec as object), finalizers } };
  }
  const options = {
    ...(route.subresource === 'status' ? { subresource: 'status' as const } : {}),
    writer: writer(r),
    dryRun: isDryRun(query),
  };
  return inServedGroup(served, () => ctx.store.update(served.storage, route.namespace, object, options));
}

export async function handleUpdate(ctx: ResourceContext, r: ResourceRequest): Promise<void> {
  const { req, res, route, served, query } = r;
  const negotiated = negotiate(req.headers.accept, served);
  checkMediaType(req, BODY_TYPES);
  const object = asObject(await decodeBody(req, served, true), served);
  checkName(object, route);
  checkBodyNamespace(object, route);
  object.metadata.name = route.name;
  const stored = write(ctx, r, prepare(served, object, false));
  sendObject(res, 200, renderOne(ctx, served, stored, query, negotiated), negotiated);
}

export async function handlePatch(ctx: ResourceContext, r: ResourceRequest): Promise<void> {
  const { req, res, route, served, query } = r;
  const type = PATCH_CONTENT_TYPES[mediaType(req)];
  // Strategic merge needs Go struct tags, which custom resources have none of.
  if (!type || (type === 'strategic' && served.custom)) throw unsupportedMediaType();
  const negotiated = negotiate(req.headers.accept, served);
  const patch = await decodeBody(req, served, false);
  const current = ctx.store.get(served.storage, route.namespace, route.name as string);
  const patched = applyPatch(type, served.fromStorage(current), patch ?? {}) as KubeObject;
  if (typeof patched !== 'object' || patched === null || Array.isArray(patched))
    throw badRequest('the patch produced something that is not an object');
  patched.metadata = typeof patched.metadata === 'object' && patched.metadata !== null ? patched.metadata : {};
  checkName(patched, route);
  patched.metadata.name = route.name;
  patched.apiVersion = served.apiVersion;
  patched.kind = served.kind;
  const stored = write(ctx, r, prepare(served, patched, false));
  sendObject(res, 200, renderOne(ctx, served, stored, query, negotiated), negotiated);
}

const POLICIES: readonly PropagationPolicy[] = ['Foreground', 'Background', 'Orphan'];

type RawDeleteOptions = {
  gracePeriodSeconds?: unknown;
  propagationPolicy?: unknown;
  orphanDependents?: unknown;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: unknown;
};

/** DeleteOptions from the body and the query, validated as ValidateDeleteOptions does. */
async function deleteOptions(req: IncomingMessage, served: Served, query: URLSearchParams): Promise<DeleteOptions> {
  const body = await decodeBody(req, served, true);
  const raw: RawDeleteOptions = typeof body === 'object' && body !== null ? (body as RawDeleteOptions) : {};
  const grace = query.get('gracePeriodSeconds') ?? raw.gracePeriodSeconds;
  const policy = query.get('propagationPolicy') ?? raw.propagationPolicy;
  const orphan = query.get('orphanDependents') ?? raw.orphanDependents;
  const errors: FieldError[] = [];
  if (policy !== undefined && policy !== null && !POLICIES.includes(policy as PropagationPolicy))
    errors.push(notSupported('propagationPolicy', String(policy), [...POLICIES, 'nil']));
  if (policy !== undefined && policy !== null && orphan !== undefined && orphan !== null)
    errors.push(
      invalidValue('propagationPolicy', String(policy), 'orphanDependents and deletionPropagation cannot be both set'),
    );
  if (errors.length > 0) throw invalid('DeleteOptions', 'meta.k8s.io', '', errors);
  const options: DeleteOptions = {};
  if (grace !== undefined && grace !== null && grace !== '') options.gracePeriodSeconds = Number(grace);
  if (policy) options.propagationPolicy = policy as PropagationPolicy;
  else if (orphan !== undefined && orphan !== null)
    options.propagationPolicy = String(orphan) === 'true' ? 'Orphan' : 'Background';
  if (raw.preconditions) options.preconditions = raw.preconditions;
  const dryRun = Array.isArray(raw.dryRun) ? raw.dryRun : [];
  if (isDryRun(query) || dryRun.includes('All')) options.dryRun = true;
  return options;
}

export async function handleDelete(ctx: ResourceContext, r: ResourceRequest): Promise<void> {
  const { req, res, route, served, query } = r;
  const negotiated = negotiate(req.headers.accept, served);
  const options = await deleteOptions(req, served, query);
  const { object, removed } = ctx.store.remove(served.storage, route.namespace, route.name as string, options);
  if (!removed || RETURNS_DELETED.has(served.key)) {
    sendObject(res, 200, renderOne(ctx, served, object, query, negotiated), negotiated);
    return;
  }
  // A Status is not transformed (transformObject passes a *metav1.Status through).
  sendObject(
    res,
    200,
    successStatus({
      name: object.metadata.name,
      ...groupDetail(served),
      kind: served.plural,
      uid: object.metadata.uid,
    }),
    negotiated,
  );
}

export async function handleDeleteCollection(ctx: ResourceContext, r: ResourceRequest): Promise<void> {
  const { req, res, route, served, query } = r;
  const options = await deleteOptions(req, served, query);
  const selection = new URLSearchParams(query);
  selection.delete('limit');
  selection.delete('continue');
  const { items } = listPage(ctx.store, served, selection, route.namespace);
  for (const item of items) {
    // An object deleted meanwhile (a dependent collected by a cascade) is simply gone.
    if (ctx.store.tryGet(served.storage, item.metadata.namespace, item.metadata.name as string))
      ctx.store.remove(served.storage, item.metadata.namespace, item.metadata.name as string, options);
  }
  sendJson(res, 200, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Success',
    details: { ...groupDetail(served), kind: served.plural },
  });
}
