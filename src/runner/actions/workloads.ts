/** Workload actions: restart a wave's workloads onto the revision, and wait for their rollouts. */
import type { Action, Observation } from '../../engine/decide.ts';
import { mapLimit } from '../../lib/concurrency.ts';
import { rolloutProjection } from '../../mesh/projections.ts';
import { planRestart, rolloutState, workloadRefs, type WorkloadKind } from '../../mesh/workloads.ts';
import type { KubeObject } from '../../ports/cluster.ts';
import { errorText, PER_NAMESPACE_LIMIT, workloadsIn, type ActionContext } from './context.ts';

type Tracked = { kind: WorkloadKind; namespace: string; name: string };

/** What the rollouts reached: done, still running (`pending`) or failed. */
export type RolloutWait = { ok: boolean; pending: string[]; failed: string[]; elapsedMs: number };

export async function restart(
  ctx: ActionContext,
  action: Extract<Action, { type: 'restart-workloads' }>,
): Promise<Observation> {
  const leave = new Set(action.leave ?? []);
  const all = await workloadsIn(ctx, action.namespaces);
  const targets = all.filter(
    (workload) =>
      !leave.has(`${workload.namespace}/${workload.kind}/${workload.name}`) &&
      workload.restartedFor !== action.key &&
      (action.only === undefined || workload.restartedFor === action.only),
  );
  const now = ctx.now();
  // Each restart's audit Event is sent while the next restart goes out, not before it: the
  // recorder never throws (a lost Event is counted), and waiting for it halved the restart rate.
  // At most `maxParallel` Events are in flight; all are sent before the step ends.
  const recording = new Set<Promise<void>>();
  await mapLimit(targets, action.maxParallel, async (workload) => {
    await ctx.cluster.mutate(planRestart(workload, action.key, now), { metadataOnly: true });
    while (recording.size >= action.maxParallel) await Promise.race(recording);
    const recorded = ctx.events
      .record(
        { apiVersion: 'apps/v1', kind: workload.kind, namespace: workload.namespace, name: workload.name },
        'RevrollRestarted',
        `restarted to move its proxies (${action.key})`,
      )
      .finally(() => recording.delete(recorded));
    recording.add(recorded);
  });
  await Promise.all(recording);
  const already = all.length - targets.length;
  return {
    type: 'done',
    ok: true,
    message: `restarted ${targets.length} workload(s)${already > 0 ? `, ${already} already done or not moved` : ''}`,
  };
}

/** Waits for the rollouts of the workloads this step restarted. */
export async function waitForRestarted(
  ctx: ActionContext,
  action: Extract<Action, { type: 'wait-rollouts' }>,
): Promise<Observation> {
  const all = await workloadsIn(ctx, action.namespaces);
  const tracked = all.filter((workload) => workload.restartedFor === action.key);
  const result = await waitRollouts(ctx, tracked, action.timeoutMs);
  return { type: 'wait-rollouts', ...result };
}

/** One watch: a kind in one namespace (small waves) or cluster-wide, and the workloads it tracks. */
type Scope = { kind: WorkloadKind; namespace: string | undefined; keys: string[] };

/** Waits for the workloads' rollouts with one watch per kind (per namespace for small waves). */
export async function waitRollouts(ctx: ActionContext, tracked: Tracked[], timeoutMs: number): Promise<RolloutWait> {
  const started = performance.now();
  const pending: string[] = [];
  const failed: string[] = [];
  // The rollout timeout, or the invocation's stop (SIGTERM): whichever comes first.
  const deadline = ctx.signal
    ? AbortSignal.any([AbortSignal.timeout(timeoutMs), ctx.signal])
    : AbortSignal.timeout(timeoutMs);
  const remaining = () => Math.max(1, Math.round(timeoutMs - (performance.now() - started)));
  await Promise.all(
    scopesOf(tracked).map(async (scope) => {
      const seen = await watchScope(ctx, scope, remaining(), deadline);
      collect(scope, seen, { pending, failed });
    }),
  );
  return {
    ok: pending.length === 0 && failed.length === 0,
    pending,
    failed,
    elapsedMs: Math.round(performance.now() - started),
  };
}

function scopesOf(tracked: Tracked[]): Scope[] {
  const byKind = new Map<WorkloadKind, Set<string>>();
  for (const w of tracked) {
    const set = byKind.get(w.kind) ?? new Set<string>();
    set.add(`${w.namespace}/${w.name}`);
    byKind.set(w.kind, set);
  }
  return [...byKind].flatMap(([kind, keys]): Scope[] => {
    const namespaces = [...new Set([...keys].map((k) => k.split('/')[0] as string))];
    if (namespaces.length > PER_NAMESPACE_LIMIT) return [{ kind, namespace: undefined, keys: [...keys] }];
    return namespaces.map((namespace) => ({
      kind,
      namespace,
      keys: [...keys].filter((k) => k.startsWith(`${namespace}/`)),
    }));
  });
}

/** What one watch saw last: the objects, whether every rollout settled, or why it could not watch. */
type ScopeSeen = { last: ReadonlyMap<string, KubeObject>; done: boolean; failure?: string };

async function watchScope(
  ctx: ActionContext,
  scope: Scope,
  timeoutMs: number,
  deadline: AbortSignal,
): Promise<ScopeSeen> {
  const { kind } = scope;
  const query = scope.namespace ? { namespace: scope.namespace } : {};
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
  const done = await ctx.cluster
    .waitFor(
      workloadRefs[kind],
      query,
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
      timeoutMs,
      deadline,
      // Each workload as the rollout check reads it, not the whole object.
      { project: rolloutProjection },
    )
    .catch((error: unknown) => {
      // The rollout timeout ending the watch is not a watch failure: what the rollouts
      // reached is read below. A stop (SIGTERM) is reported by the run loop.
      if (!deadline.aborted) failure = errorText(error);
      return false;
    });
  // Timed out before the watch listed anything: read the workloads once, to say where they are.
  if (failure === undefined && !done && last.size === 0 && !ctx.signal?.aborted) {
    const listed = new Map<string, KubeObject>();
    await ctx.cluster.scan(workloadRefs[kind], query, (o) => {
      listed.set(`${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`, rolloutProjection(o));
    });
    last = listed;
  }
  return { last, done, ...(failure !== undefined ? { failure } : {}) };
}

function collect(scope: Scope, seen: ScopeSeen, out: { pending: string[]; failed: string[] }): void {
  for (const key of scope.keys) {
    const object = seen.last.get(key);
    if (seen.failure !== undefined) {
      out.pending.push(`${scope.kind}/${key}: could not watch its rollout: ${seen.failure}`);
      continue;
    }
    if (!object) continue;
    const state = rolloutState(scope.kind, object);
    if (state.done) continue;
    if (state.failed) out.failed.push(`${scope.kind}/${key}: ${state.message}`);
    else if (!seen.done) out.pending.push(`${scope.kind}/${key}: ${state.message}`);
  }
}
