/**
 * Gateways upgraded and reverted in place (reference section 4): an injected gateway follows
 * the `istio.io/rev` label of its pod template, so changing that label rolls its pods onto the
 * other revision. Gateways rendered by istioctl with the proxy baked in cannot be moved this
 * way; they are reported, never silently skipped.
 */
import { Resources, type KubeObject, type Mutation } from '../ports/cluster.ts';
import { Label } from './labels.ts';

export type GatewayInfo = {
  namespace: string;
  name: string;
  /** The revision (or tag) its template names, if any. */
  rev?: string;
  /** Whether the proxy is injected (image `auto` or inject label), so relabelling moves it. */
  injected: boolean;
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
  return {
    namespace: deployment.metadata.namespace ?? '',
    name: deployment.metadata.name ?? '',
    ...(labels[Label.rev] !== undefined ? { rev: labels[Label.rev] } : {}),
    injected,
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
