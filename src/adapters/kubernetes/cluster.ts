/**
 * The Kubernetes adapter: implements the cluster port over @kubernetes/client-node.
 * client-node supplies the configuration, authentication (tokens, exec plugins, client
 * certificates, in-cluster) and the watch stream; requests are generic JSON so one code path
 * serves every kind, including Istio's custom resources. Every request is recorded by verb and
 * resource so tests and benchmarks can count them.
 */
import { HttpMethod, RequestContext, Watch, type KubeConfig } from '@kubernetes/client-node';
import { fetch } from 'undici';
import { ExternalError } from '../../errors.ts';
import {
  ClusterError,
  type ClusterErrorKind,
  type ClusterPort,
  type KubeObject,
  type ListQuery,
  type Mutation,
  type PermissionCheck,
  type ResourceRef,
  type WatchEvent,
} from '../../ports/cluster.ts';
import { createLimiter } from '../../lib/concurrency.ts';
import { defaultRetryPolicy, sleep, withRetry, type RetryPolicy } from '../retry.ts';

/** One request as the API server saw it. */
export type RequestRecord = { verb: string; group: string; resource: string; namespace?: string; status: number };

/** A Kubernetes API error with the server's reason (`NotFound`, `Conflict`...); its port kind from the status. */
export class KubernetesError extends ClusterError {
  readonly status: number;
  readonly reason: string;
  /** From the server's Retry-After header, when it sent one. */
  retryAfterMs?: number;

  constructor(status: number, reason: string, message: string, target: string, options?: { cause?: unknown }) {
    super(clusterErrorKind(status), `K8S_${reason.toUpperCase() || status}`, message, target, options);
    this.status = status;
    this.reason = reason;
  }
}

/** The port's kind of an API status (0: no answer). */
function clusterErrorKind(status: number): ClusterErrorKind {
  if (status === 409) return 'conflict';
  if (status === 404) return 'not-found';
  if (status === 401 || status === 403) return 'forbidden';
  if (status === 400 || status === 422) return 'invalid';
  if (status === 0 || status === 429 || status >= 500) return 'unavailable';
  return 'other';
}

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

type Response = { status: number; body: unknown; headers: Headers };

const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);

export type KubernetesCluster = ClusterPort & {
  /** Every request made so far. */
  readonly requests: readonly RequestRecord[];
  /** Requests counted by `verb resource` (watches included, under `watch`). */
  requestCounts(): Record<string, number>;
  resetRequests(): void;
  /** Server URL, for messages. */
  readonly server: string;
};

