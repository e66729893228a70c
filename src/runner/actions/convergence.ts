/**
 * Convergence actions: observe which pods of a set of namespaces are not on the revision
 * (`verify`, read-only), and delete the stragglers `decide` recorded (`delete-stragglers`).
 */
import type { Action, Observation } from '../../engine/decide.ts';
import { checkConvergence, type Straggler } from '../../mesh/convergence.ts';
import { podWorkload } from '../../mesh/workloads.ts';
import { Resources, type KubeObject } from '../../ports/cluster.ts';
import { errorText, podsIn, type ActionContext } from './context.ts';

export async function verify(ctx: ActionContext, action: Extract<Action, { type: 'verify' }>): Promise<Observation> {
  const leave = new Set(action.leave ?? []);
  const kept = (pod: KubeObject) => {
    const owner = podWorkload(pod);
    return !owner || !leave.has(`${pod.metadata.namespace ?? ''}/${owner.kind}/${owner.name}`);
  };
  const injecting = new Set(action.namespaces);
  let pods = (await podsIn(ctx, action.namespaces, { unfinished: true })).filter(kept);
  let report = checkConvergence(pods, action.revision, injecting);
  // A metadata-only read does not say whether an uninjected pod uses the host network (never
  // injected, so no straggler): read those namespaces' pods in full, once, and judge again.
  const uninjected = new Set(report.stragglers.filter((s) => s.revision === undefined).map((s) => s.namespace));
  if (uninjected.size > 0) {
    const full = (await podsIn(ctx, [...uninjected], { unfinished: true, full: true })).filter(kept);
    pods = [...pods.filter((p) => !uninjected.has(p.metadata.namespace ?? '')), ...full];
    report = checkConvergence(pods, action.revision, injecting);
  }
  return { type: 'verify', stragglers: report.stragglers, converged: report.converged };
}

/** Deletes each straggler pod (its controller recreates it on the revision); a failed delete is reported, not thrown. */
export async function deleteStragglers(
  ctx: ActionContext,
  action: Extract<Action, { type: 'delete-stragglers' }>,
): Promise<Observation> {
  const deleted: Straggler[] = [];
  const failed: Straggler[] = [];
  for (const s of action.stragglers) {
    try {
      await ctx.cluster.mutate({ op: 'delete', ref: Resources.pods, namespace: s.namespace, name: s.pod });
      await ctx.events.record(
        { apiVersion: 'v1', kind: 'Pod', namespace: s.namespace, name: s.pod },
        'RevrollStragglerDeleted',
        `deleted: ${s.reason}`,
        'Warning',
      );
      deleted.push(s);
    } catch (error) {
      failed.push({ ...s, reason: `${s.reason}; delete failed: ${errorText(error)}` });
    }
  }
  return { type: 'delete-stragglers', deleted: deleted.length, failed };
}
