/**
 * The executor: performs one engine action through the ports and reports what it observed.
 * It makes no decisions beyond "did this succeed"; what happens next is `decide`'s business.
 */
import type { Action, GatewayMove, Observation } from '../engine/decide.ts';
import { judge, type GateResult } from '../engine/gates.ts';
import type { RunState } from '../engine/state.ts';
import { checkConvergence, type Straggler } from '../mesh/convergence.ts';
import {
  gatewayInfo,
  gatewayObjectKinds,
  gatewayObjectsSelector,
  planGatewayObjectLabel,
  planGatewayRevision,
} from '../mesh/gateways.ts';
import { Annotation, Label, istiodName, podRevision } from '../mesh/labels.ts';
import { observeMesh, type MeshSnapshot } from '../mesh/revisions.ts';
import { applyMutations, assertDefaultTarget, planRemoveTag, planSetTag } from '../mesh/tags.ts';
import {
  describeTarget,
  findReferences,
  listUninstallTargets,
  planUninstall,
  uninstallKinds,
  unsafeDeletions,
  type ProtectedGateway,
} from '../mesh/uninstall.ts';
import {
  planRestart,
  podWorkload,
  rolloutState,
  toWorkload,
  workloadRefs,
  type Workload,
  type WorkloadKind,
} from '../mesh/workloads.ts';
import { Resources, type ClusterPort, type KubeObject, type PermissionCheck } from '../ports/cluster.ts';
import type { EventRecorder } from '../ports/events.ts';
import type { MetricsSource } from '../ports/metrics.ts';
import type { Notifier } from '../ports/notifier.ts';
import type { Policy } from '../policy/types.ts';
import { mapLimit } from '../adapters/retry.ts';
import { KubernetesError } from '../adapters/kubernetes/cluster.ts';

/** Runs an installer command (argv, no shell). */
export type CommandRunner = (
  command: string,
  args: readonly string[],
  options: { timeoutMs: number; signal?: AbortSignal },
) => Promise<{ ok: boolean; output: string; error?: string; durationMs: number }>;

export type ExecutorDeps = {
  cluster: ClusterPort;
  events: EventRecorder;
  notifier: Notifier;
  metrics?: MetricsSource;
  runCommand?: CommandRunner;
  now: () => Date;
  /** Namespace of the run state (for the permission check). */
  stateNamespace: string;
  /** Called with installer output, for the run report. */
  onOutput?: (text: string) => void;
  /** The invocation's stop (SIGTERM, SIGINT, a lost Lease): every wait ends on it at once. */
  signal?: AbortSignal;
};

/** At most this many namespaces are handled with per-namespace requests; more use cluster-wide lists. */
const PER_NAMESPACE_LIMIT = 20;

