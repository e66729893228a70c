/**
 * Gateway API Gateways and waypoints that istiod deploys itself (reference
 * istio-gateways-ambient-multicluster.md sections 1-4 and 6). Pure rules: which Gateways are
 * Istio's, which revision owns each one and why, what a namespace relabel or a tag move would do
 * to them, the label write that pins or moves one, and when its rendered Deployment shows a move.
 *
 * Ownership (`IsMine`): the Gateway's own `istio.io/rev` label if the key is present (even empty),
 * else its namespace's `istio.io/rev` (`istio-injection` is not read); the value resolves through
 * the revision tags (a revision is its own tag); an empty or missing value belongs to the holder of
 * the `default` tag, or to an unrevisioned istiod (whose revision name is `default`).
 */
import type { KubeObject, Mutation, ResourceRef } from '../ports/cluster.ts';
import { Label } from './labels.ts';
import type { MeshSnapshot } from './revisions.ts';

export const GatewayResource = {
  group: 'gateway.networking.k8s.io',
  version: 'v1',
  resource: 'gateways',
  kind: 'Gateway',
  namespaced: true,
} as const satisfies ResourceRef;

/** The classes istiod's deployment controller renders (reference section 3): class -> controller. */
export const ISTIO_GATEWAY_CLASSES: Readonly<
  Record<string, { controller: string; waypoint: boolean; suffix: boolean }>
> = {
  istio: { controller: 'istio.io/gateway-controller', waypoint: false, suffix: true },
  'istio-waypoint': { controller: 'istio.io/mesh-controller', waypoint: true, suffix: false },
  'istio-east-west': { controller: 'istio.io/eastwest-controller', waypoint: false, suffix: false },
};

/** Namespace label that puts a namespace's pods in ambient mode (not revisioned). */
export const DATAPLANE_MODE = 'istio.io/dataplane-mode';
/** The label every object istiod renders for a Gateway carries (`istio.io-gateway-controller`, ...). */
export const GATEWAY_MANAGED_LABEL = 'gateway.istio.io/managed';
/** The label every rendered object carries: the Gateway's name. */
export const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';

/** Where a Gateway's owner comes from. */
export type OwnerSource =
  /** Its own `istio.io/rev` label. */
  | 'own-label'
  /** Its namespace's `istio.io/rev` label. */
  | 'namespace-label'
  /** No label anywhere: the `default` tag (or an unrevisioned istiod). */
  | 'default';

export type Ownership = {
  /** The owning revision; undefined when nobody holds the value (nothing reconciles the Gateway). */
  owner?: string;
  source: OwnerSource;
  /** The tag the value resolved through, when it is a tag (`default` for label-less Gateways). */
  tag?: string;
};

/** What resolution reads: tag -> revision, the installed revisions, the default revision. */
export type OwnershipView = {
  tags: Readonly<Record<string, string>>;
  revisions: ReadonlySet<string>;
  /** The `default` tag's revision, or `default` for an unrevisioned istiod. */
  defaultRevision?: string;
};

export function ownershipView(mesh: MeshSnapshot): OwnershipView {
  return {
    tags: Object.fromEntries(mesh.tags.map((t) => [t.tag, t.revision])),
    revisions: new Set(mesh.revisions.map((r) => r.name)),
    ...(mesh.defaultRevision !== undefined ? { defaultRevision: mesh.defaultRevision } : {}),
  };
}

/**
 * `IsMine` for one Gateway: `ownRev` is its own label (undefined when the key is absent),
 * `namespaceRev` its namespace's.
 */
export function resolveOwner(
  ownRev: string | undefined,
  namespaceRev: string | undefined,
  view: OwnershipView,
): Ownership {
  const source: OwnerSource =
    ownRev !== undefined ? 'own-label' : namespaceRev !== undefined ? 'namespace-label' : 'default';
  const selected = ownRev ?? namespaceRev ?? '';
  if (selected === '') {
    const owner = view.tags['default'] ?? view.defaultRevision;
    return { ...(owner !== undefined ? { owner } : {}), source, tag: 'default' };
  }
  const tagged = view.tags[selected];
  if (tagged !== undefined) return { owner: tagged, source, ...(tagged !== selected ? { tag: selected } : {}) };
  if (view.revisions.has(selected)) return { owner: selected, source };
  return { source };
}

/** How a Gateway resolves, for people: `own label istio.io/rev=prod-stable (tag -> 1-24-3)`. */
export function describeOwnership(g: { ownRev?: string; namespaceRev?: string }, o: Ownership): string {
  const via =
    o.source === 'own-label'
      ? `own label ${Label.rev}=${g.ownRev}`
      : o.source === 'namespace-label'
        ? `namespace label ${Label.rev}=${g.namespaceRev}`
        : 'no istio.io/rev label: the default tag';
  const tag = o.tag !== undefined && o.source !== 'default' ? `, tag ${o.tag}` : '';
  return `${via}${tag} -> ${o.owner ?? 'nobody'}`;
}

/** One Istio-managed Gateway (or waypoint) as revroll reads it. */
export type GatewayApiGateway = {
  namespace: string;
  name: string;
  className: string;
  controller: string;
  waypoint: boolean;
  /** Its own `istio.io/rev`; undefined when the key is absent. */
  ownRev?: string;
  /** Its namespace's `istio.io/rev`. */
  namespaceRev?: string;
  /** Its namespace is ambient (`istio.io/dataplane-mode=ambient`). */
  ambientNamespace: boolean;
  /** The rendered Deployment's name. */
  deployment: string;
  ownership: Ownership;
};

