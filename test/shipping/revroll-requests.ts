/**
 * Drives revroll through every path that talks to Kubernetes, against the sandbox, and returns
 * the requests revroll sent as the sandbox's API server recorded them (what RBAC authorizes).
 *
 * Everything runs as operators run it: the CLI (`plan`, `run`, `run --dry-run`, `status`,
 * `approve`, `abort`) in-process through `runCli`, and `revroll serve` as a child process.
 *
 * RBAC is enforced: each session installs the chart's own ServiceAccount, ClusterRole, Role and
 * bindings (rendered from charts/revroll/templates, with or without `rbac.uninstall` as the
 * scenario needs), and revroll runs with that ServiceAccount's token. A right the chart does not
 * grant is a 403 in the run, which then fails.
 *
 * Attribution: the test's own setup goes through the admin kubeconfig; every request the
 * sandbox authenticated as revroll's ServiceAccount is revroll's.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { createKubernetesCluster, type KubernetesCluster } from '../../src/adapters/kubernetes/cluster.ts';
import { runCli } from '../../src/cli/program.ts';
import type { CliIo } from '../../src/cli/io.ts';
import { Resources, type KubeObject, type ResourceRef } from '../../src/ports/cluster.ts';
import { Label } from '../../src/mesh/labels.ts';
import { uninstallKinds, uninstallSelector } from '../../src/mesh/uninstall.ts';
import { createSandbox, loadScenario, type Sandbox } from '@revroll/sandbox';
import type { ScenarioInput } from '@revroll/sandbox';
import { smallScenario, STATE_NS } from '../helpers/runner-harness.ts';
import { skeleton, valuesChooser } from './helm-template.ts';

export { STATE_NS };

/** The test's own Kubernetes client (admin), told apart from revroll's in logs by this User-Agent. */
const OBSERVER_USER_AGENT = 'revroll-shipping-test';

/** The chart's ServiceAccount (`revroll.serviceAccountName`), installed in the state namespace. */
const SERVICE_ACCOUNT = 'revroll';
const REVROLL_USER = `system:serviceaccount:${STATE_NS}:${SERVICE_ACCOUNT}`;

const templates = new URL('../../charts/revroll/templates/', import.meta.url);

/** One API request, reduced to what RBAC authorizes (and its answer). Subresources are `resource/subresource`. */
export type ObservedRequest = { verb: string; group: string; resource: string; namespace?: string; status?: number };

/** What one scenario observed, and whether it uninstalled a revision (rights granted only with `rbac.uninstall`). */
export type ScenarioRequests = { name: string; uninstalls: boolean; requests: ObservedRequest[] };

/** Exit codes (DESIGN section 7). */
const OK = 0;
const ROLLED_BACK = 3;
const HELD = 4;

/**
 * Pod start latency of the simulated cluster: long enough that a rollout is still in progress
 * when revroll first checks it, so revroll watches (a `watch` it never sends would go unproven).
 */
const START_LATENCY_MS = 250;

const CLI_MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

type CliResult = { code: number; out: string; err: string };

type Session = {
  sandbox: Sandbox;
  /** The test's client (setup only). */
  observer: KubernetesCluster;
  dir: string;
  kubeconfig: string;
  /** `revroll <args> --kubeconfig <sandbox> --state-namespace revroll-system`, in-process. */
  cli(step: string, args: string[], expected: number): Promise<CliResult>;
  policyFile(name: string, text: string): string;
  requests(): ObservedRequest[];
  close(): Promise<void>;
};

/**
 * The chart's RBAC objects as `helm template` would render them for the release `revroll` in the
 * state namespace: names from `revroll.fullname` (the skeleton's placeholder), namespaces from
 * the release. Every template's `if .Values.rbac.*` is evaluated with these values.
 */
