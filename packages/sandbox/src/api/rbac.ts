/**
 * Authorization as kube-apiserver's RBAC authorizer decides it (plugin/pkg/auth/authorizer/rbac
 * and pkg/registry/rbac/validation `VisitRulesFor`), from the Roles, ClusterRoles, RoleBindings
 * and ClusterRoleBindings in the store:
 * - ClusterRoleBindings grant their ClusterRole everywhere; RoleBindings grant their Role or
 *   ClusterRole in their own namespace only.
 * - A subject applies by kind: User by name, Group by membership, ServiceAccount as
 *   `system:serviceaccount:<ns>:<name>` (a RoleBinding's subject without namespace is in the
 *   binding's namespace).
 * - A rule allows a resource request when its verbs, apiGroups, resources (`<resource>`,
 *   `<resource>/<subresource>`, `*`, `*\/<subresource>`) and resourceNames (empty = any) all
 *   match; a non-resource request when its verbs and nonResourceURLs (`*` suffix) match.
 * - The first allowing rule answers `RBAC: allowed by <binding> of <role> to <subject>`; no
 *   allowing rule is "no opinion", and the request is denied, its reason listing the bindings
 *   whose role does not exist. Aggregated ClusterRoles are not expanded.
 * - `system:masters` is always allowed (the privileged-group authorizer in front of RBAC).
 *
 * In mode `allow-all` (the default) every request is allowed, as before RBAC enforcement existed.
 */
import type { KubeObject, ResourceType, Store } from '../store.ts';
import { cloneJson } from '../clone.ts';

export type UserInfo = { username: string; groups: string[]; uid?: string };

/** Who a request without a token is (see api-server.ts), and the admin kubeconfig's user. */
export const ADMIN_USER: UserInfo = { username: 'system:admin', groups: ['system:masters', 'system:authenticated'] };

export type RbacMode = 'allow-all' | 'enforce';

export type RequestAttributes = {
  user: UserInfo;
  verb: string;
  resourceRequest: boolean;
  /** Non-resource requests: the URL path. */
  path?: string;
  apiGroup?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
};

export type Decision = { allowed: boolean; reason: string };

export type Authorizer = {
  readonly mode: RbacMode;
  authorize(attributes: RequestAttributes): Decision;
};

type Rule = {
  verbs?: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
};
type Subject = { kind?: string; name?: string; namespace?: string; apiGroup?: string };
type RoleRef = { kind?: string; name?: string; apiGroup?: string };

const matchesAny = (values: readonly string[] | undefined, value: string) =>
  (values ?? []).some((v) => v === '*' || v === value);

function resourceMatches(rule: Rule, resource: string, subresource: string | undefined): boolean {
  const combined = subresource ? `${resource}/${subresource}` : resource;
  for (const r of rule.resources ?? []) {
    if (r === '*' || r === combined) return true;
    if (subresource && r === `*/${subresource}`) return true;
  }
  return false;
}

function urlMatches(rule: Rule, path: string): boolean {
  return (rule.nonResourceURLs ?? []).some(
    (url) => url === '*' || url === path || (url.endsWith('*') && path.startsWith(url.replace(/\*+$/, ''))),
  );
}

/** `RuleAllows` of the RBAC authorizer. */
export function ruleAllows(attributes: RequestAttributes, rule: Rule): boolean {
  if (!matchesAny(rule.verbs, attributes.verb)) return false;
  if (!attributes.resourceRequest) return urlMatches(rule, attributes.path ?? '');
  if (!matchesAny(rule.apiGroups, attributes.apiGroup ?? '')) return false;
  if (!resourceMatches(rule, attributes.resource ?? '', attributes.subresource)) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || names.includes(attributes.name ?? '');
}

function appliesTo(user: UserInfo, subject: Subject, bindingNamespace: string): boolean {
  switch (subject.kind) {
    case 'User':
      return subject.name === user.username;
    case 'Group':
      return user.groups.includes(subject.name ?? '');
    case 'ServiceAccount': {
      const namespace = subject.namespace || bindingNamespace;
      return namespace !== '' && user.username === `system:serviceaccount:${namespace}:${subject.name ?? ''}`;
    }
    default:
      return false;
  }
}

function describeSubject(subject: Subject, bindingNamespace: string): string {
  if (subject.kind === 'ServiceAccount')
    return `ServiceAccount ${JSON.stringify(`${subject.name ?? ''}/${subject.namespace || bindingNamespace}`)}`;
  return `${subject.kind ?? ''} ${JSON.stringify(subject.name ?? '')}`;
}

function rbacType(store: Store, plural: string): ResourceType | undefined {
  return store.findType('rbac.authorization.k8s.io', plural);
}

