/**
 * The Kubernetes adapter: implements the cluster port over @kubernetes/client-node.
 * client-node supplies the configuration, authentication (tokens, exec plugins, client
 * certificates, in-cluster) and the watch stream; requests are generic JSON so one code path
 * serves every kind, including Istio's custom resources. The parts: `transport.ts` (requests,
 * retries, errors, the request record), `lists.ts` (paged lists), `watch.ts` (waiting on a
 * watch), `writes.ts` (writes and access reviews).
 */
import type { KubeConfig } from './client-node.ts';
import { ExternalError } from '../../errors.ts';
import type { ClusterPort } from '../../ports/cluster.ts';
import { defaultRetryPolicy, type RetryPolicy } from '../retry.ts';
import { listAll, scanPages } from './lists.ts';
import { KubernetesError, createApi, withKind, type RequestRecord } from './transport.ts';
import { waitFor } from './watch.ts';
import { performMutation, reviewAccess } from './writes.ts';

export { KubernetesError, type RequestRecord } from './transport.ts';

export type KubernetesClusterOptions = {
  config: KubeConfig;
  retry?: RetryPolicy;
  /** Requests in flight at once (watches excluded). */
  concurrency?: number;
  /** Page size for lists. */
  pageSize?: number;
  /** Per-request timeout. */
  requestTimeoutMs?: number;
  userAgent?: string;
};

export type KubernetesCluster = ClusterPort & {
  /** Every request made so far. */
  readonly requests: readonly RequestRecord[];
  /** Requests counted by `verb resource` (watches included, under `watch`). */
  requestCounts(): Record<string, number>;
  resetRequests(): void;
  /** Server URL, for messages. */
  readonly server: string;
};

export function createKubernetesCluster(options: KubernetesClusterOptions): KubernetesCluster {
  const config = options.config;
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new ExternalError('K8S_CONFIG', 'the kubeconfig has no current cluster', 'kubeconfig');
  const server = cluster.server.replace(/\/+$/, '');
  const pageSize = options.pageSize ?? 500;
  const api = createApi({
    config,
    server,
    retry: options.retry ?? defaultRetryPolicy,
    concurrency: options.concurrency ?? 16,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    userAgent: options.userAgent ?? 'revroll',
  });
  const { requests } = api;

  return {
    server,
    get requests() {
      return requests;
    },

    requestCounts() {
      const counts: Record<string, number> = {};
      for (const r of requests) {
        const key = `${r.verb} ${r.group === '' ? r.resource : `${r.resource}.${r.group}`}`;
        counts[key] = (counts[key] ?? 0) + 1;
      }
      return counts;
    },

    resetRequests() {
      requests.length = 0;
    },

    async list(ref, query = {}, read = {}) {
      return (await listAll(api, pageSize, ref, query, read)).items;
    },

    async scan(ref, query, visit, read = {}) {
      await scanPages(api, pageSize, ref, query, visit, read);
    },

    async get(ref, namespace, name) {
      try {
        const response = await api.call({
          method: 'GET',
          url: api.objectUrl(ref, namespace, name),
          meta: { verb: 'get', ref, ...(namespace ? { namespace } : {}), name },
        });
        return withKind(response.body as never, ref);
      } catch (error) {
        if (error instanceof KubernetesError && error.status === 404) return undefined;
        throw error;
      }
    },

    mutate: (mutation, read) => performMutation(api, mutation, read),

    waitFor: (ref, query, onState, timeoutMs, signal, wait) =>
      waitFor({ api, config, pageSize }, ref, query, onState, timeoutMs, signal, wait),

    denied: (checks) => reviewAccess(api, checks),
  };
}
