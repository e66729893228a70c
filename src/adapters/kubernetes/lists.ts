/** Paged lists: every page through the same request path, the items typed, the version to watch from. */
import type { KubeObject, ListQuery, ResourceRef } from '../../ports/cluster.ts';
import { KubernetesError, describe, withKind, type Api } from './transport.ts';

async function listPage(api: Api, pageSize: number, ref: ResourceRef, query: ListQuery, continueToken?: string) {
  const url = api.collectionUrl(ref, query.namespace, {
    labelSelector: query.labelSelector,
    fieldSelector: query.fieldSelector,
    limit: String(pageSize),
    continue: continueToken,
  });
  const response = await api.call('GET', url, undefined, undefined, {
    verb: 'list',
    ref,
    ...(query.namespace ? { namespace: query.namespace } : {}),
  });
  const list = response.body as { items?: KubeObject[]; metadata?: { continue?: string; resourceVersion?: string } };
  if (!list || !Array.isArray(list.items)) {
    throw new KubernetesError(
      response.status,
      'Malformed',
      `the list of ${ref.resource} is not a Kubernetes list`,
      describe(ref, query.namespace),
    );
  }
  return list;
}

export async function listAll(
  api: Api,
  pageSize: number,
  ref: ResourceRef,
  query: ListQuery,
): Promise<{ items: KubeObject[]; resourceVersion: string }> {
  const items: KubeObject[] = [];
  let token: string | undefined;
  let resourceVersion = '';
  do {
    const page = await listPage(api, pageSize, ref, query, token);
    for (const item of page.items ?? []) items.push(withKind(item, ref));
    token = page.metadata?.continue || undefined;
    // Watch from the FIRST page's version: a real API server serves every page from that one
    // snapshot, but a server that does not would otherwise hide every change made to the early
    // pages' objects while the later pages were read (replaying a few extra events is harmless).
    if (resourceVersion === '') resourceVersion = page.metadata?.resourceVersion ?? '';
  } while (token);
  return { items, resourceVersion };
}
