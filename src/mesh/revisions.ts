/**
 * Discovers the control planes (revisions) and revision tags installed in a cluster, as
 * `istioctl tag list` and `istioctl x revision list` see them (reference section 2.3).
 */
import { Resources, type ClusterPort, type KubeObject } from '../ports/cluster.ts';
import { Label, NEVER_MATCH } from './labels.ts';

/** One istiod control plane. */
export type Revision = {
  /** `default` for an unrevisioned install. */
  name: string;
  /** Istio version from the istiod image tag (e.g. `1.25.1`), when it can be read. */
  version?: string;
  /** The istiod Deployment exists and has at least one available replica. */
  ready: boolean;
  replicas: number;
  availableReplicas: number;
  /** Name of its own injector MWC, if present. */
  injector?: string;
  /** Whether its injector was deactivated (`istio.io/deactivated: never-match`). */
  injectorDeactivated: boolean;
  deployment?: string;
  service?: string;
};

/** One revision tag: a stable name pointing at a revision through an MWC. */
export type Tag = {
  tag: string;
  revision: string;
  webhook: string;
  /** Namespaces labelled `istio.io/rev=<tag>` (istio-injection=enabled ones are not counted, as in istioctl). */
  namespaces: string[];
};

/** A snapshot of the mesh's control planes. */
export type MeshSnapshot = {
  istioNamespace: string;
  revisions: Revision[];
  tags: Tag[];
  /** Revision the `default` tag points at; `default` for an unrevisioned install with an active injector. */
  defaultRevision?: string;
  /** Raw objects, for building tag webhooks and uninstall plans without reading them again. */
  webhooks: KubeObject[];
  validators: KubeObject[];
  namespaces: KubeObject[];
};

/** Reads revisions, tags and namespaces (five list requests). */
export async function observeMesh(cluster: ClusterPort, istioNamespace: string): Promise<MeshSnapshot> {
  const [webhooks, validators, deployments, services, namespaces] = await Promise.all([
    cluster.list(Resources.mutatingwebhookconfigurations, { labelSelector: Label.rev }),
    cluster.list(Resources.validatingwebhookconfigurations, { labelSelector: Label.rev }),
    cluster.list(Resources.deployments, { namespace: istioNamespace, labelSelector: 'app=istiod' }),
    cluster.list(Resources.services, { namespace: istioNamespace, labelSelector: 'app=istiod' }),
    cluster.list(Resources.namespaces),
  ]);
  return buildSnapshot({ istioNamespace, webhooks, validators, deployments, services, namespaces });
}

/** Pure: builds the snapshot from listed objects. */
export function buildSnapshot(input: {
  istioNamespace: string;
  webhooks: KubeObject[];
  validators: KubeObject[];
  deployments: KubeObject[];
  services: KubeObject[];
  namespaces: KubeObject[];
}): MeshSnapshot {
  const byName = new Map<string, Revision>();
  const revisionOf = (name: string): Revision => {
    let revision = byName.get(name);
    if (!revision) {
      revision = { name, ready: false, replicas: 0, availableReplicas: 0, injectorDeactivated: false };
      byName.set(name, revision);
    }
    return revision;
  };

  for (const deployment of input.deployments) {
    const labels = deployment.metadata.labels ?? {};
    if (labels[Label.tag]) continue;
    const revision = revisionOf(labels[Label.rev] ?? 'default');
    const spec = deployment.spec as
      { replicas?: number; template?: { spec?: { containers?: { image?: string }[] } } } | undefined;
    const status = deployment.status as { availableReplicas?: number; readyReplicas?: number } | undefined;
    revision.deployment = deployment.metadata.name;
    revision.replicas = spec?.replicas ?? 1;
    revision.availableReplicas = status?.availableReplicas ?? 0;
    revision.ready = revision.availableReplicas > 0 && (status?.readyReplicas ?? 0) > 0;
    const image = spec?.template?.spec?.containers?.[0]?.image;
    const version = image ? imageTag(image) : undefined;
    if (version) revision.version = version;
  }
  for (const service of input.services) {
    const labels = service.metadata.labels ?? {};
    if (labels[Label.tag]) continue;
    const name = labels[Label.rev] ?? 'default';
    if (byName.has(name) || name !== 'default') revisionOf(name).service = service.metadata.name;
  }

  const tags: Tag[] = [];
  for (const webhook of input.webhooks) {
    const labels = webhook.metadata.labels ?? {};
    const rev = labels[Label.rev];
    if (!rev) continue;
    const tag = labels[Label.tag];
    if (tag) {
      tags.push({ tag, revision: rev, webhook: webhook.metadata.name ?? '', namespaces: [] });
    } else {
      const revision = revisionOf(rev);
      revision.injector = webhook.metadata.name;
      revision.injectorDeactivated = isDeactivated(webhook);
    }
  }
  for (const namespace of input.namespaces) {
    const value = namespace.metadata.labels?.[Label.rev];
    if (!value) continue;
    for (const tag of tags) if (tag.tag === value) tag.namespaces.push(namespace.metadata.name ?? '');
  }
  tags.sort((a, b) => a.tag.localeCompare(b.tag));

  const defaultTag = tags.find((t) => t.tag === 'default');
  const unrevisioned = byName.get('default');
  const defaultRevision =
    defaultTag?.revision ?? (unrevisioned?.injector && !unrevisioned.injectorDeactivated ? 'default' : undefined);
  return {
    istioNamespace: input.istioNamespace,
    revisions: [...byName.values()].sort((a, b) => a.name.localeCompare(b.name)),
    tags,
    ...(defaultRevision ? { defaultRevision } : {}),
    webhooks: input.webhooks,
    validators: input.validators,
    namespaces: input.namespaces,
  };
}

/** A tag, when the name is one; otherwise the revision itself. */
export function resolveRevision(snapshot: MeshSnapshot, nameOrTag: string): string | undefined {
  const tag = snapshot.tags.find((t) => t.tag === nameOrTag);
  if (tag) return tag.revision;
  return snapshot.revisions.some((r) => r.name === nameOrTag) ? nameOrTag : undefined;
}

function isDeactivated(webhookConfiguration: KubeObject): boolean {
  const webhooks =
    (webhookConfiguration.webhooks as { namespaceSelector?: { matchLabels?: Record<string, string> } }[] | undefined) ??
    [];
  const key = Object.keys(NEVER_MATCH.matchLabels)[0] as string;
  return (
    webhooks.length > 0 &&
    webhooks.every(
      (w) =>
        w.namespaceSelector?.matchLabels?.[key] ===
        NEVER_MATCH.matchLabels[key as keyof typeof NEVER_MATCH.matchLabels],
    )
  );
}

/** `docker.io/istio/pilot:1.25.1-distroless` -> `1.25.1`. */
export function imageTag(image: string): string | undefined {
  const at = image.indexOf('@');
  const withoutDigest = at >= 0 ? image.slice(0, at) : image;
  const colon = withoutDigest.lastIndexOf(':');
  if (colon < 0 || withoutDigest.lastIndexOf('/') > colon) return undefined;
  const tag = withoutDigest.slice(colon + 1);
  return tag.replace(/-(distroless|debug)$/, '');
}