export function chartRbacObjects(uninstall: boolean): { ref: ResourceRef; object: KubeObject }[] {
  const values = { rbac: { create: true, uninstall } };
  const files: [string, ResourceRef][] = [
    ['clusterrole.yaml', Resources.clusterroles],
    ['role.yaml', Resources.roles],
    ['clusterrolebinding.yaml', Resources.clusterrolebindings],
    ['rolebinding.yaml', Resources.rolebindings],
  ];
  const render = (value: unknown, key?: string): unknown => {
    if (typeof value === 'string')
      return key === 'namespace' && value === 'HELM' ? STATE_NS : value.replace(/HELM/g, 'revroll');
    if (Array.isArray(value)) return value.map((v) => render(v));
    if (typeof value === 'object' && value !== null)
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, render(v, k)]));
    return value;
  };
  return files.flatMap(([file, ref]) => {
    const text = readFileSync(new URL(file, templates), 'utf8');
    return parseAllDocuments(skeleton(text, file, valuesChooser(values, file)))
      .map((d) => d.toJS() as KubeObject | null)
      .filter((o): o is KubeObject => o !== null)
      .map((object) => ({ ref, object: render(object) as KubeObject }));
  });
}

async function installChartRbac(observer: KubernetesCluster, uninstall: boolean): Promise<void> {
  await observer.mutate({
    op: 'create',
    ref: Resources.serviceaccounts,
    namespace: STATE_NS,
    object: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: SERVICE_ACCOUNT } },
  });
  for (const { ref, object } of chartRbacObjects(uninstall)) {
    await observer.mutate({
      op: 'create',
      ref,
      ...(ref.namespaced ? { namespace: object.metadata.namespace ?? STATE_NS } : {}),
      object,
    });
  }
}

async function openSession(scenario: ScenarioInput, uninstalls: boolean): Promise<Session> {
  const sandbox = await createSandbox({ scenario: scenario as never, rbac: 'enforce' });
  await sandbox.waitForIdle();
  const dir = mkdtempSync(join(tmpdir(), 'revroll-rbac-'));
  const config = new KubeConfig();
  config.loadFromString(sandbox.kubeconfig);
  const observer = createKubernetesCluster({ config, userAgent: OBSERVER_USER_AGENT });
  await installChartRbac(observer, uninstalls);
  // revroll itself runs as the chart's ServiceAccount, as in the cluster.
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, sandbox.kubeconfigFor(STATE_NS, SERVICE_ACCOUNT, { expirationSeconds: 86_400 }));
  return {
    sandbox,
    observer,
    dir,
    kubeconfig,
    async cli(step, args, expected) {
      let out = '';
      let err = '';
      const io: CliIo = {
        out: (t) => void (out += t),
        err: (t) => void (err += t),
        isTty: false,
        env: { REVROLL_LEASE_TTL_SECONDS: '2' },
        cwd: dir,
      };
      const code = await runCli([...args, '--kubeconfig', kubeconfig, '--state-namespace', STATE_NS], io);
      if (code !== expected) throw new Error(`revroll ${step}: exit ${code}, expected ${expected}\n${out}\n${err}`);
      return { code, out, err };
    },
    policyFile(name, text) {
      const file = join(dir, `${name}.yaml`);
      writeFileSync(file, text);
      return file;
    },
    requests() {
      return sandbox.api.requests
        .filter((r) => r.user === REVROLL_USER && r.resource !== '')
        .map((r) => ({
          verb: r.verb,
          group: r.group,
          resource: r.subresource ? `${r.resource}/${r.subresource}` : r.resource,
          ...(r.namespace ? { namespace: r.namespace } : {}),
          status: r.status,
        }));
    },
    close: () => sandbox.close(),
  };
}

const policy = (name: string, spec: string) => `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: ${name}}
spec:
${spec}`;

/** Creates a bare pod (no controller restarts it): a straggler once its namespace moves. */
async function addStraggler(s: Session, namespace: string): Promise<void> {
  await s.observer.mutate({
    op: 'create',
    ref: Resources.pods,
    namespace,
    object: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'debug', labels: { app: 'debug' } },
      spec: { containers: [{ name: 'main', image: 'busybox' }] },
    },
  });
  await s.sandbox.waitForIdle();
}