export function createAuthorizer(store: Store, mode: RbacMode): Authorizer {
  const roleRules = (ref: RoleRef, namespace: string): Rule[] | string => {
    const plural = ref.kind === 'Role' ? 'roles' : 'clusterroles';
    const type = rbacType(store, plural);
    const role = type ? store.tryGet(type, ref.kind === 'Role' ? namespace : undefined, ref.name ?? '') : undefined;
    if (!role)
      return `${plural === 'roles' ? 'role' : 'clusterrole'}.rbac.authorization.k8s.io "${ref.name ?? ''}" not found`;
    return Array.isArray(role.rules) ? (role.rules as Rule[]) : [];
  };

  const visitBindings = (
    bindings: readonly KubeObject[],
    namespace: string,
    attributes: RequestAttributes,
    errors: string[],
    kind: 'ClusterRoleBinding' | 'RoleBinding',
  ): string | undefined => {
    for (const binding of bindings) {
      const subjects = (binding.subjects as Subject[] | undefined) ?? [];
      const subject = subjects.find((s) => appliesTo(attributes.user, s, namespace));
      if (!subject) continue;
      const ref = (binding.roleRef ?? {}) as RoleRef;
      const rules = roleRules(ref, namespace);
      if (typeof rules === 'string') {
        errors.push(rules);
        continue;
      }
      if (!rules.some((rule) => ruleAllows(attributes, rule))) continue;
      const name =
        kind === 'RoleBinding' ? `${binding.metadata.name ?? ''}/${namespace}` : (binding.metadata.name ?? '');
      return `RBAC: allowed by ${kind} ${JSON.stringify(name)} of ${ref.kind ?? ''} ${JSON.stringify(ref.name ?? '')} to ${describeSubject(subject, namespace)}`;
    }
    return undefined;
  };

  return {
    mode,
    authorize(attributes) {
      if (mode === 'allow-all') return { allowed: true, reason: '' };
      if (attributes.user.groups.includes('system:masters')) return { allowed: true, reason: '' };
      const errors: string[] = [];
      const crbType = rbacType(store, 'clusterrolebindings');
      const cluster = crbType ? store.list(crbType).items : [];
      const byCluster = visitBindings(cluster, '', attributes, errors, 'ClusterRoleBinding');
      if (byCluster) return { allowed: true, reason: byCluster };
      const namespace = attributes.namespace ?? '';
      const rbType = rbacType(store, 'rolebindings');
      if (namespace !== '' && rbType) {
        const local = store.list(rbType, { namespace }).items;
        const byRole = visitBindings(local, namespace, attributes, errors, 'RoleBinding');
        if (byRole) return { allowed: true, reason: byRole };
      }
      const unique = [...new Set(errors)];
      const reason = unique.length === 0 ? '' : `RBAC: ${unique.length === 1 ? unique[0] : `[${unique.join(', ')}]`}`;
      return { allowed: false, reason };
    },
  };
}

/** `forbiddenMessage` of k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go. */
export function forbiddenMessage(attributes: RequestAttributes): string {
  const user = attributes.user.username;
  if (!attributes.resourceRequest)
    return `User ${JSON.stringify(user)} cannot ${attributes.verb} path ${JSON.stringify(attributes.path ?? '')}`;
  const resource = attributes.subresource
    ? `${attributes.resource ?? ''}/${attributes.subresource}`
    : (attributes.resource ?? '');
  const head = `User ${JSON.stringify(user)} cannot ${attributes.verb} resource ${JSON.stringify(resource)} in API group ${JSON.stringify(attributes.apiGroup ?? '')}`;
  return attributes.namespace
    ? `${head} in the namespace ${JSON.stringify(attributes.namespace)}`
    : `${head} at the cluster scope`;
}

const BOOTSTRAP_META = {
  labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' },
  annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'true' },
};

/**
 * The bootstrap roles every cluster has that matter to an authenticated client
 * (plugin/pkg/auth/authorizer/rbac/bootstrappolicy): cluster-admin for system:masters, discovery
 * and public info for everyone, and `create` on self reviews for every authenticated user.
 */
export function bootstrapPolicy(): { clusterRoles: KubeObject[]; clusterRoleBindings: KubeObject[] } {
  const role = (name: string, rules: Rule[]): KubeObject => ({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name, ...cloneJson(BOOTSTRAP_META) },
    rules,
  });
  const group = (name: string) => ({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name });
  const binding = (name: string, subjects: Subject[]): KubeObject => ({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name, ...cloneJson(BOOTSTRAP_META) },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
    subjects,
  });
  return {
    clusterRoles: [
      role('cluster-admin', [
        { apiGroups: ['*'], resources: ['*'], verbs: ['*'] },
        { nonResourceURLs: ['*'], verbs: ['*'] },
      ]),
      role('system:discovery', [
        {
          nonResourceURLs: [
            '/api',
            '/api/*',
            '/apis',
            '/apis/*',
            '/healthz',
            '/livez',
            '/openapi',
            '/openapi/*',
            '/readyz',
            '/version',
            '/version/',
          ],
          verbs: ['get'],
        },
      ]),
      role('system:public-info-viewer', [
        { nonResourceURLs: ['/healthz', '/livez', '/readyz', '/version', '/version/'], verbs: ['get'] },
      ]),
      role('system:basic-user', [
        {
          apiGroups: ['authorization.k8s.io'],
          resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'],
          verbs: ['create'],
        },
        { apiGroups: ['authentication.k8s.io'], resources: ['selfsubjectreviews'], verbs: ['create'] },
      ]),
    ],
    clusterRoleBindings: [
      binding('cluster-admin', [group('system:masters')]),
      binding('system:discovery', [group('system:authenticated')]),
      binding('system:public-info-viewer', [group('system:authenticated'), group('system:unauthenticated')]),
      binding('system:basic-user', [group('system:authenticated')]),
    ],
  };
}
