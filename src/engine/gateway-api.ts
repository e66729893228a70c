/**
 * Planning the Gateway API Gateways and waypoints of a run (safety invariant 7): which step of
 * the plan would move each one as a side effect (a namespace relabel, a tag move) if nothing were
 * done, whether revroll pins it first (its own `istio.io/rev` set to the revision it runs), where
 * it moves instead (the gateways wave, or the wave naming its ambient namespace), which labels
 * that move writes, and whether a pin comes off on promotion. Pure: no I/O, no clock.
 */
import {
  DATAPLANE_MODE,
  describeOwnership,
  listIstioGateways,
  ownershipView,
  resolveOwner,
  type GatewayApiGateway,
  type OwnershipView,
} from '../mesh/gateway-api.ts';
import { Label } from '../mesh/labels.ts';
import type { Policy } from '../policy/types.ts';
import type { ClusterSnapshot, PlannedTag, PlannedWave, PlanProblem } from './plan.ts';
import type { GatewayApiRecord, RunState } from './state.ts';

/** A mutation of the forward run that can re-render Gateways: the step it is, and what it changes. */
type Mutation = {
  step: string;
  namespaces?: Record<string, string | undefined>;
  tags?: Record<string, string>;
};

export type PlannedGatewayApi = GatewayApiRecord & {
  className: string;
  owner?: string;
  /** How it resolves now, for people. */
  resolution: string;
  /** The steps that would move it as a side effect if nothing were done. */
  movedBy: string[];
};

export type GatewayApiPlan = {
  order: 'after-waves' | 'before-waves';
  /** The step the pin step goes right before (the first step that would move a pinned Gateway). */
  pinBefore?: string;
  /** Tag -> revision when the plan was made, and the default revision: what ownership resolves through. */
  tags: Record<string, string>;
  defaultRevision?: string;
  /** Every Istio-managed Gateway on `from` (the run moves or follows these), then the others (left alone). */
  gateways: PlannedGatewayApi[];
  others: { namespace: string; name: string; resolution: string }[];
  /** Ambient namespaces named by a wave: wave index. Their waypoints move in that wave. */
  ambient: Record<string, number>;
};

export type GatewayApiInput = {
  policy: Policy;
  snapshot: ClusterSnapshot;
  from: string;
  to: string;
  waves: readonly PlannedWave[];
  ambient: Record<string, number>;
  waveTarget: string;
  promoteTags: readonly PlannedTag[];
  canaryTag: PlannedTag | undefined;
};

/** The forward mutations in step order, each with what it changes. */
function forwardMutations(input: GatewayApiInput): Mutation[] {
  const { policy, waves, to, waveTarget, promoteTags, canaryTag } = input;
  const out: Mutation[] = [];
  if (canaryTag) out.push({ step: 'canary-tag', tags: { [canaryTag.tag]: to } });
  for (const wave of waves)
    out.push({
      step: `wave/${wave.name}/migrate`,
      namespaces: Object.fromEntries(wave.namespaces.map((ns) => [ns.name, waveTarget])),
    });
  const moved = new Set(promoteTags.map((t) => t.tag));
  out.push({ step: 'promote/tags', tags: Object.fromEntries(promoteTags.map((t) => [t.tag, to])) });
  if (policy.spec.strategy.restoreOriginalLabels) {
    const restored: Record<string, string | undefined> = {};
    for (const wave of waves)
      for (const ns of wave.namespaces) {
        const o = ns.original;
        const follows =
          o.injection === 'enabled'
            ? moved.has('default')
            : o.injection === undefined && o.rev !== undefined && moved.has(o.rev);
        if (follows) restored[ns.name] = o.rev;
      }
    out.push({ step: 'promote/restore-labels', namespaces: restored });
  }
  return out;
}

type World = { ns: Map<string, string | undefined>; tags: Record<string, string> };

function apply(world: World, m: Mutation): World {
  const ns = new Map(world.ns);
  for (const [name, rev] of Object.entries(m.namespaces ?? {})) ns.set(name, rev);
  return { ns, tags: { ...world.tags, ...(m.tags ?? {}) } };
}

function ownerIn(world: World, g: GatewayApiGateway, view: OwnershipView): string | undefined {
  return resolveOwner(g.ownRev, world.ns.get(g.namespace), { ...view, tags: world.tags }).owner;
}

