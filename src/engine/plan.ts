/**
 * The planner: policy + a snapshot of the cluster -> the resolved waves, every step in order,
 * the plan hash approvals are bound to, and the time arithmetic. Pure: no I/O, no clock.
 */
import { createHash } from 'node:crypto';
import { labelSelectorRequirements, matches } from '../lib/label-selector.ts';
import type { MeshSnapshot } from '../mesh/revisions.ts';
import { istiodName } from '../mesh/labels.ts';
import { injectionLabels, injectionMode, type InjectionLabels } from '../mesh/namespaces.ts';
import { gatewayInfo, gatewayRevision, isInjectedGateway } from '../mesh/gateways.ts';
import { describeTarget, type UninstallTarget } from '../mesh/uninstall.ts';
import type { Workload } from '../mesh/workloads.ts';
import type { KubeObject } from '../ports/cluster.ts';
import { identitySpec } from '../policy/identity.ts';
import type { Policy } from '../policy/types.ts';
import type { Step } from './state.ts';
import { gatewayApiShape, planGatewayApi, type GatewayApiPlan, type GatewayApiShape } from './gateway-api.ts';
import { DATAPLANE_MODE } from '../mesh/gateway-api.ts';

/** What the planner reads from the cluster (listed once by the runner). */
export type ClusterSnapshot = {
  mesh: MeshSnapshot;
  /** Workloads of the kinds the policy restarts, cluster-wide. */
  workloads: readonly Workload[];
  /** Pods per namespace. */
  podCounts: Readonly<Record<string, number>>;
  /** Gateway Deployments: those named by `spec.gateways` and every injected gateway in the cluster. */
  gateways: readonly KubeObject[];
  /** Gateway API Gateways (`gateway.networking.k8s.io/v1`), cluster-wide; absent or empty without the CRDs. */
  gatewayApi?: readonly KubeObject[];
  /** Per revision the policy may uninstall: what the uninstall selector matches now. */
  uninstall?: Readonly<Record<string, readonly UninstallTarget[]>>;
};

export type PlannedNamespace = {
  name: string;
  original: InjectionLabels;
  workloads: { kind: Workload['kind']; name: string; replicas: number }[];
  /**
   * Workloads left alone, with why. `leave` marks those a run must keep its hands off although
   * nothing else would skip them (named by spec.workloads.exclude; unhealthy before the upgrade,
   * spec.workloads.unhealthy: skip): their pods are no stragglers, never deleted.
   */
  skipped: { kind: Workload['kind']; name: string; reason: string; leave?: true }[];
  pods: number;
};

export type PlannedWave = {
  index: number;
  name: string;
  namespaces: PlannedNamespace[];
  maxParallelRestarts: number;
  bakeMs: number;
};

export type PlannedGateway = {
  namespace: string;
  name: string;
  original: string | null;
  upgrade: 'withFirstWave' | 'afterLastWave' | 'onPromote';
  injected: boolean;
  mode: 'relabel' | 'restart';
  found?: boolean;
  app?: string;
  objectRev?: string;
};

/** An uninstall the plan may perform, with every object it would delete as things stand. */
export type PlannedUninstall = {
  revision: string;
  when: 'promote' | 'rollback';
  /** `Kind namespace/name`, in deletion order. */
  deletes: string[];
};

export type PlannedTag = { tag: string; original?: string; target: string };

export type RunPlan = {
  policy: string;
  from: string;
  to: string;
  strategy: 'labels' | 'tags';
  /** The label value namespaces get during waves: the revision (labels) or the canary tag (tags). */
  waveTarget: string;
  waves: PlannedWave[];
  gateways: PlannedGateway[];
  /** Tags moved on promotion. */
  promoteTags: PlannedTag[];
  /** The uninstalls the policy asks for, with what they would delete. */
  uninstalls: PlannedUninstall[];
  /** The canary tag pointed at `to` before the first wave (tags strategy). */
  canaryTag?: PlannedTag;
  /** Gateway API Gateways and waypoints: who owns each, what would move it, what the run does instead. */
  gatewayApi: GatewayApiPlan;
  steps: Step[];
  hash: string;
  timing: Timing;
  /** Eligible namespaces no wave moves. */
  unplanned: string[];
  warnings: string[];
};

