/**
 * What every action performer gets: the policy, the ports, the run's stop signal, and reads the
 * actions share (the mesh snapshot, workloads and pods of a set of namespaces). Performers
 * report what they observed; what happens next is `decide`'s business.
 */
import { observeMesh, type MeshSnapshot } from '../../mesh/revisions.ts';
import { podProjection } from '../../mesh/projections.ts';
import { toWorkload, workloadRefs, type Workload } from '../../mesh/workloads.ts';
import {
  Resources,
  type ClusterPort,
  type KubeObject,
  type ReadOptions,
  type ResourceRef,
} from '../../ports/cluster.ts';
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

/**
 * Visits the objects of one kind in these namespaces, page by page: per-namespace reads for a
 * few namespaces, one cluster-wide read filtered here for many. Nothing is kept.
 */
export async function scanIn(
  ctx: ActionContext,
  ref: ResourceRef,
  namespaces: readonly string[],
  visit: (object: KubeObject) => void,
  options: ReadOptions & { fieldSelector?: string } = {},
): Promise<void> {
  const { fieldSelector, ...read } = options;
  const selector = fieldSelector ? { fieldSelector } : {};
  if (namespaces.length <= PER_NAMESPACE_LIMIT) {
    await Promise.all(namespaces.map((namespace) => ctx.cluster.scan(ref, { namespace, ...selector }, visit, read)));
    return;
  }
  const wanted = new Set(namespaces);
  await ctx.cluster.scan(
    ref,
    selector,
    (object) => {
      if (wanted.has(object.metadata.namespace ?? '')) visit(object);
    },
    read,
  );
}

/** Pods that have not finished: the field selector the API server filters with. */
export const UNFINISHED_PODS = 'status.phase!=Succeeded,status.phase!=Failed';

/**
 * The pods of these namespaces as projections (src/mesh/projections.ts), read as metadata only:
 * their labels and annotations say which proxy they run. `unfinished` leaves Succeeded and Failed
 * pods out (server-side).
 */
export async function podsIn(
  ctx: ActionContext,
  namespaces: readonly string[],
  options: { unfinished?: boolean; full?: boolean } = {},
): Promise<KubeObject[]> {
  const pods: KubeObject[] = [];
  await scanIn(ctx, Resources.pods, namespaces, (pod) => pods.push(podProjection(pod)), {
    metadataOnly: options.full !== true,
    ...(options.unfinished ? { fieldSelector: UNFINISHED_PODS } : {}),
  });
  return pods;
}

/** The policy's workload kinds in these namespaces, without excluded and opted-out ones. */
export async function workloadsIn(ctx: ActionContext, namespaces: readonly string[]): Promise<Workload[]> {
  const excluded = new Set(ctx.spec.workloads.exclude.workloads.map((w) => `${w.kind}/${w.namespace}/${w.name}`));
  const out: Workload[] = [];
  for (const kind of ctx.spec.workloads.kinds) {
    await scanIn(ctx, workloadRefs[kind], namespaces, (object) => {
      const workload = toWorkload(kind, object);
      if (excluded.has(`${kind}/${workload.namespace}/${workload.name}`) || workload.optOut) return;
      out.push(workload);
    });
  }
  return out;
}

/** The first line of an error, for observations. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
