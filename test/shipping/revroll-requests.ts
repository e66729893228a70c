/**
 * Drives revroll through every code path that talks to Kubernetes, against the sandbox, and
 * returns the requests revroll sent (as the sandbox's API server recorded them).
 *
 * Attribution: revroll's Kubernetes adapter identifies itself with the `revroll` User-Agent
 * (the default of `createKubernetesCluster`, used by the CLI, the runner and `serve`), while the
 * test's own setup and assertions go through a client with another User-Agent. Filtering the
 * sandbox's request log on the User-Agent therefore keeps exactly revroll's requests, whichever
 * client object inside revroll sent them.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { createKubernetesCluster, type KubernetesCluster } from '../../src/adapters/kubernetes/cluster.ts';
import { runCli } from '../../src/cli/program.ts';
import type { CliIo } from '../../src/cli/io.ts';
import { Resources } from '../../src/ports/cluster.ts';
import { createSandbox, type Sandbox } from '../../src/sandbox/index.ts';
import type { ScenarioInput } from '../../src/sandbox/scenario.ts';
import { smallScenario, STATE_NS } from '../helpers/runner-harness.ts';

/** The User-Agent of revroll's Kubernetes client (production default). */
export const REVROLL_USER_AGENT = 'revroll';
/** The test's own client, kept apart from revroll's requests. */
const OBSERVER_USER_AGENT = 'revroll-shipping-test';

/** One API request, reduced to what RBAC authorizes. */
export type ObservedRequest = { verb: string; group: string; resource: string; namespace?: string };

/** Exit codes expected from each CLI step (DESIGN section 7). */
const OK = 0;
const ROLLED_BACK = 3;
const HELD = 4;

type Session = {
  sandbox: Sandbox;
  /** The test's client (another User-Agent). */
  observer: KubernetesCluster;
  dir: string;
  kubeconfig: string;
  /** Runs the revroll CLI in-process (as `revroll <args>`), returning its exit code and output. */
  cli(args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }>;
  policyFile(name: string, text: string): string;
};

async function openSession(scenario: ScenarioInput): Promise<Session> {
  const sandbox = await createSandbox({ scenario: scenario as never });
  _sandboxes.push(sandbox);
  await sandbox.waitForIdle();
  const dir = mkdtempSync(join(tmpdir(), 'revroll-rbac-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, sandbox.kubeconfig);
  const config = new KubeConfig();
  config.loadFromString(sandbox.kubeconfig);
  const observer = createKubernetesCluster({ config, userAgent: OBSERVER_USER_AGENT });
  return {
    sandbox,
    observer,
    dir,
    kubeconfig,
    async cli(args, env = {}) {
      let out = '';
      let err = '';
      const io: CliIo = {
        out: (t) => (out += t),
        err: (t) => (err += t),
        isTty: false,
        env: { REVROLL_LEASE_TTL_SECONDS: '2', ...env },
        cwd: dir,
      };
      const code = await runCli([...args, '--kubeconfig', kubeconfig, '--state-namespace', STATE_NS], io);
      return { code, out, err };
    },
    policyFile(name, text) {
      const file = join(dir, `${name}.yaml`);
      writeFileSync(file, text);
      return file;
    },
  };
}

function revrollRequests(sandbox: Sandbox): ObservedRequest[] {
  return sandbox.api.requests
    .filter((r) => r.userAgent === REVROLL_USER_AGENT && r.resource !== '')
    .map((r) => ({ verb: r.verb, group: r.group, resource: r.subresource ? `${r.resource}/${r.subresource}` : r.resource, ...(r.namespace ? { namespace: r.namespace } : {}) }));
}

function expectCode(step: string, result: { code: number; out: string; err: string }, expected: number): void {
  if (result.code !== expected) throw new Error(`${step}: exit ${result.code}, expected ${expected}\n${result.out}\n${result.err}`);
}

const header = (name: string) => `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: ${name}}
spec:
`;

/**
 * Labels strategy promoted through every namespace, a straggling bare pod restarted, then the
 * previous revision uninstalled (nothing references it any more): every uninstall kind is
 * listed and the objects of the old revision deleted. Also `plan`, `run --dry-run` (the
 * precheck's SelfSubjectAccessReviews) and `status`.
 */
async function promoteAndUninstall(): Promise<ObservedRequest[]> {
  // No tag besides default and no gateway: once every namespace moves, 1-24-3 is unreferenced.
  const s = await openSession(smallScenario({ startLatencyMs: 400, istio: { revisions: [{ name: '1-24-3', version: '1.24.3' }, { name: '1-25-1', version: '1.25.1' }], tags: { default: '1-24-3' }, gateways: [] } }));
  try {
    for (const ns of ['delta', 'echo']) {
      await s.observer.mutate({ op: 'merge-patch', ref: Resources.namespaces, name: ns, patch: { metadata: { labels: { 'istio.io/rev': '1-24-3' } } } });
    }
    // A bare pod (no controller restarts it): a straggler after its namespace moves.
    await s.observer.mutate({
      op: 'create',
      ref: Resources.pods,
      namespace: 'alpha',
      object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'debug', labels: { app: 'debug' } }, spec: { containers: [{ name: 'main', image: 'busybox' }] } },
    });
    await s.sandbox.waitForIdle();
    const file = s.policyFile(
      'all',
      `${header('all')}  revisions: {from: 1-24-3, to: 1-25-1}
  waves:
    - {name: all, namespaces: {percent: 100}, bake: 100ms}
  gates: {warmup: 100ms}
  workloads: {stragglers: restart, rolloutTimeout: 20s}
  promote: {uninstallPrevious: true}
`,
    );
    expectCode('plan', await s.cli(['plan', file]), OK);
    expectCode('run --dry-run', await s.cli(['run', file, '--dry-run']), OK);
    const run = await s.cli(['run', file, '-o', 'json']);
    expectCode('run', run, OK);
    if (!/uninstall/.test(run.out)) throw new Error(`run: the uninstall did not happen\n${run.out}`);
    expectCode('status', await s.cli(['status']), OK);
    expectCode('status <policy>', await s.cli(['status', 'all', '-o', 'json']), OK);
    return revrollRequests(s.sandbox);
  } finally {
    await s.sandbox.close();
  }
}

export type Collected = { requests: ObservedRequest[]; steps: string[] };

export async function collectRevrollRequests(): Promise<ObservedRequest[]> {
  return [...(await promoteAndUninstall())];
}

// Keep the helpers referenced until every scenario is in place.
export const _unused = { spawn, mkdirSync, HELD, ROLLED_BACK };
export const _sandboxes: Sandbox[] = [];
