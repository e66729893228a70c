/**
 * Gateways upgraded and reverted in place (reference section 4): an injected gateway follows
 * the `istio.io/rev` label of its pod template, so changing that label rolls its pods onto the
 * other revision. Gateways rendered by istioctl with the proxy baked in cannot be moved this
 * way; they are reported, never silently skipped.
 */
import { Resources, type ClusterPort, type KubeObject, type Mutation, type ResourceRef } from '../ports/cluster.ts';
import { Label } from './labels.ts';
import { injectionLabels, injectionMode } from './namespaces.ts';
import type { MeshSnapshot } from './revisions.ts';

export type GatewayInfo = {
  namespace: string;
  name: string;
  /** The revision (or tag) its template names, if any. */
  rev?: string;
  /** Whether the proxy is injected (image `auto` or inject label), so relabelling moves it. */
  injected: boolean;
  /** Its `app` label: the gateway charts put it on every object of the gateway. */
  app?: string;
  /** The `istio.io/rev` label on the Deployment itself (istioctl's owner label), if any. */
  objectRev?: string;
};

type Template = {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { containers?: { image?: string }[] };
};

export function gatewayInfo(deployment: KubeObject): GatewayInfo {
  const template = ((deployment.spec as { template?: Template } | undefined)?.template ?? {}) as Template;
  const labels = template.metadata?.labels ?? {};
  const images = (template.spec?.containers ?? []).map((c) => c.image ?? '');
  const injected =
    labels[Label.inject] === 'true' ||
    template.metadata?.annotations?.['inject.istio.io/templates'] !== undefined ||
    images.includes('auto');
  const own = deployment.metadata.labels ?? {};
  const app = own[Label.app] ?? labels[Label.app];
  return {
    namespace: deployment.metadata.namespace ?? '',
    name: deployment.metadata.name ?? '',
    ...(labels[Label.rev] !== undefined ? { rev: labels[Label.rev] } : {}),
    injected,
    ...(app !== undefined ? { app } : {}),
    ...(own[Label.rev] !== undefined ? { objectRev: own[Label.rev] } : {}),
  };
}

/** An injected gateway: its pod template asks for the `gateway` injection template (both gateway charts do). */
export function isInjectedGateway(deployment: KubeObject): boolean {
  const template = (deployment.spec as { template?: Template } | undefined)?.template;
  const templates = template?.metadata?.annotations?.['inject.istio.io/templates'] ?? '';
  return templates.split(',').some((t) => t.trim() === 'gateway') && gatewayInfo(deployment).injected;
}

/**
 * The revision a gateway's new pods get: its template's `istio.io/rev` (a revision or a tag),
 * else its namespace's labels, as injection resolves them (reference section 3). Undefined when
 * nothing would inject it.
 */
export function gatewayRevision(info: GatewayInfo, mesh: MeshSnapshot): string | undefined {
  const resolve = (name: string) => mesh.tags.find((t) => t.tag === name)?.revision ?? name;
  if (info.rev !== undefined) return resolve(info.rev);
  const ns = mesh.namespaces.find((n) => n.metadata.name === info.namespace);
  const mode = injectionMode(ns ? injectionLabels(ns) : {});
  switch (mode.kind) {
    case 'default-enabled':
      return mesh.defaultRevision;
    case 'rev':
      return resolve(mode.name);
    case 'disabled':
      return undefined;
    case 'none':
      // Gateway pods carry sidecar.istio.io/inject=true: the default revision's object selector takes them.
      return mesh.defaultRevision;
  }
}

/**
 * The kinds an istioctl-installed gateway is made of (chart `gateways/istio-ingress`): every one
 * carries the gateway's `app` label, `istio.io/rev=<revision>` and its component label. istioctl's
 * in-place gateway upgrade re-renders all of them with the new revision's label (reference
 * section 4; istio/istio manifests/charts/gateways/istio-ingress/templates/deployment.yaml).
 */
export const gatewayObjectKinds: readonly ResourceRef[] = [
  Resources.deployments,
  Resources.services,
  Resources.serviceaccounts,
  Resources.roles,
  Resources.rolebindings,
  Resources.poddisruptionbudgets,
  Resources.horizontalpodautoscalers,
];

/** The gateway's own objects that still carry the owner label `rev` (what an uninstall of `rev` would select). */
export function gatewayObjectsSelector(app: string, rev: string): string {
  return `${Label.app}=${app},${Label.rev}=${rev},${Label.operatorComponent} in (IngressGateways,EgressGateways)`;
}

/** The gateway's own objects that carry the owner label `rev`, kind by kind (what a move relabels). */
export async function listGatewayObjects(
  cluster: ClusterPort,
  namespace: string,
  app: string,
  rev: string,
): Promise<{ ref: ResourceRef; object: KubeObject }[]> {
  const selector = gatewayObjectsSelector(app, rev);
  const lists = await Promise.all(
    gatewayObjectKinds.map(async (ref) =>
      (await cluster.list(ref, { namespace, labelSelector: selector })).map((object) => ({ ref, object })),
    ),
  );
  return lists.flat();
}

/**
 * Sets the owner label `istio.io/rev` of a moved gateway's own objects to the revision its pods
 * now run, as istioctl's in-place upgrade leaves them: an uninstall of the revision it left then
 * no longer selects the gateway. Only that one key is patched (safety invariant 4).
 */
export function planGatewayObjectLabel(ref: ResourceRef, object: KubeObject, rev: string): Mutation {
  return {
    op: 'merge-patch',
    ref,
    namespace: object.metadata.namespace ?? '',
    name: object.metadata.name ?? '',
    patch: { metadata: { labels: { [Label.rev]: rev } } },
  };
}

/**
 * Sets (or, with `null`, removes) the revision label of a gateway's pod template; the template
 * change rolls its pods. The Deployment's own labels are left alone.
 */
export function planGatewayRevision(gateway: Pick<GatewayInfo, 'namespace' | 'name'>, rev: string | null): Mutation {
  return {
    op: 'strategic-patch',
    ref: Resources.deployments,
    namespace: gateway.namespace,
    name: gateway.name,
    patch: { spec: { template: { metadata: { labels: { [Label.rev]: rev } } } } },
  };
}
