/**
 * The measure action: every gate check of the policy measured over the wave (and, for cohort
 * baselines, over the proxies still on the old revision). It returns the RAW measurements;
 * the engine judges them against thresholds and baselines (src/engine/gates.ts).
 */
import type { Action, Observation } from '../../engine/decide.ts';
import type { GateMeasurement } from '../../engine/gates.ts';
import type { RunState } from '../../engine/state.ts';
import { podRevision } from '../../mesh/labels.ts';
import type { KubeObject } from '../../ports/cluster.ts';
import { GATEWAY_NAME_LABEL } from '../../mesh/gateway-api.ts';
import type { MeasureScope } from '../../ports/metrics.ts';
import { podsIn, type ActionContext } from './context.ts';

export async function measure(
  ctx: ActionContext,
  state: RunState,
  action: Extract<Action, { type: 'measure' }>,
): Promise<Observation> {
  const metrics = ctx.metrics;
  const gateways = action.gatewayApi
    ? (state.gatewayApi?.gateways ?? []).filter((g) => g.mode === 'pinned' && g.wave === undefined)
    : [];
  // A wave measures its namespaces and the ambient ones it names (their waypoints moved); the
  // gateways wave the namespaces of its Gateways.
  const namespaces = action.gatewayApi
    ? [...new Set(gateways.map((g) => g.namespace))].sort()
    : [
        ...Object.entries(state.namespaces)
          .filter(([, ns]) => ns.wave === action.wave)
          .map(([name]) => name),
        ...Object.entries(state.gatewayApi?.ambient ?? {})
          .filter(([, wave]) => wave === action.wave)
          .map(([name]) => name),
      ];
  const versions = await revisionVersions(ctx);
  const fromVersion = versions.get(state.from);
  const toVersion = versions.get(state.to);
  const only = action.gatewayApi ? new Set(gateways.map((g) => `${g.namespace}/${g.name}`)) : undefined;
  const expected = action.mode === 'bake' ? await expectedPods(ctx, state, action.wave, namespaces, only) : undefined;
  const checks = action.gatewayApi ? ctx.spec.gatewayApi.gates : ctx.spec.gates.checks;
  const base: Omit<MeasureScope, 'subject'> = {
    namespaces,
    fromRevision: state.from,
    toRevision: state.to,
    ...(fromVersion ? { fromVersion } : {}),
    // Before the move every proxy of the wave is on the old revision: no version filter then.
    ...(toVersion && action.mode === 'bake' ? { toVersion } : {}),
    ...(action.gatewayApi ? { gateways: gateways.map((g) => ({ namespace: g.namespace, name: g.name })) } : {}),
    at: ctx.now(),
  };
  const measurements: GateMeasurement[] = await Promise.all(
    checks.map(async (check): Promise<GateMeasurement> => {
      if (!metrics) return { check: check.name, wave: { kind: 'error', reason: 'no Prometheus configured' } };
      const wave = await metrics.measure(check, {
        ...base,
        subject: 'wave',
        ...(expected ? { expectedPods: expected } : {}),
      });
      if (action.mode === 'baseline' || check.baseline !== 'cohort') return { check: check.name, wave };
      const cohort = await metrics.measure(check, { ...base, subject: 'cohort' });
      return { check: check.name, wave, cohort };
    }),
  );
  return { type: 'measure', measurements };
}

/** Revision versions are read once per executor: they do not change during a run. */
async function revisionVersions(ctx: ActionContext): Promise<Map<string, string | undefined>> {
  if (!ctx.memo.versions) {
    const snapshot = await ctx.mesh();
    ctx.memo.versions = new Map(snapshot.revisions.map((r) => [r.name, r.version]));
  }
  return ctx.memo.versions;
}

/** The wave's proxies on the new revision, listed once per wave for the coverage check. */
async function expectedPods(
  ctx: ActionContext,
  state: RunState,
  wave: number,
  namespaces: readonly string[],
  /** The gateways wave: only the pods of these Gateways (`namespace/name`). */
  gateways?: ReadonlySet<string>,
): Promise<{ namespace: string; pod: string }[]> {
  const known = ctx.memo.expectedPods.get(wave);
  if (known) return known;
  const pods = await podsIn(ctx, namespaces);
  const ofGateway = (p: KubeObject) =>
    !gateways || gateways.has(`${p.metadata.namespace ?? ''}/${p.metadata.labels?.[GATEWAY_NAME_LABEL] ?? ''}`);
  const expected = pods
    .filter((p) => podRevision(p) === state.to && !p.metadata['deletionTimestamp'] && ofGateway(p))
    .map((p) => ({ namespace: p.metadata.namespace ?? '', pod: p.metadata.name ?? '' }));
  ctx.memo.expectedPods.set(wave, expected);
  return expected;
}
