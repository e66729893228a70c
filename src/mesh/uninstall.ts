/**
 * Uninstalling a revision as `istioctl uninstall --revision <rev>` selects it (reference
 * section 5), guarded by safety invariant 1: never while anything still references it.
 */
import { labelSelectorRequirements, matches, type LabelSelector } from '../lib/label-selector.ts';
import {
  isClusterError,
  Resources,
  type ClusterPort,
  type KubeObject,
  type Mutation,
  type ResourceRef,
} from '../ports/cluster.ts';
import { agentUninstallRefusals, findNodeAgents, nodeAgentOf } from './ambient.ts';
import { Label, podRevision } from './labels.ts';
import type { MeshSnapshot } from './revisions.ts';

/**
 * istioctl's uninstall selector without its `Cni` and `Ztunnel` components: the revision's
 * objects of the components it prunes. ztunnel and istio-cni are one DaemonSet each for the
 * whole mesh, not revisioned: `istioctl uninstall --revision <old>` would delete them while
 * they still carry `<old>` (reference istio-gateways-ambient-multicluster.md §5). revroll never
 * deletes them, and refuses the uninstall while they still carry the revision
 * (`agentUninstallRefusals`).
 */
export function uninstallSelector(revision: string): string {
  return `${Label.rev}=${revision},${Label.operatorComponent} in (Pilot,IngressGateways,EgressGateways)`;
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
  kind: 'pod' | 'namespace' | 'tag' | 'gateway' | 'workload-template' | 'node-agent';
  name: string;
  detail: string;
};

/**
 * The reference a pod makes to `revision`: a live pod whose proxy runs it. istiod's own pods go
 * with it, and ztunnel and istio-cni pods count as their DaemonSet. Reads labels, annotations and
 * deletion only (and the phase when the read carried it), so a metadata-only read serves.
 */
function podReference(pod: KubeObject, revision: string): Reference | undefined {
  if (pod.metadata['deletionTimestamp']) return undefined;
  const phase = (pod.status as { phase?: string } | undefined)?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return undefined;
  if (pod.metadata.labels?.[Label.app] === 'istiod') return undefined; // the control plane's own pods go with it
  if (isNodeAgentPod(pod)) return undefined; // reported once, as their DaemonSet
  if (podRevision(pod) !== revision) return undefined;
  const name = `${pod.metadata.namespace}/${pod.metadata.name}`;
  return { kind: 'pod', name, detail: `pod ${name} runs a proxy of ${revision}` };
}

/** The reference a workload makes to a revision by naming it (or a tag of it, `names`) in its pod template. */
function workloadReference(kind: string, workload: KubeObject, names: ReadonlySet<string>): Reference | undefined {
  const labels =
    (workload.spec as { template?: { metadata?: { labels?: Record<string, string> } } } | undefined)?.template?.metadata
      ?.labels ?? {};
  if (labels[Label.app] === 'istiod') return undefined;
  const rev = labels[Label.rev];
  if (rev === undefined || !names.has(rev)) return undefined;
  const id = `${kind}/${workload.metadata.namespace}/${workload.metadata.name}`;
  const isGateway =
    /gateway/i.test(workload.metadata.name ?? '') ||
    labels['istio'] === 'ingressgateway' ||
    labels['istio'] === 'egressgateway';
  return {
    kind: isGateway ? 'gateway' : 'workload-template',
    name: id,
    detail: `${id} pod template has istio.io/rev=${rev}`,
  };
}

/** The workload kinds whose pod templates can reference a revision, in the order they are reported. */
export const referencingWorkloadKinds = ['Deployment', 'StatefulSet', 'DaemonSet'] as const;

/** Folds the cluster's pods and workloads, page by page, into what references a revision. */
export type ReferenceCollector = {
  /** A pod, whole or as metadata (the latter with finished pods left out by the server). */
  pod(pod: KubeObject): void;
  workload(kind: (typeof referencingWorkloadKinds)[number], workload: KubeObject): void;
  /**
   * Everything that references the revision: tags pointing at it, namespaces labelled with it or
   * with a tag pointing at it (or `istio-injection=enabled` when `default` points at it), the
   * pods whose proxy runs it, workloads (gateways included) whose pod template names it or a tag
   * of it. ztunnel and istio-cni count once each, as their DaemonSet (not pod by pod): an
   * uninstall would delete them or their istiod, and revroll never deletes or re-points them
   * (issue 15, item 7).
   */
  references(): Reference[];
};

/** Keeps only the references and the node-agent DaemonSets: nothing else of what it is fed. */
export function collectReferences(snapshot: MeshSnapshot, revision: string): ReferenceCollector {
  const names = new Set([revision, ...snapshot.tags.filter((t) => t.revision === revision).map((t) => t.tag)]);
  const pods: Reference[] = [];
  const workloads = new Map(referencingWorkloadKinds.map((kind) => [kind, [] as Reference[]]));
  const daemonsets: KubeObject[] = [];
  return {
    pod(pod) {
      const reference = podReference(pod, revision);
      if (reference) pods.push(reference);
    },
    workload(kind, workload) {
      const reference = workloadReference(kind, workload, names);
      if (reference) workloads.get(kind)?.push(reference);
      if (kind === 'DaemonSet' && nodeAgentOf(workload)) daemonsets.push(workload);
    },
    references() {
      return [
        ...namespaceAndTagReferences(snapshot, revision, names),
        ...pods,
        ...[...workloads.values()].flat(),
        ...agentUninstallRefusals(findNodeAgents(daemonsets), revision, names).map(({ agent, detail }) => ({
          kind: 'node-agent' as const,
          name: `DaemonSet/${agent.namespace}/${agent.name}`,
          detail,
        })),
      ];
    },
  };
}

