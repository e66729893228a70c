/**
 * `revroll plan`'s mutation list is the run itself, simulated: `decide` is driven over the plan,
 * step by step, against observations in which everything succeeds (every action works, every
 * gate passes, every approval is granted), and each action is turned into the API writes it
 * performs, with the same mesh planners the executor uses, against a model of the objects the
 * plan snapshot listed (updated as the simulated writes land, so a later step sees what an
 * earlier one changed). Plan and run cannot drift: there is no second list of what a run does.
 * Pure: no I/O, no clock (the start instant is passed in).
 */
import { agentUninstallRefusals, type NodeAgent } from '../mesh/ambient.ts';
import { describeTarget, planUninstall, type UninstallTarget } from '../mesh/uninstall.ts';
import { gatewayObjectKinds, planGatewayObjectLabel, planGatewayRevision } from '../mesh/gateways.ts';
import { Label } from '../mesh/labels.ts';
import { GatewayResource, planGatewayLabel } from '../mesh/gateway-api.ts';
import { checkConvergence, type Straggler } from '../mesh/convergence.ts';
import { planRestart, podWorkload, type Workload } from '../mesh/workloads.ts';
import type { MeshSnapshot } from '../mesh/revisions.ts';
import { planRemoveTag, planSetTag } from '../mesh/tags.ts';
import { Resources, type KubeObject, type Mutation, type ResourceRef } from '../ports/cluster.ts';
import type { Policy } from '../policy/types.ts';
import { decide, initialState, recordDecision, type Action, type Observation } from './decide.ts';
import { EXCLUDED_REASON, type ClusterSnapshot, type RunPlan } from './plan.ts';
import { terminalPhases, type RunState, type Step, type StepKind } from './state.ts';

/** One API write, as the API server sees it (kube-apiserver's verbs). */
export type PlannedWrite = {
  verb: 'create' | 'update' | 'patch' | 'delete';
  group: string;
  resource: string;
  /** The object's kind, for people. */
  kind: string;
  namespace?: string;
  name: string;
};

/** One thing the run does, in order, under the step that does it. */
export type PlannedMutation = {
  step: string;
  stepKind: StepKind;
  wave?: number;
  action: Action['type'];
  /** One line: what it does and to what. */
  summary: string;
  /** Its API writes, in order (none for what happens outside the API server: an installer command). */
  writes: PlannedWrite[];
  /** An uninstall the run will refuse, deleting nothing: what still references the revision then. */
  refused?: string[];
};

/** Objects the planner listed besides the snapshot: each moved gateway's own objects, by `namespace/app`. */
export type SimulationInput = {
  /** The objects carrying a gateway's owner label, listed as the gateway move lists them. */
  gatewayObjects?: Readonly<Record<string, readonly UninstallTarget[]>>;
  /** The pods of the waves' namespaces (when stragglers are deleted: which pods no restart replaces). */
  pods?: readonly KubeObject[];
  /** ztunnel and istio-cni (listed when the run may uninstall): an uninstall refuses while they carry the revision. */
  nodeAgents?: readonly NodeAgent[];
};

/** More decisions than any plan needs (a bake of a day at one evaluation a second is far below). */
const MAX_DECISIONS = 1_000_000;
const RUN_ID = 'plan';
/** The restart annotation's time is the run's own; the simulation's writes carry a fixed one. */
const EPOCH = new Date(0);

