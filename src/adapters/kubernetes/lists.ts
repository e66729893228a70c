/** Paged lists: every page through the same request path, the items typed, the version to watch from. */
import type { KubeObject, ListQuery, ReadOptions, ResourceRef } from '../../ports/cluster.ts';
import { KubernetesError, METADATA_LIST_ACCEPT, describe, withKind, type Api } from './transport.ts';

async function listPage(
  api: Api,
  pageSize: number,
  ref: ResourceRef,
  query: ListQuery,
  options: ReadOptions,
  continueToken?: string,
) {
  const url = api.collectionUrl(ref, query.namespace, {
    labelSelector: query.labelSelector,
    fieldSelector: query.fieldSelector,
    limit: String(pageSize),
    continue: continueToken,
  });
  const response = await api.call({
    method: 'GET',
    url,
    meta: {
      verb: 'list',
      ref,
      ...(query.namespace ? { namespace: query.namespace } : {}),
      ...(options.metadataOnly ? { accept: METADATA_LIST_ACCEPT } : {}),
    },
  });
  const list = response.body as {
    kind?: string;
    items?: KubeObject[];
    metadata?: { continue?: string; resourceVersion?: string };
  };
  if (!list || !Array.isArray(list.items)) {
    throw new KubernetesError(
      response.status,
      'Malformed',
      `the list of ${ref.resource} is not a Kubernetes list`,
      describe(ref, query.namespace),
    );
  }
  if (options.metadataOnly && list.kind !== 'PartialObjectMetadataList') {
    throw new KubernetesError(
      response.status,
      'Malformed',
      `asked for metadata only (PartialObjectMetadataList), the server answered ${list.kind ?? 'a list without kind'}`,
      describe(ref, query.namespace),
    );
  }
  return list;
}

/**
 * Reads a list page by page, giving each item to `visit` as its page arrives (a page is dropped
 * before the next is read). Returns the version to watch from.
 */
export async function scanPages(
  api: Api,
  pageSize: number,
  ref: ResourceRef,
  query: ListQuery,
  visit: (object: KubeObject) => void,
  options: ReadOptions = {},
): Promise<string> {
  let token: string | undefined;
  let resourceVersion = '';
  do {
    const page = await listPage(api, pageSize, ref, query, options, token);
    // Metadata-only items say `PartialObjectMetadata`; they are left as the server sent them.
    for (const item of page.items ?? []) visit(options.metadataOnly ? item : withKind(item, ref));
    token = page.metadata?.continue || undefined;
    // Watch from the FIRST page's version: a real API server serves every page from that one
    // snapshot, but a server that does not would otherwise hide every change made to the early
    // pages' objects while the later pages were read (replaying a few extra events is harmless).
    if (resourceVersion === '') resourceVersion = page.metadata?.resourceVersion ?? '';
  } while (token);
  return resourceVersion;
}

export async function listAll(
  api: Api,
  pageSize: number,
  ref: ResourceRef,
  query: ListQuery,
  options: ReadOptions = {},
): Promise<{ items: KubeObject[]; resourceVersion: string }> {
  const items: KubeObject[] = [];
  const resourceVersion = await scanPages(api, pageSize, ref, query, (item) => items.push(item), options);
  return { items, resourceVersion };
}