export type Timing = {
  /** Per wave: the longest it may take (rollout timeout + warm-up + bake). */
  perWaveMaxMs: number[];
  /** Per wave: warm-up + bake, the part that does not depend on rollout speed. */
  perWaveFixedMs: number[];
  totalMaxMs: number;
  /** From the end of a wave's warm-up to a rollback decision, at worst: failureLimit x interval. */
  detectMs: number;
};

export type PlanProblem = { path: string; message: string };

/** Why a workload named by spec.workloads.exclude is skipped (its pods keep the old proxies). */
export const EXCLUDED_REASON = 'excluded by spec.workloads.exclude';

const SYSTEM_NAMESPACES = new Set(['kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage']);

/** Resolves `from: auto` against the `default` tag. */
export function resolveFrom(policy: Policy, mesh: MeshSnapshot): { from?: string; problem?: PlanProblem } {
  const from = policy.spec.revisions.from;
  if (from !== 'auto') return { from };
  if (mesh.defaultRevision) {
    const rev = mesh.defaultRevision;
    if (!mesh.revisions.some((r) => r.name === rev && r.deployment))
      return {
        problem: {
          path: 'spec.revisions.from',
          message: `from: auto, but the default tag points at revision ${rev}, which is not installed (no ${istiodName(rev)} Deployment in ${mesh.istioNamespace}): new pods that follow it get no proxy. Point the tag at an installed revision (istioctl tag set default --revision <rev> --overwrite) or name the revision in spec.revisions.from`,
        },
      };
    return { from: rev };
  }
  return {
    problem: {
      path: 'spec.revisions.from',
      message:
        'from: auto, but no default revision was found (no istio-revision-tag-default and no active unrevisioned injector)',
    },
  };
}

/** Whether a namespace currently injects with `from` (the namespaces a run may move). */
export function followsRevision(labels: InjectionLabels, from: string, mesh: MeshSnapshot): boolean {
  const mode = injectionMode(labels);
  switch (mode.kind) {
    case 'default-enabled':
      return mesh.defaultRevision === from;
    case 'rev': {
      if (mode.name === from) return true;
      const tag = mesh.tags.find((t) => t.tag === mode.name);
      return tag?.revision === from;
    }
    case 'disabled':
    case 'none':
      return false;
  }
}