/** The Gateway API part of the plan. */
export function planGatewayApi(input: GatewayApiInput, problems: PlanProblem[], warnings: string[]): GatewayApiPlan {
  const { policy, from, to } = input;
  const view = ownershipView(input.snapshot.mesh);
  const settings = policy.spec.gatewayApi;
  const all = listIstioGateways(input.snapshot.gatewayApi ?? [], input.snapshot.mesh.namespaces, view);
  const mutations = forwardMutations(input);
  const worlds: World[] = [{ ns: new Map(all.map((g) => [g.namespace, g.namespaceRev])), tags: { ...view.tags } }];
  for (const m of mutations) worlds.push(apply(worlds.at(-1) as World, m));
  const promoteAt = mutations.findIndex((m) => m.step === 'promote/tags');
  const firstWave = mutations.findIndex((m) => m.step.startsWith('wave/'));
  const viewWithTo = { ...view, revisions: new Set([...view.revisions, to]) };
  const overrides = new Map(settings.gateways.map((o) => [`${o.namespace}/${o.name}`, o.mode]));
  settings.gateways.forEach((o, i) => {
    if (!all.some((g) => g.namespace === o.namespace && g.name === o.name))
      problems.push({
        path: `spec.gatewayApi.gateways[${i}]`,
        message: `Gateway ${o.namespace}/${o.name} does not exist or is not rendered by istiod (class istio, istio-waypoint or istio-east-west)`,
      });
  });
  const planned: PlannedGatewayApi[] = [];
  const others: GatewayApiPlan['others'] = [];
  let pinAt = Number.POSITIVE_INFINITY;
  for (const g of all) {
    const resolution = describeOwnership(g, g.ownership);
    if (g.ownership.owner !== from) {
      others.push({ namespace: g.namespace, name: g.name, resolution });
      continue;
    }
    const owners = worlds.map((w) => ownerIn(w, g, viewWithTo));
    const movedBy = mutations.filter((_, i) => owners[i + 1] !== owners[i]).map((m) => m.step);
    const mode = overrides.get(`${g.namespace}/${g.name}`) ?? settings.mode;
    const wave = g.ambientNamespace ? input.ambient[g.namespace] : undefined;
    // The world right after which it moves (index into worlds).
    const movePoint =
      wave !== undefined
        ? mutations.findIndex((m) => m.step === `wave/${input.waves[wave]?.name ?? ''}/migrate`) + 1
        : settings.order === 'before-waves'
          ? Math.max(firstWave, 0)
          : promoteAt + 1;
    const early = mutations.findIndex((m, i) => i < movePoint && owners[i + 1] !== owners[i]);
    const pin = mode === 'pinned' && early >= 0;
    if (pin) pinAt = Math.min(pinAt, early);
    const originalRev = g.ownRev ?? null;
    const final = owners.at(-1);
    const restoreAtMove = owners[movePoint] === to && final === to;
    const moveTo = restoreAtMove ? originalRev : to;
    const unpin = !restoreAtMove && final === to && originalRev !== to;
    if (mode === 'follow' && !movedBy.length)
      warnings.push(
        `Gateway ${g.namespace}/${g.name} follows its namespace or tag (mode follow), but no step moves it: it stays on ${from}`,
      );
    if (mode === 'pinned' && !restoreAtMove && !unpin)
      warnings.push(
        `Gateway ${g.namespace}/${g.name} keeps ${Label.rev}=${to} after the run: without it, it resolves to ${final ?? 'nobody'} (${resolution})`,
      );
    planned.push({
      namespace: g.namespace,
      name: g.name,
      className: g.className,
      deployment: g.deployment,
      waypoint: g.waypoint,
      originalRev,
      ...(g.namespaceRev !== undefined ? { namespaceRev: g.namespaceRev } : {}),
      mode,
      ...(wave !== undefined ? { wave } : {}),
      pin,
      moveTo,
      unpin,
      owner: from,
      resolution,
      movedBy,
    });
  }
  for (const [name, wave] of Object.entries(input.ambient))
    if (!planned.some((g) => g.namespace === name && g.wave === wave))
      problems.push({
        path: `spec.waves[${wave}].namespaces`,
        message: `namespace ${name} is ambient (${DATAPLANE_MODE}=ambient): a wave moves its waypoints, but it has no waypoint owned by ${from}; revroll never labels an ambient namespace istio.io/rev (that would inject sidecars, istio/istio#60313)`,
      });
  const pinBefore = Number.isFinite(pinAt) ? mutations[pinAt]?.step : undefined;
  return {
    order: settings.order,
    ...(pinBefore !== undefined ? { pinBefore } : {}),
    tags: { ...view.tags },
    ...(view.defaultRevision !== undefined ? { defaultRevision: view.defaultRevision } : {}),
    gateways: planned,
    others,
    ambient: input.ambient,
  };
}

