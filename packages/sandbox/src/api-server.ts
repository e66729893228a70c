/**
 * The sandbox's Kubernetes API server: the real REST API over plain HTTP on loopback, enough of
 * it that the real kubectl 1.32 and @kubernetes/client-node 2.x work unchanged (discovery,
 * OpenAPI v3, Tables, metadata-only output, CRUD with patches, status subresources, watches,
 * Status errors), plus authentication with ServiceAccount tokens, RBAC (when enforced),
 * injectable faults and a request log for tests and benchmarks.
 *
 * Authentication: a bearer token is the admin token of the sandbox kubeconfig, or a
 * ServiceAccount token issued by the TokenRequest API; anything else is 401 when RBAC is
 * enforced. A request without credentials is the admin, as on kube-apiserver's old insecure
 * port: kubectl sends no token to an http:// server (wire reference §0.2).
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
import { ApiError, internalError, resourceNotFound, toApiError } from './api/status.ts';
import { sendError, sendJson, sendPageNotFound, sendText } from './api/respond.ts';
import { createDice, decideFault, delay, latencyFor, noFaults, type ApiFaults } from './api/faults.ts';
import { handleResource, type ResourceContext } from './api/resource-handler.ts';
import type { OpenWatch } from './api/watch.ts';
import type { AccessRule } from './api/access-review.ts';
import {
  ADMIN_USER,
  bootstrapPolicy,
  createAuthorizer,
  forbiddenMessage,
  type RbacMode,
  type RequestAttributes,
  type UserInfo,
} from './api/rbac.ts';
import { createTokenIssuer, type IssuedToken } from './api/tokens.ts';
import { ADMIN_TOKEN } from './kubeconfig.ts';

export type { ApiFaults, FaultCode } from './api/faults.ts';
export type { AccessRule } from './api/access-review.ts';
export type { RbacMode, UserInfo } from './api/rbac.ts';

export type ApiServerOptions = {
  store: Store;
  /** Default '127.0.0.1'; anything that is not loopback is refused. */
  host?: string;
  /** Default 0 (ephemeral). */
  port?: number;
  /** Injected faults; the object is live (mutate it to turn faults on and off, then `reseedFaults`). */
  faults?: ApiFaults;
  /** Real ms between BOOKMARKs on watches that allow them. Default 60000, as kube-apiserver. */
  bookmarkIntervalMs?: number;
  /** `enforce`: requests are authorized against the RBAC objects in the store. Default `allow-all`. */
  rbac?: RbacMode;
  /** SelfSubjectAccessReview answers allowed=false for these (`*` wildcards); the array is live. */
  denied?: AccessRule[];
  /** Where handler exceptions are logged (once each). Default: console.error. */
  log?: (message: string, error: unknown) => void;
  /** Real ms admission webhooks spent timing out during the last write, then reset (from admission). */
  admissionDelayMs?: () => number;
};

export type RecordedRequest = {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  /** The object's name: from the URL, or for a create the name of the object stored (as kube-apiserver's audit log names it). */
  name?: string;
  status: number;
  userAgent?: string;
  /** The Accept header: which form of the answer was asked for (JSON, PartialObjectMetadata, Table...). */
  accept?: string;
  /** Who the request was authenticated as. */
  user: string;
  /** The URL path (non-resource requests such as discovery have an empty `resource`). */
  path: string;
  /** The URL's query string without its `?`, when it had one (selectors, paging, `watch`). */
  query?: string;
  /** An injected fault that shaped the answer (`reset`, `lost-response`, or the error code). */
  fault?: string;
};

