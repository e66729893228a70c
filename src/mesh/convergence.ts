/**
 * Convergence: every proxy in scope runs the target revision. Pods are judged by the
 * `istio.io/rev` annotation or `sidecar.istio.io/status` (never the pod label, which may name a
 * tag or be absent; reference section 3).
 */
import { GATEWAY_MANAGED_LABEL } from './gateway-api.ts';
import type { KubeObject } from '../ports/cluster.ts';
import { hasProxy, injectionOptOut, podRevision } from './labels.ts';

/** A pod that did not converge, named so an operator can act on it. */
export type Straggler = {
  namespace: string;
  pod: string;
  /** The revision its proxy runs, or undefined when it has no proxy although it should. */
  revision?: string;
  /** The owning workload, e.g. `ReplicaSet/web-7c9f`, or `none` for a bare pod. */
  owner: string;
  reason: string;
};

export type ConvergenceReport = {
  /** Pods with a proxy on the target revision. */
  converged: number;
  stragglers: Straggler[];
};

/**
 * Judges pods against the revision they should run. Pods that are terminating, finished
 * (Succeeded/Failed) or opted out are not counted; an uninjected pod in a namespace that injects
 * is a straggler (it was created while injection was off, or its webhook failed).
 */
export function checkConvergence(
  pods: readonly KubeObject[],
  target: string,
  injectingNamespaces: ReadonlySet<string>,
): ConvergenceReport {
  let converged = 0;
  const stragglers: Straggler[] = [];
  for (const pod of pods) {
    const namespace = pod.metadata.namespace ?? '';
    if (!injectingNamespaces.has(namespace)) continue;
    if (pod.metadata['deletionTimestamp']) continue;
    const phase = (pod.status as { phase?: string } | undefined)?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') continue;
    // Rendered by istiod for a Gateway API Gateway (not injected): it follows its Gateway, which
    // revroll moves and verifies in its own step.
    if (pod.metadata.labels?.[GATEWAY_MANAGED_LABEL] !== undefined) continue;
    const owner = ownerOf(pod);
    const name = pod.metadata.name ?? '';
    if (!hasProxy(pod)) {
      const optedOut = injectionOptOut(pod.metadata) !== undefined;
      const hostNetwork = (pod.spec as { hostNetwork?: boolean } | undefined)?.hostNetwork === true;
      if (!optedOut && !hostNetwork)
        stragglers.push({ namespace, pod: name, owner, reason: 'no proxy although its namespace injects' });
      continue;
    }
    const revision = podRevision(pod);
    if (revision === target) {
      converged += 1;
    } else {
      stragglers.push({
        namespace,
        pod: name,
        ...(revision ? { revision } : {}),
        owner,
        reason: `proxy on revision ${revision ?? 'unknown'}, expected ${target}`,
      });
    }
  }
  stragglers.sort((a, b) =>
    a.namespace === b.namespace ? a.pod.localeCompare(b.pod) : a.namespace.localeCompare(b.namespace),
  );
  return { converged, stragglers };
}

function ownerOf(pod: KubeObject): string {
  const owner = pod.metadata.ownerReferences?.find((o) => o.controller) ?? pod.metadata.ownerReferences?.[0];
  return owner ? `${owner.kind}/${owner.name}` : 'none';
}

/** One line for messages: `shop/web-1 (ReplicaSet/web-7c9f): proxy on revision 1-24-3, expected 1-25-1`, capped. */
export function describeStragglers(stragglers: readonly Straggler[], max = 10): string {
  const lines = stragglers.slice(0, max).map((s) => `${s.namespace}/${s.pod} (${s.owner}): ${s.reason}`);
  if (stragglers.length > max) lines.push(`...and ${stragglers.length - max} more`);
  return lines.join('; ');
}
