/**
 * Uninstalling a revision as `istioctl uninstall --revision <rev>` selects it (reference
 * section 5), guarded by safety invariant 1: never while anything still references it.
 */
import { Resources, type KubeObject, type Mutation, type ResourceRef } from '../ports/cluster.ts';
import { Label, podRevision } from './labels.ts';
import type { MeshSnapshot } from './revisions.ts';

/** istioctl's uninstall selector: the revision's objects of the components it prunes. */
export function uninstallSelector(revision: string): string {
  return `${Label.rev}=${revision},${Label.operatorComponent} in (Pilot,IngressGateways,EgressGateways,Cni,Ztunnel)`;
}

/** The kinds istioctl prunes, in its order. */
export const uninstallKinds: readonly ResourceRef[] = [
  Resources.deployments,
  Resources.daemonsets,
  Resources.services,
  Resources.configmaps,
  Resources.pods,
  Resources.secrets,
  Resources.serviceaccounts,
  Resources.rolebindings,
  Resources.roles,
  Resources.poddisruptionbudgets,
  Resources.horizontalpodautoscalers,
  Resources.envoyfilters,
  Resources.mutatingwebhookconfigurations,
  Resources.validatingwebhookconfigurations,
  Resources.clusterroles,
  Resources.clusterrolebindings,
];

/** Something that still points at a revision. */
export type Reference = {
  kind: 'pod' | 'namespace' | 'tag' | 'gateway' | 'workload-template';
  name: string;
  detail: string;
};

/**
 * Everything that references `revision`: pods whose proxy runs it, namespaces labelled with it
 * or with a tag pointing at it (or `istio-injection=enabled` when `default` points at it), tags
 * pointing at it, and workloads (gateways included) whose pod template names it or a tag of it.
 */
export function findReferences(
  snapshot: MeshSnapshot,
  revision: string,
  pods: readonly KubeObject[],
  workloads: readonly KubeObject[],
): Reference[] {
  const references: Reference[] = [];
  const names = new Set([revision, ...snapshot.tags.filter((t) => t.revision === revision).map((t) => t.tag)]);
  for (const tag of snapshot.tags) {
    if (tag.revision === revision)
      references.push({
        kind: 'tag',
        name: tag.tag,
        detail: `revision tag ${tag.tag} (${tag.webhook}) points at ${revision}`,
      });
  }
  const defaultIsThis = snapshot.defaultRevision === revision;
  for (const ns of snapshot.namespaces) {
    const labels = ns.metadata.labels ?? {};
    const name = ns.metadata.name ?? '';
    if (labels[Label.injection] === 'enabled') {
      if (defaultIsThis)
        references.push({
          kind: 'namespace',
          name,
          detail: `namespace ${name} has istio-injection=enabled and the default tag points at ${revision}`,
        });
    } else if (labels[Label.injection] === undefined && names.has(labels[Label.rev] ?? '')) {
      references.push({
        kind: 'namespace',
        name,
        detail: `namespace ${name} is labelled istio.io/rev=${labels[Label.rev]}`,
      });
    }
  }
  for (const pod of pods) {
    if (pod.metadata['deletionTimestamp']) continue;
    const phase = (pod.status as { phase?: string } | undefined)?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') continue;
    if (pod.metadata.labels?.[Label.app] === 'istiod') continue; // the control plane's own pods go with it
    if (podRevision(pod) === revision) {
      references.push({
        kind: 'pod',
        name: `${pod.metadata.namespace}/${pod.metadata.name}`,
        detail: `pod ${pod.metadata.namespace}/${pod.metadata.name} runs a proxy of ${revision}`,
      });
    }
  }
  for (const workload of workloads) {
    const labels =
      (workload.spec as { template?: { metadata?: { labels?: Record<string, string> } } } | undefined)?.template
        ?.metadata?.labels ?? {};
    if (labels[Label.app] === 'istiod') continue;
    const rev = labels[Label.rev];
    if (rev !== undefined && names.has(rev)) {
      const id = `${workload.kind}/${workload.metadata.namespace}/${workload.metadata.name}`;
      const isGateway =
        /gateway/i.test(workload.metadata.name ?? '') ||
        labels['istio'] === 'ingressgateway' ||
        labels['istio'] === 'egressgateway';
      references.push({
        kind: isGateway ? 'gateway' : 'workload-template',
        name: id,
        detail: `${id} pod template has istio.io/rev=${rev}`,
      });
    }
  }
  return references;
}

/** The deletions of an uninstall, from objects already listed with `uninstallSelector`. */
export function planUninstall(objects: readonly { ref: ResourceRef; object: KubeObject }[]): Mutation[] {
  return objects.map(({ ref, object }) => ({
    op: 'delete',
    ref,
    ...(ref.namespaced ? { namespace: object.metadata.namespace ?? '' } : {}),
    name: object.metadata.name ?? '',
    propagation: 'Foreground',
  }));
}