/** Every mutation of the run, in order, as `decide` would have them performed. */
export function simulateRun(
  policy: Policy,
  plan: RunPlan,
  snapshot: ClusterSnapshot,
  start: Date,
  input: SimulationInput = {},
): PlannedMutation[] {
  const model = createModel(snapshot, input);
  const out: PlannedMutation[] = [];
  let state = initialState(policy, plan, RUN_ID, start);
  let now = start;
  let observation: Observation | undefined;
  for (let i = 0; i < MAX_DECISIONS; i++) {
    const decision = decide(policy, state, observation, { now });
    state = decision.state;
    observation = undefined;
    if (terminalPhases.has(state.phase)) return out;
    const step = state.steps[state.cursor];
    if (decision.action && step) {
      const performed = perform(policy, plan, state, step, decision.action, model);
      out.push(...performed);
      observation = succeeded(policy, decision.action, performed, model);
      continue;
    }
    const pending = state.hold?.kind === 'approval' ? state.approvals.findLast((a) => !a.decision) : undefined;
    if (pending) {
      const granted = recordDecision(state, { approve: true, by: 'revroll plan', via: 'cli', step: pending.step }, now);
      if (!granted.ok) throw new Error(`the simulated run could not approve ${pending.step}: ${granted.message}`);
      state = granted.state;
      continue;
    }
    if (!decision.wakeAt)
      throw new Error(
        `the simulated run stopped at ${step?.id ?? 'the end'} (${state.phase}${state.hold ? `: ${state.hold.reason}` : ''})`,
      );
    now = new Date(Math.max(now.getTime(), decision.wakeAt.getTime()));
  }
  throw new Error(`the simulated run did not finish within ${MAX_DECISIONS} decisions`);
}

/** The observation of an action that worked (an uninstall refused while references remain, as the run's is). */
function succeeded(policy: Policy, action: Action, performed: readonly PlannedMutation[], model: Model): Observation {
  switch (action.type) {
    case 'precheck':
      return { type: 'precheck', problems: [] };
    case 'install':
      return { type: 'install', ok: true, message: 'simulated' };
    case 'request-approval':
      return { type: 'approval-requested', delivered: true };
    case 'measure':
      return {
        type: 'measure',
        measurements: (action.gatewayApi ? policy.spec.gatewayApi.gates : policy.spec.gates.checks).map((check) => ({
          check: check.name,
          wave: { kind: 'value' as const, value: 0 },
          ...(check.baseline === 'cohort' ? { cohort: { kind: 'value' as const, value: 0 } } : {}),
        })),
      };
    case 'wait-rollouts':
      return { type: 'wait-rollouts', ok: true, pending: [], failed: [], elapsedMs: 0 };
    case 'verify':
      return {
        type: 'verify',
        stragglers: policy.spec.workloads.stragglers === 'restart' ? stragglersOf(action, model) : [],
        converged: 0,
      };
    case 'delete-stragglers':
      return { type: 'delete-stragglers', deleted: action.stragglers.length, failed: [] };
    case 'uninstall': {
      const refused = performed.some((m) => m.refused !== undefined);
      return { type: 'uninstall', ok: !refused, refused: [], message: refused ? 'references remain' : 'simulated' };
    }
    case 'health':
      return { type: 'health', ok: true, message: 'simulated' };
    case 'check-revision':
      return { type: 'check-revision', ok: true, message: 'simulated' };
    case 'set-tags':
    case 'label-namespaces':
    case 'move-gateways':
    case 'restart-workloads':
    case 'set-gateway-labels':
      return { type: 'done', ok: true, message: 'simulated' };
  }
}

type Model = ReturnType<typeof createModel>;