/** A step's status from `run -o json` (the state under `state`) or `status <policy> -o json` (the state itself). */
function stepStatus(json: string, id: string): string | undefined {
  const report = JSON.parse(json) as {
    records?: { id: string; status: string }[];
    state?: { records?: { id: string; status: string }[] };
  };
  const records = report.records ?? report.state?.records ?? [];
  return records.find((r) => r.id === id)?.status;
}

async function withSession(
  name: string,
  uninstalls: boolean,
  scenario: ScenarioInput,
  body: (s: Session) => Promise<void>,
): Promise<ScenarioRequests> {
  const s = await openSession(scenario, uninstalls);
  try {
    await body(s);
    return { name, uninstalls, requests: s.requests() };
  } finally {
    await s.close();
    rmSync(s.dir, { recursive: true, force: true });
  }
}

/**
 * Tags strategy, the gateway with the first wave, a straggler restarted, an approval: `plan`,
 * `run --dry-run` (the precheck's SelfSubjectAccessReviews), `run` held, `status`, `approve`,
 * `run` promoted.
 */
function tagsWithApproval(): Promise<ScenarioRequests> {
  return withSession(
    'tags strategy with approval',
    false,
    smallScenario({ startLatencyMs: START_LATENCY_MS }),
    async (s) => {
      await addStraggler(s, 'delta');
      // A mesh installed without the default validator: moving `default` creates it, as istioctl does.
      await s.observer.mutate({
        op: 'delete',
        ref: Resources.validatingwebhookconfigurations,
        name: 'istiod-default-validator',
      });
      const file = s.policyFile(
        'tags',
        policy(
          'tags',
          `  revisions: {from: 1-24-3, to: 1-25-1}
  strategy: {type: tags, stableTag: prod-stable, canaryTag: prod-canary}
  waves:
    - {name: first, namespaces: {names: [delta]}, bake: 100ms}
    - {name: rest, namespaces: {names: [echo]}, bake: 100ms, approval: {required: true, timeout: 1h}}
  gates: {warmup: 100ms}
  gateways: [{name: istio-ingressgateway, upgrade: withFirstWave}]
  workloads: {stragglers: restart, rolloutTimeout: 20s}
  promote: {tags: [default]}
`,
        ),
      );
      await s.cli('plan', ['plan', file], OK);
      await s.cli('run --dry-run', ['run', file, '--dry-run'], OK);
      await s.cli('run (held)', ['run', file], HELD);
      await s.cli('status', ['status'], OK);
      await s.cli('status <policy>', ['status', 'tags'], OK);
      await s.cli('approve', ['approve', 'tags', '--as', 'alice'], OK);
      const done = await s.cli('run (promoted)', ['run', file, '-o', 'json'], OK);
      if (stepStatus(done.out, 'promote/tags') !== 'done') throw new Error(`the tags were not promoted\n${done.out}`);
    },
  );
}

/**
 * Tags strategy held at an approval while `revroll serve` runs (readiness, `/api/runs`,
 * `/metrics`, SIGTERM), then `revroll abort`: the rollback removes the canary tag revroll
 * created and brings the gateway back.
 */
function abortWhileServing(): Promise<ScenarioRequests> {
  return withSession(
    'tags strategy aborted, serve',
    false,
    smallScenario({ startLatencyMs: START_LATENCY_MS }),
    async (s) => {
      const policiesDir = join(s.dir, 'policies');
      mkdirSync(policiesDir);
      const text = policy(
        'aborted',
        `  revisions: {from: 1-24-3, to: 1-25-1}
  strategy: {type: tags, stableTag: prod-stable, canaryTag: prod-canary}
  waves:
    - {name: first, namespaces: {names: [delta]}, bake: 100ms}
    - {name: rest, namespaces: {names: [echo]}, bake: 100ms, approval: {required: true, timeout: 1h}}
  gates: {warmup: 100ms}
  gateways: [{name: istio-ingressgateway, upgrade: withFirstWave}]
  workloads: {rolloutTimeout: 20s}
`,
      );
      const file = s.policyFile('aborted', text);
      writeFileSync(join(policiesDir, 'aborted.yaml'), text);
      await s.cli('run (held)', ['run', file], HELD);
      await serveBriefly(s, policiesDir);
      const abort = await s.cli('abort', ['abort', 'aborted', '--policy-file', file, '--as', 'bob'], ROLLED_BACK);
      if (!/rolled-back/.test(abort.err)) throw new Error(`the abort did not roll back\n${abort.out}\n${abort.err}`);
      const status = await s.cli('status', ['status', 'aborted', '-o', 'json'], OK);
      if (stepStatus(status.out, 'rollback/tags') !== 'done')
        throw new Error(`the canary tag was not removed\n${status.out}`);
    },
  );
}

