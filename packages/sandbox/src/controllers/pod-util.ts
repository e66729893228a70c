/**
 * Helpers shared by the workload controllers: template hashing (the name suffix of a
 * ReplicaSet), turning a pod template into a pod, and reading pod readiness the way the real
 * controllers do (the `Ready` condition, ignoring pods that are terminating or finished).
 */
import type { KubeObject } from '../store.ts';
import { cloneJson } from '../clone.ts';

export type PodTemplate = {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
};

export type OwnerRef = {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
};

/** JSON with sorted keys, so equal templates hash equally whatever their key order. */
export function stableJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
}

// The alphabet of k8s.io/apimachinery rand.SafeEncodeString: no vowels, no look-alike digits,
// so hashes never spell words and read well in pod names.
const SAFE = 'bcdfghjklmnpqrstvwxz2456789';

// Stored objects are immutable, so a template object's hash never changes: controllers sync a
// workload many times per rollout and would otherwise re-serialise the same template each time.
const hashCache = new WeakMap<object, string>();

/** Like the Deployment controller's ComputeHash: FNV-1a of the template, safe-encoded. */
export function templateHash(template: unknown, collisionCount = 0): string {
  const cacheable = collisionCount === 0 && typeof template === 'object' && template !== null;
  const cached = cacheable ? hashCache.get(template) : undefined;
  if (cached) return cached;
  const result = computeHash(template, collisionCount);
  if (cacheable) hashCache.set(template, result);
  return result;
}

function computeHash(template: unknown, collisionCount: number): string {
  const text = stableJson(template) + (collisionCount ? String(collisionCount) : '');
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  let out = '';
  for (const digit of String(hash)) out += SAFE[digit.charCodeAt(0) % SAFE.length];
  return out;
}

export function ownerRef(owner: KubeObject): OwnerRef {
  return {
    apiVersion: owner.apiVersion ?? 'apps/v1',
    kind: owner.kind ?? '',
    name: owner.metadata.name ?? '',
    uid: owner.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function controllerOf(object: KubeObject): OwnerRef | undefined {
  return object.metadata.ownerReferences?.find((ref) => ref.controller) as OwnerRef | undefined;
}

/** A pod built from a template, as a workload controller posts it (before admission). */
export function podFromTemplate(
  template: PodTemplate,
  options: {
    name?: string;
    generateName?: string;
    owner: KubeObject;
    extraLabels?: Record<string, string>;
    nodeName?: string;
  },
): KubeObject {
  const spec = cloneJson(template.spec ?? {});
  if (options.nodeName) spec.nodeName = options.nodeName;
  spec.restartPolicy ??= 'Always';
  spec.schedulerName ??= 'default-scheduler';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.serviceAccountName ??= (spec.serviceAccount as string | undefined) ?? 'default';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...(options.name ? { name: options.name } : { generateName: options.generateName }),
      labels: { ...(template.metadata?.labels ?? {}), ...(options.extraLabels ?? {}) },
      ...(template.metadata?.annotations ? { annotations: { ...template.metadata.annotations } } : {}),
      ownerReferences: [ownerRef(options.owner)],
    },
    spec,
    status: { phase: 'Pending', qosClass: 'BestEffort' },
  };
}

type Condition = { type: string; status: string };

export function isPodReady(pod: KubeObject): boolean {
  const status = pod.status as { phase?: string; conditions?: Condition[] } | undefined;
  if (status?.phase !== 'Running') return false;
  return status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** Counted by controllers: not terminating and not finished. */
export function isPodActive(pod: KubeObject): boolean {
  if (pod.metadata.deletionTimestamp) return false;
  const phase = (pod.status as { phase?: string } | undefined)?.phase;
  return phase !== 'Succeeded' && phase !== 'Failed';
}

/** Resolves an `intOrString` budget such as `25%` against a replica count. */
export function resolveIntOrPercent(value: unknown, total: number, roundUp: boolean, fallback: string): number {
  const raw = value ?? fallback;
  if (typeof raw === 'number') return raw;
  const text = String(raw);
  if (text.endsWith('%')) {
    const percent = Number(text.slice(0, -1));
    const exact = (percent * total) / 100;
    return roundUp ? Math.ceil(exact) : Math.floor(exact);
  }
  return Number(text);
}

/** The name of the workload a pod belongs to (Deployment for ReplicaSet-owned pods). */
export function workloadOf(pod: KubeObject): { kind: string; name: string } | undefined {
  const owner = controllerOf(pod);
  if (!owner) return undefined;
  if (owner.kind === 'ReplicaSet') {
    const hash = pod.metadata.labels?.['pod-template-hash'];
    if (hash && owner.name.endsWith(`-${hash}`))
      return { kind: 'Deployment', name: owner.name.slice(0, -hash.length - 1) };
    return { kind: 'ReplicaSet', name: owner.name };
  }
  return { kind: owner.kind, name: owner.name };
}
