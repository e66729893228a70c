/**
 * Requests to the Kubernetes API: authentication from client-node's configuration, one connection
 * pool, a bound on requests in flight, retries on throttling, server errors and lost connections,
 * errors carrying the server's reason and the port's kind, and a record of every request by verb
 * and resource (tests and benchmarks count them).
 */
import { HttpMethod, RequestContext, type KubeConfig } from './client-node.ts';
import { request, type Dispatcher } from 'undici';
import { ClusterError, type ClusterErrorKind, type KubeObject, type ResourceRef } from '../../ports/cluster.ts';
import { createLimiter } from '../../lib/concurrency.ts';
import { withRetry, type RetryPolicy } from '../retry.ts';

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

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Response headers as undici gives them: lower-case names. */
export type ResponseHeaders = Record<string, string | string[] | undefined>;

export type Response = { status: number; body: unknown; headers: ResponseHeaders };

/** What a request is about, for the record, retries and messages. */
export type RequestMeta = {
  verb: string;
  ref: ResourceRef;
  namespace?: string;
  name?: string;
  retryConflicts?: boolean;
  /** The Accept header (default `application/json`), e.g. a metadata-only list. */
  accept?: string;
};

/** Accept for a list of metadata only (PartialObjectMetadataList), falling back to nothing: a server that cannot answers 406. */
export const METADATA_LIST_ACCEPT = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';
/** Accept for a watch whose events carry metadata only (PartialObjectMetadata). */
export const METADATA_ACCEPT = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';
/**
 * Accept for a write whose answer is read for its metadata only: PartialObjectMetadata, or the
 * whole object from a server that cannot transform (the first acceptable type wins).
 */
export const WRITE_METADATA_ACCEPT = `${METADATA_ACCEPT},application/json`;

/** One request: what is sent, and what it is about. */
export type ApiRequest = { method: Method; url: URL; body?: unknown; contentType?: string; meta: RequestMeta };

/** Query parameters; empty and undefined values are left out. */
export type Query = Record<string, string | undefined>;

/** The requests every part of the adapter sends through. */
export type Api = {
  readonly server: string;
  readonly requests: RequestRecord[];
  /** Sends with retries; an answer of 400 or more becomes a `KubernetesError`. */
  call(request: ApiRequest): Promise<Response>;
  collectionUrl(ref: ResourceRef, namespace: string | undefined, query?: Query): URL;
  objectUrl(ref: ResourceRef, namespace: string | undefined, name: string, query?: Query): URL;
};

export type TransportOptions = {
  config: KubeConfig;
  server: string;
  retry: RetryPolicy;
  concurrency: number;
  requestTimeoutMs: number;
  userAgent: string;
};

const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);

