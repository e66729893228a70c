/**
 * The mutation list `revroll plan` prints: the run simulated by the engine (src/engine/simulate.ts)
 * over the plan and the cluster as the planner saw it, plus what the snapshot does not hold, read
 * here: the objects of each gateway the run relabels, and (when stragglers are deleted) the pods.
 */
import type { ClusterSnapshot, RunPlan } from '../engine/plan.ts';
import { simulateRun, type PlannedMutation } from '../engine/simulate.ts';
import { findNodeAgents, nodeAgentSelectors } from '../mesh/ambient.ts';
import { listGatewayObjects } from '../mesh/gateways.ts';
import { podProjection } from '../mesh/projections.ts';
import type { UninstallTarget } from '../mesh/uninstall.ts';
import { Resources, type ClusterPort, type KubeObject } from '../ports/cluster.ts';
import type { Policy } from '../policy/types.ts';

export async function planMutations(
  cluster: ClusterPort,
  policy: Policy,
  plan: RunPlan,
  snapshot: ClusterSnapshot,
  now: Date,
): Promise<PlannedMutation[]> {
  const gatewayObjects: Record<string, UninstallTarget[]> = {};
  for (const g of plan.gateways) {
    if (g.mode !== 'relabel' || g.app === undefined || g.objectRev === undefined || g.objectRev === plan.to) continue;
    gatewayObjects[`${g.namespace}/${g.app}`] = await listGatewayObjects(cluster, g.namespace, g.app, g.objectRev);
  }
  // Stragglers are deleted only with stragglers: restart; only then do the pods that stay matter.
  const pods =
    policy.spec.workloads.stragglers === 'restart'
      ? await listPods(
          cluster,
          plan.waves.flatMap((w) => w.namespaces.map((ns) => ns.name)),
        )
      : [];
  // ztunnel and istio-cni matter only to an uninstall (it refuses while they carry the revision).
  const uninstalls = policy.spec.promote.uninstallPrevious || policy.spec.rollback.uninstallCanary;
  const nodeAgents = uninstalls
    ? findNodeAgents(
        (
          await Promise.all(
            Object.values(nodeAgentSelectors).map((labelSelector) =>
              cluster.list(Resources.daemonsets, { labelSelector }),
            ),
          )
        ).flat(),
      )
    : [];
  return simulateRun(policy, plan, snapshot, now, { gatewayObjects, pods, nodeAgents });
}

/** The waves' pods, folded page by page into projections (read whole: convergence reads phase and hostNetwork). */
async function listPods(cluster: ClusterPort, namespaces: readonly string[]): Promise<KubeObject[]> {
  const wanted = new Set(namespaces);
  const pods: KubeObject[] = [];
  await cluster.scan(Resources.pods, {}, (pod) => {
    if (wanted.has(pod.metadata.namespace ?? '')) pods.push(podProjection(pod));
  });
  return pods;
}
