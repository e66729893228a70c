/**
 * The benchmark's clusters and policies. Every measurement runs on a generated scenario (see
 * `generateScenario`): `namespaces` x `workloads` single-replica Deployments, half the namespaces
 * labelled `istio-injection=enabled` and half `istio.io/rev=<stable>`, a canary revision
 * installed and Ready, plus the namespace revroll keeps its run state in.
 */
import { generateScenario, type Scenario } from '@revroll/sandbox';

export const STATE_NAMESPACE = 'revroll-system';
export const STABLE = { name: '1-24-3', version: '1.24.3' } as const;
export const CANARY = { name: '1-25-1', version: '1.25.1' } as const;

export type BenchScenarioOptions = {
  namespaces: number;
  workloads: number;
  startLatencyMs: number;
  /** Proxy error rate of the canary revision (0 = healthy). */
  canaryErrorRate?: number;
  rps?: number;
};

export function benchScenario(options: BenchScenarioOptions): Scenario {
  const bad = (options.canaryErrorRate ?? 0) > 0;
  const scenario = generateScenario({
    namespaces: options.namespaces,
    workloads: options.workloads,
    replicas: 1,
    stable: STABLE,
    canary: {
      ...CANARY,
      health: { errorRate: options.canaryErrorRate ?? 0, latencyMs: { p50: 9, p99: bad ? 400 : 60 } },
    },
    startLatencyMs: options.startLatencyMs,
    ...(options.rps !== undefined ? { rps: options.rps } : {}),
  });
  return {
    ...scenario,
    name: `bench-${options.namespaces}x${options.workloads}`,
    namespaces: [...scenario.namespaces, { name: STATE_NAMESPACE, labels: {}, workloads: [] }],
  };
}

/** Names of the application namespaces `benchScenario` generates, in order. */
export function appNamespaces(scenario: Scenario): string[] {
  return scenario.namespaces.map((n) => n.name).filter((n) => n.startsWith('ns-'));
}

/**
 * The migration the manual procedure also performs: every application namespace in one wave, no
 * gates, no warm-up, no bake, no tag moves (the guide's per-namespace steps do not touch tags).
 * `complete` makes it a whole promotion as operators run one: the `default` tag moved and the
 * previous revision uninstalled (what the memory figures measure).
 */
export function migrationPolicy(options: {
  maxParallelRestarts: number;
  rolloutTimeoutS: number;
  complete?: boolean;
}): string {
  const promote = options.complete ? '{tags: [default], uninstallPrevious: true}' : '{tags: []}';
  return `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: bench}
spec:
  revisions: {from: ${STABLE.name}, to: ${CANARY.name}}
  waves:
    - name: all
      namespaces: {percent: 100}
      bake: 0s
      maxParallelRestarts: ${options.maxParallelRestarts}
  gates: {warmup: 0s}
  workloads: {kinds: [Deployment], rolloutTimeout: ${options.rolloutTimeoutS}s}
  promote: ${promote}
`;
}