export function createApi(options: TransportOptions): Api {
  const { config, server, retry, requestTimeoutMs, userAgent } = options;
  const limit = createLimiter(options.concurrency);
  const requests: RequestRecord[] = [];
  // One connection pool for every request: client-node's applySecurityAuthentication builds a new
  // undici Agent on each call, and a request sent through a fresh Agent opens (with TLS, also
  // handshakes) its own connection, which then idles until keep-alive expiry. In a wave of
  // thousands of patches that was thousands of sockets and their buffers (the bench measured
  // 512 MiB peak RSS at 200 x 10).
  let dispatcher: Dispatcher | undefined;
  // Authentication headers: a user whose credentials cannot change while revroll runs (a token,
  // basic auth or a client certificate written in the kubeconfig) gets them computed once.
  // applySecurityAuthentication re-reads the CA and key files and builds an Agent on every call,
  // the larger part of a small request's CPU. Exec plugins and auth providers (OIDC, the
  // in-cluster token file, which the kubelet rotates) are asked on every request, as they must be.
  const user = config.getCurrentUser();
  const staticCredentials = !user?.exec && !user?.authProvider;
  let staticHeaders: Promise<Record<string, string>> | undefined;

  async function authHeaders(url: URL, method: Method): Promise<Record<string, string>> {
    const compute = async () => {
      const context = new RequestContext(url.toString(), HttpMethod[method]);
      await config.applySecurityAuthentication(context);
      dispatcher ??= context.getDispatcher() as Dispatcher | undefined;
      return context.getHeaders();
    };
    if (!staticCredentials) return compute();
    staticHeaders ??= compute();
    staticHeaders.catch(() => (staticHeaders = undefined));
    return staticHeaders;
  }

  async function send({ method, url, body, contentType, meta }: ApiRequest): Promise<Response> {
    return limit(async () => {
      const headers: Record<string, string> = {
        ...(await authHeaders(url, method)),
        accept: meta.accept ?? 'application/json',
        'user-agent': userAgent,
      };
      if (contentType) headers['content-type'] = contentType;
      let status = 0;
      try {
        // undici's request rather than fetch: no WHATWG Request, Response and streams per call,
        // which were most of a small request's CPU and garbage (a wave sends thousands).
        const response = await request(url, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          ...(dispatcher ? { dispatcher } : {}),
          // undici's own timers (one wheel for every request) rather than an AbortSignal and a
          // timer per request: a silent server is a UND_ERR_HEADERS_TIMEOUT, one that stops
          // mid-answer a UND_ERR_BODY_TIMEOUT, both retried as lost connections.
          headersTimeout: requestTimeoutMs,
          bodyTimeout: requestTimeoutMs,
        });
        status = response.statusCode;
        const text = await response.body.text();
        let parsed: unknown = undefined;
        if (text !== '') {
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = text;
          }
        }
        return { status, body: parsed, headers: response.headers };
      } finally {
        requests.push({
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
  async function call(request: ApiRequest): Promise<Response> {
    const { method, meta } = request;
    const target = describe(meta.ref, meta.namespace, meta.name);
    return withRetry(
      retry,
      async () => {
        const response = await send(request);
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

  return {
    server,
    requests,
    call,
    collectionUrl: (ref, namespace, query) => collectionUrl(server, ref, namespace, query),
    objectUrl: (ref, namespace, name, query) => objectUrl(server, ref, namespace, name, query),
  };
}

export function collectionUrl(server: string, ref: ResourceRef, namespace: string | undefined, query: Query = {}): URL {
  const base = ref.group === '' ? `/api/${ref.version}` : `/apis/${ref.group}/${ref.version}`;
  const ns = ref.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  const url = new URL(`${server}${base}${ns}/${ref.resource}`);
  for (const [key, value] of Object.entries(query))
    if (value !== undefined && value !== '') url.searchParams.set(key, value);
  return url;
}

export function objectUrl(
  server: string,
  ref: ResourceRef,
  namespace: string | undefined,
  name: string,
  query: Query = {},
): URL {
  const url = collectionUrl(server, ref, namespace, query);
  url.pathname += `/${encodeURIComponent(name)}`;
  return url;
}

export function apiVersion(ref: ResourceRef): string {
  return ref.group === '' ? ref.version : `${ref.group}/${ref.version}`;
}

/** List items carry no kind/apiVersion on the wire; put them back so objects are self-describing. */
export function withKind(object: KubeObject, ref: ResourceRef): KubeObject {
  if (object && typeof object === 'object' && (!object.kind || !object.apiVersion)) {
    return { ...object, apiVersion: apiVersion(ref), kind: ref.kind };
  }
  return object;
}

export function describe(ref: ResourceRef, namespace?: string, name?: string): string {
  const resource = ref.group === '' ? ref.resource : `${ref.resource}.${ref.group}`;
  return `${resource}${name ? ` "${name}"` : ''}${namespace ? ` in namespace ${namespace}` : ''}`;
}

export function toError(response: Response, target: string, server: string): KubernetesError {
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
  const header = response.headers['retry-after'];
  const retryAfter = Number(Array.isArray(header) ? header[0] : header);
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
