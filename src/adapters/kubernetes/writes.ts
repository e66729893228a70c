/** Writes (create, patch, replace, delete) and access reviews. */
import type { KubeObject, Mutation, PermissionCheck, ReadOptions, ResourceRef } from '../../ports/cluster.ts';
import { KubernetesError, WRITE_METADATA_ACCEPT, apiVersion, withKind, type Api } from './transport.ts';

/** A written object as answered: a PartialObjectMetadata stays as the server sent it. */
function answered(body: unknown, ref: ResourceRef): KubeObject {
  const object = body as KubeObject;
  return object?.kind === 'PartialObjectMetadata' ? object : withKind(object, ref);
}

/** One write: create, patch, replace or delete (an object already gone is `undefined`). */
export async function performMutation(
  api: Api,
  mutation: Mutation,
  options: ReadOptions = {},
): Promise<KubeObject | undefined> {
  const { call, collectionUrl, objectUrl } = api;
  const { ref } = mutation;
  const namespace = mutation.namespace;
  const ns = namespace ? { namespace } : {};
  const accept = options.metadataOnly ? { accept: WRITE_METADATA_ACCEPT } : {};
  switch (mutation.op) {
    case 'create': {
      const body = { ...mutation.object, apiVersion: apiVersion(ref), kind: ref.kind };
      const response = await call({
        method: 'POST',
        url: collectionUrl(ref, namespace, { fieldManager: 'revroll' }),
        body,
        contentType: 'application/json',
        meta: {
          verb: 'create',
          ref,
          ...ns,
          ...(mutation.object.metadata.name ? { name: mutation.object.metadata.name } : {}),
          ...accept,
        },
      });
      return answered(response.body, ref);
    }
    case 'merge-patch':
    case 'strategic-patch': {
      const contentType =
        mutation.op === 'merge-patch' ? 'application/merge-patch+json' : 'application/strategic-merge-patch+json';
      const response = await call({
        method: 'PATCH',
        url: objectUrl(ref, namespace, mutation.name, { fieldManager: 'revroll' }),
        body: mutation.patch,
        contentType,
        meta: { verb: 'patch', ref, ...ns, name: mutation.name, retryConflicts: true, ...accept },
      });
      return answered(response.body, ref);
    }
    case 'replace': {
      const name = mutation.object.metadata.name ?? '';
      const body = { ...mutation.object, apiVersion: apiVersion(ref), kind: ref.kind };
      const response = await call({
        method: 'PUT',
        url: objectUrl(ref, namespace, name, { fieldManager: 'revroll' }),
        body,
        contentType: 'application/json',
        meta: { verb: 'update', ref, ...ns, name, ...accept },
      });
      return answered(response.body, ref);
    }
    case 'delete': {
      try {
        const response = await call({
          method: 'DELETE',
          url: objectUrl(ref, namespace, mutation.name),
          body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: mutation.propagation ?? 'Background' },
          contentType: 'application/json',
          meta: { verb: 'delete', ref, ...ns, name: mutation.name, ...accept },
        });
        return response.body as KubeObject;
      } catch (error) {
        if (error instanceof KubernetesError && error.status === 404) return undefined;
        throw error;
      }
    }
  }
}

/** SelfSubjectAccessReview for each check; returns those that are denied. */
export async function reviewAccess(api: Api, checks: readonly PermissionCheck[]): Promise<PermissionCheck[]> {
  const { call, collectionUrl } = api;
  const ref: ResourceRef = {
    group: 'authorization.k8s.io',
    version: 'v1',
    resource: 'selfsubjectaccessreviews',
    kind: 'SelfSubjectAccessReview',
    namespaced: false,
  };
  const results = await Promise.all(
    checks.map(async (check) => {
      const response = await call({
        method: 'POST',
        url: collectionUrl(ref, undefined),
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: {
            resourceAttributes: {
              verb: check.verb,
              group: check.group,
              resource: check.resource,
              ...(check.namespace ? { namespace: check.namespace } : {}),
            },
          },
        },
        contentType: 'application/json',
        // A review stores nothing: asking again is always safe, whatever the first answer was.
        meta: { verb: 'create', ref, retryConflicts: true },
      });
      const allowed = (response.body as { status?: { allowed?: boolean } })?.status?.allowed === true;
      return allowed ? undefined : check;
    }),
  );
  return results.filter((r): r is PermissionCheck => r !== undefined);
}
