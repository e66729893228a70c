/** The precheck: revisions, tags, namespaces, gateways and permissions, before anything moves. */
import type { Observation } from '../../engine/decide.ts';
import { findNodeAgents, nodeAgentChecks, nodeAgentSelectors } from '../../mesh/ambient.ts';
import { findGatewayTraps, gatewayFacts, gatewayResource, tagView } from '../../mesh/gateway-traps.ts';
import type { RunState } from '../../engine/state.ts';
import { gatewayInfo, gatewayObjectKinds } from '../../mesh/gateways.ts';
import { Label } from '../../mesh/labels.ts';
import type { MeshSnapshot } from '../../mesh/revisions.ts';
import { uninstallKinds } from '../../mesh/uninstall.ts';
import { workloadRefs } from '../../mesh/workloads.ts';
import { isClusterError, Resources, type KubeObject, type PermissionCheck } from '../../ports/cluster.ts';
import type { Policy } from '../../policy/types.ts';
import type { ActionContext } from './context.ts';
import { revisionReady } from './revision.ts';

/** Kubernetes permissions a run needs, checked by the precheck. */
export function requiredPermissions(policy: Policy, stateNamespace: string): PermissionCheck[] {
  const istioNs = policy.spec.revisions.istioNamespace;
  const core = (verb: string, resource: string, namespace?: string): PermissionCheck => ({
    verb,
    group: '',
    resource,
    ...(namespace !== undefined ? { namespace } : {}),
  });
  const webhooks = (verb: string, resource: string): PermissionCheck => ({
    verb,
    group: 'admissionregistration.k8s.io',
    resource,
  });
  const checks: PermissionCheck[] = [
    core('list', 'namespaces'),
    core('patch', 'namespaces'),
    core('list', 'pods'),
    core('create', 'events'),
    ...['list', 'create', 'update'].map((verb) => webhooks(verb, 'mutatingwebhookconfigurations')),
    ...['list', 'create', 'update'].map((verb) => webhooks(verb, 'validatingwebhookconfigurations')),
    { verb: 'list', group: 'apps', resource: 'deployments', namespace: istioNs },
    // ztunnel and istio-cni, wherever they run (istio-cni often runs in kube-system).
    { verb: 'list', group: 'apps', resource: 'daemonsets' },
    // Gateway API Gateways anywhere: who owns each, and the ownership traps.
    { verb: 'list', group: gatewayResource.group, resource: gatewayResource.resource },
    core('list', 'services', istioNs),
    ...['get', 'create', 'update'].map((verb) => core(verb, 'configmaps', stateNamespace)),
    ...['get', 'create', 'update'].map((verb) => ({
      verb,
      group: 'coordination.k8s.io',
      resource: 'leases',
      namespace: stateNamespace,
    })),
  ];
  for (const kind of policy.spec.workloads.kinds) {
    const ref = workloadRefs[kind];
    for (const verb of ['list', 'watch', 'patch']) checks.push({ verb, group: ref.group, resource: ref.resource });
  }
  // Gateway API Gateways are read for their owner and pinned or moved by their own label.
  for (const verb of ['get', 'list', 'patch'])
    checks.push({ verb, group: 'gateway.networking.k8s.io', resource: 'gateways' });
  // Moving a gateway relabels its own objects wherever it runs (gateways may be found anywhere).
  for (const ref of gatewayObjectKinds) {
    for (const verb of ['list', 'patch']) checks.push({ verb, group: ref.group, resource: ref.resource });
  }
  for (const gateway of policy.spec.gateways) {
    checks.push(
      { verb: 'get', group: 'apps', resource: 'deployments', namespace: gateway.namespace },
      { verb: 'patch', group: 'apps', resource: 'deployments', namespace: gateway.namespace },
    );
  }
  // A rollback removes tags revroll created (the canary tag, or a promoted tag that did not exist).
  checks.push(webhooks('delete', 'mutatingwebhookconfigurations'));
  if (policy.spec.workloads.stragglers === 'restart') checks.push(core('delete', 'pods'));
  if (policy.spec.promote.uninstallPrevious || policy.spec.rollback.uninstallCanary) {
    for (const ref of uninstallKinds) {
      for (const verb of ['list', 'delete'])
        checks.push({
          verb,
          group: ref.group,
          resource: ref.resource,
          ...(ref.namespaced ? { namespace: istioNs } : {}),
        });
    }
  }
  return checks;
}

export async function precheck(ctx: ActionContext, state: RunState): Promise<Observation> {
  const snapshot = await ctx.mesh();
  const [agents, traps] = await Promise.all([
    nodeAgentFindings(ctx, snapshot, state),
    gatewayTrapFindings(ctx, snapshot, state),
  ]);
  const problems = [
    ...revisionProblems(ctx, snapshot, state),
    ...namespaceProblems(snapshot, state),
    ...(await gatewayProblems(ctx, state)),
    ...agents.problems,
    ...traps.problems,
    ...(await permissionProblems(ctx)),
  ];
  return {
    type: 'precheck',
    problems,
    notes: [...installNotes(ctx, snapshot, state), ...agents.notes, ...traps.notes],
  };
}