export function planRun(policy: Policy, snapshot: ClusterSnapshot): { plan?: RunPlan; problems: PlanProblem[] } {
  const spec = policy.spec;
  const problems: PlanProblem[] = [];
  const warnings: string[] = [];
  const { from, problem } = resolveFrom(policy, snapshot.mesh);
  if (problem) problems.push(problem);
  const to = spec.revisions.to;
  if (!snapshot.mesh.revisions.some((r) => r.name === to && r.deployment)) warnings.push(notInstalledWarning(spec));
  if (from !== undefined && from === to)
    problems.push({
      path: 'spec.revisions',
      message: `the cluster already runs ${to} as the revision to upgrade from`,
    });
  const strategy = spec.strategy.type;
  const waveTarget = strategy === 'tags' ? (spec.strategy.canaryTag ?? '') : to;

  const excluded = new Set(spec.workloads.exclude.namespaces);
  const byName = new Map(snapshot.mesh.namespaces.map((ns) => [ns.metadata.name ?? '', ns]));
  const eligible = snapshot.mesh.namespaces
    .filter((ns) => {
      const name = ns.metadata.name ?? '';
      if (excluded.has(name) || name === spec.revisions.istioNamespace || SYSTEM_NAMESPACES.has(name)) return false;
      return from !== undefined && followsRevision(injectionLabels(ns), from, snapshot.mesh);
    })
    .map((ns) => ns.metadata.name ?? '')
    .sort();
  const remaining = new Set(eligible);
  const ambient: Record<string, number> = {};

  const workloadsByNs = byNamespace(snapshot.workloads);
  const excludedWorkloads = new Set(spec.workloads.exclude.workloads.map((w) => `${w.kind}/${w.namespace}/${w.name}`));
  const kinds = new Set(spec.workloads.kinds);

  const unhealthy: string[] = [];
  const planNamespace = (name: string): PlannedNamespace => {
    const ns = byName.get(name) as KubeObject;
    const workloads: PlannedNamespace['workloads'] = [];
    const skipped: PlannedNamespace['skipped'] = [];
    for (const w of (workloadsByNs.get(name) ?? []).sort((a, b) =>
      a.kind === b.kind ? a.name.localeCompare(b.name) : a.kind.localeCompare(b.kind),
    )) {
      if (!kinds.has(w.kind)) continue;
      if (excludedWorkloads.has(`${w.kind}/${w.namespace}/${w.name}`))
        // Never touched: not restarted, and its pods are no stragglers to delete (they keep the old proxies).
        skipped.push({ kind: w.kind, name: w.name, reason: EXCLUDED_REASON, leave: true });
      else if (w.optOut) skipped.push({ kind: w.kind, name: w.name, reason: w.optOut });
      else if (w.unhealthy && spec.workloads.unhealthy === 'skip')
        skipped.push({
          kind: w.kind,
          name: w.name,
          reason: `${w.unhealthy} (spec.workloads.unhealthy: skip)`,
          leave: true,
        });
      else if (w.unhealthy) unhealthy.push(`${w.kind} ${w.namespace}/${w.name} is ${w.unhealthy}`);
      else workloads.push({ kind: w.kind, name: w.name, replicas: w.replicas });
    }
    return { name, original: injectionLabels(ns), workloads, skipped, pods: snapshot.podCounts[name] ?? 0 };
  };

  const waves: PlannedWave[] = spec.waves.map((wave, index) => {
    let chosen: string[] = [];
    const selection = wave.namespaces;
    switch (selection.kind) {
      case 'names':
        chosen = namedNamespaces(selection.names, index, { byName, excluded, from, remaining, problems, ambient });
        break;
      case 'selector': {
        const requirements = labelSelectorRequirements(selection.selector);
        chosen = [...remaining].filter((name) => matches(requirements, byName.get(name)?.metadata.labels));
        break;
      }
      case 'percent':
        chosen = [...remaining].slice(0, Math.ceil((remaining.size * selection.percent) / 100));
        break;
      case 'count':
        chosen = [...remaining].slice(0, selection.count);
        break;
    }
    for (const name of chosen) remaining.delete(name);
    if (chosen.length === 0 && selection.kind !== 'names') warnings.push(`wave ${wave.name} selects no namespace`);
    return {
      index,
      name: wave.name,
      namespaces: chosen.sort().map(planNamespace),
      maxParallelRestarts: wave.maxParallelRestarts,
      bakeMs: wave.bake,
    };
  });
  for (const message of unhealthy)
    problems.push({
      path: 'spec.workloads.unhealthy',
      message: `${message}; or set spec.workloads.unhealthy: skip to leave such workloads on the old revision`,
    });
  const unplanned = [...remaining].sort();
  if (unplanned.length > 0) warnings.push(unplannedWarning(unplanned, from));

  const { tagsToMove, promoteTags, canaryTag } = planTags(spec, snapshot, to, problems);
  const gateways = from === undefined ? [] : planGateways(policy, snapshot, from, tagsToMove, problems, warnings);
  const uninstalls = from === undefined ? [] : planUninstalls(policy, snapshot, from, to, gateways);

  const gatewayApi = planGatewayApi(
    { policy, snapshot, from: from ?? '', to, waves, ambient, waveTarget, promoteTags, canaryTag },
    problems,
    warnings,
  );
  const steps = buildSteps(policy, waves, gateways, from ?? '', gatewayApiShape(gatewayApi));
  const timing = timingOf(spec, waves, steps);
  if (problems.length > 0 || from === undefined) return { problems };
  const plan: Omit<RunPlan, 'hash'> = {
    policy: policy.metadata.name,
    from,
    to,
    strategy,
    waveTarget,
    waves,
    gateways,
    promoteTags,
    uninstalls,
    ...(canaryTag ? { canaryTag } : {}),
    gatewayApi,
    steps,
    timing,
    unplanned,
    warnings,
  };
  return { plan: { ...plan, hash: planHash(policy, plan) }, problems };
}