/** The objects the run writes, as the snapshot listed them, kept current with the simulated writes. */
function createModel(snapshot: ClusterSnapshot, input: SimulationInput) {
  const objects = new Map<string, { ref: ResourceRef; object: KubeObject }>();
  const key = (ref: ResourceRef, namespace: string | undefined, name: string) =>
    `${ref.group}/${ref.resource}/${ref.namespaced ? (namespace ?? '') : ''}/${name}`;
  const put = (ref: ResourceRef, object: KubeObject) =>
    objects.set(key(ref, object.metadata.namespace, object.metadata.name ?? ''), {
      ref,
      object: structuredClone(object),
    });
  for (const o of snapshot.mesh.webhooks) put(Resources.mutatingwebhookconfigurations, o);
  for (const o of snapshot.mesh.validators) put(Resources.validatingwebhookconfigurations, o);
  for (const o of snapshot.mesh.namespaces) put(Resources.namespaces, o);
  for (const o of snapshot.gateways) put(Resources.deployments, o);
  for (const o of snapshot.gatewayApi ?? []) put(GatewayResource, o);
  for (const targets of Object.values(snapshot.uninstall ?? {})) for (const t of targets) put(t.ref, t.object);
  for (const targets of Object.values(input.gatewayObjects ?? {})) for (const t of targets) put(t.ref, t.object);
  const workloads = snapshot.workloads.map((w) => ({ ...w }));
  const pods = new Map((input.pods ?? []).map((p) => [`${p.metadata.namespace ?? ''}/${p.metadata.name ?? ''}`, p]));

  return {
    workloads,
    pods: () => [...pods.values()],
    /** Workloads the simulated run restarted, as `namespace/Kind/name`. */
    restarted: new Set<string>(),
    get: (ref: ResourceRef, namespace: string | undefined, name: string) =>
      objects.get(key(ref, namespace, name))?.object,
    /** What the uninstall selector of `revision` matched when the plan was made, in istioctl's order. */
    uninstallListed: (revision: string) => snapshot.uninstall?.[revision] ?? [],
    /** The mesh as the tag planners read it: webhooks and validators as the simulated writes left them. */
    mesh: (): MeshSnapshot => {
      const of = (ref: ResourceRef) =>
        [...objects.values()]
          .filter((o) => sameRef(o.ref, ref) && o.object.metadata.labels?.[Label.rev])
          .map((o) => o.object);
      const webhooks = of(Resources.mutatingwebhookconfigurations);
      const tags = webhooks.flatMap((w) => {
        const tag = w.metadata.labels?.[Label.tag];
        const revision = w.metadata.labels?.[Label.rev] ?? '';
        if (!tag) return [];
        const namespaces = snapshot.mesh.tags.find((t) => t.tag === tag)?.namespaces ?? [];
        return [{ tag, revision, webhook: w.metadata.name ?? '', namespaces }];
      });
      return { ...snapshot.mesh, webhooks, validators: of(Resources.validatingwebhookconfigurations), tags };
    },
    gatewayObjects: (namespace: string, app: string) => input.gatewayObjects?.[`${namespace}/${app}`] ?? [],
    nodeAgents: input.nodeAgents ?? [],
    apply(mutation: Mutation): void {
      switch (mutation.op) {
        case 'create':
        case 'replace':
          put(mutation.ref, {
            ...mutation.object,
            metadata: {
              ...mutation.object.metadata,
              namespace: mutation.namespace ?? mutation.object.metadata.namespace,
            },
          });
          return;
        case 'merge-patch':
        case 'strategic-patch': {
          const found = objects.get(key(mutation.ref, mutation.namespace, mutation.name));
          if (found) found.object = mergePatch(found.object, mutation.patch) as KubeObject;
          return;
        }
        case 'delete':
          objects.delete(key(mutation.ref, mutation.namespace, mutation.name));
          if (sameRef(mutation.ref, Resources.pods)) pods.delete(`${mutation.namespace ?? ''}/${mutation.name}`);
          return;
      }
    },
  };
}

function sameRef(a: ResourceRef, b: ResourceRef): boolean {
  return a.group === b.group && a.resource === b.resource;
}

/** RFC 7386 merge: objects merge, null removes, anything else replaces (enough for the label patches). */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!patch || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function writeOf(mutation: Mutation): PlannedWrite {
  const { ref } = mutation;
  const base = { group: ref.group, resource: ref.resource, kind: ref.kind };
  switch (mutation.op) {
    case 'create':
    case 'replace': {
      const namespace = ref.namespaced ? (mutation.namespace ?? mutation.object.metadata.namespace) : undefined;
      return {
        verb: mutation.op === 'create' ? 'create' : 'update',
        ...base,
        ...(namespace ? { namespace } : {}),
        name: mutation.object.metadata.name ?? '',
      };
    }
    case 'merge-patch':
    case 'strategic-patch':
    case 'delete':
      return {
        verb: mutation.op === 'delete' ? 'delete' : 'patch',
        ...base,
        ...(mutation.namespace ? { namespace: mutation.namespace } : {}),
        name: mutation.name,
      };
  }
}

function labelText(key: string, value: string | null): string {
  return value === null ? `${key}-` : `${key}=${value}`;
}

