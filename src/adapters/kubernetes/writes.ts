/** Writes (create, patch, replace, delete) and access reviews. */
import type { KubeObject, Mutation, PermissionCheck, ResourceRef } from '../../ports/cluster.ts';
import { KubernetesError, apiVersion, withKind, type Api } from './transport.ts';

/** One write: create, patch, replace or delete (an object already gone is `undefined`). */
export async function performMutation(api: Api, mutation: Mutation): Promise<KubeObject | undefined> {
  const { call, collectionUrl, objectUrl } = api;
  const { ref } = mutation;
  const namespace = mutation.namespace;
  const ns = namespace ? { namespace } : {};
  switch (mutation.op) {
    case 'create': {
      const body = { ...mutation.object, apiVersion: apiVersion(ref), kind: ref.kind };
      const response = await call(
        'POST',
        collectionUrl(ref, namespace, { fieldManager: 'revroll' }),
        body,
        'application/json',
        {
          verb: 'create',
          ref,
          ...ns,
          ...(mutation.object.metadata.name ? { name: mutation.object.metadata.name } : {}),
        },
      );
      return response.body as KubeObject;
    }
    case 'merge-patch':
    case 'strategic-patch': {
      const contentType =
        mutation.op === 'merge-patch' ? 'application/merge-patch+json' : 'application/strategic-merge-patch+json';
      const response = await call(
        'PATCH',
        objectUrl(ref, namespace, mutation.name, { fieldManager: 'revroll' }),
        mutation.patch,
        contentType,
        {
          verb: 'patch',
          ref,
          ...ns,
          name: mutation.name,
          retryConflicts: true,
        },
      );
      return withKind(response.body as KubeObject, ref);
    }
    case 'replace': {
      const name = mutation.object.metadata.name ?? '';
      const body = { ...mutation.object, apiVersion: apiVersion(ref), kind: ref.kind };
      const response = await call(
        'PUT',
        objectUrl(ref, namespace, name, { fieldManager: 'revroll' }),
        body,
        'application/json',
        { verb: 'update', ref, ...ns, name },
      );
      return withKind(response.body as KubeObject, ref);
    }
    case 'delete': {
      try {
        const response = await call(
          'DELETE',
          objectUrl(ref, namespace, mutation.name),
          { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: mutation.propagation ?? 'Background' },
          'application/json',
          { verb: 'delete', ref, ...ns, name: mutation.name },
        );
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
      const response = await call(
        'POST',
        collectionUrl(ref, undefined),
        {
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
        'application/json',
        // A review stores nothing: asking again is always safe, whatever the first answer was.
        { verb: 'create', ref, retryConflicts: true },
      );
      const allowed = (response.body as { status?: { allowed?: boolean } })?.status?.allowed === true;
      return allowed ? undefined : check;
    }),
  );
  return results.filter((r): r is PermissionCheck => r !== undefined);
}
