/**
 * Waiting on a watch: list, then follow the stream from the list's version, re-list when the
 * version is gone (410), resume after a closed stream, until the caller's predicate holds, the
 * deadline passes or the caller aborts.
 */
import { Watch, type KubeConfig, type RequestContext } from './client-node.ts';
import type { ClusterPort, KubeObject, ListQuery, ResourceRef, WaitOptions, WatchEvent } from '../../ports/cluster.ts';
import { sleep } from '../retry.ts';
import { scanPages } from './lists.ts';
import { METADATA_ACCEPT, withKind, type Api } from './transport.ts';

export type WatchDeps = { api: Api; config: KubeConfig; pageSize: number };

type WaitCallback = Parameters<ClusterPort['waitFor']>[2];

/**
 * The configuration client-node's Watch reads, with the Accept header of a metadata-only watch
 * added to the authentication headers it applies (its only way to set a request header).
 */
function metadataWatchConfig(config: KubeConfig): KubeConfig {
  return {
    getCurrentCluster: () => config.getCurrentCluster(),
    applySecurityAuthentication: async (context: RequestContext) => {
      await config.applySecurityAuthentication(context);
      context.setHeaderParam('Accept', METADATA_ACCEPT);
    },
  } as unknown as KubeConfig;
}

export async function waitFor(
  deps: WatchDeps,
  ref: ResourceRef,
  query: ListQuery,
  onState: WaitCallback,
  timeoutMs: number,
  signal?: AbortSignal,
  options: WaitOptions = {},
): Promise<boolean> {
  const { api, config, pageSize } = deps;
  const deadline = AbortSignal.timeout(Math.max(1, Math.round(timeoutMs)));
  const stop = signal ? AbortSignal.any([deadline, signal]) : deadline;
  const state = new Map<string, KubeObject>();
  const key = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;
  const read = options.metadataOnly ? { metadataOnly: true } : {};
  const project = options.project ?? ((o: KubeObject) => o);
  const relist = async () => {
    state.clear();
    return scanPages(api, pageSize, ref, query, (item) => state.set(key(item), project(item)), read);
  };
  let resourceVersion = await relist();
  if (onState(state)) return true;
  const watcher = new Watch(options.metadataOnly ? metadataWatchConfig(config) : config);
  const path = api.collectionUrl(ref, query.namespace).pathname;
  while (!stop.aborted) {
    const outcome = await new Promise<'done' | 'gone' | 'closed' | 'aborted'>((resolve) => {
      let controller: AbortController | undefined;
      let settled = false;
      const finish = (value: 'done' | 'gone' | 'closed' | 'aborted') => {
        if (settled) return;
        settled = true;
        stop.removeEventListener('abort', onAbort);
        controller?.abort();
        resolve(value);
      };
      const onAbort = () => finish('aborted');
      stop.addEventListener('abort', onAbort, { once: true });
      api.requests.push({
        verb: 'watch',
        group: ref.group,
        resource: ref.resource,
        ...(query.namespace ? { namespace: query.namespace } : {}),
        status: 200,
      });
      watcher
        .watch(
          path,
          {
            resourceVersion,
            allowWatchBookmarks: true,
            labelSelector: query.labelSelector,
            fieldSelector: query.fieldSelector,
            timeoutSeconds: Math.max(1, Math.ceil(timeoutMs / 1000)),
          },
          (type: string, object: KubeObject) => {
            if (settled) return;
            if (type === 'ERROR') {
              finish((object as { code?: number }).code === 410 ? 'gone' : 'closed');
              return;
            }
            if (object?.metadata?.resourceVersion) resourceVersion = object.metadata.resourceVersion;
            if (type === 'BOOKMARK') return;
            const typed = project(options.metadataOnly ? object : withKind(object, ref));
            if (type === 'DELETED') state.delete(key(typed));
            else state.set(key(typed), typed);
            if (onState(state, { type: type as WatchEvent['type'], object: typed })) finish('done');
          },
          () => finish('closed'),
        )
        .then((c) => {
          controller = c;
          if (settled) c.abort();
        })
        .catch(() => finish('closed'));
    });
    if (outcome === 'done') return true;
    if (outcome === 'aborted') break;
    if (outcome === 'gone') {
      resourceVersion = await relist();
      if (onState(state)) return true;
    } else {
      // The stream closed (server timeout, keep-alive loss): resume from the last version seen.
      await sleep(100, stop).catch(() => undefined);
    }
  }
  if (signal?.aborted) throw signal.reason;
  return false;
}
