/** Gateway actions: move a gateway's template revision, restart it onto its tag, relabel its own objects. */
import type { GatewayMove, Observation } from '../../engine/decide.ts';
import {
  gatewayObjectKinds,
  gatewayObjectsSelector,
  planGatewayObjectLabel,
  planGatewayRevision,
} from '../../mesh/gateways.ts';
import { planRestart, toWorkload } from '../../mesh/workloads.ts';
import { Resources } from '../../ports/cluster.ts';
import type { ActionContext } from './context.ts';
import { waitRollouts } from './workloads.ts';

export async function moveGateways(ctx: ActionContext, gateways: GatewayMove[]): Promise<Observation> {
  const now = ctx.now();
  for (const g of gateways) await moveGateway(ctx, g, now);
  const wait = await waitRollouts(
    ctx,
    gateways.map((g) => ({ kind: 'Deployment' as const, namespace: g.namespace, name: g.name })),
    ctx.spec.workloads.rolloutTimeout,
  );
  if (!wait.ok)
    return {
      type: 'done',
      ok: false,
      message: `gateway rollout did not finish: ${[...wait.failed, ...wait.pending].join(', ')}`,
    };
  return { type: 'done', ok: true, message: `moved ${gateways.length} gateway(s)` };
}

async function moveGateway(ctx: ActionContext, g: GatewayMove, now: Date): Promise<void> {
  const target = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: g.namespace, name: g.name };
  if (g.rev !== undefined) {
    await ctx.cluster.mutate(planGatewayRevision(g, g.rev));
    await ctx.events.record(target, 'RevrollGatewayMoved', `gateway pod template istio.io/rev=${g.rev ?? '(removed)'}`);
  }
  if (g.restart !== undefined) {
    const object = await ctx.cluster.get(Resources.deployments, g.namespace, g.name);
    const workload = object ? toWorkload('Deployment', object) : undefined;
    if (workload && workload.restartedFor !== g.restart) {
      await ctx.cluster.mutate(planRestart(workload, g.restart, now), { metadataOnly: true });
      await ctx.events.record(
        target,
        'RevrollRestarted',
        `gateway restarted onto the revision its tag points at (${g.restart})`,
      );
    }
  }
  if (g.relabel) await relabelGatewayObjects(ctx, g.namespace, g.relabel);
}

/** The gateway's own objects get the owner label of the revision it now runs (see GatewayMove). */
async function relabelGatewayObjects(
  ctx: ActionContext,
  namespace: string,
  relabel: NonNullable<GatewayMove['relabel']>,
): Promise<void> {
  if (relabel.from === relabel.to) return;
  const selector = gatewayObjectsSelector(relabel.app, relabel.from);
  for (const ref of gatewayObjectKinds) {
    for (const object of await ctx.cluster.list(ref, { namespace, labelSelector: selector })) {
      await ctx.cluster.mutate(planGatewayObjectLabel(ref, object, relabel.to));
    }
  }
}
