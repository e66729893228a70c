/**
 * The StatefulSet controller (podManagementPolicy OrderedReady, updateStrategy RollingUpdate):
 * pods `<name>-0..N-1` are created in order, each once its predecessor is Ready; a template
 * change replaces them one at a time from the highest ordinal down, each only when every other
 * pod is Ready. A Terminating pod still holds its name: the ordinal is recreated once it is gone,
 * and with OrderedReady nothing else moves meanwhile ("waiting for Pod to Terminate").
 * `currentRevision` catches up with `updateRevision` when all pods are updated, which is what
 * `kubectl rollout status statefulset/x` waits for. A StatefulSet being deleted is left alone.
 */
import type { KubeObject } from '../store.ts';
import { errorMessage, writeStatus, type ControllerContext } from './context.ts';
import { isPodActive, isPodReady, podFromTemplate, templateHash, type PodTemplate } from './pod-util.ts';

type StatefulSetSpec = {
  replicas?: number;
  template?: PodTemplate;
  podManagementPolicy?: string;
  updateStrategy?: { type?: string; rollingUpdate?: { partition?: number } };
};

const REVISION_LABEL = 'controller-revision-hash';

export function syncStatefulSet(ctx: ControllerContext, sts: KubeObject, pickNode: () => string): void {
  const namespace = sts.metadata.namespace ?? '';
  const name = sts.metadata.name ?? '';
  const spec = (sts.spec ?? {}) as StatefulSetSpec;
  const desired = spec.replicas ?? 1;
  const updateRevision = `${name}-${templateHash(spec.template ?? {})}`;
  const previous = (sts.status ?? {}) as { currentRevision?: string };
  let currentRevision = previous.currentRevision ?? updateRevision;
  const parallel = spec.podManagementPolicy === 'Parallel';
  const partition = spec.updateStrategy?.rollingUpdate?.partition ?? 0;
  const onDelete = spec.updateStrategy?.type === 'OnDelete';

  if (sts.metadata.deletionTimestamp) return;
  const byOrdinal = new Map<number, KubeObject>();
  const terminating = new Set<number>();
  for (const pod of ctx.podsOf(sts.metadata.uid ?? '')) {
    const ordinal = Number(pod.metadata.name?.slice(name.length + 1));
    if (!Number.isInteger(ordinal)) continue;
    if (isPodActive(pod)) byOrdinal.set(ordinal, pod);
    else if (pod.metadata.deletionTimestamp) terminating.add(ordinal);
  }

  let blocked = !parallel && terminating.size > 0;
  // Create missing ordinals in order; OrderedReady waits for each pod to be Ready.
  for (let ordinal = 0; ordinal < desired && !blocked; ordinal++) {
    const existing = byOrdinal.get(ordinal);
    if (existing) {
      if (!parallel && !isPodReady(existing)) blocked = true;
      continue;
    }
    if (terminating.has(ordinal)) continue; // its name is taken until the old pod is gone
    const revision = ordinal < partition ? currentRevision : updateRevision;
    const pod = podFromTemplate(spec.template ?? {}, {
      name: `${name}-${ordinal}`,
      owner: sts,
      nodeName: pickNode(),
      extraLabels: {
        [REVISION_LABEL]: revision,
        'statefulset.kubernetes.io/pod-name': `${name}-${ordinal}`,
        'apps.kubernetes.io/pod-index': String(ordinal),
      },
    });
    try {
      const created = ctx.store.create(ctx.types.pods, namespace, pod);
      byOrdinal.set(ordinal, created);
      ctx.setFailing('StatefulSet', namespace, name, false);
    } catch (error) {
      ctx.recordEvent(
        sts,
        'Warning',
        'FailedCreate',
        `create Pod ${name}-${ordinal} in StatefulSet ${name} failed error: ${errorMessage(error)}`,
        'statefulset-controller',
      );
      ctx.setFailing('StatefulSet', namespace, name, true);
      ctx.enqueueAfter(1_000, 'StatefulSet', namespace, name);
      blocked = true;
    }
    if (!parallel) blocked = true;
  }

  const allReady = () => [...byOrdinal.entries()].every(([ordinal, pod]) => ordinal >= desired || isPodReady(pod));

  // Scale down from the highest ordinal, one at a time once the rest are Ready.
  const extra = [...byOrdinal.keys()].filter((ordinal) => ordinal >= desired).sort((a, b) => b - a);
  if (!blocked && extra.length > 0 && (parallel || allReady())) {
    for (const ordinal of parallel ? extra : extra.slice(0, 1)) {
      ctx.store.delete(ctx.types.pods, namespace, `${name}-${ordinal}`);
      byOrdinal.delete(ordinal);
    }
    blocked = true;
  }

  // Rolling update: replace the highest outdated ordinal when every pod is Ready.
  if (!blocked && !onDelete && byOrdinal.size === desired && allReady()) {
    for (let ordinal = desired - 1; ordinal >= partition; ordinal--) {
      const pod = byOrdinal.get(ordinal);
      if (pod && pod.metadata.labels?.[REVISION_LABEL] !== updateRevision) {
        ctx.store.delete(ctx.types.pods, namespace, pod.metadata.name ?? '');
        byOrdinal.delete(ordinal);
        // Recreated on the next sync, which the pod's deletion event triggers.
        break;
      }
    }
  }

  const pods = [...byOrdinal.values()];
  const ready = pods.filter(isPodReady).length;
  const updated = pods.filter((p) => p.metadata.labels?.[REVISION_LABEL] === updateRevision).length;
  if (updated === desired && pods.length === desired && ready === desired) currentRevision = updateRevision;
  const current = pods.filter((p) => p.metadata.labels?.[REVISION_LABEL] === currentRevision).length;
  writeStatus(ctx, ctx.types.statefulsets, sts, {
    observedGeneration: sts.metadata.generation ?? 1,
    replicas: pods.length,
    readyReplicas: ready,
    availableReplicas: ready,
    currentReplicas: current,
    updatedReplicas: updated,
    currentRevision,
    updateRevision,
    collisionCount: 0,
  });
}