/** Gateway API ownership traps (item 8): dual owners, half-moved tags, the unrevisioned istiod, #59959. */
async function gatewayTrapFindings(
  ctx: ActionContext,
  snapshot: MeshSnapshot,
  state: RunState,
): Promise<{ problems: string[]; notes: string[] }> {
  const [gateways, tagServices, istiods] = await Promise.all([
    // Without the Gateway API CRDs there is no Gateway to own.
    ctx.cluster.list(gatewayResource).catch((error: unknown) => {
      if (isClusterError(error, 'not-found')) return [] as KubeObject[];
      throw error;
    }),
    ctx.cluster.list(Resources.services, { namespace: ctx.istioNs, labelSelector: Label.tag }),
    ctx.cluster.list(Resources.deployments, { namespace: ctx.istioNs, labelSelector: 'app=istiod' }),
  ]);
  if (gateways.length === 0 && tagServices.length === 0 && !snapshot.revisions.some((r) => r.name === 'default'))
    return { problems: [], notes: [] };
  const spec = ctx.spec;
  const movedTags = [...spec.promote.tags];
  if (spec.strategy.type === 'tags' && spec.strategy.stableTag) movedTags.push(spec.strategy.stableTag);
  const ambient = new Set(istiods.filter(ambientEnabled).map((d) => d.metadata.labels?.[Label.rev] ?? 'default'));
  return findGatewayTraps({
    from: state.from,
    to: state.to,
    movedTags,
    revisions: snapshot.revisions.map((r) => ({
      name: r.name,
      ...(r.version ? { version: r.version } : {}),
      running: r.ready,
      ambient: ambient.has(r.name),
    })),
    tags: tagView({ webhooks: snapshot.webhooks, validators: snapshot.validators, tagServices }),
    gateways: gatewayFacts(gateways, snapshot.namespaces),
  });
}

/** istiod runs with `PILOT_ENABLE_AMBIENT=true` (the ambient profile): it manages waypoints. */
function ambientEnabled(deployment: KubeObject): boolean {
  const containers =
    (deployment.spec as { template?: { spec?: { containers?: { env?: { name: string; value?: string }[] }[] } } })
      ?.template?.spec?.containers ?? [];
  return containers.some((c) => c.env?.some((e) => e.name === 'PILOT_ENABLE_AMBIENT' && e.value === 'true'));
}

/** ztunnel and istio-cni: their versions, and the skew rule now and after the upgrade (item 7). */
async function nodeAgentFindings(
  ctx: ActionContext,
  snapshot: MeshSnapshot,
  state: RunState,
): Promise<{ problems: string[]; notes: string[] }> {
  const lists = await Promise.all(
    Object.values(nodeAgentSelectors).map((labelSelector) => ctx.cluster.list(Resources.daemonsets, { labelSelector })),
  );
  const agents = findNodeAgents(lists.flat());
  const versions = new Map(snapshot.revisions.map((r) => [r.name, r.version]));
  return nodeAgentChecks(agents, { from: state.from, to: state.to, versions });
}

function revisionProblems(ctx: ActionContext, snapshot: MeshSnapshot, state: RunState): string[] {
  const spec = ctx.spec;
  const problems: string[] = [];
  const fromProblem = revisionReady(ctx, snapshot, state.from);
  if (fromProblem) problems.push(`stable ${fromProblem}`);
  if (spec.strategy.type === 'tags') {
    const stable = spec.strategy.stableTag ?? '';
    if (!snapshot.tags.some((t) => t.tag === stable))
      problems.push(`revision tag ${stable} (spec.strategy.stableTag) does not exist`);
  }
  if (spec.gates.checks.length > 0 && !ctx.metrics)
    problems.push('the policy has gates but no Prometheus is configured (spec.prometheus.url or --prometheus-url)');
  return problems;
}

/** The new revision need not exist yet: say how the install step gets it. */
function installNotes(ctx: ActionContext, snapshot: MeshSnapshot, state: RunState): string[] {
  const spec = ctx.spec;
  const toProblem = revisionReady(ctx, snapshot, state.to);
  if (!toProblem) return [];
  return [
    spec.install.mode === 'external'
      ? `${toProblem}: the install step waits up to ${Math.round(spec.install.readyTimeout / 60_000)} min for it to be installed outside revroll (spec.install.mode: external)`
      : `${toProblem}: the install step installs it with ${spec.install.command ?? spec.install.mode}`,
  ];
}

function namespaceProblems(snapshot: MeshSnapshot, state: RunState): string[] {
  const problems: string[] = [];
  const byName = new Map(snapshot.namespaces.map((n) => [n.metadata.name ?? '', n]));
  for (const name of Object.keys(state.namespaces)) {
    const ns = byName.get(name);
    if (!ns) {
      problems.push(`namespace ${name} does not exist`);
      continue;
    }
    const labels = ns.metadata.labels ?? {};
    if (labels[Label.injection] === 'enabled' && labels[Label.rev] !== undefined) {
      problems.push(
        `namespace ${name} has conflicting labels istio-injection=enabled and istio.io/rev=${labels[Label.rev]} (istio-injection wins); resolve them before the upgrade`,
      );
    }
  }
  return problems;
}

async function gatewayProblems(ctx: ActionContext, state: RunState): Promise<string[]> {
  const problems: string[] = [];
  for (const gateway of state.gateways) {
    const deployment = await ctx.cluster.get(Resources.deployments, gateway.namespace, gateway.name);
    if (!deployment) problems.push(`gateway Deployment ${gateway.namespace}/${gateway.name} does not exist`);
    else if (!gatewayInfo(deployment).injected)
      problems.push(`gateway ${gateway.namespace}/${gateway.name} is not an injected gateway`);
  }
  return problems;
}

async function permissionProblems(ctx: ActionContext): Promise<string[]> {
  const denied = await ctx.cluster.denied(requiredPermissions(ctx.policy, ctx.stateNamespace));
  return denied.map(
    (d) =>
      `permission missing: ${d.verb} ${d.group === '' ? d.resource : `${d.resource}.${d.group}`}${d.namespace ? ` in namespace ${d.namespace}` : ' (cluster-wide)'}`,
  );
}