/** Kubernetes permissions a run needs, checked by the precheck. */
export function requiredPermissions(policy: Policy, stateNamespace: string): PermissionCheck[] {
  const istioNs = policy.spec.revisions.istioNamespace;
  const checks: PermissionCheck[] = [
    { verb: 'list', group: '', resource: 'namespaces' },
    { verb: 'patch', group: '', resource: 'namespaces' },
    { verb: 'list', group: '', resource: 'pods' },
    { verb: 'create', group: '', resource: 'events' },
    { verb: 'list', group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations' },
    { verb: 'create', group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations' },
    { verb: 'update', group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations' },
    { verb: 'list', group: 'admissionregistration.k8s.io', resource: 'validatingwebhookconfigurations' },
    { verb: 'create', group: 'admissionregistration.k8s.io', resource: 'validatingwebhookconfigurations' },
    { verb: 'update', group: 'admissionregistration.k8s.io', resource: 'validatingwebhookconfigurations' },
    { verb: 'list', group: 'apps', resource: 'deployments', namespace: istioNs },
    { verb: 'list', group: '', resource: 'services', namespace: istioNs },
    { verb: 'get', group: '', resource: 'configmaps', namespace: stateNamespace },
    { verb: 'create', group: '', resource: 'configmaps', namespace: stateNamespace },
    { verb: 'update', group: '', resource: 'configmaps', namespace: stateNamespace },
    { verb: 'get', group: 'coordination.k8s.io', resource: 'leases', namespace: stateNamespace },
    { verb: 'create', group: 'coordination.k8s.io', resource: 'leases', namespace: stateNamespace },
    { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: stateNamespace },
  ];
  for (const kind of policy.spec.workloads.kinds) {
    const ref = workloadRefs[kind];
    for (const verb of ['list', 'watch', 'patch']) checks.push({ verb, group: ref.group, resource: ref.resource });
  }
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
  checks.push({ verb: 'delete', group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations' });
  if (policy.spec.workloads.stragglers === 'restart') checks.push({ verb: 'delete', group: '', resource: 'pods' });
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

export function createExecutor(policy: Policy, deps: ExecutorDeps) {
  const { cluster, events } = deps;
  const spec = policy.spec;
  const istioNs = spec.revisions.istioNamespace;

  const mesh = () => observeMesh(cluster, istioNs);

  async function listIn(
    ref: (typeof workloadRefs)[WorkloadKind] | typeof Resources.pods,
    namespaces: readonly string[],
  ): Promise<KubeObject[]> {
    if (namespaces.length <= PER_NAMESPACE_LIMIT) {
      const lists = await Promise.all(namespaces.map((namespace) => cluster.list(ref, { namespace })));
      return lists.flat();
    }
    const wanted = new Set(namespaces);
    return (await cluster.list(ref)).filter((o) => wanted.has(o.metadata.namespace ?? ''));
  }

  async function workloadsIn(namespaces: readonly string[]): Promise<{ workload: Workload; object: KubeObject }[]> {
    const excluded = new Set(spec.workloads.exclude.workloads.map((w) => `${w.kind}/${w.namespace}/${w.name}`));
    const out: { workload: Workload; object: KubeObject }[] = [];
    for (const kind of spec.workloads.kinds) {
      for (const object of await listIn(workloadRefs[kind], namespaces)) {
        const workload = toWorkload(kind, object);
        if (excluded.has(`${kind}/${workload.namespace}/${workload.name}`) || workload.optOut) continue;
        out.push({ workload, object });
      }
    }
    return out;
  }

  function revisionReady(snapshot: MeshSnapshot, revision: string): string | undefined {
    const found = snapshot.revisions.find((r) => r.name === revision);
    if (!found || !found.deployment)
      return `revision ${revision} is not installed (no ${istiodName(revision)} Deployment in ${istioNs})`;
    if (!found.injector) return `revision ${revision} has no injector MutatingWebhookConfiguration`;
    if (found.injectorDeactivated) return `the injector of revision ${revision} (${found.injector}) is deactivated`;
    if (!found.ready) return `${istiodName(revision)} has no ready replica`;
    return undefined;
  }

  async function precheck(state: RunState): Promise<Observation> {
    const problems: string[] = [];
    const snapshot = await mesh();
    const fromProblem = revisionReady(snapshot, state.from);
    if (fromProblem) problems.push(`stable ${fromProblem}`);
    const notes: string[] = [];
    const toProblem = revisionReady(snapshot, state.to);
    if (toProblem)
      notes.push(
        spec.install.mode === 'external'
          ? `${toProblem}: the install step waits up to ${Math.round(spec.install.readyTimeout / 60_000)} min for it to be installed outside revroll (spec.install.mode: external)`
          : `${toProblem}: the install step installs it with ${spec.install.command ?? spec.install.mode}`,
      );
    if (spec.strategy.type === 'tags') {
      const stable = spec.strategy.stableTag ?? '';
      if (!snapshot.tags.some((t) => t.tag === stable))
        problems.push(`revision tag ${stable} (spec.strategy.stableTag) does not exist`);
    }
    if (spec.gates.checks.length > 0 && !deps.metrics)
      problems.push('the policy has gates but no Prometheus is configured (spec.prometheus.url or --prometheus-url)');
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
    for (const gateway of state.gateways) {
      const deployment = await cluster.get(Resources.deployments, gateway.namespace, gateway.name);
      if (!deployment) problems.push(`gateway Deployment ${gateway.namespace}/${gateway.name} does not exist`);
      else if (!gatewayInfo(deployment).injected)
        problems.push(`gateway ${gateway.namespace}/${gateway.name} is not an injected gateway`);
    }
    const denied = await cluster.denied(requiredPermissions(policy, deps.stateNamespace));
    for (const d of denied)
      problems.push(
        `permission missing: ${d.verb} ${d.group === '' ? d.resource : `${d.resource}.${d.group}`}${d.namespace ? ` in namespace ${d.namespace}` : ' (cluster-wide)'}`,
      );
    return { type: 'precheck', problems, notes };
  }

  async function waitRevisionReady(revision: string, timeoutMs: number): Promise<string | undefined> {
    const ok = await cluster.waitFor(
      Resources.deployments,
      { namespace: istioNs, labelSelector: `app=istiod,${Label.rev}=${revision}` },
      (objects) =>
        [...objects.values()].some(
          (d) => ((d.status as { availableReplicas?: number } | undefined)?.availableReplicas ?? 0) > 0,
        ),
      timeoutMs,
      deps.signal,
    );
    if (!ok) return `${istiodName(revision)} was not ready within ${Math.round(timeoutMs / 1000)}s`;
    const snapshot = await mesh();
    return revisionReady(snapshot, revision);
  }

  async function install(state: RunState): Promise<Observation> {
    if (spec.install.mode !== 'external') {
      if (!deps.runCommand) return { type: 'install', ok: false, message: 'no command runner available' };
      const command = spec.install.command ?? spec.install.mode;
      const result = await deps.runCommand(command, spec.install.args, {
        timeoutMs: spec.install.timeout,
        ...(deps.signal ? { signal: deps.signal } : {}),
      });
      deps.onOutput?.(`$ ${command} ${spec.install.args.join(' ')}\n${result.output}`);
      if (!result.ok)
        return {
          type: 'install',
          ok: false,
          message: `${result.error ?? `${command} failed`}${result.output ? `; output ends: ${lastLine(result.output)}` : ''}`,
        };
    }
    const problem = await waitRevisionReady(state.to, spec.install.readyTimeout);
    if (problem) return { type: 'install', ok: false, message: problem };
    return { type: 'install', ok: true, message: `revision ${state.to} is ready` };
  }

  /** Tag writes replace whole webhook configurations: on a conflict, observe again and re-plan (read-modify-write). */
  async function setTags(tags: { tag: string; revision: string | null }[]): Promise<Observation> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await setTagsOnce(tags);
      } catch (error) {
        if (!(error instanceof KubernetesError && error.status === 409) || attempt >= 5) throw error;
      }
    }
  }

  async function setTagsOnce(tags: { tag: string; revision: string | null }[]): Promise<Observation> {
    for (const { tag, revision } of tags) {
      const snapshot = await mesh();
      if (revision === null) {
        if (!snapshot.tags.some((t) => t.tag === tag)) continue;
        await applyMutations(cluster, planRemoveTag(snapshot, tag));
        await events.record(
          {
            apiVersion: 'admissionregistration.k8s.io/v1',
            kind: 'MutatingWebhookConfiguration',
            name: `istio-revision-tag-${tag}`,
          },
          'RevrollTagRemoved',
          `revision tag ${tag} removed`,
        );
        continue;
      }
      if (tag === 'default') assertDefaultTarget(snapshot, revision);
      const current = snapshot.tags.find((t) => t.tag === tag);
      await applyMutations(cluster, planSetTag(snapshot, { tag, revision, overwrite: true }));
      await events.record(
        {
          apiVersion: 'admissionregistration.k8s.io/v1',
          kind: 'MutatingWebhookConfiguration',
          name: `istio-revision-tag-${tag}`,
        },
        'RevrollTagMoved',
        `revision tag ${tag} now points at ${revision}${current ? ` (was ${current.revision})` : ''}`,
      );
    }
    return { type: 'done', ok: true, message: tags.map((t) => `${t.tag} -> ${t.revision ?? '(removed)'}`).join(', ') };
  }

  async function labelNamespaces(
    namespaces: { name: string; labels: { injection: string | null; rev: string | null } }[],
  ): Promise<Observation> {
    await mapLimit(namespaces, 8, async ({ name, labels }) => {
      await cluster.mutate({
        op: 'merge-patch',
        ref: Resources.namespaces,
        name,
        patch: { metadata: { labels: { [Label.injection]: labels.injection, [Label.rev]: labels.rev } } },
      });
      const parts = [
        labels.injection === null ? 'istio-injection-' : `istio-injection=${labels.injection}`,
        labels.rev === null ? 'istio.io/rev-' : `istio.io/rev=${labels.rev}`,
      ];
      await events.record(
        { apiVersion: 'v1', kind: 'Namespace', name },
        'RevrollMigrated',
        `namespace labels set: ${parts.join(' ')}`,
      );
    });
    return { type: 'done', ok: true, message: `labelled ${namespaces.length} namespace(s)` };
  }

  async function moveGateways(gateways: GatewayMove[]): Promise<Observation> {
    const now = deps.now();
    for (const g of gateways) {
      const target = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: g.namespace, name: g.name };
      if (g.rev !== undefined) {
        await cluster.mutate(planGatewayRevision(g, g.rev));
        await events.record(target, 'RevrollGatewayMoved', `gateway pod template istio.io/rev=${g.rev ?? '(removed)'}`);
      }
      if (g.restart !== undefined) {
        const object = await cluster.get(Resources.deployments, g.namespace, g.name);
        const workload = object ? toWorkload('Deployment', object) : undefined;
        if (workload && workload.restartedFor !== g.restart) {
          await cluster.mutate(planRestart(workload, g.restart, now));
          await events.record(
            target,
            'RevrollRestarted',
            `gateway restarted onto the revision its tag points at (${g.restart})`,
          );
        }
      }
      if (g.relabel) await relabelGatewayObjects(g.namespace, g.relabel);
    }
    const wait = await waitRollouts(
      gateways.map((g) => ({ kind: 'Deployment' as const, namespace: g.namespace, name: g.name })),
      spec.workloads.rolloutTimeout,
    );
    if (!wait.ok)
      return {
        type: 'done',
        ok: false,
        message: `gateway rollout did not finish: ${[...wait.failed, ...wait.pending].join(', ')}`,
      };
    return { type: 'done', ok: true, message: `moved ${gateways.length} gateway(s)` };
  }

  /** The gateway's own objects get the owner label of the revision it now runs (see GatewayMove). */
  async function relabelGatewayObjects(namespace: string, relabel: NonNullable<GatewayMove['relabel']>) {
    if (relabel.from === relabel.to) return;
    const selector = gatewayObjectsSelector(relabel.app, relabel.from);
    for (const ref of gatewayObjectKinds) {
      for (const object of await cluster.list(ref, { namespace, labelSelector: selector })) {
        await cluster.mutate(planGatewayObjectLabel(ref, object, relabel.to));
      }
    }
  }

  async function restart(action: Extract<Action, { type: 'restart-workloads' }>): Promise<Observation> {
    const leave = new Set(action.leave ?? []);
    const all = await workloadsIn(action.namespaces);
    const targets = all.filter(
      ({ workload }) =>
        !leave.has(`${workload.namespace}/${workload.kind}/${workload.name}`) &&
        workload.restartedFor !== action.key &&
        (action.only === undefined || workload.restartedFor === action.only),
    );
    const now = deps.now();
    await mapLimit(targets, action.maxParallel, async ({ workload }) => {
      await cluster.mutate(planRestart(workload, action.key, now));
      await events.record(
        { apiVersion: 'apps/v1', kind: workload.kind, namespace: workload.namespace, name: workload.name },
        'RevrollRestarted',
        `restarted to move its proxies (${action.key})`,
      );
    });
    const already = all.length - targets.length;
    return {
      type: 'done',
      ok: true,
      message: `restarted ${targets.length} workload(s)${already > 0 ? `, ${already} already done or not moved` : ''}`,
    };
  }

  /** Waits for the workloads' rollouts with one watch per kind (per namespace for small waves). */
  async function waitRollouts(tracked: { kind: WorkloadKind; namespace: string; name: string }[], timeoutMs: number) {
    const started = performance.now();
    const byKind = new Map<WorkloadKind, Set<string>>();
    for (const w of tracked) {
      const set = byKind.get(w.kind) ?? new Set<string>();
      set.add(`${w.namespace}/${w.name}`);
      byKind.set(w.kind, set);
    }
    const pending: string[] = [];
    const failed: string[] = [];
    // The rollout timeout, or the invocation's stop (SIGTERM): whichever comes first.
    const deadline = deps.signal
      ? AbortSignal.any([AbortSignal.timeout(timeoutMs), deps.signal])
      : AbortSignal.timeout(timeoutMs);
    await Promise.all(
      [...byKind].flatMap(([kind, keys]) => {
        const namespaces = [...new Set([...keys].map((k) => k.split('/')[0] as string))];
        const scopes =
          namespaces.length <= PER_NAMESPACE_LIMIT
            ? namespaces.map((namespace) => ({
                namespace,
                keys: [...keys].filter((k) => k.startsWith(`${namespace}/`)),
              }))
            : [{ namespace: undefined, keys: [...keys] }];
        return scopes.map(async (scope) => {
          let last: ReadonlyMap<string, KubeObject> = new Map();
          let failure: string | undefined;
          const settled = (object: KubeObject | undefined) => {
            if (!object) return true; // deleted meanwhile: nothing to wait for
            const state = rolloutState(kind, object);
            return state.done || state.failed;
          };
          // Rollouts still running. A full (re)list re-checks every key; a watch event re-checks
          // only its own object: re-checking (and copying) every tracked workload on every event
          // made a wave O(workloads x events), minutes of CPU at thousands of Deployments.
          const waiting = new Set<string>();
          const done = await cluster
            .waitFor(
              workloadRefs[kind],
              scope.namespace ? { namespace: scope.namespace } : {},
              (objects, event) => {
                // The watch's own map: nothing changes it once the wait is over, so no copy is needed.
                last = objects;
                if (!event) {
                  waiting.clear();
                  for (const key of scope.keys) if (!settled(objects.get(key))) waiting.add(key);
                } else {
                  const key = `${event.object.metadata.namespace ?? ''}/${event.object.metadata.name ?? ''}`;
                  if (waiting.has(key) && settled(objects.get(key))) waiting.delete(key);
                }
                return waiting.size === 0;
              },
              Math.max(1, Math.round(timeoutMs - (performance.now() - started))),
              deadline,
            )
            .catch((error: unknown) => {
              // The rollout timeout ending the watch is not a watch failure: what the rollouts
              // reached is read below. A stop (SIGTERM) is reported by the run loop.
              if (!deadline.aborted) failure = error instanceof Error ? error.message : String(error);
              return false;
            });
          // Timed out before the watch listed anything: read the workloads once, to say where they are.
          if (failure === undefined && !done && last.size === 0 && !deps.signal?.aborted) {
            const listed = await cluster.list(
              workloadRefs[kind],
              scope.namespace ? { namespace: scope.namespace } : {},
            );
            last = new Map(listed.map((o) => [`${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`, o]));
          }
          for (const key of scope.keys) {
            const object = last.get(key);
            if (failure !== undefined) {
              pending.push(`${kind}/${key}: could not watch its rollout: ${failure}`);
              continue;
            }
            if (!object) continue;
            const state = rolloutState(kind, object);
            if (state.done) continue;
            if (state.failed) failed.push(`${kind}/${key}: ${state.message}`);
            else if (!done) pending.push(`${kind}/${key}: ${state.message}`);
          }
        });
      }),
    );
    return {
      ok: pending.length === 0 && failed.length === 0,
      pending,
      failed,
      elapsedMs: Math.round(performance.now() - started),
    };
  }

  async function waitForRestarted(action: Extract<Action, { type: 'wait-rollouts' }>): Promise<Observation> {
    const all = await workloadsIn(action.namespaces);
    const tracked = all.filter(({ workload }) => workload.restartedFor === action.key).map(({ workload }) => workload);
    const result = await waitRollouts(tracked, action.timeoutMs);
    return { type: 'wait-rollouts', ...result };
  }

  async function verify(action: Extract<Action, { type: 'verify' }>): Promise<Observation> {
    const leave = new Set(action.leave ?? []);
    const listed = await listIn(Resources.pods, action.namespaces);
    const pods =
      leave.size === 0
        ? listed
        : listed.filter((pod) => {
            const owner = podWorkload(pod);
            return !owner || !leave.has(`${pod.metadata.namespace ?? ''}/${owner.kind}/${owner.name}`);
          });
    const report = checkConvergence(pods, action.revision, new Set(action.namespaces));
    let stragglers: Straggler[] = report.stragglers;
    if (action.stragglers === 'restart' && stragglers.length > 0) {
      const left: Straggler[] = [];
      for (const s of stragglers) {
        try {
          await cluster.mutate({ op: 'delete', ref: Resources.pods, namespace: s.namespace, name: s.pod });
          await events.record(
            { apiVersion: 'v1', kind: 'Pod', namespace: s.namespace, name: s.pod },
            'RevrollStragglerDeleted',
            `deleted: ${s.reason}`,
            'Warning',
          );
        } catch (error) {
          left.push({
            ...s,
            reason: `${s.reason}; delete failed: ${error instanceof Error ? error.message : String(error)}`,
          });
        }
      }
      stragglers = left;
    }
    return { type: 'verify', stragglers, converged: report.converged };
  }

  /** Revision versions are read once per executor: they do not change during a run. */
  let versions: Map<string, string | undefined> | undefined;
  /** The wave's proxies on the new revision, listed once per wave for the coverage check. */
  const expectedPods = new Map<number, { namespace: string; pod: string }[]>();

  async function measure(state: RunState, action: Extract<Action, { type: 'measure' }>): Promise<Observation> {
    const checks = spec.gates.checks;
    const metrics = deps.metrics;
    const namespaces = Object.entries(state.namespaces)
      .filter(([, ns]) => ns.wave === action.wave)
      .map(([name]) => name);
    if (!versions) {
      const snapshot = await mesh();
      versions = new Map(snapshot.revisions.map((r) => [r.name, r.version]));
    }
    const fromVersion = versions.get(state.from);
    const toVersion = versions.get(state.to);
    let expected: { namespace: string; pod: string }[] | undefined;
    if (action.mode === 'bake') {
      expected = expectedPods.get(action.wave);
      if (!expected) {
        const pods = await listIn(Resources.pods, namespaces);
        expected = pods
          .filter((p) => podRevision(p) === state.to && !p.metadata['deletionTimestamp'])
          .map((p) => ({ namespace: p.metadata.namespace ?? '', pod: p.metadata.name ?? '' }));
        expectedPods.set(action.wave, expected);
      }
    }
    const base = {
      namespaces,
      fromRevision: state.from,
      toRevision: state.to,
      ...(fromVersion ? { fromVersion } : {}),
      // Before the move every proxy of the wave is on the old revision: no version filter then.
      ...(toVersion && action.mode === 'bake' ? { toVersion } : {}),
      at: deps.now(),
    };
    const results: GateResult[] = await Promise.all(
      checks.map(async (check) => {
        if (!metrics)
          return {
            check: check.name,
            outcome: 'Error' as const,
            message: 'no Prometheus configured',
            ...(check.shadow ? { shadow: true } : {}),
          };
        const measurement = await metrics.measure(check, {
          ...base,
          subject: 'wave',
          ...(expected ? { expectedPods: expected } : {}),
        });
        if (action.mode === 'baseline')
          return judge({ ...check, threshold: { max: Number.POSITIVE_INFINITY } }, measurement, undefined);
        let baseline: number | null | undefined;
        if (check.baseline === 'before') baseline = state.gates?.baseline[check.name] ?? null;
        if (check.baseline === 'cohort') {
          const cohort = await metrics.measure(check, { ...base, subject: 'cohort' });
          baseline = cohort.kind === 'value' && !Number.isNaN(cohort.value) ? cohort.value : null;
        }
        return judge(check, measurement, baseline);
      }),
    );
    return { type: 'measure', results };
  }

  async function uninstall(state: RunState, revision: string): Promise<Observation> {
    const snapshot = await mesh();
    if (!snapshot.revisions.some((r) => r.name === revision && r.injector)) {
      return { type: 'uninstall', ok: false, refused: [], message: `revision ${revision} is not installed` };
    }
    const [pods, ...workloadLists] = await Promise.all([
      cluster.list(Resources.pods),
      ...(['Deployment', 'StatefulSet', 'DaemonSet'] as const).map((k) => cluster.list(workloadRefs[k])),
    ]);
    const references = findReferences(snapshot, revision, pods, workloadLists.flat());
    if (references.length > 0) {
      return {
        type: 'uninstall',
        ok: false,
        refused: references.map((r) => r.detail),
        message: `${references.length} reference(s) to ${revision} remain`,
      };
    }
    const objects = await listUninstallTargets(cluster, revision);
    const unsafe = unsafeDeletions(objects, { revision, pods, protect: protectedGateways(state) });
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

  /** The revision's istiod is Ready (an available replica, its injector in place) right now. */
  async function checkRevision(revision: string): Promise<Observation> {
    const problem = revisionReady(await mesh(), revision);
    return problem
      ? { type: 'check-revision', ok: false, message: problem }
      : { type: 'check-revision', ok: true, message: `${istiodName(revision)} is ready and injecting` };
  }

  async function health(state: RunState, revision: string): Promise<Observation> {
    const snapshot = await mesh();
    const problem = revisionReady(snapshot, revision);
    const notes: string[] = [];
    if (problem) notes.push(problem);
    const defaultTag = state.tags.find((t) => t.tag === 'default');
    if (defaultTag && snapshot.defaultRevision !== (defaultTag.original ?? revision))
      notes.push(`default tag points at ${snapshot.defaultRevision ?? 'nothing'}`);
    return {
      type: 'health',
      ok: notes.length === 0,
      message:
        notes.length === 0
          ? `${revision} healthy, default tag on ${snapshot.defaultRevision ?? 'none'}`
          : notes.join('; '),
    };
  }

  return {
    async execute(state: RunState, action: Action): Promise<Observation> {
      try {
        switch (action.type) {
          case 'precheck':
            return await precheck(state);
          case 'install':
            return await install(state);
          case 'set-tags':
            return await setTags(action.tags);
          case 'request-approval':
            const delivery = await deps.notifier.notify({
              kind: 'approval-requested',
              policy: state.policy,
              runId: state.runId,
              step: action.step,
              message: action.summary,
              details: { expiresAt: action.expiresAt, point: action.point, planHash: state.planHash },
            });
            return {
              type: 'approval-requested',
              delivered: delivery.delivered,
              ...(delivery.delivered ? {} : { error: delivery.error, retry: delivery.retry }),
            };
          case 'measure':
            return await measure(state, action);
          case 'label-namespaces':
            return await labelNamespaces(action.namespaces);
          case 'move-gateways':
            return await moveGateways(action.gateways);
          case 'restart-workloads':
            return await restart(action);
          case 'wait-rollouts':
            return await waitForRestarted(action);
          case 'verify':
            return await verify(action);
          case 'uninstall':
            return await uninstall(state, action.revision);
          case 'health':
            return await health(state, action.revision);
          case 'check-revision':
            return await checkRevision(action.revision);
        }
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        return { type: 'done', ok: false, message };
      }
    },
  };
}

export type Executor = ReturnType<typeof createExecutor>;

/** The gateways this run moved: an uninstall never deletes any of their objects. */
function protectedGateways(state: RunState): ProtectedGateway[] {
  return state.gateways
    .filter((g) => g.moved)
    .map((g) => ({ namespace: g.namespace, name: g.name, ...(g.app !== undefined ? { app: g.app } : {}) }));
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return (lines.at(-1) ?? '').slice(0, 200);
}

/** The revroll restart annotation on a workload's template (exported for tests and status). */
export function restartedFor(object: KubeObject): string | undefined {
  return (object.spec as { template?: { metadata?: { annotations?: Record<string, string> } } } | undefined)?.template
    ?.metadata?.annotations?.[Annotation.restartedFor];
}