/** Whether istiod renders this Gateway: an Istio class, not a manual deployment (spec.addresses with a hostname or many). */
export function isManagedGateway(gateway: KubeObject): boolean {
  const spec = (gateway.spec ?? {}) as { gatewayClassName?: string; addresses?: { type?: string }[] };
  if (!ISTIO_GATEWAY_CLASSES[spec.gatewayClassName ?? '']) return false;
  const addresses = spec.addresses ?? [];
  return !(addresses.length > 1 || addresses.some((a) => a.type === 'Hostname'));
}

/** The Deployment name istiod renders: `<gw>-<class>` for `istio`, `<gw>` for waypoints and east-west. */
export function renderedDeploymentName(gateway: KubeObject): string {
  const override = gateway.metadata.annotations?.['gateway.istio.io/name-override'];
  if (override) return override;
  const className = ((gateway.spec ?? {}) as { gatewayClassName?: string }).gatewayClassName ?? '';
  const name = gateway.metadata.name ?? '';
  return ISTIO_GATEWAY_CLASSES[className]?.suffix ? `${name}-${className}` : name;
}

/** Every Istio-managed Gateway, with its owner and how it resolves. */
export function listIstioGateways(
  gateways: readonly KubeObject[],
  namespaces: readonly KubeObject[],
  view: OwnershipView,
): GatewayApiGateway[] {
  const nsLabels = new Map(namespaces.map((n) => [n.metadata.name ?? '', n.metadata.labels ?? {}]));
  return gateways
    .filter(isManagedGateway)
    .map((gw) => {
      const namespace = gw.metadata.namespace ?? '';
      const className = ((gw.spec ?? {}) as { gatewayClassName?: string }).gatewayClassName ?? '';
      const info = ISTIO_GATEWAY_CLASSES[className] as { controller: string; waypoint: boolean };
      const labels = nsLabels.get(namespace) ?? {};
      const ownRev = gw.metadata.labels?.[Label.rev];
      const namespaceRev = labels[Label.rev];
      return {
        namespace,
        name: gw.metadata.name ?? '',
        className,
        controller: info.controller,
        waypoint: info.waypoint,
        ...(ownRev !== undefined ? { ownRev } : {}),
        ...(namespaceRev !== undefined ? { namespaceRev } : {}),
        ambientNamespace: labels[DATAPLANE_MODE] === 'ambient',
        deployment: renderedDeploymentName(gw),
        ownership: resolveOwner(ownRev, namespaceRev, view),
      };
    })
    .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
}

/** Sets (or, with null, removes) the Gateway's own `istio.io/rev` label, touching nothing else. */
export function planGatewayLabel(namespace: string, name: string, rev: string | null): Mutation {
  return {
    op: 'merge-patch',
    ref: GatewayResource,
    namespace,
    name,
    patch: { metadata: { labels: { [Label.rev]: rev } } },
  };
}

type RenderedTemplate = {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { containers?: { name?: string; image?: string }[] };
};

/**
 * Why the rendered Deployment does not (yet) show the Gateway on `revision` with its own label
 * `rev` copied (section 4: never Gateway status): the pod template's `istio.io/rev` annotation,
 * the proxy image's version, the copied label, and a finished rollout. Undefined = it does.
 */
export function renderedPending(
  deployment: KubeObject | undefined,
  want: { revision: string; version?: string; rev: string | null; copiesLabels: boolean },
): string | undefined {
  if (!deployment) return 'its Deployment does not exist';
  const spec = (deployment.spec ?? {}) as { replicas?: number; template?: RenderedTemplate };
  const template = spec.template ?? {};
  const annotated = template.metadata?.annotations?.[Label.rev];
  if (annotated !== want.revision) return `its pod template names revision ${annotated ?? '(none)'}`;
  const image = (template.spec?.containers ?? []).find((c) => c.name === 'istio-proxy')?.image ?? '';
  if (want.version !== undefined && !image.endsWith(`:${want.version}`) && !image.includes(`:${want.version}-`))
    return `its proxy image is ${image || '(none)'}, not ${want.version}`;
  const copied = template.metadata?.labels?.[Label.rev];
  if (want.copiesLabels && (copied ?? null) !== want.rev)
    return `its pod template label ${Label.rev} is ${copied ?? '(absent)'}, not yet re-rendered`;
  const status = (deployment.status ?? {}) as {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
  };
  const replicas = spec.replicas ?? 1;
  if ((status.observedGeneration ?? 0) < (deployment.metadata.generation ?? 0)) return 'its rollout has not started';
  if ((status.updatedReplicas ?? 0) < replicas || (status.availableReplicas ?? 0) < replicas)
    return `its rollout is at ${status.updatedReplicas ?? 0}/${replicas} updated, ${status.availableReplicas ?? 0} available`;
  if ((status.replicas ?? 0) > replicas) return `old pods are still terminating (${status.replicas}/${replicas})`;
  return undefined;
}

/** Whether the controller copies the Gateway's metadata labels onto the pod template (no `spec.infrastructure.labels`). */
export function copiesLabels(gateway: KubeObject | undefined): boolean {
  const infra = ((gateway?.spec ?? {}) as { infrastructure?: { labels?: unknown } }).infrastructure;
  return infra?.labels === undefined;
}
