/**
 * Given/When/Then helpers for runner scenarios: a sandbox cluster, the real Kubernetes adapter
 * talking HTTP to it, and the real runner. Nothing of revroll's own is faked.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { createKubernetesCluster, type KubernetesCluster } from '../../src/adapters/kubernetes/cluster.ts';
import { composeRunner } from '../../src/runner/compose.ts';
import { runPolicy, type RunOptions, type RunResult } from '../../src/runner/run-policy.ts';
import { createSandbox, type Sandbox } from '@revroll/sandbox';
import type { ScenarioInput } from '@revroll/sandbox';
import { loadPolicyText } from '../../src/policy/load.ts';
import type { Policy } from '../../src/policy/types.ts';
import { silentLogger } from '../../src/telemetry/logger.ts';
import { runCli } from '../../src/cli/program.ts';
import type { CliIo } from '../../src/cli/io.ts';
import { Resources, type KubeObject } from '../../src/ports/cluster.ts';
import { podRevision } from '../../src/mesh/labels.ts';
import { observeMesh } from '../../src/mesh/revisions.ts';

export const STATE_NS = 'revroll-system';

/** A small cluster: five app namespaces in both label forms, a gateway, two revisions, a stable tag. */
export function smallScenario(overrides: Partial<ScenarioInput> = {}): ScenarioInput {
  return {
    name: 'small',
    nodes: 2,
    startLatencyMs: 20,
    istio: {
      revisions: [
        { name: '1-24-3', version: '1.24.3', replicas: 1 },
        { name: '1-25-1', version: '1.25.1', replicas: 1 },
      ],
      tags: { default: '1-24-3', 'prod-stable': '1-24-3' },
      gateways: [{ name: 'istio-ingressgateway', namespace: 'istio-system', revision: '1-24-3', replicas: 1 }],
    },
    namespaces: [
      { name: STATE_NS },
      {
        name: 'alpha',
        labels: { 'istio-injection': 'enabled', team: 'a' },
        workloads: [
          { name: 'web', replicas: 2 },
          { name: 'api', replicas: 1 },
        ],
      },
      {
        name: 'bravo',
        labels: { 'istio.io/rev': '1-24-3', team: 'b' },
        workloads: [
          { name: 'web', replicas: 2 },
          { kind: 'StatefulSet', name: 'db', replicas: 2 },
        ],
      },
      {
        name: 'charlie',
        labels: { 'istio-injection': 'enabled' },
        workloads: [
          { name: 'web', replicas: 1 },
          { name: 'batch', replicas: 1, podLabels: { 'sidecar.istio.io/inject': 'false' } },
        ],
      },
      {
        name: 'delta',
        labels: { 'istio.io/rev': 'prod-stable' },
        workloads: [
          { name: 'web', replicas: 2 },
          { kind: 'DaemonSet', name: 'agent' },
        ],
      },
      { name: 'echo', labels: { 'istio.io/rev': 'prod-stable' }, workloads: [{ name: 'web', replicas: 1 }] },
      { name: 'legacy', labels: { 'istio-injection': 'disabled' }, workloads: [{ name: 'old', replicas: 1 }] },
    ],
    ...overrides,
  };
}

export type Harness = {
  sandbox: Sandbox;
  cluster: KubernetesCluster;
  kubeconfigFile: string;
  policy(text: string): Policy;
  run(policy: Policy, options?: RunOptions): Promise<RunResult>;
  namespaceLabels(name: string): Promise<Record<string, string>>;
  /** Revision of every proxy pod in the namespace (sorted). */
  podRevisions(namespace: string): Promise<string[]>;
  defaultRevision(): Promise<string | undefined>;
  tags(): Promise<Record<string, string>>;
  workload(
    kind: 'deployments' | 'statefulsets' | 'daemonsets',
    namespace: string,
    name: string,
  ): Promise<KubeObject | undefined>;
  close(): Promise<void>;
};

/**
 * `scenario`: an input, or a built-in scenario's name. `idle: false` skips waiting for every
 * rollout to settle (the Gateway API trap scenarios never settle: their Deployments flap).
 */
export async function createHarness(
  scenario: ScenarioInput | string = smallScenario(),
  options: { idle?: boolean } = {},
): Promise<Harness> {
  const sandbox = await createSandbox({
    scenario: scenario as never,
    ...(typeof scenario === 'string' ? { startLatencyMs: 20 } : {}),
  });
  if (options.idle !== false) await sandbox.waitForIdle();
  const dir = mkdtempSync(join(tmpdir(), 'revroll-test-'));
  const kubeconfigFile = join(dir, 'kubeconfig');
  writeFileSync(kubeconfigFile, sandbox.kubeconfig);
  const config = new KubeConfig();
  config.loadFromString(sandbox.kubeconfig);
  const cluster = createKubernetesCluster({
    config,
    retry: { maxAttempts: 10, baseDelayMs: 20, maxDelayMs: 200, budgetMs: 20_000 },
  });
  return {
    sandbox,
    cluster,
    kubeconfigFile,
    policy(text) {
      const result = loadPolicyText(text, 'test-policy.yaml');
      if (!result.policy)
        throw new Error(`test policy invalid: ${result.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
      return result.policy;
    },
    run(policy, options = {}) {
      const deps = composeRunner(policy, { cluster, stateNamespace: STATE_NS, logger: silentLogger(), env: {} });
      return runPolicy(policy, deps, { leaseTtlMs: 3_000, pollMs: 200, ...options });
    },
    async namespaceLabels(name) {
      return (await cluster.get(Resources.namespaces, undefined, name))?.metadata.labels ?? {};
    },
    async podRevisions(namespace) {
      const pods = await cluster.list(Resources.pods, { namespace });
      // Terminating pods (deletionTimestamp set) are on their way out: not the namespace's pods.
      return pods
        .filter((p) => !p.metadata['deletionTimestamp'])
        .map((p) => podRevision(p))
        .filter((r): r is string => r !== undefined)
        .sort();
    },
    async defaultRevision() {
      return (await observeMesh(cluster, 'istio-system')).defaultRevision;
    },
    async tags() {
      const snapshot = await observeMesh(cluster, 'istio-system');
      return Object.fromEntries(snapshot.tags.map((t) => [t.tag, t.revision]));
    },
    workload(kind, namespace, name) {
      return cluster.get(Resources[kind], namespace, name);
    },
    close: () => sandbox.close(),
  };
}

/** Every proxy revision in the namespace equals `revision` (and there is at least one proxy). */
export function allOn(revisions: string[], revision: string): boolean {
  return revisions.length > 0 && revisions.every((r) => r === revision);
}

/** Runs the real CLI against the harness's sandbox (a 2 s Lease), with what it printed and its exit code. */
export async function harnessCli(
  harness: Harness,
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    isTty: false,
    env: { REVROLL_LEASE_TTL_SECONDS: '2' },
    cwd: dirname(harness.kubeconfigFile),
  };
  const code = await runCli([...args, '--kubeconfig', harness.kubeconfigFile], io);
  return { code, out, err };
}
