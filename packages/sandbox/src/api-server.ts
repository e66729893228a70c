/**
 * The sandbox's Kubernetes API server: the real REST API over plain HTTP on loopback, enough of
 * it that the real kubectl 1.32 and @kubernetes/client-node 2.x work unchanged (discovery,
 * OpenAPI v3, Tables, CRUD with patches, status subresources, watches, Status errors), plus
 * injectable faults and a request log for tests and benchmarks.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Store } from './store.ts';
import { parseRoute, verbOf, isWatchParam, type ResourceRoute } from './api/routing.ts';
import { resolveServed } from './api/served.ts';
import {
  aggregatedContentType,
  aggregatedDiscovery,
  apiGroupInfo,
  apiGroupList,
  apiResourceList,
  apiVersions,
} from './api/discovery.ts';
import { openApiDocument, openApiIndex } from './api/openapi.ts';
import { internalError, resourceNotFound, toApiError } from './api/status.ts';
import { sendError, sendJson, sendPageNotFound, sendText } from './api/respond.ts';
import { delay, injectedFault, noFaults, type ApiFaults } from './api/faults.ts';
import { createDefaulter } from './api/defaults.ts';
import { handleResource, type ResourceContext } from './api/resource-handler.ts';
import type { OpenWatch } from './api/watch.ts';
import type { AccessRule } from './api/access-review.ts';

export type { ApiFaults, FaultCode } from './api/faults.ts';
export type { AccessRule } from './api/access-review.ts';

export type ApiServerOptions = {
  store: Store;
  /** Default '127.0.0.1'; anything that is not loopback is refused. */
  host?: string;
  /** Default 0 (ephemeral). */
  port?: number;
  /** Injected faults; the object is live (mutate it to turn faults on and off). */
  faults?: ApiFaults;
  /** Default 5000: a bare "\n" on idle watches (client-node drops a watch after 30 s of silence). */
  watchKeepAliveMs?: number;
  /** SelfSubjectAccessReview answers allowed=false for these (`*` wildcards); the array is live. */
  denied?: AccessRule[];
  /** Where handler exceptions are logged (once each). Default: console.error. */
  log?: (message: string, error: unknown) => void;
};

export type RecordedRequest = {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  status: number;
  userAgent?: string;
  /** The URL path (non-resource requests such as discovery have an empty `resource`). */
  path: string;
};

export type ApiServer = {
  url: string;
  port: number;
  faults: ApiFaults;
  denied: AccessRule[];
  requests: RecordedRequest[];
  resetRequests(): void;
  /** Registers extra HTTP routes, tried before the API's own. Return true if handled. */
  addRoute(handler: (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>): void;
  close(): Promise<void>;
};

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** What the kubectl dispatcher reads to pick its built-in 1.32 (see the wire notes, §0). */
const VERSION = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.4',
  gitCommit: '59526cd4867447956156ae3a602fcbac10a2c335',
  gitTreeState: 'clean',
  buildDate: '2025-04-22T16:02:27Z',
  goVersion: 'go1.23.6',
  compiler: 'gc',
  platform: 'linux/amd64',
};

type Extra = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

