/**
 * URL shapes of the Kubernetes REST API:
 *   /api/v1[/namespaces/{ns}]/{plural}[/{name}[/{subresource}]]
 *   /apis/{group}/{version}[/namespaces/{ns}]/{plural}[/{name}[/{subresource}]]
 * plus the deprecated `/watch/` prefix form. `/api/v1/namespaces/{name}[/status]` is the
 * namespace itself, not a namespaced collection.
 */
export type ResourceRoute = {
  group: string;
  version: string;
  plural: string;
  namespace?: string;
  name?: string;
  subresource?: string;
  /** The legacy `/watch/` path prefix was used. */
  watchPath: boolean;
};

export type Route =
  | { kind: 'resource'; route: ResourceRoute }
  | { kind: 'groupVersion'; group: string; version: string }
  | { kind: 'group'; group: string }
  | { kind: 'root'; legacy: boolean }
  | { kind: 'unknown' };

const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

export function parseRoute(pathname: string): Route {
  const segments = pathname
    .split('/')
    .filter((s) => s !== '')
    .map(decodeURIComponent);
  if (segments[0] === 'api') {
    if (segments.length === 1) return { kind: 'root', legacy: true };
    if (segments[1] !== 'v1') return { kind: 'unknown' };
    if (segments.length === 2) return { kind: 'groupVersion', group: '', version: 'v1' };
    return resourceRoute('', 'v1', segments.slice(2));
  }
  if (segments[0] === 'apis') {
    if (segments.length === 1) return { kind: 'root', legacy: false };
    const group = segments[1] as string;
    if (segments.length === 2) return { kind: 'group', group };
    const version = segments[2] as string;
    if (segments.length === 3) return { kind: 'groupVersion', group, version };
    return resourceRoute(group, version, segments.slice(3));
  }
  return { kind: 'unknown' };
}

function resourceRoute(group: string, version: string, input: string[]): Route {
  let rest = input;
  let watchPath = false;
  if (rest[0] === 'watch') {
    watchPath = true;
    rest = rest.slice(1);
  }
  let namespace: string | undefined;
  const isNamespaceItself =
    group === '' &&
    rest[0] === 'namespaces' &&
    (rest.length <= 2 || (rest.length === 3 && NAMESPACE_SUBRESOURCES.has(rest[2] as string)));
  if (rest[0] === 'namespaces' && rest.length >= 3 && !isNamespaceItself) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  if (rest.length === 0 || rest.length > 3) return { kind: 'unknown' };
  const route: ResourceRoute = { group, version, plural: rest[0] as string, watchPath };
  if (namespace !== undefined) route.namespace = namespace;
  if (rest[1] !== undefined) route.name = rest[1];
  if (rest[2] !== undefined) route.subresource = rest[2];
  return { kind: 'resource', route };
}

/** The Kubernetes verb of a resource request (what RBAC and the request log count). */
export function verbOf(method: string, route: ResourceRoute, watch: boolean): string {
  switch (method) {
    case 'GET':
    case 'HEAD':
      if (watch || route.watchPath) return 'watch';
      return route.name === undefined ? 'list' : 'get';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return route.name === undefined ? 'deletecollection' : 'delete';
    default:
      return method.toLowerCase();
  }
}

export function isWatchParam(value: string | null): boolean {
  return value === 'true' || value === '1';
}