function injectionText(labels: Record<string, string> | undefined): string {
  const parts = [Label.injection, Label.rev].filter((k) => labels?.[k] !== undefined).map((k) => `${k}=${labels?.[k]}`);
  return parts.length > 0 ? parts.join(', ') : 'no injection labels';
}

/** Where in the run a step is, for people: its wave, after the last wave, or the promotion. */
function moment(state: RunState, step: Step): string | undefined {
  if (step.wave !== undefined) return `wave ${state.waves[step.wave] ?? step.wave}`;
  if (step.kind === 'canary-tag' || step.kind === 'install') return undefined;
  if (step.kind === 'gateways' && step.gateways === 'afterLastWave') return 'after last wave';
  if (step.kind === 'pin-gateways') return 'before the first step that would move them';
  if (step.kind.startsWith('gateway-api-')) return 'gateways wave';
  return step.kind.startsWith('rollback-') ? 'rollback' : 'promote';
}

/** Records one mutation of the current action (its summary, its writes) and applies its writes to the model. */
type Emit = (mutations: readonly Mutation[], summary: string, refused?: string[]) => void;

/** The mutations of one action against the model, which their writes then update. */
function perform(
  policy: Policy,
  plan: RunPlan,
  state: RunState,
  step: Step,
  action: Action,
  model: Model,
): PlannedMutation[] {
  const out: PlannedMutation[] = [];
  const where = moment(state, step);
  const emit: Emit = (mutations, summary, refused) => {
    out.push({
      step: step.id,
      stepKind: step.kind,
      ...(step.wave !== undefined ? { wave: step.wave } : {}),
      action: action.type,
      summary: where ? `${where}: ${summary}` : summary,
      writes: mutations.map(writeOf),
      ...(refused ? { refused } : {}),
    });
    for (const m of mutations) model.apply(m);
  };
  switch (action.type) {
    case 'install': {
      const install = policy.spec.install;
      if (install.mode !== 'external')
        emit(
          [],
          `install revision ${state.to}: ${install.command ?? install.mode} ${install.args.join(' ')} (the installer's own writes are not listed)`,
        );
      simulateInstall(state.to, model);
      return out;
    }
    case 'set-tags':
      for (const { tag, revision } of action.tags) {
        const mesh = model.mesh();
        const before = mesh.tags.find((t) => t.tag === tag)?.revision;
        if (revision === null) {
          // A tag already gone is skipped, as the executor does.
          if (!mesh.tags.some((t) => t.tag === tag)) continue;
          emit(planRemoveTag(mesh, tag), `tag remove ${tag}${before ? ` (was ${before})` : ''}`);
        } else {
          emit(
            planSetTag(mesh, { tag, revision, overwrite: true }),
            `tag set ${tag} --revision ${revision}${before ? ` --overwrite (was ${before})` : ''}`,
          );
        }
      }
      return out;
    case 'label-namespaces':
      for (const { name, labels } of action.namespaces) {
        const was = injectionText(model.get(Resources.namespaces, undefined, name)?.metadata.labels);
        emit(
          [
            {
              op: 'merge-patch',
              ref: Resources.namespaces,
              name,
              patch: { metadata: { labels: { [Label.injection]: labels.injection, [Label.rev]: labels.rev } } },
            },
          ],
          `label namespace ${name} ${labelText(Label.injection, labels.injection)} ${labelText(Label.rev, labels.rev)} (was: ${was})`,
        );
      }
      return out;
    case 'move-gateways':
      moveGateways(state, action, model, emit);
      return out;
    case 'set-gateway-labels':
      // A Gateway already labelled so is not written again, as the executor does.
      for (const g of action.gateways) {
        const current = model.get(GatewayResource, g.namespace, g.name)?.metadata.labels?.[Label.rev] ?? null;
        if (current === g.rev) continue;
        emit(
          [planGatewayLabel(g.namespace, g.name, g.rev)],
          `label gateway ${g.namespace}/${g.name} ${labelText(Label.rev, g.rev)} (was: ${current ?? 'no label'}; its Deployment ${g.deployment} then runs ${g.revision})`,
        );
      }
      return out;
    case 'restart-workloads':
      restartWorkloads(policy, action, model, emit);
      return out;
    case 'uninstall':
      uninstall(plan, state, action, model, emit);
      return out;
    case 'verify':
      // Looking moves nothing; the stragglers found are deleted in the wave's delete-stragglers step.
      return out;
    case 'delete-stragglers':
      for (const straggler of action.stragglers)
        emit(
          [{ op: 'delete', ref: Resources.pods, namespace: straggler.namespace, name: straggler.pod }],
          `delete straggler pod ${straggler.namespace}/${straggler.pod} (${straggler.reason})`,
        );
      return out;
    case 'precheck':
    case 'request-approval':
    case 'measure':
    case 'wait-rollouts':
    case 'health':
    case 'check-revision':
      return out;
  }
}