/**
 * Labels strategy promoted without uninstalling (Deployments, a StatefulSet and a DaemonSet
 * restarted; the default tag and its validator moved): the rights of a chart without
 * `rbac.uninstall`.
 */
function labelsPromotion(): Promise<ScenarioRequests> {
  return withSession(
    'labels strategy promoted',
    false,
    smallScenario({ startLatencyMs: START_LATENCY_MS }),
    async (s) => {
      const file = s.policyFile(
        'labels',
        policy(
          'labels',
          `  revisions: {from: auto, to: 1-25-1}
  waves:
    - {name: first, namespaces: {names: [alpha]}, bake: 100ms}
    - {name: second, namespaces: {names: [bravo, charlie]}, bake: 100ms}
  gates: {warmup: 100ms}
  workloads: {rolloutTimeout: 20s}
`,
        ),
      );
      const run = await s.cli('run', ['run', file, '-o', 'json'], OK);
      if (stepStatus(run.out, 'promote/tags') !== 'done') throw new Error(`the default tag was not moved\n${run.out}`);
    },
  );
}

/**
 * Labels strategy through every namespace, then the previous revision uninstalled (nothing
 * references it any more): every kind of `uninstallKinds` is listed and the old revision's
 * objects deleted.
 */
function promoteAndUninstall(): Promise<ScenarioRequests> {
  // Only the default tag and no gateway: once every namespace moves, 1-24-3 is unreferenced.
  const scenario = smallScenario({
    startLatencyMs: START_LATENCY_MS,
    istio: {
      revisions: [
        { name: '1-24-3', version: '1.24.3' },
        { name: '1-25-1', version: '1.25.1' },
      ],
      tags: { default: '1-24-3' },
      gateways: [],
    },
  });
  return withSession('labels strategy, uninstall previous', true, scenario, async (s) => {
    for (const ns of ['delta', 'echo']) {
      await s.observer.mutate({
        op: 'merge-patch',
        ref: Resources.namespaces,
        name: ns,
        patch: { metadata: { labels: { 'istio.io/rev': '1-24-3' } } },
      });
    }
    await addRevisionObjects(s, '1-24-3');
    const file = s.policyFile(
      'all',
      policy(
        'all',
        `  revisions: {from: 1-24-3, to: 1-25-1}
  waves:
    - {name: all, namespaces: {percent: 100}, bake: 100ms}
  gates: {warmup: 100ms}
  workloads: {rolloutTimeout: 20s}
  promote: {uninstallPrevious: true}
`,
      ),
    );
    await s.cli('run --dry-run', ['run', file, '--dry-run'], OK);
    const run = await s.cli('run', ['run', file, '-o', 'json'], OK);
    if (stepStatus(run.out, 'promote/uninstall-previous') !== 'done')
      throw new Error(`the previous revision was not uninstalled\n${run.out}`);
  });
}

/**
 * Gateway API Gateways and an ambient namespace (sandbox scenario gateway-api): the Gateways are
 * listed, pinned by a label patch, moved in the gateways wave, and the waypoint moved in the
 * ambient wave, each verified on its rendered Deployment.
 */