function namespaceAndTagReferences(snapshot: MeshSnapshot, revision: string, names: ReadonlySet<string>): Reference[] {
  const references: Reference[] = [];
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
  return references;
}

/** A ztunnel or istio-cni pod (by the charts' selector labels). */
function isNodeAgentPod(pod: KubeObject): boolean {
  const labels = pod.metadata.labels ?? {};
  return labels[Label.app] === 'ztunnel' || labels['k8s-app'] === 'istio-cni-node';
}

/** An object an uninstall would delete. */
export type UninstallTarget = { ref: ResourceRef; object: KubeObject };

/** A gateway revroll moved during the run: none of its objects may be deleted. */
export type ProtectedGateway = { namespace: string; name: string; app?: string };

/** The kinds whose selector `unsafeDeletions` checks against the pods of their namespace. */
const SELECTING_KINDS: ReadonlySet<string> = new Set(['Service', 'Deployment', 'DaemonSet', 'StatefulSet']);

/** The namespaces whose pods `unsafeDeletions` needs: those of the targets that select pods. */
export function selectingNamespaces(targets: readonly UninstallTarget[]): string[] {
  const namespaces = targets.filter(({ ref }) => SELECTING_KINDS.has(ref.kind));
  return [...new Set(namespaces.map(({ object }) => object.metadata.namespace ?? ''))];
}

/**
 * Safety invariant 1 at the level of objects: of what the uninstall selector matched, the
 * objects that must not be deleted, each with why. A workload or Service whose pods run a proxy
 * of another revision serves traffic for that revision (a gateway moved but still labelled with
 * the old owner label, say); an object of a gateway revroll moved is revroll's to keep. Any
 * finding refuses the whole uninstall: nothing is deleted.
 */
export function unsafeDeletions(
  targets: readonly UninstallTarget[],
  context: {
    revision: string;
    /** The pods of `selectingNamespaces(targets)` (at least); labels and annotations are what is read. */
    pods: readonly KubeObject[];
    protect: readonly ProtectedGateway[];
  },
): string[] {
  const reasons: string[] = [];
  const podsIn = new Map<string, KubeObject[]>();
  for (const pod of context.pods) {
    if (pod.metadata['deletionTimestamp']) continue;
    const ns = pod.metadata.namespace ?? '';
    const list = podsIn.get(ns) ?? [];
    list.push(pod);
    podsIn.set(ns, list);
  }
  const elsewhere = (namespace: string, selector: LabelSelector | undefined): KubeObject | undefined => {
    if (!selector || (Object.keys(selector.matchLabels ?? {}).length === 0 && !selector.matchExpressions?.length))
      return undefined;
    const requirements = labelSelectorRequirements(selector);
    return (podsIn.get(namespace) ?? []).find((pod) => {
      const rev = podRevision(pod);
      return rev !== undefined && rev !== context.revision && matches(requirements, pod.metadata.labels);
    });
  };
  for (const { ref, object } of targets) {
    const namespace = object.metadata.namespace ?? '';
    const name = object.metadata.name ?? '';
    const id = `${ref.kind} ${namespace ? `${namespace}/` : ''}${name}`;
    const moved = context.protect.find(
      (g) =>
        ref.namespaced &&
        g.namespace === namespace &&
        (g.name === name || (g.app !== undefined && object.metadata.labels?.[Label.app] === g.app)),
    );
    if (moved) {
      reasons.push(`${id} belongs to gateway ${moved.namespace}/${moved.name}, which revroll moved: not deleting it`);
      continue;
    }
    // istiod renders a Gateway API Gateway's objects with ownerReferences to it: they go with the Gateway, never with a revision.
    const owner = object.metadata.ownerReferences?.find((o) => o.kind === 'Gateway');
    if (owner) {
      reasons.push(`${id} is owned by Gateway ${namespace}/${owner.name} (rendered by istiod): not deleting it`);
      continue;
    }
    let pod: KubeObject | undefined;
    if (ref.kind === 'Pod') {
      const rev = podRevision(object);
      if (rev !== undefined && rev !== context.revision && !object.metadata['deletionTimestamp']) pod = object;
    } else if (ref.kind === 'Service') {
      const selector = (object.spec as { selector?: Record<string, string> } | undefined)?.selector;
      pod = elsewhere(namespace, selector ? { matchLabels: selector } : undefined);
    } else if (ref.kind === 'Deployment' || ref.kind === 'DaemonSet' || ref.kind === 'StatefulSet') {
      pod = elsewhere(namespace, (object.spec as { selector?: LabelSelector } | undefined)?.selector);
    }
    if (pod)
      reasons.push(
        `${id} serves pods on revision ${podRevision(pod) ?? '?'} (pod ${pod.metadata.name ?? ''}), not ${context.revision}: not deleting it`,
      );
  }
  return reasons;
}

/** Lists what an uninstall of `revision` would delete now, kind by kind in istioctl's order. */
export async function listUninstallTargets(cluster: ClusterPort, revision: string): Promise<UninstallTarget[]> {
  const selector = uninstallSelector(revision);
  const targets: UninstallTarget[] = [];
  for (const ref of uninstallKinds) {
    const listed = await cluster.list(ref, { labelSelector: selector }).catch((error: unknown) => {
      // Kinds a cluster does not serve (e.g. EnvoyFilter without Istio's CRDs) have nothing to delete.
      if (isClusterError(error, 'not-found')) return [];
      throw error;
    });
    for (const object of listed) targets.push({ ref, object });
  }
  return targets;
}

/** One line per object, for `revroll plan` and the uninstall's Event. */
export function describeTarget({ ref, object }: UninstallTarget): string {
  const namespace = object.metadata.namespace;
  return `${ref.kind} ${namespace ? `${namespace}/` : ''}${object.metadata.name ?? ''}`;
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
