/**
 * The label and annotation keys Istio and revroll use, and how to read a pod's revision.
 * Facts: reference istio-revisions.md sections 1-3.
 */
import type { KubeObject } from '../ports/cluster.ts';

export const Label = {
  /** Namespace/pod label naming a revision or a tag. */
  rev: 'istio.io/rev',
  /** Marks a revision-tag MutatingWebhookConfiguration (absent on a revision's own injector). */
  tag: 'istio.io/tag',
  /** Namespace label `enabled` = inject with the default revision; anything else = no injection. */
  injection: 'istio-injection',
  /** Pod label `false` opts out of injection. */
  inject: 'sidecar.istio.io/inject',
  operatorComponent: 'operator.istio.io/component',
  app: 'app',
} as const;

export const Annotation = {
  /** Written by the injector since 1.18: the actual revision (never a tag). */
  rev: 'istio.io/rev',
  /** Injection status JSON; its `revision` field names the revision since 1.11. */
  sidecarStatus: 'sidecar.istio.io/status',
  restartedAt: 'kubectl.kubernetes.io/restartedAt',
  /** revroll's own: the revision a workload was last restarted onto (makes restarts idempotent). */
  restartedFor: 'revroll.dev/restarted-for',
} as const;

/** The never-match selector istioctl writes into a deactivated injector. */
export const NEVER_MATCH = { matchLabels: { 'istio.io/deactivated': 'never-match' } } as const;

/** Names of the webhooks Istio puts in injector and tag MWCs. */
export const Webhook = {
  revNamespace: 'rev.namespace.sidecar-injector.istio.io',
  revObject: 'rev.object.sidecar-injector.istio.io',
  namespace: 'namespace.sidecar-injector.istio.io',
  object: 'object.sidecar-injector.istio.io',
} as const;

/** The revision a pod's proxy belongs to, or undefined if the pod has no proxy. */
export function podRevision(pod: KubeObject): string | undefined {
  const annotations = pod.metadata.annotations ?? {};
  const fromAnnotation = annotations[Annotation.rev];
  const status = annotations[Annotation.sidecarStatus];
  if (status === undefined) return fromAnnotation;
  if (fromAnnotation) return fromAnnotation;
  try {
    const parsed = JSON.parse(status) as { revision?: unknown };
    return typeof parsed.revision === 'string' && parsed.revision !== '' ? parsed.revision : 'default';
  } catch {
    return 'default';
  }
}

/**
 * Whether a pod (or pod template) opts out of sidecar injection, read as istiod's injectRequired
 * reads it (istio/istio pkg/kube/inject/inject.go @00af2c5): the `sidecar.istio.io/inject` label
 * wins over the annotation of the same name; `y`, `yes`, `true`, `on` (any case) inject, an empty
 * or absent value leaves it to the namespace, and any other value (`false`, `no`, `off`...) opts out.
 */
export function injectionOptOut(meta: {
  labels?: Record<string, string> | undefined;
  annotations?: Record<string, string> | undefined;
}): { by: 'label' | 'annotation'; value: string } | undefined {
  const label = meta.labels?.[Label.inject];
  const by = label !== undefined ? 'label' : 'annotation';
  const value = label ?? meta.annotations?.[Label.inject];
  if (value === undefined || value === '' || INJECT_VALUES.has(value.toLowerCase())) return undefined;
  return { by, value };
}

const INJECT_VALUES: ReadonlySet<string> = new Set(['y', 'yes', 'true', 'on']);

/** Whether a pod carries an Istio proxy (injected). */
export function hasProxy(pod: KubeObject): boolean {
  const annotations = pod.metadata.annotations ?? {};
  return annotations[Annotation.sidecarStatus] !== undefined || annotations[Annotation.rev] !== undefined;
}

/** istiod names: `istiod` for the unrevisioned control plane, `istiod-<rev>` otherwise. */
export function istiodName(revision: string): string {
  return revision === 'default' ? 'istiod' : `istiod-${revision}`;
}

/** The per-revision injector MWC name (`-<ns>` appended outside istio-system). */
export function injectorName(revision: string, istioNamespace: string): string {
  const base = revision === 'default' ? 'istio-sidecar-injector' : `istio-sidecar-injector-${revision}`;
  return istioNamespace === 'istio-system' ? base : `${base}-${istioNamespace}`;
}

/** The tag MWC name (`-<ns>` appended outside istio-system). */
export function tagWebhookName(tag: string, istioNamespace: string): string {
  const base = `istio-revision-tag-${tag}`;
  return istioNamespace === 'istio-system' ? base : `${base}-${istioNamespace}`;
}

/** DNS-1123 label: what revision and tag names must be. */
export function isValidRevisionName(name: string): boolean {
  return name.length > 0 && name.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name);
}