export async function createApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const host = options.host ?? '127.0.0.1';
  if (!LOOPBACK.has(host)) throw new Error(`the sandbox API server only listens on loopback, not ${host}`);
  const faults = options.faults ?? noFaults();
  const denied = options.denied ?? [];
  const log = options.log ?? ((message: string, error: unknown) => console.error(message, error));
  const requests: RecordedRequest[] = [];
  const extras: Extra[] = [];
  const watches = new Set<OpenWatch>();
  const ctx: ResourceContext = {
    store: options.store,
    defaulter: createDefaulter(),
    denied: () => denied,
    keepAliveMs: options.watchKeepAliveMs ?? 5000,
    watches,
  };
  let address = '';

  const server = createServer((req, res) => {
    res.setHeader('Cache-Control', 'no-cache, private');
    serve(req, res).catch((error: unknown) => {
      // Only reachable if writing the error response itself failed.
      log('sandbox api: failed to answer a request', error);
      if (!res.headersSent) sendError(res, internalError(error));
      else res.destroy();
    });
  });

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sandbox.invalid');
    for (const extra of extras) if (await extra(req, res)) return;
    const record: RecordedRequest = {
      verb: (req.method ?? 'GET').toLowerCase(),
      group: '',
      resource: '',
      status: 0,
      path: url.pathname,
    };
    if (req.headers['user-agent']) record.userAgent = req.headers['user-agent'];
    try {
      await delay(faults.latencyMs);
      await dispatch(req, res, url, record);
    } catch (error) {
      const apiError = toApiError(error);
      if (!apiError) log(`sandbox api: ${req.method ?? ''} ${url.pathname} failed`, error);
      if (res.headersSent) res.destroy();
      else sendError(res, apiError ?? internalError(error));
    }
    record.status = res.statusCode;
    requests.push(record);
  }

  async function dispatch(req: IncomingMessage, res: ServerResponse, url: URL, record: RecordedRequest): Promise<void> {
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (path === '/version') return sendJson(res, 200, VERSION);
    if (path === '/healthz' || path === '/readyz' || path === '/livez' || /^\/(healthz|readyz|livez)\//.test(path))
      return sendText(res, 200, 'ok');
    if (path === '/openapi/v3') return sendJson(res, 200, openApiIndex(ctx.store));
    if (path.startsWith('/openapi/v3/')) {
      const doc = openApiDocument(ctx.store, path.slice('/openapi/v3/'.length));
      return doc ? sendJson(res, 200, doc) : sendPageNotFound(res);
    }
    const route = parseRoute(path);
    switch (route.kind) {
      case 'root': {
        const aggregated = aggregatedContentType(req.headers.accept);
        if (aggregated)
          return sendJson(res, 200, aggregatedDiscovery(ctx.store, route.legacy, aggregated), {}, aggregated);
        return sendJson(res, 200, route.legacy ? apiVersions(address) : apiGroupList(ctx.store));
      }
      case 'group': {
        const group = apiGroupInfo(ctx.store, route.group);
        return group ? sendJson(res, 200, group) : sendPageNotFound(res);
      }
      case 'groupVersion': {
        const list = apiResourceList(ctx.store, route.group, route.version);
        return list ? sendJson(res, 200, list) : sendPageNotFound(res);
      }
      case 'resource':
        return dispatchResource(req, res, url, route.route, record);
      case 'unknown':
        return sendPageNotFound(res);
    }
  }

  async function dispatchResource(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    route: ResourceRoute,
    record: RecordedRequest,
  ): Promise<void> {
    const verb = verbOf(req.method ?? 'GET', route, isWatchParam(url.searchParams.get('watch')));
    Object.assign(record, { verb, group: route.group, resource: route.plural });
    if (route.subresource !== undefined) record.subresource = route.subresource;
    if (route.namespace !== undefined) record.namespace = route.namespace;
    if (route.name !== undefined) record.name = route.name;
    const served = resolveServed(ctx.store, route.group, route.version, route.plural);
    if (!served) {
      if (!apiResourceList(ctx.store, route.group, route.version)) return sendPageNotFound(res);
      throw resourceNotFound();
    }
    const fault = injectedFault(faults, {
      verb,
      resourceKey: served.key,
      group: served.group,
      plural: served.plural,
      ...(route.name ? { name: route.name } : {}),
    });
    if (fault) throw fault;
    await handleResource(ctx, { req, res, route, served, query: url.searchParams, verb });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const hostInUrl = host.includes(':') ? `[${host}]` : host;
  address = `${hostInUrl}:${port}`;

  return {
    url: `http://${address}`,
    port,
    faults,
    denied,
    requests,
    resetRequests: () => {
      requests.length = 0;
    },
    addRoute: (handler) => {
      extras.push(handler);
    },
    close: async () => {
      for (const watch of [...watches]) watch.end();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