function gatewayApiPromotion(): Promise<ScenarioRequests> {
  const scenario = { ...loadScenario('gateway-api'), startLatencyMs: START_LATENCY_MS } as unknown as ScenarioInput;
  return withSession('Gateway API gateways and an ambient waypoint', false, scenario, async (s) => {
    const file = s.policyFile(
      'gateway-api',
      policy(
        'gateway-api',
        `  revisions: {from: auto, to: 1-25-1}
  waves:
    - {name: shop, namespaces: {names: [shop]}, bake: 100ms}
    - {name: ambient, namespaces: {names: [reviews-ambient]}, bake: 100ms}
  gates: {warmup: 100ms}
  workloads: {rolloutTimeout: 20s}
`,
      ),
    );
    await s.cli('plan', ['plan', file], OK);
    await s.cli('run', ['run', file, '-o', 'json'], OK);
  });
}

/** An aborted run whose policy uninstalls the canary after the rollback. */
function abortAndUninstallCanary(): Promise<ScenarioRequests> {
  return withSession(
    'labels strategy aborted, uninstall canary',
    true,
    smallScenario({ startLatencyMs: START_LATENCY_MS }),
    async (s) => {
      const file = s.policyFile(
        'canary',
        policy(
          'canary',
          `  revisions: {from: auto, to: 1-25-1}
  waves:
    - {name: first, namespaces: {names: [alpha]}, bake: 100ms}
    - {name: second, namespaces: {names: [bravo]}, bake: 100ms, approval: {required: true, timeout: 1h}}
  gates: {warmup: 100ms}
  workloads: {rolloutTimeout: 20s}
  rollback: {uninstallCanary: true}
`,
        ),
      );
      await s.cli('run (held)', ['run', file], HELD);
      await s.cli('abort', ['abort', 'canary', '--policy-file', file], ROLLED_BACK);
      const status = await s.cli('status', ['status', 'canary', '-o', 'json'], OK);
      if (stepStatus(status.out, 'rollback/uninstall-canary') !== 'done')
        throw new Error(`the canary was not uninstalled\n${status.out}`);
    },
  );
}

/**
 * What a real istiod install owns besides what the sandbox models: one object of every kind the
 * uninstall prunes, labelled as istioctl labels them (`istio.io/rev`, component Pilot). Without
 * them, deletes of those kinds would never be sent, and the chart's grants never proven.
 */
const revisionObjectSpecs: Record<string, (revision: string) => Record<string, unknown>> = {
  daemonsets: () => ({
    spec: {
      selector: { matchLabels: { k8s_app: 'istio-cni-node' } },
      template: {
        metadata: { labels: { k8s_app: 'istio-cni-node' } },
        spec: { containers: [{ name: 'install-cni', image: 'istio/install-cni' }] },
      },
    },
  }),
  secrets: () => ({ type: 'Opaque', data: {} }),
  roles: () => ({ rules: [] }),
  rolebindings: (revision) => ({
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `istiod-${revision}` },
    subjects: [{ kind: 'ServiceAccount', name: `istiod-${revision}`, namespace: 'istio-system' }],
  }),
  clusterroles: () => ({ rules: [] }),
  clusterrolebindings: (revision) => ({
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `istiod-${revision}` },
    subjects: [{ kind: 'ServiceAccount', name: `istiod-${revision}`, namespace: 'istio-system' }],
  }),
  poddisruptionbudgets: (revision) => ({
    spec: { minAvailable: 1, selector: { matchLabels: { app: 'istiod', [Label.rev]: revision } } },
  }),
  horizontalpodautoscalers: (revision) => ({
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: `istiod-${revision}` },
      minReplicas: 1,
      maxReplicas: 5,
    },
  }),
  envoyfilters: () => ({ spec: { configPatches: [] } }),
};

/** EnvoyFilter's CRD, as Istio's base chart installs it (the sandbox serves kinds whose CRD exists). */
const envoyFilterCrd: KubeObject = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'envoyfilters.networking.istio.io' },
  spec: {
    group: 'networking.istio.io',
    scope: 'Namespaced',
    names: { plural: 'envoyfilters', singular: 'envoyfilter', kind: 'EnvoyFilter', listKind: 'EnvoyFilterList' },
    versions: [
      {
        name: 'v1alpha3',
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
      },
    ],
  },
};

