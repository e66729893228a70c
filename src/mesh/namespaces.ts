/**
 * Moving a namespace between revisions by its injection labels, and putting them back exactly.
 * Only the two keys Istio reads are touched (safety invariant 4); everything else is preserved
 * because the change is a merge patch that names just those keys.
 */
import { Resources, type KubeObject, type Mutation } from '../ports/cluster.ts';
import { Label } from './labels.ts';

/** The injection labels of a namespace as they were before revroll touched it (absent = undefined). */
export type InjectionLabels = { injection?: string; rev?: string };

export function injectionLabels(namespace: KubeObject): InjectionLabels {
  const labels = namespace.metadata.labels ?? {};
  return {
    ...(labels[Label.injection] !== undefined ? { injection: labels[Label.injection] } : {}),
    ...(labels[Label.rev] !== undefined ? { rev: labels[Label.rev] } : {}),
  };
}

/** How a namespace gets its proxies now (reference section 3, precedence). */
export type InjectionMode =
  /** `istio-injection=enabled`: the default revision injects; istio.io/rev is ignored. */
  | { kind: 'default-enabled'; conflictingRev?: string }
  /** `istio-injection` with another value: no injection. */
  | { kind: 'disabled'; value: string }
  /** `istio.io/rev=<name>` (a revision or a tag). */
  | { kind: 'rev'; name: string }
  /** Neither label: only pod-level labels decide. */
  | { kind: 'none' };

export function injectionMode(labels: InjectionLabels): InjectionMode {
  if (labels.injection !== undefined) {
    if (labels.injection === 'enabled')
      return labels.rev !== undefined
        ? { kind: 'default-enabled', conflictingRev: labels.rev }
        : { kind: 'default-enabled' };
    return { kind: 'disabled', value: labels.injection };
  }
  if (labels.rev !== undefined) return { kind: 'rev', name: labels.rev };
  return { kind: 'none' };
}

/** The merge patch that moves a namespace to `target` (a revision or a tag): drop istio-injection, set istio.io/rev. */
export function planMigrateNamespace(name: string, target: string): Mutation {
  return {
    op: 'merge-patch',
    ref: Resources.namespaces,
    name,
    patch: { metadata: { labels: { [Label.injection]: null, [Label.rev]: target } } },
  };
}

/** The merge patch that restores a namespace's injection labels exactly as recorded (null removes a key). */
export function planRestoreNamespace(name: string, original: InjectionLabels): Mutation {
  return {
    op: 'merge-patch',
    ref: Resources.namespaces,
    name,
    patch: {
      metadata: { labels: { [Label.injection]: original.injection ?? null, [Label.rev]: original.rev ?? null } },
    },
  };
}

/** Whether a namespace's labels already equal the wanted ones (for idempotent steps). */
export function hasInjectionLabels(namespace: KubeObject, wanted: InjectionLabels): boolean {
  const current = injectionLabels(namespace);
  return current.injection === wanted.injection && current.rev === wanted.rev;
}