function byNamespace(workloads: readonly Workload[]): Map<string, Workload[]> {
  const out = new Map<string, Workload[]>();
  for (const workload of workloads) {
    const list = out.get(workload.namespace) ?? [];
    list.push(workload);
    out.set(workload.namespace, list);
  }
  return out;
}

/** Namespaces on the old revision that no wave moves keep it referenced. */
function unplannedWarning(unplanned: readonly string[], from: string | undefined): string {
  return `${unplanned.length} namespace(s) inject from ${from} but no wave moves them (${unplanned.slice(0, 5).join(', ')}${unplanned.length > 5 ? ', ...' : ''}); their pods keep the old proxies, and uninstalling ${from} will be refused while they do`;
}

/** The install step's note when the new revision is not installed yet. */
function notInstalledWarning(spec: Policy['spec']): string {
  const to = spec.revisions.to;
  return spec.install.mode === 'external'
    ? `revision ${to} is not installed yet: the install step waits up to ${Math.round(spec.install.readyTimeout / 60_000)} min for an external install (spec.install.mode: external)`
    : `revision ${to} is not installed yet: the install step runs ${spec.install.command ?? spec.install.mode} to install it`;
}

/** The namespaces a wave names, each checked: it exists, is not excluded, and injects from `from`. */
function namedNamespaces(
  names: readonly string[],
  index: number,
  known: {
    byName: ReadonlyMap<string, KubeObject>;
    excluded: ReadonlySet<string>;
    from: string | undefined;
    remaining: ReadonlySet<string>;
    problems: PlanProblem[];
    /** Ambient namespaces named here: their waypoints move in this wave. */
    ambient: Record<string, number>;
  },
): string[] {
  const { byName, excluded, from, remaining, problems } = known;
  const chosen: string[] = [];
  names.forEach((name, i) => {
    const ns = byName.get(name);
    if (!ns) {
      problems.push({
        path: `spec.waves[${index}].namespaces.names[${i}]`,
        message: `namespace ${name} does not exist`,
      });
    } else if (excluded.has(name)) {
      problems.push({
        path: `spec.waves[${index}].namespaces.names[${i}]`,
        message: `namespace ${name} is excluded by spec.workloads.exclude.namespaces`,
      });
    } else if (from === undefined) {
      // Nothing can be said of what a namespace injects from: the spec.revisions problem says why.
    } else if (ns.metadata.labels?.[DATAPLANE_MODE] === 'ambient' && !remaining.has(name)) {
      known.ambient[name] = index;
    } else if (!remaining.has(name)) {
      const labels = injectionLabels(ns);
      problems.push({
        path: `spec.waves[${index}].namespaces.names[${i}]`,
        message: `namespace ${name} does not inject from revision ${from ?? '?'} (${describeLabels(labels)})${injectionMode(labels).kind === 'default-enabled' && labels.rev ? ': istio-injection=enabled overrides its istio.io/rev label' : ''}`,
      });
    } else {
      chosen.push(name);
    }
  });
  return chosen;
}

/** The tags promotion moves (the stable tag too, for the tags strategy) and the canary tag. */
function planTags(
  spec: Policy['spec'],
  snapshot: ClusterSnapshot,
  to: string,
  problems: PlanProblem[],
): { tagsToMove: Set<string>; promoteTags: PlannedTag[]; canaryTag?: PlannedTag } {
  const tagsToMove = new Set(spec.promote.tags);
  if (spec.strategy.type === 'tags' && spec.strategy.stableTag) tagsToMove.add(spec.strategy.stableTag);
  const promoteTags: PlannedTag[] = [...tagsToMove].map((tag) => {
    const current = snapshot.mesh.tags.find((t) => t.tag === tag)?.revision;
    return { tag, ...(current ? { original: current } : {}), target: to };
  });
  if (spec.strategy.type !== 'tags') return { tagsToMove, promoteTags };
  const name = spec.strategy.canaryTag ?? '';
  const current = snapshot.mesh.tags.find((t) => t.tag === name)?.revision;
  const canaryTag = { tag: name, ...(current ? { original: current } : {}), target: to };
  const stable = spec.strategy.stableTag ?? '';
  if (!snapshot.mesh.tags.some((t) => t.tag === stable))
    problems.push({ path: 'spec.strategy.stableTag', message: `revision tag ${stable} does not exist` });
  return { tagsToMove, promoteTags, canaryTag };
}

