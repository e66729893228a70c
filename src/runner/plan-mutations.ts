/**
 * The mutation list `revroll plan` prints: the run simulated by the engine (src/engine/simulate.ts)
 * over the plan and the cluster as the planner saw it, plus the one thing the snapshot does not
 * hold, read here: the objects of each gateway the run relabels.
 */
import type { ClusterSnapshot, RunPlan } from '../engine/plan.ts';
import { simulateRun, type PlannedMutation } from '../engine/simulate.ts';
import { listGatewayObjects } from '../mesh/gateways.ts';
import type { UninstallTarget } from '../mesh/uninstall.ts';
import type { ClusterPort } from '../ports/cluster.ts';
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
  return simulateRun(policy, plan, snapshot, now, { gatewayObjects });
}
