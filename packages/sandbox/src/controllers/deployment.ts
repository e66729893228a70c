/**
 * The Deployment controller, following kube-controller-manager's rolling-update algorithm: a
 * template change creates a ReplicaSet `<deployment>-<pod-template-hash>`, which is scaled up
 * within `maxSurge` while old ReplicaSets are scaled down within `maxUnavailable`. Status is
 * written so that `kubectl rollout status` reads it exactly as it reads a real cluster's.
 */
import type { KubeObject } from '../store.ts';
import { setCondition, writeStatus, type Condition, type ControllerContext } from './context.ts';
import { controllerOf, ownerRef, resolveIntOrPercent, templateHash, type PodTemplate } from './pod-util.ts';
import { cloneJson } from '../clone.ts';

type DeploymentSpec = {
  replicas?: number;
  selector?: { matchLabels?: Record<string, string>; matchExpressions?: unknown[] };
  template?: PodTemplate;
  strategy?: { type?: string; rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string } };
  progressDeadlineSeconds?: number;
  revisionHistoryLimit?: number;
  paused?: boolean;
};

type RsStatus = { replicas?: number; readyReplicas?: number; availableReplicas?: number; conditions?: Condition[] };

const replicasOf = (rs: KubeObject) => (rs.spec as { replicas?: number } | undefined)?.replicas ?? 0;
const rsStatus = (rs: KubeObject) => (rs.status ?? {}) as RsStatus;
const revisionOf = (rs: KubeObject) => Number(rs.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? 0);