/** Each gateway's template label or restart, and its own objects' owner label. */
function moveGateways(
  state: RunState,
  action: Extract<Action, { type: 'move-gateways' }>,
  model: Model,
  emit: Emit,
): void {
  for (const g of action.gateways) {
    const mutations: Mutation[] = [];
    const parts: string[] = [];
    if (g.rev !== undefined) {
      mutations.push(planGatewayRevision(g, g.rev));
      parts.push(`gateway ${g.namespace}/${g.name} template ${labelText(Label.rev, g.rev)}`);
    }
    if (g.restart !== undefined) {
      const record = state.gateways.find((r) => r.namespace === g.namespace && r.name === g.name);
      mutations.push(planRestart({ kind: 'Deployment', namespace: g.namespace, name: g.name }, g.restart, EPOCH));
      parts.push(
        `rollout restart gateway deployment/${g.name} -n ${g.namespace} (follows ${record?.original ?? 'the default revision'})`,
      );
    }
    if (g.relabel && g.relabel.from !== g.relabel.to) {
      const { app, from, to } = g.relabel;
      for (const ref of gatewayObjectKinds) {
        const owned = model
          .gatewayObjects(g.namespace, app)
          .filter((t) => sameRef(t.ref, ref))
          .map((t) => model.get(t.ref, t.object.metadata.namespace, t.object.metadata.name ?? ''))
          .filter((o): o is KubeObject => o?.metadata.labels?.[Label.rev] === from)
          .sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
        for (const object of owned) mutations.push(planGatewayObjectLabel(ref, object, to));
      }
      parts.push(`its objects (app=${app}) ${Label.rev}=${to}`);
    }
    emit(mutations, parts.join(', '));
  }
}

/** The workloads the executor's restart picks: of the policy's kinds, not excluded, opted out, left or restarted already. */
function restartWorkloads(
  policy: Policy,
  action: Extract<Action, { type: 'restart-workloads' }>,
  model: Model,
  emit: Emit,
): void {
  const spec = policy.spec;
  const leave = new Set(action.leave ?? []);
  const namespaces = new Set(action.namespaces);
  const excluded = new Set(spec.workloads.exclude.workloads.map((w) => `${w.kind}/${w.namespace}/${w.name}`));
  const targets: Workload[] = spec.workloads.kinds.flatMap((kind) =>
    model.workloads
      .filter(
        (w) =>
          w.kind === kind &&
          namespaces.has(w.namespace) &&
          !excluded.has(`${w.kind}/${w.namespace}/${w.name}`) &&
          !w.optOut &&
          !leave.has(`${w.namespace}/${w.kind}/${w.name}`) &&
          w.restartedFor !== action.key &&
          (action.only === undefined || w.restartedFor === action.only),
      )
      .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name)),
  );
  for (const w of targets) {
    emit(
      [planRestart(w, action.key, EPOCH)],
      `rollout restart ${w.kind.toLowerCase()}/${w.name} -n ${w.namespace} (${w.replicas} pod(s))`,
    );
    w.restartedFor = action.key;
    model.restarted.add(`${w.namespace}/${w.kind}/${w.name}`);
  }
}