/**
 * The owner a Gateway would have NOW with its original labels (no pin), from what the state says
 * the run has done: namespace labels moved or restored, tags moved or moved back.
 */
export function originalOwnerNow(state: RunState, g: GatewayApiRecord): string | undefined {
  const api = state.gatewayApi;
  if (!api) return undefined;
  const done = (kind: string) => state.records.some((r) => r.kind === kind && r.status === 'done');
  const tags: Record<string, string> = { ...api.tags };
  const tagsBack = done('rollback-tags');
  for (const t of state.tags) {
    if (!t.moved) continue;
    if (!tagsBack) tags[t.tag] = t.target;
    else if (t.original !== undefined) tags[t.tag] = t.original;
    else delete tags[t.tag];
  }
  let namespaceRev = g.namespaceRev;
  const ns = state.namespaces[g.namespace];
  if (ns?.moved) {
    const target = state.steps.some((s) => s.kind === 'canary-tag') && state.tags[0] ? state.tags[0].tag : state.to;
    const restored = done('restore-labels') && followsMoved(state, ns);
    if (done('rollback-restore-labels') || (done('rollback-labels') && !ns.pinned)) namespaceRev = ns.rev;
    else if (done('rollback-labels') && ns.pinned) namespaceRev = state.from;
    else namespaceRev = restored ? ns.rev : target;
  }
  return resolveOwner(g.originalRev ?? undefined, namespaceRev, {
    tags,
    revisions: new Set([state.from, state.to]),
    ...(api.defaultRevision !== undefined ? { defaultRevision: api.defaultRevision } : {}),
  }).owner;
}

function followsMoved(state: RunState, ns: { injection?: string; rev?: string }): boolean {
  const canary = state.steps.some((s) => s.kind === 'canary-tag') ? state.tags[0]?.tag : undefined;
  const moved = new Set(
    state.tags.filter((t) => t.moved && t.target === state.to && t.tag !== canary).map((t) => t.tag),
  );
  if (ns.injection === 'enabled') return moved.has('default');
  if (ns.injection === undefined && ns.rev !== undefined) return moved.has(ns.rev);
  return false;
}

/** What the step list needs to know of the Gateway API part (rebuilt from the state by state-schema). */
export type GatewayApiShape = {
  order: 'after-waves' | 'before-waves';
  pinBefore?: string;
  /** Pinned Gateways move in the gateways wave. */
  wave: boolean;
  /** Waves that move the waypoints of the ambient namespaces they name. */
  ambientWaves: ReadonlySet<number>;
  unpin: boolean;
};

export function gatewayApiShape(
  api: (Pick<GatewayApiPlan, 'order' | 'pinBefore'> & { gateways: readonly GatewayApiRecord[] }) | undefined,
): GatewayApiShape | undefined {
  const pinned = (api?.gateways ?? []).filter((g) => g.mode === 'pinned');
  if (!api || pinned.length === 0) return undefined;
  return {
    order: api.order,
    ...(api.pinBefore !== undefined ? { pinBefore: api.pinBefore } : {}),
    wave: pinned.some((g) => g.wave === undefined),
    ambientWaves: new Set(pinned.flatMap((g) => (g.wave !== undefined ? [g.wave] : []))),
    unpin: pinned.some((g) => g.unpin),
  };
}

/** Whether the run has Gateway API steps (and so their rollback steps). */
export function hasGatewayApiSteps(state: Pick<RunState, 'gatewayApi'>): boolean {
  return (state.gatewayApi?.gateways ?? []).some((g) => g.mode === 'pinned');
}