export function syncDeployment(ctx: ControllerContext, deployment: KubeObject): void {
  const namespace = deployment.metadata.namespace ?? '';
  const name = deployment.metadata.name ?? '';
  const spec = (deployment.spec ?? {}) as DeploymentSpec;
  const desired = spec.replicas ?? 1;
  const hash = templateHash(spec.template ?? {});
  const owned = ctx.replicaSetsOf(deployment.metadata.uid ?? '');
  let newRs = owned.find((rs) => rs.metadata.labels?.['pod-template-hash'] === hash);
  const previousStatus = (deployment.status ?? {}) as Record<string, unknown> & { conditions?: Condition[] };
  let conditions = [...(previousStatus.conditions ?? [])];
  let progressed = false;

  // A Deployment being deleted only has its status synced (the real controller's syncStatusOnly).
  if (!spec.paused && !deployment.metadata.deletionTimestamp) {
    const maxRevision = owned.reduce((max, rs) => Math.max(max, revisionOf(rs)), 0);
    if (!newRs) {
      newRs = createReplicaSet(ctx, deployment, spec, hash, maxRevision + 1);
      ctx.recordEvent(
        deployment,
        'Normal',
        'ScalingReplicaSet',
        `Scaled up replica set ${newRs.metadata.name} from 0 to ${replicasOf(newRs)}`,
        'deployment-controller',
      );
      conditions = setCondition(
        conditions,
        {
          type: 'Progressing',
          status: 'True',
          reason: 'NewReplicaSetCreated',
          message: `Created new replica set "${newRs.metadata.name}"`,
          lastTransitionTime: ctx.nowIso(),
        },
        { withUpdateTime: true },
      );
      progressed = true;
    } else if (revisionOf(newRs) < maxRevision) {
      // A rollback to an older template makes its ReplicaSet the newest revision again.
      newRs = ctx.store.update(ctx.types.replicasets, namespace, {
        ...newRs,
        metadata: {
          ...newRs.metadata,
          annotations: { ...newRs.metadata.annotations, 'deployment.kubernetes.io/revision': String(maxRevision + 1) },
        },
      });
    }
    const oldRss = owned.filter((rs) => rs !== newRs && rs.metadata.uid !== newRs?.metadata.uid);
    progressed = rollout(ctx, deployment, spec, desired, newRs, oldRss) || progressed;
    cleanupHistory(ctx, namespace, oldRss, spec.revisionHistoryLimit ?? 10);
  }

  // Status, from the ReplicaSets as they are now.
  const all = ctx.replicaSetsOf(deployment.metadata.uid ?? '');
  const current = newRs ? all.find((rs) => rs.metadata.uid === newRs?.metadata.uid) : undefined;
  const sum = (pick: (rs: KubeObject) => number) => all.reduce((total, rs) => total + pick(rs), 0);
  const replicas = sum((rs) => rsStatus(rs).replicas ?? 0);
  const updatedReplicas = current ? (rsStatus(current).replicas ?? 0) : 0;
  const readyReplicas = sum((rs) => rsStatus(rs).readyReplicas ?? 0);
  const availableReplicas = sum((rs) => rsStatus(rs).availableReplicas ?? 0);
  const unavailableReplicas = Math.max(0, sum(replicasOf) - availableReplicas);
  const maxUnavailable = budgets(spec, desired).maxUnavailable;
  const now = ctx.nowIso();

  conditions = setCondition(
    conditions,
    availableReplicas >= desired - maxUnavailable
      ? {
          type: 'Available',
          status: 'True',
          reason: 'MinimumReplicasAvailable',
          message: 'Deployment has minimum availability.',
          lastTransitionTime: now,
        }
      : {
          type: 'Available',
          status: 'False',
          reason: 'MinimumReplicasUnavailable',
          message: 'Deployment does not have minimum availability.',
          lastTransitionTime: now,
        },
    { withUpdateTime: true },
  );

  const complete =
    updatedReplicas === desired && replicas === desired && availableReplicas === desired && sum(replicasOf) === desired;
  const rsName = current?.metadata.name ?? '';
  const deadlineSeconds = spec.progressDeadlineSeconds ?? 600;
  const before = previousStatus as {
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    replicas?: number;
  };
  progressed ||=
    updatedReplicas > (before.updatedReplicas ?? 0) ||
    readyReplicas > (before.readyReplicas ?? 0) ||
    availableReplicas > (before.availableReplicas ?? 0) ||
    replicas - updatedReplicas < (before.replicas ?? 0) - (before.updatedReplicas ?? 0);

  if (spec.paused) {
    conditions = setCondition(
      conditions,
      {
        type: 'Progressing',
        status: 'Unknown',
        reason: 'DeploymentPaused',
        message: 'Deployment is paused',
        lastTransitionTime: now,
      },
      { withUpdateTime: true },
    );
  } else if (complete && current) {
    conditions = setCondition(
      conditions,
      {
        type: 'Progressing',
        status: 'True',
        reason: 'NewReplicaSetAvailable',
        message: `ReplicaSet "${rsName}" has successfully progressed.`,
        lastTransitionTime: now,
      },
      { withUpdateTime: true },
    );
  } else if (current) {
    const progressing = conditions.find((c) => c.type === 'Progressing');
    const lastUpdate = progressing?.lastUpdateTime ? Date.parse(progressing.lastUpdateTime) : ctx.clock.now().getTime();
    const overdue = !progressed && ctx.clock.now().getTime() - lastUpdate > deadlineSeconds * 1000;
    if (overdue || progressing?.reason === 'ProgressDeadlineExceeded') {
      conditions = setCondition(
        conditions,
        {
          type: 'Progressing',
          status: 'False',
          reason: 'ProgressDeadlineExceeded',
          message: `ReplicaSet "${rsName}" has timed out progressing.`,
          lastTransitionTime: now,
        },
        { withUpdateTime: true },
      );
      if (progressed) {
        conditions = setCondition(
          conditions,
          {
            type: 'Progressing',
            status: 'True',
            reason: 'ReplicaSetUpdated',
            message: `ReplicaSet "${rsName}" is progressing.`,
            lastTransitionTime: now,
          },
          { withUpdateTime: true, touch: true },
        );
      }
    } else {
      conditions = setCondition(
        conditions,
        {
          type: 'Progressing',
          status: 'True',
          reason:
            progressed || progressing?.reason !== 'NewReplicaSetCreated' ? 'ReplicaSetUpdated' : progressing.reason,
          message:
            progressed || progressing?.reason !== 'NewReplicaSetCreated'
              ? `ReplicaSet "${rsName}" is progressing.`
              : (progressing.message ?? ''),
          lastTransitionTime: now,
        },
        { withUpdateTime: true, touch: progressed },
      );
      // Wake up when the deadline would pass without progress.
      const updated = conditions.find((c) => c.type === 'Progressing')?.lastUpdateTime;
      const due =
        (updated ? Date.parse(updated) : ctx.clock.now().getTime()) +
        deadlineSeconds * 1000 -
        ctx.clock.now().getTime();
      ctx.enqueueAfter(Math.max(0, due) + 1000, 'Deployment', namespace, name);
    }
  }

  // The Deployment mirrors the ReplicaSet's ReplicaFailure (a failing admission webhook).
  const failure = current
    ? rsStatus(current).conditions?.find((c) => c.type === 'ReplicaFailure' && c.status === 'True')
    : undefined;
  conditions = failure
    ? setCondition(
        conditions,
        {
          type: 'ReplicaFailure',
          status: 'True',
          reason: failure.reason ?? 'FailedCreate',
          message: failure.message ?? '',
          lastTransitionTime: now,
        },
        { withUpdateTime: true },
      )
    : conditions.filter((c) => c.type !== 'ReplicaFailure');

  const status: Record<string, unknown> = {
    observedGeneration: deployment.metadata.generation ?? 1,
    replicas,
    updatedReplicas,
    readyReplicas,
    availableReplicas,
    conditions,
  };
  if (unavailableReplicas > 0) status.unavailableReplicas = unavailableReplicas;
  if (previousStatus.collisionCount !== undefined) status.collisionCount = previousStatus.collisionCount;
  writeStatus(ctx, ctx.types.deployments, deployment, status);
}