export type ApiServer = {
  url: string;
  port: number;
  faults: ApiFaults;
  denied: AccessRule[];
  rbac: RbacMode;
  requests: RecordedRequest[];
  resetRequests(): void;
  /** Restarts the fault dice from `faults.seed` (after the faults changed). */
  reseedFaults(): void;
  /** A ServiceAccount token, as `POST .../serviceaccounts/<name>/token` returns it. */
  issueToken(namespace: string, serviceAccount: string, options?: { expirationSeconds?: number }): IssuedToken;
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

/** Writes the bootstrap ClusterRoles and bindings a real cluster starts with (when missing). */
function seedBootstrapPolicy(store: Store): void {
  const { clusterRoles, clusterRoleBindings } = bootstrapPolicy();
  for (const [plural, objects] of [
    ['clusterroles', clusterRoles],
    ['clusterrolebindings', clusterRoleBindings],
  ] as const) {
    const type = store.findType('rbac.authorization.k8s.io', plural);
    if (!type) continue;
    for (const object of objects)
      if (!store.tryGet(type, undefined, object.metadata.name ?? '')) store.create(type, undefined, object);
  }
}

/** The list/watch of a single object by `fieldSelector=metadata.name=x` names it (RequestInfo). */
function nameFromFieldSelector(query: URLSearchParams): string | undefined {
  const selector = query.get('fieldSelector');
  if (!selector) return undefined;
  const parts = selector.split(',').map((p) => p.trim());
  const name = parts.map((p) => /^metadata\.name==?(.*)$/.exec(p)?.[1]).find((v) => v !== undefined);
  return name;
}

function unauthorized(): ApiError {
  return new ApiError(401, 'Unauthorized', 'Unauthorized');
}

function forbidden(attributes: RequestAttributes, reason: string): ApiError {
  const message = reason ? `${forbiddenMessage(attributes)}: ${reason}` : forbiddenMessage(attributes);
  if (!attributes.resourceRequest) return new ApiError(403, 'Forbidden', `forbidden: ${message}`, {});
  const group = attributes.apiGroup ?? '';
  const resource = attributes.resource ?? '';
  const qualified = group ? `${resource}.${group}` : resource;
  const subject = attributes.name ? `${qualified} ${JSON.stringify(attributes.name)}` : qualified;
  return new ApiError(403, 'Forbidden', `${subject} is forbidden: ${message}`, {
    ...(attributes.name ? { name: attributes.name } : {}),
    ...(group ? { group } : {}),
    kind: resource,
  });
}

export async function createApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const host = options.host ?? '127.0.0.1';
  if (!LOOPBACK.has(host)) throw new Error(`the sandbox API server only listens on loopback, not ${host}`);
  const faults = options.faults ?? noFaults();
  const dice = createDice(faults.seed);
  const denied = options.denied ?? [];
  const rbac = options.rbac ?? 'allow-all';
  const log = options.log ?? ((message: string, error: unknown) => console.error(message, error));
  const requests: RecordedRequest[] = [];
  const extras: Extra[] = [];
  const watches = new Set<OpenWatch>();
  const authorizer = createAuthorizer(options.store, rbac);
  const tokens = createTokenIssuer(options.store);
  if (rbac === 'enforce') seedBootstrapPolicy(options.store);
  const ctx: ResourceContext = {
    store: options.store,
    denied: () => denied,
    authorizer,
    tokens,
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? 60_000,
    watchFaults: () => faults.watch ?? {},
    watches,
    takeAdmissionDelay: options.admissionDelayMs ?? (() => 0),
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

  function authenticate(req: IncomingMessage): UserInfo {
    const header = req.headers.authorization;
    if (!header) return ADMIN_USER;
    const token = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim() ?? '';
    if (token === ADMIN_TOKEN) return ADMIN_USER;
    const user = tokens.authenticate(token);
    if (user) return user;
    // Without enforcement any credential is the admin, as the sandbox always accepted.
    if (rbac === 'allow-all') return ADMIN_USER;
    throw unauthorized();
  }

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sandbox.invalid');
    for (const extra of extras) if (await extra(req, res)) return;
    const record: RecordedRequest = {
      verb: (req.method ?? 'GET').toLowerCase(),
      group: '',
      resource: '',
      status: 0,
      user: '',
      path: url.pathname,
    };
    if (req.headers['user-agent']) record.userAgent = req.headers['user-agent'];
    if (req.headers.accept) record.accept = req.headers.accept;
    if (url.search) record.query = url.search.slice(1);
    try {
      await delay(latencyFor(faults, dice));
      const user = authenticate(req);
      record.user = user.username;
      await dispatch(req, res, url, record, user);
    } catch (error) {
      const apiError = toApiError(error);
      if (!apiError) log(`sandbox api: ${req.method ?? ''} ${url.pathname} failed`, error);
      if (res.headersSent) res.destroy();
      else sendError(res, apiError ?? internalError(error));
    }
    if (record.status === 0 && record.fault === undefined) record.status = res.statusCode;
    requests.push(record);
  }

  function authorizePath(path: string, method: string, user: UserInfo): void {
    const attributes: RequestAttributes = { user, verb: method.toLowerCase(), resourceRequest: false, path };
    const decision = authorizer.authorize(attributes);
    if (!decision.allowed) throw forbidden(attributes, decision.reason);
  }

  async function dispatch(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    record: RecordedRequest,
    user: UserInfo,
  ): Promise<void> {
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const route = parseRoute(path);
    if (route.kind !== 'resource') authorizePath(url.pathname, req.method ?? 'GET', user);
    if (path === '/version') return sendJson(res, 200, VERSION);
    if (path === '/healthz' || path === '/readyz' || path === '/livez' || /^\/(healthz|readyz|livez)\//.test(path))
      return sendText(res, 200, 'ok');
    if (path === '/openapi/v3') return sendJson(res, 200, openApiIndex(ctx.store));
    if (path.startsWith('/openapi/v3/')) {
      const doc = openApiDocument(ctx.store, path.slice('/openapi/v3/'.length));
      return doc ? sendJson(res, 200, doc) : sendPageNotFound(res);
    }
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
        return dispatchResource(req, res, url, route.route, record, user);
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
    user: UserInfo,
  ): Promise<void> {
    const verb = verbOf(req.method ?? 'GET', route, isWatchParam(url.searchParams.get('watch')));
    Object.assign(record, { verb, group: route.group, resource: route.plural });
    if (route.subresource !== undefined) record.subresource = route.subresource;
    if (route.namespace !== undefined) record.namespace = route.namespace;
    if (route.name !== undefined) record.name = route.name;
    // Authorization comes before routing, as in kube-apiserver's filter chain.
    const name =
      route.name ?? (verb === 'list' || verb === 'watch' ? nameFromFieldSelector(url.searchParams) : undefined);
    const attributes: RequestAttributes = {
      user,
      verb,
      resourceRequest: true,
      apiGroup: route.group,
      resource: route.plural,
      ...(route.subresource !== undefined ? { subresource: route.subresource } : {}),
      ...(route.namespace !== undefined ? { namespace: route.namespace } : {}),
      ...(name !== undefined ? { name } : {}),
    };
    const decision = authorizer.authorize(attributes);
    if (!decision.allowed) throw forbidden(attributes, decision.reason);
    const served = resolveServed(ctx.store, route.group, route.version, route.plural);
    if (!served) {
      if (!apiResourceList(ctx.store, route.group, route.version)) return sendPageNotFound(res);
      throw resourceNotFound();
    }
    const fault = decideFault(faults, dice, {
      verb,
      resourceKey: served.key,
      group: served.group,
      plural: served.plural,
      ...(route.name ? { name: route.name } : {}),
    });
    if (fault.reset) {
      record.fault = 'reset';
      return resetMidResponse(res);
    }
    if (fault.error) {
      record.fault = String(fault.error.code);
      throw fault.error;
    }
    if (fault.lose) {
      record.fault = 'lost-response';
      loseResponse(res, fault.lose, faults.hangMs ?? 60_000);
    }
    const created = (name: string) => void (record.name ??= name);
    await handleResource(ctx, { req, res, route, served, query: url.searchParams, verb, user, created });
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
    rbac,
    requests,
    resetRequests: () => {
      requests.length = 0;
    },
    reseedFaults: () => dice.reseed(faults.seed),
    issueToken: (namespace, serviceAccount, tokenOptions) => tokens.issue(namespace, serviceAccount, tokenOptions),
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

/** A connection reset mid-response: headers and part of a body, then the socket goes. */
function resetMidResponse(res: ServerResponse): void {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '4096' });
  res.write('{"kind":');
  res.socket?.destroy();
}

/** The write is applied; its response never arrives (reset, or silence until `hangMs`). */
function loseResponse(res: ServerResponse, mode: 'reset' | 'hang', hangMs: number): void {
  const socket = res.socket;
  res.writeHead = (() => res) as unknown as ServerResponse['writeHead'];
  res.write = (() => true) as unknown as ServerResponse['write'];
  res.end = (() => {
    if (mode === 'reset') socket?.destroy();
    else {
      const timer = setTimeout(() => socket?.destroy(), hangMs);
      socket?.once('close', () => clearTimeout(timer));
    }
    return res;
  }) as unknown as ServerResponse['end'];
}
