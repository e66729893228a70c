/**
 * Gateway API actions: set a Gateway's own `istio.io/rev` (pin, move, unpin, revert), then wait
 * until istiod has re-rendered its Deployment and the rollout is done. A move is verified on the
 * rendered Deployment and its pods (pod-template revision, proxy image, the copied label, rollout
 * complete, every pod on the revision), never on Gateway status alone: `Programmed` does not look
 * at the Deployment, and a label change does not bump the Gateway's generation (reference section 4).
 */
import type { Action, GatewayLabelWrite, Observation } from '../../engine/decide.ts';
import {
  copiesLabels,
  GATEWAY_NAME_LABEL,
  GatewayResource,
  planGatewayLabel,
  renderedPending,
} from '../../mesh/gateway-api.ts';
import { Label, podRevision } from '../../mesh/labels.ts';
import { Resources, type KubeObject } from '../../ports/cluster.ts';
import type { ActionContext } from './context.ts';

export async function setGatewayLabels(
  ctx: ActionContext,
  action: Extract<Action, { type: 'set-gateway-labels' }>,
): Promise<Observation> {
  const mesh = await ctx.mesh();
  const versions = new Map(mesh.revisions.map((r) => [r.name, r.version]));
  const copies = new Map<string, boolean>();
  for (const g of action.gateways) {
    const gateway = await ctx.cluster.get(GatewayResource, g.namespace, g.name);
    if (!gateway) return { type: 'done', ok: false, message: `Gateway ${g.namespace}/${g.name} does not exist` };
    copies.set(key(g), copiesLabels(gateway));
    const current = gateway.metadata.labels?.[Label.rev] ?? null;
    if (current === g.rev) continue;
    await ctx.cluster.mutate(planGatewayLabel(g.namespace, g.name, g.rev));
    await ctx.events.record(
      { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', namespace: g.namespace, name: g.name },
      'RevrollGatewayLabelled',
      `Gateway label ${Label.rev}=${g.rev ?? '(removed)'} (was ${current ?? 'absent'}): its Deployment moves to ${g.revision}`,
    );
  }
  const timeout = ctx.spec.workloads.rolloutTimeout;
  const waits = await Promise.all(
    action.gateways.map(async (g) => {
      const version = versions.get(g.revision);
      const why = await waitRendered(ctx, g, { version, copies: copies.get(key(g)) ?? true }, timeout);
      return why === undefined ? undefined : `${g.namespace}/${g.deployment}: ${why}`;
    }),
  );
  const pending = waits.filter((w): w is string => w !== undefined);
  if (pending.length > 0)
    return {
      type: 'done',
      ok: false,
      message: `Gateway Deployments not on their revision after ${Math.round(timeout / 1000)}s: ${pending.join('; ')}`,
    };
  const generations = await Promise.all(
    action.gateways.map(async (g) => {
      const d = await ctx.cluster.get(Resources.deployments, g.namespace, g.deployment);
      return `${g.namespace}/${g.deployment} on ${g.revision} (generation ${d?.metadata.generation ?? '?'})`;
    }),
  );
  return {
    type: 'done',
    ok: true,
    message: `${action.gateways.length} Gateway(s) labelled: ${generations.join(', ')}`,
  };
}

function key(g: Pick<GatewayLabelWrite, 'namespace' | 'name'>): string {
  return `${g.namespace}/${g.name}`;
}

/** Waits for the rendered Deployment, then its pods; the reason it is not there yet, or undefined. */
async function waitRendered(
  ctx: ActionContext,
  g: GatewayLabelWrite,
  want: { version: string | undefined; copies: boolean },
  timeoutMs: number,
): Promise<string | undefined> {
  const started = ctx.now().getTime();
  let why: string | undefined = 'not observed';
  const rendered = await ctx.cluster.waitFor(
    Resources.deployments,
    { namespace: g.namespace, fieldSelector: `metadata.name=${g.deployment}` },
    (objects) => {
      const deployment = [...objects.values()].find((d) => d.metadata.name === g.deployment);
      why = renderedPending(deployment, {
        revision: g.revision,
        ...(want.version !== undefined ? { version: want.version } : {}),
        rev: g.rev,
        copiesLabels: want.copies,
      });
      return why === undefined;
    },
    timeoutMs,
    ctx.signal,
  );
  if (!rendered) return why;
  let stray = 'not observed';
  const left = Math.max(1000, timeoutMs - (ctx.now().getTime() - started));
  const podsOn = await ctx.cluster.waitFor(
    Resources.pods,
    { namespace: g.namespace, labelSelector: `${GATEWAY_NAME_LABEL}=${g.name}` },
    (pods) => {
      const live = [...pods.values()].filter((p: KubeObject) => !p.metadata['deletionTimestamp']);
      const off = live.filter((p) => podRevision(p) !== g.revision);
      stray =
        off.length > 0 ? `pod ${off[0]?.metadata.name ?? ''} runs ${podRevision(off[0] as KubeObject) ?? '?'}` : '';
      return live.length > 0 && off.length === 0;
    },
    left,
    ctx.signal,
  );
  return podsOn ? undefined : stray || 'no pod';
}