/** The time arithmetic of the plan: per wave, in all, and how fast a failing canary is seen. */
function timingOf(spec: Policy['spec'], waves: readonly PlannedWave[], steps: readonly Step[]): Timing {
  const gates = spec.gates;
  const perWaveFixedMs = waves.map((w) => gates.warmup + w.bakeMs);
  const perWaveMaxMs = waves.map((_, i) => spec.workloads.rolloutTimeout + (perWaveFixedMs[i] ?? 0));
  // The gateways wave: its rollout, warm-up and bake.
  const gatewayWave = steps.some((s) => s.kind === 'gateway-api-move' && s.wave === undefined)
    ? spec.workloads.rolloutTimeout + spec.gatewayApi.warmup + spec.gatewayApi.bake
    : 0;
  return {
    perWaveMaxMs,
    perWaveFixedMs,
    totalMaxMs: perWaveMaxMs.reduce((a, b) => a + b, 0) + gatewayWave,
    detectMs: gates.checks.some((c) => !c.shadow) ? gates.interval * gates.failureLimit : 0,
  };
}

/**
 * The gateways a run moves: those `spec.gateways` names (as configured), and every other injected
 * gateway found in the cluster whose pods get `from`, moved on promotion so that promotion leaves
 * every gateway on the new revision (and an uninstall of `from` has nothing left to break). A
 * found gateway that follows a promoted tag or the default revision is restarted once the tag has
 * moved, keeping its template as the operator wrote it; one pinned to `from` by name is relabelled,
 * as istioctl's in-place gateway upgrade does.
 */
function planGateways(
  policy: Policy,
  snapshot: ClusterSnapshot,
  from: string,
  tagsToMove: ReadonlySet<string>,
  problems: PlanProblem[],
  warnings: string[],
): PlannedGateway[] {
  const gateways: PlannedGateway[] = [];
  const named = new Set<string>();
  policy.spec.gateways.forEach((gateway, i) => {
    named.add(`${gateway.namespace}/${gateway.name}`);
    const found = snapshot.gateways.find(
      (d) => d.metadata.name === gateway.name && d.metadata.namespace === gateway.namespace,
    );
    if (!found) {
      problems.push({
        path: `spec.gateways[${i}]`,
        message: `gateway Deployment ${gateway.namespace}/${gateway.name} does not exist`,
      });
      return;
    }
    const info = gatewayInfo(found);
    if (!info.injected) {
      problems.push({
        path: `spec.gateways[${i}]`,
        message: `gateway ${gateway.namespace}/${gateway.name} has its proxy baked in (not injected); revroll moves injected gateways only`,
      });
      return;
    }
    gateways.push({
      namespace: gateway.namespace,
      name: gateway.name,
      original: info.rev ?? null,
      upgrade: gateway.upgrade,
      injected: true,
      mode: 'relabel',
      ...(info.app !== undefined ? { app: info.app } : {}),
      ...(info.objectRev !== undefined ? { objectRev: info.objectRev } : {}),
    });
  });
  const defaultMoves = tagsToMove.has('default');
  for (const deployment of snapshot.gateways) {
    const info = gatewayInfo(deployment);
    if (named.has(`${info.namespace}/${info.name}`) || !isInjectedGateway(deployment)) continue;
    if (gatewayRevision(info, snapshot.mesh) !== from) continue;
    const followsTag = info.rev === undefined ? defaultMoves : info.rev !== from && tagsToMove.has(info.rev);
    const mode = followsTag ? 'restart' : 'relabel';
    gateways.push({
      namespace: info.namespace,
      name: info.name,
      original: info.rev ?? null,
      upgrade: 'onPromote',
      injected: true,
      mode,
      found: true,
      ...(info.app !== undefined ? { app: info.app } : {}),
      ...(info.objectRev !== undefined ? { objectRev: info.objectRev } : {}),
    });
    warnings.push(
      `gateway ${info.namespace}/${info.name} runs ${from} and is not in spec.gateways: it moves on promotion (${mode === 'restart' ? `restarted once ${info.rev ?? 'the default tag'} points at the new revision` : 'its template istio.io/rev is set to the new revision'}); name it in spec.gateways to choose when`,
    );
  }
  return gateways;
}

