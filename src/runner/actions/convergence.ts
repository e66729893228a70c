/**
 * Convergence actions: observe which pods of a set of namespaces are not on the revision
 * (`verify`, read-only), and delete the stragglers `decide` recorded (`delete-stragglers`).
 */
import type { Action, Observation } from '../../engine/decide.ts';
import { checkConvergence, type Straggler } from '../../mesh/convergence.ts';
import { podWorkload } from '../../mesh/workloads.ts';
import { Resources } from '../../ports/cluster.ts';
import { errorText, listIn, type ActionContext } from './context.ts';

export async function verify(ctx: ActionContext, action: Extract<Action, { type: 'verify' }>): Promise<Observation> {
  const leave = new Set(action.leave ?? []);
  const listed = await listIn(ctx, Resources.pods, action.namespaces);
  const pods =
    leave.size === 0
      ? listed
      : listed.filter((pod) => {
          const owner = podWorkload(pod);
          return !owner || !leave.has(`${pod.metadata.namespace ?? ''}/${owner.kind}/${owner.name}`);
        });
  const report = checkConvergence(pods, action.revision, new Set(action.namespaces));
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
