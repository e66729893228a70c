/**
 * SelfSubjectAccessReview: computed, never stored. Everything is allowed unless a rule of the
 * server's live deny list matches (`*` matches anything), so scenarios can take permissions away.
 */
import type { KubeObject } from '../store.ts';

export type AccessRule = { verb: string; group: string; resource: string };

type Attributes = {
  verb?: string;
  group?: string;
  resource?: string;
  namespace?: string;
  name?: string;
  subresource?: string;
};

function matchesRule(rule: AccessRule, attributes: Attributes): boolean {
  const eq = (pattern: string, value: string | undefined) => pattern === '*' || pattern === (value ?? '');
  return eq(rule.verb, attributes.verb) && eq(rule.group, attributes.group) && eq(rule.resource, attributes.resource);
}

export function reviewAccess(review: KubeObject, denied: readonly AccessRule[]): KubeObject {
  const spec = (review.spec ?? {}) as { resourceAttributes?: Attributes; nonResourceAttributes?: unknown };
  const attributes = spec.resourceAttributes;
  const rule = attributes ? denied.find((r) => matchesRule(r, attributes)) : undefined;
  const status = rule
    ? {
        allowed: false,
        denied: true,
        reason: `denied by the sandbox: ${rule.verb} ${rule.resource}${rule.group ? `.${rule.group}` : ''}`,
      }
    : { allowed: true, reason: 'allowed by the sandbox' };
  return {
    kind: 'SelfSubjectAccessReview',
    apiVersion: 'authorization.k8s.io/v1',
    metadata: { creationTimestamp: null } as unknown as KubeObject['metadata'],
    spec,
    status,
  };
}
