/** The uninstall action: removes a revision's objects once nothing references it and nothing it serves would go. */
import type { Observation } from '../../engine/decide.ts';
import type { RunState } from '../../engine/state.ts';
import { applyMutations } from '../../mesh/tags.ts';
import {
  collectReferences,
  describeTarget,
  listUninstallTargets,
  planUninstall,
  referencingWorkloadKinds,
  selectingNamespaces,
  unsafeDeletions,
  type ProtectedGateway,
} from '../../mesh/uninstall.ts';
import { workloadRefs } from '../../mesh/workloads.ts';
import { Resources } from '../../ports/cluster.ts';
import { UNFINISHED_PODS, type ActionContext } from './context.ts';

export async function uninstall(ctx: ActionContext, state: RunState, revision: string): Promise<Observation> {
  const { cluster, events, istioNs } = ctx;
  const snapshot = await ctx.mesh();
  if (!snapshot.revisions.some((r) => r.name === revision && r.injector)) {
    return { type: 'uninstall', ok: false, refused: [], message: `revision ${revision} is not installed` };
  }
  // Read page by page and keep only what references the revision: a cluster's pods and
  // workloads are never held at once (a pod as metadata only: its annotations name its proxy).
  const collector = collectReferences(snapshot, revision);
  await Promise.all([
    cluster.scan(Resources.pods, { fieldSelector: UNFINISHED_PODS }, collector.pod, { metadataOnly: true }),
    ...referencingWorkloadKinds.map((kind) =>
      cluster.scan(workloadRefs[kind], {}, (workload) => collector.workload(kind, workload)),
    ),
  ]);
  const references = collector.references();
  if (references.length > 0) {
    return {
      type: 'uninstall',
      ok: false,
      refused: references.map((r) => r.detail),
      message: `${references.length} reference(s) to ${revision} remain`,
    };
  }
  const objects = await listUninstallTargets(cluster, revision);
  // The pods of the namespaces whose Services and workloads would go: whom they serve.
  const served = await Promise.all(
    selectingNamespaces(objects).map((namespace) =>
      cluster.list(Resources.pods, { namespace }, { metadataOnly: true }),
    ),
  );
  const unsafe = unsafeDeletions(objects, { revision, pods: served.flat(), protect: protectedGateways(state) });
  if (unsafe.length > 0) {
    await events.record(
      { apiVersion: 'v1', kind: 'Namespace', name: istioNs },
      'RevrollUninstallRefused',
      `uninstall of ${revision} refused, nothing deleted: ${unsafe.slice(0, 5).join('; ')}`,
      'Warning',
    );
    return {
      type: 'uninstall',
      ok: false,
      refused: unsafe,
      message: `${unsafe.length} object(s) of ${revision} still serve traffic or were moved by revroll; nothing deleted`,
    };
  }
  await applyMutations(cluster, planUninstall(objects));
  await events.record(
    { apiVersion: 'v1', kind: 'Namespace', name: istioNs },
    'RevrollUninstalled',
    `revision ${revision} uninstalled: ${objects.length} object(s) deleted: ${objects.map(describeTarget).join(', ')}`,
  );
  return { type: 'uninstall', ok: true, refused: [], message: `uninstalled ${revision} (${objects.length} objects)` };
}

/** The gateways this run moved: an uninstall never deletes any of their objects. */
function protectedGateways(state: RunState): ProtectedGateway[] {
  return state.gateways
    .filter((g) => g.moved)
    .map((g) => ({ namespace: g.namespace, name: g.name, ...(g.app !== undefined ? { app: g.app } : {}) }));
}
