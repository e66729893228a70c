/**
 * SelfSubjectAccessReview and SubjectAccessReview: computed, never stored, answered by the same
 * authorizer that guards requests (rbac.ts): the requester's identity for the self review,
 * `spec.user`/`spec.groups` for the other. With `allowed: false` the status carries the
 * authorizer's reason only when it has one, and `denied` only for an explicit deny.
 *
 * On top of the authorizer, the server's live deny list (`*` wildcards) answers `allowed: false,
 * denied: true` for the rules it names, so tests can take a permission away from the precheck
 * without writing RBAC objects.
 */
import type { KubeObject } from '../store.ts';
import type { Authorizer, RequestAttributes, UserInfo } from './rbac.ts';

export type AccessRule = { verb: string; group: string; resource: string };

type ResourceAttributes = {
  verb?: string;
  group?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
};
type NonResourceAttributes = { verb?: string; path?: string };
type ReviewSpec = {
  resourceAttributes?: ResourceAttributes;
  nonResourceAttributes?: NonResourceAttributes;
  user?: string;
  groups?: string[];
  uid?: string;
};

function matchesRule(rule: AccessRule, attributes: ResourceAttributes): boolean {
  const eq = (pattern: string, value: string | undefined) => pattern === '*' || pattern === (value ?? '');
  return eq(rule.verb, attributes.verb) && eq(rule.group, attributes.group) && eq(rule.resource, attributes.resource);
}

function attributesOf(spec: ReviewSpec, user: UserInfo): RequestAttributes | undefined {
  const r = spec.resourceAttributes;
  if (r)
    return {
      user,
      verb: r.verb ?? '',
      resourceRequest: true,
      apiGroup: r.group ?? '',
      resource: r.resource ?? '',
      ...(r.subresource ? { subresource: r.subresource } : {}),
      ...(r.namespace ? { namespace: r.namespace } : {}),
      ...(r.name ? { name: r.name } : {}),
    };
  const n = spec.nonResourceAttributes;
  if (n) return { user, verb: n.verb ?? '', resourceRequest: false, path: n.path ?? '' };
  return undefined;
}

export function reviewAccess(
  kind: string,
  review: KubeObject,
  requester: UserInfo,
  authorizer: Authorizer,
  denied: readonly AccessRule[],
): KubeObject {
  const spec = (review.spec ?? {}) as ReviewSpec;
  const subject: UserInfo =
    kind === 'SubjectAccessReview'
      ? { username: spec.user ?? '', groups: spec.groups ?? [], ...(spec.uid ? { uid: spec.uid } : {}) }
      : requester;
  const rule = spec.resourceAttributes ? denied.find((r) => matchesRule(r, spec.resourceAttributes ?? {})) : undefined;
  let status: Record<string, unknown>;
  if (rule) {
    status = {
      allowed: false,
      denied: true,
      reason: `denied by the sandbox: ${rule.verb} ${rule.resource}${rule.group ? `.${rule.group}` : ''}`,
    };
  } else {
    const attributes = attributesOf(spec, subject);
    const decision = attributes ? authorizer.authorize(attributes) : { allowed: false, reason: '' };
    const reason = authorizer.mode === 'allow-all' && decision.allowed ? 'allowed by the sandbox' : decision.reason;
    status = { allowed: decision.allowed, ...(reason ? { reason } : {}) };
  }
  return {
    kind,
    apiVersion: 'authorization.k8s.io/v1',
    metadata: { creationTimestamp: null } as unknown as KubeObject['metadata'],
    spec,
    status,
  };
}