const crdRef: ResourceRef = {
  group: 'apiextensions.k8s.io',
  version: 'v1',
  resource: 'customresourcedefinitions',
  kind: 'CustomResourceDefinition',
  namespaced: false,
};

/** Creates the revision's objects of every uninstall kind the sandbox did not install. */
async function addRevisionObjects(s: Session, revision: string): Promise<void> {
  if (!(await s.observer.get(crdRef, undefined, envoyFilterCrd.metadata.name ?? '')))
    await s.observer.mutate({ op: 'create', ref: crdRef, object: envoyFilterCrd });
  for (const ref of uninstallKinds) {
    if ((await s.observer.list(ref, { labelSelector: uninstallSelector(revision) })).length > 0) continue;
    const spec = revisionObjectSpecs[ref.resource];
    if (!spec)
      throw new Error(`no fixture for ${ref.resource}: add one to revisionObjectSpecs so its uninstall is exercised`);
    await s.observer.mutate({
      op: 'create',
      ref,
      ...(ref.namespaced ? { namespace: 'istio-system' } : {}),
      object: revisionObject(ref, revision, spec(revision)),
    });
  }
  await s.sandbox.waitForIdle();
}

function revisionObject(ref: ResourceRef, revision: string, body: Record<string, unknown>): KubeObject {
  return {
    apiVersion: ref.group === '' ? ref.version : `${ref.group}/${ref.version}`,
    kind: ref.kind,
    metadata: {
      name: `istiod-${revision}`,
      labels: { app: 'istiod', [Label.rev]: revision, [Label.operatorComponent]: 'Pilot' },
    },
    ...body,
  };
}

/**
 * Starts `revroll serve` on the folder (as the chart's Deployment does), waits until it is
 * ready, reads its endpoints, then stops it with SIGTERM and expects a clean exit.
 */
async function serveBriefly(s: Session, policiesDir: string): Promise<void> {
  const child = spawn(
    process.execPath,
    [
      CLI_MAIN,
      'serve',
      '--policies',
      policiesDir,
      '--listen',
      '127.0.0.1:0',
      '--kubeconfig',
      s.kubeconfig,
      '--state-namespace',
      STATE_NS,
    ],
    {
      env: { PATH: process.env.PATH ?? '', HOME: s.dir, POD_NAME: 'revroll-test-0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`revroll serve did not start within 20 s\n${stderr}`)), 20_000);
      // The JSON log goes to stderr (stdout is for command output); read both to not depend on it.
      for (const stream of [child.stdout, child.stderr]) {
        createInterface({ input: stream }).on('line', (line) => {
          const entry = safeJson(line);
          if (entry?.msg === 'revroll serve listening' && typeof entry.url === 'string') {
            clearTimeout(timer);
            resolve(entry.url);
          }
        });
      }
      void exited.then((code) => reject(new Error(`revroll serve exited with ${code}\n${stderr}`)));
    });
    await waitReady(`${url}/readyz`);
    for (const path of ['/healthz', '/api/runs', '/metrics']) {
      const response = await fetch(`${url}${path}`);
      if (!response.ok) throw new Error(`GET ${path}: ${response.status}`);
      await response.text();
    }
  } finally {
    child.kill('SIGTERM');
  }
  const code = await exited;
  if (code !== 0) throw new Error(`revroll serve exited with ${code} after SIGTERM\n${stderr}`);
}

async function waitReady(url: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const response = await fetch(url).catch(() => undefined);
    if (response?.ok) return void (await response.text());
    await response?.text();
    if (Date.now() > deadline) throw new Error(`${url} never answered 200`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function safeJson(line: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** Every scenario, one after the other (each on its own sandbox; the machine is small). */
export async function collectRevrollRequests(): Promise<ScenarioRequests[]> {
  const results: ScenarioRequests[] = [];
  for (const scenario of [
    labelsPromotion,
    tagsWithApproval,
    abortWhileServing,
    promoteAndUninstall,
    abortAndUninstallCanary,
    gatewayApiPromotion,
  ])
    results.push(await scenario());
  return results;
}
