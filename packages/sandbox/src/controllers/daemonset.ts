/**
 * The DaemonSet controller: one pod per simulated node. A template change replaces pods node by
 * node, never leaving more than `maxUnavailable` (default 1) nodes without a Ready pod. A node
 * whose daemon pod is Terminating gets its new pod once the old one is gone (the node still
 * "has" a daemon pod, podsShouldBeOnNode). A DaemonSet being deleted is left alone.
 */
import type { KubeObject } from '../store.ts';
import { errorMessage, writeStatus, type ControllerContext } from './context.ts';
import {
  isPodActive,
  isPodReady,
  podFromTemplate,
  resolveIntOrPercent,
  templateHash,
  type PodTemplate,
} from './pod-util.ts';

type DaemonSetSpec = {
  template?: PodTemplate;
  updateStrategy?: { type?: string; rollingUpdate?: { maxUnavailable?: number | string } };
};

export function syncDaemonSet(ctx: ControllerContext, ds: KubeObject): void {
  const namespace = ds.metadata.namespace ?? '';
  const name = ds.metadata.name ?? '';
  const spec = (ds.spec ?? {}) as DaemonSetSpec;
  const hash = templateHash(spec.template ?? {});
  const generation = String(ds.metadata.generation ?? 1);
  const nodes = ctx.nodes;
  const maxUnavailable = Math.max(
    1,
    resolveIntOrPercent(spec.updateStrategy?.rollingUpdate?.maxUnavailable, nodes.length, true, '1'),
  );

  if (ds.metadata.deletionTimestamp) return;
  const byNode = new Map<string, KubeObject[]>();
  const terminatingOn = new Set<string>();
  for (const pod of ctx.podsOf(ds.metadata.uid ?? '')) {
    const node = (pod.spec as { nodeName?: string } | undefined)?.nodeName ?? '';
    if (isPodActive(pod)) byNode.set(node, [...(byNode.get(node) ?? []), pod]);
    else if (pod.metadata.deletionTimestamp) terminatingOn.add(node);
  }

  // Pods on nodes that no longer exist, and duplicates on one node, go.
  for (const [node, pods] of byNode) {
    const keep = nodes.includes(node) ? 1 : 0;
    const sorted = [...pods].sort((a, b) => Number(isPodReady(b)) - Number(isPodReady(a)));
    for (const pod of sorted.slice(keep)) ctx.store.delete(ctx.types.pods, namespace, pod.metadata.name ?? '');
    if (keep === 0) byNode.delete(node);
    else byNode.set(node, sorted.slice(0, 1));
  }

  let failed = false;
  for (const node of nodes) {
    if (byNode.has(node) || terminatingOn.has(node)) continue;
    const pod = podFromTemplate(spec.template ?? {}, {
      generateName: `${name}-`,
      owner: ds,
      nodeName: node,
      extraLabels: { 'controller-revision-hash': hash, 'pod-template-generation': generation },
    });
    try {
      byNode.set(node, [ctx.store.create(ctx.types.pods, namespace, pod)]);
    } catch (error) {
      ctx.recordEvent(ds, 'Warning', 'FailedCreate', `Error creating: ${errorMessage(error)}`, 'daemonset-controller');
      failed = true;
      break;
    }
  }
  ctx.setFailing('DaemonSet', namespace, name, failed);
  if (failed) ctx.enqueueAfter(1_000, 'DaemonSet', namespace, name);

  if (spec.updateStrategy?.type !== 'OnDelete') {
    const podOf = (node: string) => byNode.get(node)?.[0];
    let unavailable = nodes.filter((node) => {
      const p = podOf(node);
      return !p || !isPodReady(p);
    }).length;
    for (const node of nodes) {
      const pod = podOf(node);
      if (!pod || pod.metadata.labels?.['controller-revision-hash'] === hash) continue;
      // An outdated pod that is not Ready costs no availability; a Ready one needs budget.
      if (!isPodReady(pod)) {
        ctx.store.delete(ctx.types.pods, namespace, pod.metadata.name ?? '');
        byNode.delete(node);
      } else if (unavailable < maxUnavailable) {
        ctx.store.delete(ctx.types.pods, namespace, pod.metadata.name ?? '');
        byNode.delete(node);
        unavailable++;
      }
    }
  }

  const pods = nodes.map((node) => byNode.get(node)?.[0]).filter((p): p is KubeObject => p !== undefined);
  const ready = pods.filter(isPodReady).length;
  writeStatus(ctx, ctx.types.daemonsets, ds, {
    observedGeneration: ds.metadata.generation ?? 1,
    currentNumberScheduled: pods.length,
    desiredNumberScheduled: nodes.length,
    numberMisscheduled: 0,
    numberReady: ready,
    numberAvailable: ready,
    ...(nodes.length - ready > 0 ? { numberUnavailable: nodes.length - ready } : {}),
    updatedNumberScheduled: pods.filter((p) => p.metadata.labels?.['controller-revision-hash'] === hash).length,
  });
}