/** The pods convergence finds on another revision once the restarts are done (those no restart replaced). */
function stragglersOf(action: Extract<Action, { type: 'verify' }>, model: Model): Straggler[] {
  // Pods of restarted workloads are new, on the revision; the rest are what convergence finds.
  const leave = new Set(action.leave ?? []);
  const restarted = model.restarted;
  const remaining = model.pods().filter((pod) => {
    const owner = podWorkload(pod);
    const id = owner ? `${pod.metadata.namespace ?? ''}/${owner.kind}/${owner.name}` : undefined;
    return id === undefined || (!restarted.has(id) && !leave.has(id));
  });
  return checkConvergence(remaining, action.revision, new Set(action.namespaces)).stragglers;
}

/** The uninstall's deletions, or its refusal while references remain. */
function uninstall(
  plan: RunPlan,
  state: RunState,
  action: Extract<Action, { type: 'uninstall' }>,
  model: Model,
  emit: Emit,
): void {
  const names = new Set([
    action.revision,
    ...model
      .mesh()
      .tags.filter((t) => t.revision === action.revision)
      .map((t) => t.tag),
  ]);
  const refusals = [
    ...remainingReferences(plan, state, model, action.revision),
    ...agentUninstallRefusals(model.nodeAgents, action.revision, names).map((r) => r.detail),
  ];
  if (refusals.length > 0) {
    emit(
      [],
      `uninstall revision ${action.revision}: refused, deleting nothing, while ${refusals.length} reference(s) remain: ${refusals.slice(0, 5).join('; ')}${refusals.length > 5 ? '; ...' : ''}`,
      refusals,
    );
    return;
  }
  // What the uninstall selector still matches then: objects whose owner label an earlier step moved are not.
  const targets = model
    .uninstallListed(action.revision)
    .filter(
      (t) =>
        model.get(t.ref, t.object.metadata.namespace, t.object.metadata.name ?? '')?.metadata.labels?.[Label.rev] ===
        action.revision,
    );
  emit(
    planUninstall(targets),
    `uninstall revision ${action.revision} (only if nothing references it), deleting ${targets.length} object(s): ${targets.map(describeTarget).join(', ') || 'none'}`,
  );
}

/**
 * What still references `revision` once every step before the uninstall worked (the uninstall
 * refuses then, deleting nothing): namespaces that follow it and no wave moves, workloads of moved
 * namespaces the run keeps its hands off (excluded, or left as unhealthy), and tags still on it.
 */
function remainingReferences(plan: RunPlan, state: RunState, model: Model, revision: string): string[] {
  if (revision !== plan.from) return [];
  const out = plan.unplanned.map((name) => `namespace ${name} follows ${revision} and no wave moves it`);
  for (const wave of plan.waves)
    for (const ns of wave.namespaces)
      for (const w of ns.skipped)
        if (w.leave || w.reason === EXCLUDED_REASON)
          out.push(`${w.kind} ${ns.name}/${w.name} stays on ${revision} (${w.reason})`);
  for (const tag of model.mesh().tags)
    if (tag.revision === revision && !state.tags.some((t) => t.tag === tag.tag && t.moved))
      out.push(`tag ${tag.tag} points at ${revision}`);
  return out;
}

/**
 * A simulated install leaves the revision's injector webhook in place (the tag planners build a
 * tag from it): when the snapshot has none, one like the stable revision's, relabelled.
 */
function simulateInstall(revision: string, model: Model): void {
  const webhooks = model.mesh().webhooks;
  const canonical = (rev: string) =>
    webhooks.find((w) => w.metadata.labels?.[Label.rev] === rev && !w.metadata.labels?.[Label.tag]);
  if (canonical(revision)) return;
  const source = webhooks.find((w) => !w.metadata.labels?.[Label.tag]);
  if (!source) return;
  model.apply({
    op: 'create',
    ref: Resources.mutatingwebhookconfigurations,
    object: {
      ...structuredClone(source),
      metadata: {
        name: `istio-sidecar-injector-${revision}`,
        labels: { ...source.metadata.labels, [Label.rev]: revision },
      },
    },
  });
}