/**
 * What each uninstall the policy asks for would delete: the objects its selector matches now,
 * less the objects of gateways the run moves (relabelled to the revision they then run).
 */
function planUninstalls(
  policy: Policy,
  snapshot: ClusterSnapshot,
  from: string,
  to: string,
  gateways: readonly PlannedGateway[],
): PlannedUninstall[] {
  const moved = new Set(
    gateways
      .filter((g) => g.mode === 'relabel' && g.app !== undefined && g.objectRev === from)
      .map((g) => `${g.namespace}/${g.app}`),
  );
  const list = (revision: string, when: PlannedUninstall['when']): PlannedUninstall => ({
    revision,
    when,
    deletes: (snapshot.uninstall?.[revision] ?? [])
      .filter(
        (t) =>
          when !== 'promote' ||
          !moved.has(`${t.object.metadata.namespace ?? ''}/${t.object.metadata.labels?.['app'] ?? ''}`),
      )
      .map(describeTarget),
  });
  const out: PlannedUninstall[] = [];
  if (policy.spec.promote.uninstallPrevious) out.push(list(from, 'promote'));
  if (policy.spec.rollback.uninstallCanary) out.push(list(to, 'rollback'));
  return out;
}

/** The forward steps of a run, in order. */
export function buildSteps(
  policy: Policy,
  waves: readonly PlannedWave[],
  gateways: readonly PlannedGateway[],
  from: string,
  gatewayApi?: GatewayApiShape,
): Step[] {
  const spec = policy.spec;
  const steps: Step[] = [
    { id: 'precheck', kind: 'precheck' },
    { id: 'install', kind: 'install' },
  ];
  if (spec.strategy.type === 'tags') steps.push({ id: 'canary-tag', kind: 'canary-tag' });
  if (spec.approvals.beforeFirstWave)
    steps.push({ id: 'approval/before-first-wave', kind: 'approval', point: 'before-first-wave' });
  const hasGates = spec.gates.checks.length > 0;
  const withGateways = (when: PlannedGateway['upgrade']) => gateways.some((g) => g.upgrade === when);
  if (gatewayApi?.wave && gatewayApi.order === 'before-waves') steps.push(...gatewayApiWave(policy));
  waves.forEach((wave, index) => {
    const id = (kind: string) => `wave/${wave.name}/${kind}`;
    if (hasGates) steps.push({ id: id('baseline'), kind: 'baseline', wave: index });
    steps.push({ id: id('canary-health'), kind: 'canary-health', wave: index });
    steps.push({ id: id('migrate'), kind: 'migrate', wave: index });
    if (gatewayApi?.ambientWaves.has(index)) steps.push({ id: id('waypoints'), kind: 'gateway-api-move', wave: index });
    if (index === 0 && withGateways('withFirstWave'))
      steps.push({ id: id('gateways'), kind: 'gateways', wave: index, gateways: 'withFirstWave' });
    steps.push(
      { id: id('restart'), kind: 'restart', wave: index },
      { id: id('rollout'), kind: 'rollout', wave: index },
      { id: id('converge'), kind: 'converge', wave: index },
    );
    if (spec.workloads.stragglers === 'restart')
      steps.push({ id: id('delete-stragglers'), kind: 'delete-stragglers', wave: index });
    steps.push({ id: id('warmup'), kind: 'warmup', wave: index }, { id: id('bake'), kind: 'bake', wave: index });
    if (spec.waves[index]?.approval.required)
      steps.push({ id: id('approval'), kind: 'approval', wave: index, point: 'wave' });
  });
  if (withGateways('afterLastWave'))
    steps.push({ id: 'gateways/after-last-wave', kind: 'gateways', gateways: 'afterLastWave' });
  if (spec.promote.approval.required) steps.push({ id: 'approval/promote', kind: 'approval', point: 'promote' });
  steps.push({ id: 'promote/canary-health', kind: 'canary-health' });
  steps.push({ id: 'promote/tags', kind: 'promote-tags' });
  if (withGateways('onPromote')) steps.push({ id: 'promote/gateways', kind: 'gateways', gateways: 'onPromote' });
  if (gatewayApi?.wave && gatewayApi.order === 'after-waves') steps.push(...gatewayApiWave(policy));
  if (spec.strategy.restoreOriginalLabels) steps.push({ id: 'promote/restore-labels', kind: 'restore-labels' });
  if (gatewayApi?.unpin) steps.push({ id: 'promote/unpin-gateways', kind: 'unpin-gateways' });
  steps.push({ id: 'promote/verify', kind: 'verify' });
  if (spec.promote.uninstallPrevious)
    steps.push({ id: 'promote/uninstall-previous', kind: 'uninstall', revision: from });
  const pinAt = gatewayApi?.pinBefore === undefined ? -1 : steps.findIndex((s) => s.id === gatewayApi.pinBefore);
  if (pinAt >= 0) steps.splice(pinAt, 0, { id: 'gateway-api/pin', kind: 'pin-gateways' });
  return steps;
}