// Its list/watch half is being reworked on the scale branch (paged lists, watch reading): split it once
// that lands (issue 13 item 9).
// eslint-disable-next-line max-lines-per-function -- until the scale branch lands, see above
export function createKubernetesCluster(options: KubernetesClusterOptions): KubernetesCluster {
  const config = options.config;
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new ExternalError('K8S_CONFIG', 'the kubeconfig has no current cluster', 'kubeconfig');
  const server = cluster.server.replace(/\/+$/, '');
  const retry = options.retry ?? defaultRetryPolicy;
  const limit = createLimiter(options.concurrency ?? 16);
  const pageSize = options.pageSize ?? 500;
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const userAgent = options.userAgent ?? 'revroll';
  const requests: RequestRecord[] = [];
  // One connection pool for every request: client-node's applySecurityAuthentication builds a new
  // undici Agent on each call, and a request sent through a fresh Agent opens (with TLS, also
  // handshakes) its own connection, which then idles until keep-alive expiry. In a wave of
  // thousands of patches that was thousands of sockets and their buffers (the bench measured
  // 512 MiB peak RSS at 200 x 10). Headers are still applied per request: exec and OIDC
  // plugins refresh tokens.
  let dispatcher: unknown;

  function record(entry: RequestRecord): void {
    requests.push(entry);
  }

  async function send(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: URL,
    body: unknown,
    contentType: string | undefined,
    meta: { verb: string; ref: ResourceRef; namespace?: string },
  ): Promise<Response> {
    return limit(async () => {
      const context = new RequestContext(url.toString(), HttpMethod[method]);
      await config.applySecurityAuthentication(context);
      dispatcher ??= context.getDispatcher();
      const headers: Record<string, string> = {
        ...context.getHeaders(),
        accept: 'application/json',
        'user-agent': userAgent,
      };
      if (contentType) headers['content-type'] = contentType;
      let status = 0;
      try {
        const response = await fetch(url, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          dispatcher: dispatcher as never,
          signal: AbortSignal.timeout(requestTimeoutMs),
        });
        status = response.status;
        const text = await response.text();
        let parsed: unknown = undefined;
        if (text !== '') {
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = text;
          }
        }
        return { status, body: parsed, headers: response.headers as unknown as Headers };
      } finally {
        record({
          verb: meta.verb,
          group: meta.ref.group,
          resource: meta.ref.resource,
          ...(meta.namespace ? { namespace: meta.namespace } : {}),
          status,
        });
      }
    });
  }

  /** Sends with retries on throttling, server errors and connection failures. */
  async function call(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: URL,
    body: unknown,
    contentType: string | undefined,
    meta: { verb: string; ref: ResourceRef; namespace?: string; name?: string; retryConflicts?: boolean },
  ): Promise<Response> {
    const target = describe(meta.ref, meta.namespace, meta.name);
    return withRetry(
      retry,
      async () => {
        const response = await send(method, url, body, contentType, meta);
        if (response.status >= 400) throw toError(response, target, server);
        return response;
      },
      (error) => {
        if (error instanceof KubernetesError) {
          if (RETRYABLE_STATUS.has(error.status)) {
            return { retry: true, ...(error.retryAfterMs !== undefined ? { afterMs: error.retryAfterMs } : {}) };
          }
          // A conflict on a patch without a resourceVersion, or on a read, is transient; a replace must re-read instead.
          if (error.status === 409 && error.reason === 'Conflict' && (meta.retryConflicts || method === 'GET'))
            return { retry: true };
          return { retry: false };
        }
        return { retry: isConnectionError(error) };
      },
    ).catch((error: unknown) => {
      if (error instanceof KubernetesError) throw error;
      throw new KubernetesError(
        0,
        'Unreachable',
        `cannot reach the Kubernetes API at ${server}: ${errorText(error)}`,
        target,
        { cause: error },
      );
    });
  }

  function collectionUrl(
    ref: ResourceRef,
    namespace: string | undefined,
    query: Record<string, string | undefined> = {},
  ): URL {
    const base = ref.group === '' ? `/api/${ref.version}` : `/apis/${ref.group}/${ref.version}`;
    const ns = ref.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
    const url = new URL(`${server}${base}${ns}/${ref.resource}`);
    for (const [key, value] of Object.entries(query))
      if (value !== undefined && value !== '') url.searchParams.set(key, value);
    return url;
  }

  function objectUrl(
    ref: ResourceRef,
    namespace: string | undefined,
    name: string,
    query: Record<string, string | undefined> = {},
  ): URL {
    const url = collectionUrl(ref, namespace, query);
    url.pathname += `/${encodeURIComponent(name)}`;
    return url;
  }

  async function listPage(ref: ResourceRef, query: ListQuery, continueToken?: string) {
    const url = collectionUrl(ref, query.namespace, {
      labelSelector: query.labelSelector,
      fieldSelector: query.fieldSelector,
      limit: String(pageSize),
      continue: continueToken,
    });
    const response = await call('GET', url, undefined, undefined, {
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

  async function listAll(
    ref: ResourceRef,
    query: ListQuery,
  ): Promise<{ items: KubeObject[]; resourceVersion: string }> {
    const items: KubeObject[] = [];
    let token: string | undefined;
    let resourceVersion = '';
    do {
      const page = await listPage(ref, query, token);
      for (const item of page.items ?? []) items.push(withKind(item, ref));
      token = page.metadata?.continue || undefined;
      // Watch from the FIRST page's version: a real API server serves every page from that one
      // snapshot, but a server that does not would otherwise hide every change made to the early
      // pages' objects while the later pages were read (replaying a few extra events is harmless).
      if (resourceVersion === '') resourceVersion = page.metadata?.resourceVersion ?? '';
    } while (token);
    return { items, resourceVersion };
  }

  const port: KubernetesCluster = {
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

    async list(ref, query = {}) {
      return (await listAll(ref, query)).items;
    },

    async get(ref, namespace, name) {
      try {
        const response = await call('GET', objectUrl(ref, namespace, name), undefined, undefined, {
          verb: 'get',
          ref,
          ...(namespace ? { namespace } : {}),
          name,
        });
        return withKind(response.body as KubeObject, ref);
      } catch (error) {
        if (error instanceof KubernetesError && error.status === 404) return undefined;
        throw error;
      }
    },

    mutate: (mutation) => performMutation({ call, collectionUrl, objectUrl }, mutation),

    async waitFor(ref, query, onState, timeoutMs, signal) {
      const deadline = AbortSignal.timeout(Math.max(1, Math.round(timeoutMs)));
      const stop = signal ? AbortSignal.any([deadline, signal]) : deadline;
      const state = new Map<string, KubeObject>();
      const key = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;
      const relist = async () => {
        const { items, resourceVersion } = await listAll(ref, query);
        state.clear();
        for (const item of items) state.set(key(item), item);
        return resourceVersion;
      };
      let resourceVersion = await relist();
      if (onState(state)) return true;
      const watcher = new Watch(config);
      const path = collectionUrl(ref, query.namespace).pathname;
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
          record({
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
                const typed = withKind(object, ref);
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
    },

    denied: (checks) => reviewAccess({ call, collectionUrl, objectUrl }, checks),
  };
  return port;
}

function apiVersion(ref: ResourceRef): string {
  return ref.group === '' ? ref.version : `${ref.group}/${ref.version}`;
}

/** List items carry no kind/apiVersion on the wire; put them back so objects are self-describing. */
function withKind(object: KubeObject, ref: ResourceRef): KubeObject {
  if (object && typeof object === 'object' && (!object.kind || !object.apiVersion)) {
    return { ...object, apiVersion: apiVersion(ref), kind: ref.kind };
  }
  return object;
}

function describe(ref: ResourceRef, namespace?: string, name?: string): string {
  const resource = ref.group === '' ? ref.resource : `${ref.resource}.${ref.group}`;
  return `${resource}${name ? ` "${name}"` : ''}${namespace ? ` in namespace ${namespace}` : ''}`;
}

function toError(response: Response, target: string, server: string): KubernetesError {
  const status = response.body as { kind?: string; reason?: string; message?: string } | string | undefined;
  const reason = typeof status === 'object' && status?.reason ? status.reason : statusReason(response.status);
  const detail =
    typeof status === 'object' && status?.message
      ? status.message
      : typeof status === 'string'
        ? status.trim().slice(0, 200)
        : '';
  const error = new KubernetesError(
    response.status,
    reason,
    `Kubernetes API ${server} answered ${response.status} ${reason} for ${target}${detail ? `: ${detail}` : ''}`,
    target,
  );
  const retryAfter = Number(response.headers.get('retry-after'));
  if (Number.isFinite(retryAfter) && retryAfter > 0) error.retryAfterMs = Math.min(retryAfter, 30) * 1000;
  return error;
}

function statusReason(status: number): string {
  switch (status) {
    case 401:
      return 'Unauthorized';
    case 403:
      return 'Forbidden';
    case 404:
      return 'NotFound';
    case 409:
      return 'Conflict';
    case 429:
      return 'TooManyRequests';
    default:
      return status >= 500 ? 'InternalError' : 'BadRequest';
  }
}

function isConnectionError(error: unknown): boolean {
  const text = errorText(error);
  return /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|UND_ERR|socket|fetch failed|other side closed|TimeoutError|aborted due to timeout/i.test(
    text,
  );
}

function errorText(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';
    return `${error.name}: ${error.message}${cause}`;
  }
  return String(error);
}

/** A request with retries (inside createKubernetesCluster). */
type Call = (
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  url: URL,
  body: unknown,
  contentType: string | undefined,
  meta: { verb: string; ref: ResourceRef; namespace?: string; name?: string; retryConflicts?: boolean },
) => Promise<Response>;

/** What the writes need of the cluster's requests: the call and its URLs. */
type Api = {
  call: Call;
  collectionUrl(ref: ResourceRef, namespace: string | undefined, query?: Record<string, string | undefined>): URL;
  objectUrl(
    ref: ResourceRef,
    namespace: string | undefined,
    name: string,
    query?: Record<string, string | undefined>,
  ): URL;
};

/** One write: create, patch, replace or delete (an object already gone is `undefined`). */
async function performMutation(api: Api, mutation: Mutation): Promise<KubeObject | undefined> {
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
async function reviewAccess(api: Api, checks: readonly PermissionCheck[]): Promise<PermissionCheck[]> {
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
