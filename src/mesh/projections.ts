/**
 * Projections: objects reduced to the fields revroll's checks read, so a read over a whole
 * cluster keeps a few hundred bytes per object instead of the object (an injected pod is about
 * 4.5 KB of JSON, several times that parsed). Each projection is still a `KubeObject`, and every
 * check gives the same answer on it as on the object it came from.
 */
import type { KubeObject } from '../ports/cluster.ts';
import { GATEWAY_MANAGED_LABEL, GATEWAY_NAME_LABEL } from './gateway-api.ts';
import { Annotation, hasProxy, Label, podRevision } from './labels.ts';

/**
 * A pod as convergence, coverage and workload ownership read it: name, namespace, the controller
 * references, `pod-template-hash`, the injection opt-out, the labels istiod puts on the pods it
 * renders for a Gateway API Gateway (`gateway.istio.io/managed`, the Gateway's name), the proxy's revision (in `istio.io/rev`,
 * as `podRevision` resolved it from the sidecar status), deletion, phase and hostNetwork when the
 * read carried them (a metadata-only read carries neither).
 */
export function podProjection(pod: KubeObject): KubeObject {
  const meta = pod.metadata;
  const labels: Record<string, string> = {};
  const hash = meta.labels?.['pod-template-hash'];
  if (hash !== undefined) labels['pod-template-hash'] = hash;
  for (const key of [Label.inject, GATEWAY_MANAGED_LABEL, GATEWAY_NAME_LABEL]) {
    const value = meta.labels?.[key];
    if (value !== undefined) labels[key] = value;
  }
  const annotations: Record<string, string> = {};
  const injectAnnotation = meta.annotations?.[Label.inject];
  if (injectAnnotation !== undefined) annotations[Label.inject] = injectAnnotation;
  if (hasProxy(pod)) annotations[Annotation.rev] = podRevision(pod) ?? 'default';
  const owners = (meta.ownerReferences ?? []).map((o) => ({
    apiVersion: o.apiVersion,
    kind: o.kind,
    name: o.name,
    uid: o.uid,
    ...(o.controller !== undefined ? { controller: o.controller } : {}),
  }));
  const phase = (pod.status as { phase?: string } | undefined)?.phase;
  const hostNetwork = (pod.spec as { hostNetwork?: boolean } | undefined)?.hostNetwork;
  return {
    metadata: {
      ...(meta.name !== undefined ? { name: meta.name } : {}),
      ...(meta.namespace !== undefined ? { namespace: meta.namespace } : {}),
      labels,
      annotations,
      ...(owners.length > 0 ? { ownerReferences: owners } : {}),
      ...(meta['deletionTimestamp'] ? { deletionTimestamp: meta['deletionTimestamp'] } : {}),
    },
    ...(phase !== undefined ? { status: { phase } } : {}),
    ...(hostNetwork !== undefined ? { spec: { hostNetwork } } : {}),
  };
}

/**
 * A Deployment, StatefulSet or DaemonSet as the rollout check (`rolloutState`) reads it: name,
 * namespace, generation, the spec fields it compares against, and the status.
 */
export function rolloutProjection(object: KubeObject): KubeObject {
  const meta = object.metadata;
  const spec = (object.spec ?? {}) as { replicas?: number; paused?: boolean; updateStrategy?: unknown };
  return {
    metadata: {
      ...(meta.name !== undefined ? { name: meta.name } : {}),
      ...(meta.namespace !== undefined ? { namespace: meta.namespace } : {}),
      ...(meta.generation !== undefined ? { generation: meta.generation } : {}),
      ...(meta.resourceVersion !== undefined ? { resourceVersion: meta.resourceVersion } : {}),
    },
    spec: {
      ...(spec.replicas !== undefined ? { replicas: spec.replicas } : {}),
      ...(spec.paused !== undefined ? { paused: spec.paused } : {}),
      ...(spec.updateStrategy !== undefined ? { updateStrategy: spec.updateStrategy } : {}),
    },
    ...(object.status !== undefined ? { status: object.status } : {}),
  };
}