/** The gateways wave: baseline (with gates), move, warm-up, bake. */
function gatewayApiWave(policy: Policy): Step[] {
  return [
    ...(policy.spec.gatewayApi.gates.length > 0
      ? [{ id: 'gateway-api/baseline', kind: 'gateway-api-baseline' } as const]
      : []),
    { id: 'gateway-api/move', kind: 'gateway-api-move' },
    { id: 'gateway-api/warmup', kind: 'gateway-api-warmup' },
    { id: 'gateway-api/bake', kind: 'gateway-api-bake' },
  ];
}

/** The rollback steps, in the order of safety invariant 3. */
export function rollbackSteps(uninstallCanary: boolean, canary: string, gatewayApi = false): Step[] {
  const steps: Step[] = [
    ...(gatewayApi ? [{ id: 'rollback/gateway-api', kind: 'rollback-gateway-api' } as const] : []),
    { id: 'rollback/gateways', kind: 'rollback-gateways' },
    { id: 'rollback/labels', kind: 'rollback-labels' },
    { id: 'rollback/restart', kind: 'rollback-restart' },
    { id: 'rollback/rollout', kind: 'rollback-rollout' },
    { id: 'rollback/tags', kind: 'rollback-tags' },
    { id: 'rollback/gateway-restarts', kind: 'rollback-gateway-restarts' },
    { id: 'rollback/restore-labels', kind: 'rollback-restore-labels' },
    ...(gatewayApi ? [{ id: 'rollback/unpin-gateways', kind: 'rollback-unpin-gateways' } as const] : []),
    { id: 'rollback/verify', kind: 'rollback-verify' },
  ];
  if (uninstallCanary) steps.push({ id: 'rollback/uninstall-canary', kind: 'rollback-uninstall', revision: canary });
  steps.push({ id: 'rollback/health', kind: 'rollback-health' });
  return steps;
}

/** A stable hash of what the run will do: approvals name it, and a changed plan invalidates them. */
export function planHash(policy: Policy, plan: Omit<RunPlan, 'hash'>): string {
  const subject = {
    spec: identitySpec(policy),
    from: plan.from,
    to: plan.to,
    waves: plan.waves.map((w) => [w.name, w.namespaces.map((n) => n.name)]),
    gateways: plan.gateways.map((g) => `${g.namespace}/${g.name}`),
    gatewayApi: plan.gatewayApi.gateways.map((g) => `${g.namespace}/${g.name}:${g.mode}`),
    tags: plan.promoteTags.map((t) => t.tag),
  };
  return createHash('sha256').update(canonicalJson(subject)).digest('hex').slice(0, 16);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

export function describeLabels(labels: InjectionLabels): string {
  const parts: string[] = [];
  if (labels.injection !== undefined) parts.push(`istio-injection=${labels.injection}`);
  if (labels.rev !== undefined) parts.push(`istio.io/rev=${labels.rev}`);
  return parts.length === 0 ? 'no injection labels' : parts.join(', ');
}