function budgets(spec: DeploymentSpec, desired: number): { maxSurge: number; maxUnavailable: number } {
  if (spec.strategy?.type === 'Recreate') return { maxSurge: 0, maxUnavailable: desired };
  let maxSurge = resolveIntOrPercent(spec.strategy?.rollingUpdate?.maxSurge, desired, true, '25%');
  let maxUnavailable = resolveIntOrPercent(spec.strategy?.rollingUpdate?.maxUnavailable, desired, false, '25%');
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1; // as the real controller forces
  maxSurge = Math.max(0, maxSurge);
  maxUnavailable = Math.min(Math.max(0, maxUnavailable), desired);
  return { maxSurge, maxUnavailable };
}

/** One step of the rolling update; returns whether anything was scaled. */
function rollout(
  ctx: ControllerContext,
  deployment: KubeObject,
  spec: DeploymentSpec,
  desired: number,
  newRs: KubeObject,
  oldRss: KubeObject[],
): boolean {
  const namespace = deployment.metadata.namespace ?? '';
  let changed = false;
  const activeOld = oldRss.filter((rs) => replicasOf(rs) > 0);

  if (spec.strategy?.type === 'Recreate') {
    for (const rs of activeOld) changed = scale(ctx, deployment, rs, 0) || changed;
    // oldPodsRunning: any old pod not Succeeded/Failed counts, Terminating ones included.
    const oldPods = oldRss.reduce(
      (total, rs) =>
        total +
        ctx.podsOf(rs.metadata.uid ?? '').filter((p) => {
          const phase = (p.status as { phase?: string } | undefined)?.phase;
          return phase !== 'Succeeded' && phase !== 'Failed';
        }).length,
      0,
    );
    if (oldPods === 0) changed = scale(ctx, deployment, newRs, desired) || changed;
    return changed;
  }

  if (activeOld.length === 0) {
    // Nothing to replace: scale the new ReplicaSet straight to size (also plain scaling).
    return scale(ctx, deployment, newRs, desired);
  }

  const { maxSurge, maxUnavailable } = budgets(spec, desired);

  // Scale up the new ReplicaSet within maxSurge.
  const total = replicasOf(newRs) + activeOld.reduce((sum, rs) => sum + replicasOf(rs), 0);
  const maxTotal = desired + maxSurge;
  if (replicasOf(newRs) < desired && total < maxTotal) {
    const next = Math.min(desired, replicasOf(newRs) + (maxTotal - total));
    changed = scale(ctx, deployment, newRs, next) || changed;
  } else if (replicasOf(newRs) > desired) {
    changed = scale(ctx, deployment, newRs, desired) || changed;
  }

  // Scale down old ReplicaSets within maxUnavailable (reconcileOldReplicaSets): first the old
  // pods that are not available anyway, then available ones while enough stay available.
  // Availability is capped at spec.replicas because a ReplicaSet's status may lag a scale-down.
  const fresh = (rs: KubeObject) => ctx.store.tryGet(ctx.types.replicasets, namespace, rs.metadata.name ?? '') ?? rs;
  const availableOf = (rs: KubeObject) => Math.min(rsStatus(rs).availableReplicas ?? 0, replicasOf(rs));
  const freshNew = fresh(newRs);
  const oldestFirst = activeOld.map(fresh).sort((a, b) => revisionOf(a) - revisionOf(b));
  const allReplicas = [freshNew, ...oldestFirst].reduce((sum, rs) => sum + replicasOf(rs), 0);
  const minAvailable = desired - maxUnavailable;
  const newUnavailable = replicasOf(freshNew) - availableOf(freshNew);
  const maxScaledDown = allReplicas - minAvailable - newUnavailable;
  if (maxScaledDown <= 0) return changed;
  let cleaned = 0;
  for (const rs of oldestFirst) {
    if (cleaned >= maxScaledDown) break;
    const unhealthy = replicasOf(rs) - availableOf(rs);
    if (unhealthy <= 0) continue;
    const cut = Math.min(unhealthy, maxScaledDown - cleaned);
    changed = scale(ctx, deployment, rs, replicasOf(rs) - cut) || changed;
    cleaned += cut;
  }
  const afterCleanup = [freshNew, ...oldestFirst].map(fresh);
  const available = afterCleanup.reduce((sum, rs) => sum + availableOf(rs), 0);
  if (available <= minAvailable) return changed;
  const totalScaleDown = available - minAvailable;
  let scaled = 0;
  for (const rs of afterCleanup.slice(1)) {
    if (scaled >= totalScaleDown) break;
    if (replicasOf(rs) === 0) continue;
    const cut = Math.min(replicasOf(rs), totalScaleDown - scaled);
    changed = scale(ctx, deployment, rs, replicasOf(rs) - cut) || changed;
    scaled += cut;
  }
  return changed;
}

