/**
 * What every action performer gets: the policy, the ports, the run's stop signal, and reads the
 * actions share (the mesh snapshot, workloads and pods of a set of namespaces). Performers
 * report what they observed; what happens next is `decide`'s business.
 */
import { observeMesh, type MeshSnapshot } from '../../mesh/revisions.ts';
import { toWorkload, workloadRefs, type Workload, type WorkloadKind } from '../../mesh/workloads.ts';
import type { ClusterPort, KubeObject, Resources } from '../../ports/cluster.ts';
import type { EventRecorder } from '../../ports/events.ts';
import type { Installer } from '../../ports/installer.ts';
import type { MetricsSource } from '../../ports/metrics.ts';
import type { Notifier } from '../../ports/notifier.ts';
import type { Policy, PolicySpec } from '../../policy/types.ts';

export type ExecutorDeps = {
  cluster: ClusterPort;
  events: EventRecorder;
  notifier: Notifier;
  metrics?: MetricsSource;
  installer?: Installer;
  now: () => Date;
  /** Namespace of the run state (for the permission check). */
  stateNamespace: string;
  /** Called with installer output, for the run report. */
  onOutput?: (text: string) => void;
  /** The invocation's stop (SIGTERM, SIGINT, a lost Lease): every wait ends on it at once. */
  signal?: AbortSignal;
};

export type ActionContext = ExecutorDeps & {
  policy: Policy;
  spec: PolicySpec;
  /** The namespace istiod runs in. */
  istioNs: string;
  /** Revisions, tags, namespaces as they are now. */
  mesh(): Promise<MeshSnapshot>;
  /** Reads kept for the executor's life (they do not change during a run). */
  memo: {
    /** Revision -> Istio version, read once. */
    versions?: Map<string, string | undefined>;
    /** The wave's proxies on the new revision, listed once per wave for the coverage check. */
    expectedPods: Map<number, { namespace: string; pod: string }[]>;
  };
};

/** At most this many namespaces are handled with per-namespace requests; more use cluster-wide lists. */
export const PER_NAMESPACE_LIMIT = 20;

export function createActionContext(policy: Policy, deps: ExecutorDeps): ActionContext {
  const istioNs = policy.spec.revisions.istioNamespace;
  return {
    ...deps,
    policy,
    spec: policy.spec,
    istioNs,
    mesh: () => observeMesh(deps.cluster, istioNs),
    memo: { expectedPods: new Map() },
  };
}

/** Objects of one kind in these namespaces: per-namespace lists for a few, one filtered list for many. */
export async function listIn(
  ctx: ActionContext,
  ref: (typeof workloadRefs)[WorkloadKind] | typeof Resources.pods,
  namespaces: readonly string[],
): Promise<KubeObject[]> {
  if (namespaces.length <= PER_NAMESPACE_LIMIT) {
    const lists = await Promise.all(namespaces.map((namespace) => ctx.cluster.list(ref, { namespace })));
    return lists.flat();
  }
  const wanted = new Set(namespaces);
  return (await ctx.cluster.list(ref)).filter((o) => wanted.has(o.metadata.namespace ?? ''));
}

/** The policy's workload kinds in these namespaces, without excluded and opted-out ones. */
export async function workloadsIn(
  ctx: ActionContext,
  namespaces: readonly string[],
): Promise<{ workload: Workload; object: KubeObject }[]> {
  const excluded = new Set(ctx.spec.workloads.exclude.workloads.map((w) => `${w.kind}/${w.namespace}/${w.name}`));
  const out: { workload: Workload; object: KubeObject }[] = [];
  for (const kind of ctx.spec.workloads.kinds) {
    for (const object of await listIn(ctx, workloadRefs[kind], namespaces)) {
      const workload = toWorkload(kind, object);
      if (excluded.has(`${kind}/${workload.namespace}/${workload.name}`) || workload.optOut) continue;
      out.push({ workload, object });
    }
  }
  return out;
}

/** The first line of an error, for observations. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