function scale(ctx: ControllerContext, deployment: KubeObject, rs: KubeObject, replicas: number): boolean {
  const fresh = ctx.store.tryGet(ctx.types.replicasets, rs.metadata.namespace, rs.metadata.name ?? '');
  if (!fresh || replicasOf(fresh) === replicas) return false;
  const from = replicasOf(fresh);
  ctx.store.update(ctx.types.replicasets, fresh.metadata.namespace, {
    ...fresh,
    metadata: {
      ...fresh.metadata,
      annotations: {
        ...fresh.metadata.annotations,
        'deployment.kubernetes.io/desired-replicas': String((deployment.spec as DeploymentSpec).replicas ?? 1),
      },
    },
    spec: { ...(fresh.spec as object), replicas },
  });
  ctx.recordEvent(
    deployment,
    'Normal',
    'ScalingReplicaSet',
    `Scaled ${replicas > from ? 'up' : 'down'} replica set ${fresh.metadata.name} from ${from} to ${replicas}`,
    'deployment-controller',
  );
  return true;
}

function createReplicaSet(
  ctx: ControllerContext,
  deployment: KubeObject,
  spec: DeploymentSpec,
  hash: string,
  revision: number,
): KubeObject {
  const namespace = deployment.metadata.namespace ?? '';
  const template = cloneJson(spec.template ?? {});
  template.metadata = { ...template.metadata, labels: { ...template.metadata?.labels, 'pod-template-hash': hash } };
  const desired = spec.replicas ?? 1;
  const others = ctx.replicaSetsOf(deployment.metadata.uid ?? '').filter((rs) => replicasOf(rs) > 0);
  // The first ReplicaSet starts at full size; a replacement starts empty and is surged up.
  const initial = spec.strategy?.type === 'Recreate' ? 0 : others.length === 0 ? desired : 0;
  return ctx.store.create(ctx.types.replicasets, namespace, {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name: `${deployment.metadata.name}-${hash}`,
      labels: { ...(spec.template?.metadata?.labels ?? {}), 'pod-template-hash': hash },
      annotations: {
        'deployment.kubernetes.io/desired-replicas': String(desired),
        'deployment.kubernetes.io/max-replicas': String(desired + budgets(spec, desired).maxSurge),
        'deployment.kubernetes.io/revision': String(revision),
      },
      ownerReferences: [ownerRef(deployment)],
    },
    spec: {
      replicas: initial,
      selector: {
        ...(spec.selector ?? {}),
        matchLabels: { ...(spec.selector?.matchLabels ?? {}), 'pod-template-hash': hash },
      },
      template,
    },
  });
}

function cleanupHistory(ctx: ControllerContext, namespace: string, oldRss: KubeObject[], limit: number): void {
  const idle = oldRss
    .filter((rs) => replicasOf(rs) === 0 && (rsStatus(rs).replicas ?? 0) === 0)
    .sort((a, b) => revisionOf(a) - revisionOf(b));
  for (const rs of idle.slice(0, Math.max(0, idle.length - limit))) {
    if (controllerOf(rs) && ctx.store.tryGet(ctx.types.replicasets, namespace, rs.metadata.name ?? '')) {
      ctx.store.delete(ctx.types.replicasets, namespace, rs.metadata.name ?? '');
    }
  }
}
