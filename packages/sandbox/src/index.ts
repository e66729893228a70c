/**
 * The sandbox: a simulated Kubernetes cluster running Istio, served over the real Kubernetes REST
 * API on loopback. `createSandbox` composes the store, the API server, the controllers (workload
 * rollouts and pod lifecycle), admission (Istio's injection webhooks), the Istio objects of the
 * scenario, telemetry (`/metrics` for Prometheus) and faults (`/sandbox/faults` on the API server).
 *
 *   const sandbox = await createSandbox({ scenario: 'demo', startLatencyMs: 50 });
 *   await sandbox.waitForIdle();          // every rollout settled
 *   // KUBECONFIG=<file with sandbox.kubeconfig> kubectl get pods -A
 *   await sandbox.close();                // stops servers, watches and timers
 */
import { createApiServer, type ApiServer } from './api-server.ts';
import { installAdmission, type Admission } from './admission.ts';
import { createClock, type Clock } from './clock.ts';
import { createControllers, type Controllers } from './controllers/index.ts';
import { isPodReady } from './controllers/pod-util.ts';
import { createFaults, faultRoutes, type FaultControl } from './faults.ts';
import { installGateway, installRevision, ISTIO_NAMESPACE, setTag, setTagService } from './istio.ts';
import { installCni, installCniCapture, installZtunnel, waypointDestinations } from './ambient.ts';
import { installCrds, installStatusDefaults } from './crds/install.ts';
import { istioCrdObjects } from './crds/istio-crds.ts';
import { gatewayApiCrdObjects, GATEWAY_API_GROUP } from './crds/gateway-api-crds.ts';
import { createGatewayController, type GatewayController, type GatewayOwnership } from './gateway-api/controller.ts';
import { applyGatewayApi, gatewayDeploymentName, wantsGatewayApiCrds } from './gateway-api/scenario-objects.ts';
import { createLoadBalancer } from './load-balancer.ts';
import { kubeconfigYaml } from './kubeconfig.ts';
import type { RbacMode } from './api/rbac.ts';
import { registerBuiltins } from './resources.ts';
import { loadScenario, parseScenario, type Scenario, type ScenarioInput, type ScenarioWorkload } from './scenario.ts';
import { createStore, type KubeObject, type Store } from './store.ts';
import { createTelemetry, type Telemetry, type WorkloadTraffic } from './telemetry.ts';

export type { Scenario, ScenarioInput, GenerateOptions } from './scenario.ts';
export { generateScenario, loadScenario, parseScenario, BUILTIN_SCENARIOS, ScenarioError } from './scenario.ts';
export type { HealthProfile } from './telemetry.ts';
export type { GatewayController, GatewayOwnership } from './gateway-api/controller.ts';
export type { RevisionInfo } from './gateway-api/ownership.ts';
export { removeTag, setTag, setTagService, uninstallRevision } from './istio.ts';
export type { FaultControl, FaultRequest, FaultState } from './faults.ts';
export type { RbacMode, UserInfo } from './api/rbac.ts';
export type { RecordedRequest } from './api-server.ts';
export { isWatchParam, parseRoute, verbOf } from './api/routing.ts';

export type SandboxOptions = {
  /** A scenario object (validated like a file), or a built-in name (`demo`, `bad-canary`...) or a file path. */
  scenario: ScenarioInput | Scenario | string;
  /** Overrides the scenario's `startLatencyMs` (simulated time from pod creation to Ready). */
  startLatencyMs?: number;
  /** Simulated time runs this many times faster than real time (default 1). */
  speed?: number;
  /** Overrides the scenario's traffic seed. */
  seed?: number;
  /** API server port (default 0: any free port). */
  port?: number;
  /** Metrics endpoint port (default 0: any free port). */
  metricsPort?: number;
  /** Base directory for a relative scenario path. */
  cwd?: string;
  /** Simulated ms a pod's containers take to exit after a delete (default 1000), capped by its grace period. */
  stopLatencyMs?: number;
  /** `enforce`: requests are authorized against the RBAC objects stored (default `allow-all`). */
  rbac?: RbacMode;
  /** Real ms between watch BOOKMARKs (default 60000, as kube-apiserver). */
  bookmarkIntervalMs?: number;
};

export type SandboxSummary = {
  scenario: string;
  revisions: { revision: string; version: string; istiodReady: number; istiodReplicas: number; crashed: boolean }[];
  tags: Record<string, string>;
  namespaces: number;
  pods: { total: number; ready: number; injected: Record<string, number> };
  unsettled: string[];
  warnings: string[];
  faults: ReturnType<FaultControl['state']>;
  /** Gateway API Gateways with the revisions that own them now (two: they fight). */
  gateways: GatewayOwnership[];
  /** Requests blackholed by gateway pods whose istiod dropped their Gateway (#59959), per `ns/name`. */
  droppedRequests: Record<string, number>;
};

export type Sandbox = {
  store: Store;
  api: ApiServer;
  /** API server URL (`http://127.0.0.1:<port>`). */
  url: string;
  /** A kubeconfig (YAML text) pointing at the sandbox, for kubectl and client-node (the admin). */
  kubeconfig: string;
  /**
   * A kubeconfig that acts as a ServiceAccount (which must exist): its token comes from the
   * TokenRequest API, so with `rbac: 'enforce'` requests get exactly that account's rights.
   */
  kubeconfigFor(namespace: string, serviceAccount: string, options?: { expirationSeconds?: number }): string;
  /** The Prometheus scrape target (`http://127.0.0.1:<port>/metrics`, scrape with honor_labels). */
  metricsUrl: string;
  scenario: Scenario;
  faults: FaultControl;
  clock: Clock;
  controllers: Controllers;
  admission: Admission;
  telemetry: Telemetry;
  /** Istio's Gateway API controllers, every revision's (ownership, status, rendering). */
  gateways: GatewayController;
  /** Resolves when every rollout has settled and no pod is starting; rejects after `timeoutMs`. */
  waitForIdle(options?: { timeoutMs?: number }): Promise<void>;
  summary(): SandboxSummary;
  /** Stops the API server, metrics server, watches and every timer. Idempotent. */
  close(): Promise<void>;
};

const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];
/** Requests per second a workload not described by the scenario receives (e.g. made by a test). */
const DEFAULT_TRAFFIC: WorkloadTraffic = { rps: 5, errorRate: 0 };

export async function createSandbox(options: SandboxOptions): Promise<Sandbox> {
  const scenario =
    typeof options.scenario === 'string'
      ? loadScenario(options.scenario, options.cwd)
      : parseScenario(options.scenario);
  const startLatencyMs = options.startLatencyMs ?? scenario.startLatencyMs;
  const clock = createClock({ speed: options.speed ?? 1 });
  const store = createStore({ now: clock.now });
  registerBuiltins(store);
  installStatusDefaults(store);

  const nodes = Array.from({ length: scenario.nodes }, (_, i) => `sandbox-node-${i + 1}`);
  const faults = createFaults({
    revisions: Object.fromEntries([
      ...scenario.istio.revisions.map((r) => [r.name, r.health] as const),
      ...(scenario.istio.defaultInstall ? [['default', scenario.istio.defaultInstall.health] as const] : []),
    ]),
    crashedRevisions: [
      ...scenario.istio.revisions.filter((r) => !r.ready).map((r) => r.name),
      ...(scenario.istio.defaultInstall && !scenario.istio.defaultInstall.ready ? ['default'] : []),
    ],
    metricsOutage: scenario.faults.metricsOutage,
    seed: options.seed ?? scenario.seed,
  });
  const controllers = createControllers({
    store,
    clock,
    nodes,
    startLatencyMs,
    ...(options.stopLatencyMs !== undefined ? { stopLatencyMs: options.stopLatencyMs } : {}),
    readiness: faults.podMayBeReady,
  });
  const traffic = new Map<string, WorkloadTraffic>();
  for (const ns of scenario.namespaces)
    for (const w of ns.workloads) traffic.set(`${ns.name}/${w.name}`, { rps: w.rps, errorRate: w.errorRate });
  for (const g of scenario.istio.gateways) traffic.set(`${g.namespace}/${g.name}`, { rps: g.rps, errorRate: 0 });
  for (const g of scenario.gatewayApi?.gateways ?? [])
    traffic.set(`${g.namespace}/${gatewayDeploymentName(g)}`, { rps: g.rps, errorRate: 0 });

  // Pending waits are rejected on close, so no poll timer outlives the sandbox.
  const pendingWaits = new Set<(error: Error) => void>();
  const closers: (() => Promise<void> | void)[] = [
    () => clock.close(),
    () => controllers.close(),
    () => {
      for (const cancel of pendingWaits) cancel(new Error('sandbox closed while waiting'));
    },
  ];
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    for (const closer of closers.reverse()) await closer();
  };

  try {
    const gateways = createGatewayController({
      store,
      clock,
      types: controllers.types,
      podsInNamespace: controllers.podsInNamespace,
    });
    controllers.register(gateways);
    if (scenario.loadBalancer !== false)
      controllers.register(createLoadBalancer({ store, clock, types: controllers.types }));
    controllers.register(
      installCniCapture({ store, types: controllers.types, clock, podsInNamespace: controllers.podsInNamespace }),
    );
    const telemetry = await createTelemetry({
      store,
      types: controllers.types,
      clock,
      seed: options.seed ?? scenario.seed,
      tickMs: scenario.telemetry.tickMs,
      port: options.metricsPort,
      durationBuckets: scenario.telemetry.durationBuckets,
      labels: scenario.telemetry.labels,
      health: (revision) => faults.health(revision),
      traffic: (namespace, workload) => traffic.get(`${namespace}/${workload}`) ?? DEFAULT_TRAFFIC,
      gateways: {
        configServed: (namespace, gateway, revision) => gateways.configServed(namespace, gateway, revision),
        waypointDestinations(namespace, name) {
          const type = store.findType(GATEWAY_API_GROUP, 'gateways');
          const waypoint = type ? store.tryGet(type, namespace, name) : undefined;
          return waypoint ? waypointDestinations(store, controllers.types, waypoint) : [];
        },
      },
    });
    closers.push(() => telemetry.close());
    const admission = installAdmission({
      store,
      types: controllers.types,
      podsInNamespace: controllers.podsInNamespace,
      onInjection: (r) => telemetry.recordInjection(r),
      webhookTimesOut: faults.webhookTimesOut,
    });

    applyCluster(store, scenario, controllers, nodes);
    // Workloads come after istiod is Ready, as on a real cluster where the mesh is installed
    // first; otherwise every first pod would bounce off the webhook.
    await waitFor(
      () => istiodReady(store, controllers, scenario, faults),
      10_000 + startLatencyMs * 20,
      'istiod Deployments to become Ready',
      { pending: pendingWaits },
    );
    applyWorkloads(store, scenario, controllers);

    const api = await createApiServer({
      store,
      host: '127.0.0.1',
      port: options.port ?? 0,
      rbac: options.rbac ?? 'allow-all',
      admissionDelayMs: () => admission.takeDelay() / clock.speed,
      ...(options.bookmarkIntervalMs !== undefined ? { bookmarkIntervalMs: options.bookmarkIntervalMs } : {}),
    });
    closers.push(() => api.close());
    faults.attach({
      apiFaults: api.faults,
      reseedApi: () => api.reseedFaults(),
      refreshReadiness: () => controllers.refreshReadiness(ISTIO_NAMESPACE),
      setMetricsOutage: (o) => telemetry.setOutage(o),
    });
    if (scenario.faults.api) faults.setApiFaults(scenario.faults.api);

    const summary = (): SandboxSummary => ({
      ...summarize(store, scenario, controllers, admission, faults),
      gateways: gateways.gateways(),
      droppedRequests: telemetry.droppedRequests(),
    });
    api.addRoute(faultRoutes(faults, summary));

    return {
      store,
      api,
      url: api.url,
      kubeconfig: kubeconfigYaml(api.url),
      kubeconfigFor: (namespace, serviceAccount, tokenOptions) =>
        kubeconfigYaml(api.url, 'revroll-sandbox', {
          name: `system:serviceaccount:${namespace}:${serviceAccount}`,
          token: api.issueToken(namespace, serviceAccount, tokenOptions).token,
          namespace,
        }),
      metricsUrl: telemetry.url,
      scenario,
      faults,
      clock,
      controllers,
      admission,
      telemetry,
      gateways,
      waitForIdle: ({ timeoutMs = 30_000 } = {}) =>
        waitFor(
          () => controllers.quiescent() && controllers.unsettled().length === 0,
          timeoutMs,
          'rollouts to settle',
          {
            details: () => controllers.unsettled(),
            controllers,
            pending: pendingWaits,
          },
        ),
      summary,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Namespaces, nodes and the Istio control planes of a scenario, written through the store. */
export function applyCluster(
  store: Store,
  scenario: Scenario,
  controllers: Controllers,
  nodes: readonly string[],
): void {
  const { types } = controllers;
  for (const name of SYSTEM_NAMESPACES) ensureNamespace(store, controllers, name, {});
  for (const ns of scenario.namespaces)
    ensureNamespace(store, controllers, ns.name, {
      ...ns.labels,
      ...(ns.ambient ? { 'istio.io/dataplane-mode': 'ambient' } : {}),
    });
  if (types.nodes) {
    for (const name of nodes) {
      if (store.tryGet(types.nodes, undefined, name)) continue;
      store.create(types.nodes, undefined, {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name,
          labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'node-role.kubernetes.io/worker': '' },
        },
        spec: {},
        status: {
          conditions: [
            { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' },
          ],
          nodeInfo: { kubeletVersion: 'v1.32.0' },
        },
      });
    }
  }
  const { istio } = scenario;
  // Istio's base chart installs its CRDs with the first control plane; Gateway API CRDs come
  // separately (kubernetes-sigs/gateway-api), when the scenario asks for them.
  if (istio.defaultInstall || istio.revisions.length > 0) installCrds(store, istioCrdObjects());
  if (wantsGatewayApiCrds(scenario)) installCrds(store, gatewayApiCrdObjects(scenario.gatewayApi?.version));
  if (istio.defaultInstall)
    installRevision(store, {
      revision: 'default',
      version: istio.defaultInstall.version,
      ambient: istio.defaultInstall.ambient,
      multiNetwork: istio.defaultInstall.multiNetwork,
    });
  for (const revision of istio.revisions)
    installRevision(store, {
      revision: revision.name,
      version: revision.version,
      replicas: revision.replicas,
      ambient: revision.ambient,
      multiNetwork: revision.multiNetwork,
    });
  for (const [tag, value] of Object.entries(istio.tags)) {
    const revision = typeof value === 'string' ? value : value.revision;
    setTag(store, { tag, revision, overwrite: true, service: istio.tagServices === true && typeof value === 'string' });
    // A half-moved tag: the webhook moved, the tag Service stayed (the Helm -s path leaves it).
    if (typeof value !== 'string' && value.service) setTagService(store, { tag, revision: value.service });
  }
  for (const gateway of istio.gateways) installGateway(store, gateway);
  const versionOf = (revision: string) =>
    revision === 'default' ? istio.defaultInstall?.version : istio.revisions.find((r) => r.name === revision)?.version;
  if (istio.ztunnel)
    installZtunnel(store, types, {
      revision: istio.ztunnel.revision,
      version: istio.ztunnel.version ?? versionOf(istio.ztunnel.revision) ?? '',
    });
  if (istio.cni)
    installCni(store, types, {
      revision: istio.cni.revision,
      version: istio.cni.version ?? versionOf(istio.cni.revision) ?? '',
    });
  applyGatewayApi(store, types, scenario);
}

/** The scenario's workloads (and a Service per workload), written through the store. */
export function applyWorkloads(store: Store, scenario: Scenario, controllers: Controllers): void {
  const { types } = controllers;
  for (const ns of scenario.namespaces) {
    for (const workload of ns.workloads) {
      const selector = { app: workload.name };
      store.create(types.services, ns.name, {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: workload.name, labels: { app: workload.name } },
        spec: { type: 'ClusterIP', selector, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
      });
      store.create(workloadType(controllers, workload), ns.name, workloadObject(workload));
    }
  }
}

function workloadType(controllers: Controllers, workload: ScenarioWorkload) {
  const { types } = controllers;
  return workload.kind === 'StatefulSet'
    ? types.statefulsets
    : workload.kind === 'DaemonSet'
      ? types.daemonsets
      : types.deployments;
}

function workloadObject(workload: ScenarioWorkload): KubeObject {
  const labels = { app: workload.name, version: 'v1' };
  const template = {
    metadata: { labels: { ...labels, ...workload.podLabels } },
    spec: {
      ...(workload.hostNetwork ? { hostNetwork: true } : {}),
      containers: [
        { name: workload.name, image: workload.image, ports: [{ containerPort: 8080, name: 'http', protocol: 'TCP' }] },
      ],
    },
  };
  const spec: Record<string, unknown> = { selector: { matchLabels: { app: workload.name } }, template };
  if (workload.kind !== 'DaemonSet') spec.replicas = workload.replicas;
  if (workload.kind === 'StatefulSet')
    Object.assign(spec, {
      serviceName: workload.name,
      podManagementPolicy: 'OrderedReady',
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
    });
  if (workload.kind === 'Deployment')
    Object.assign(spec, {
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      progressDeadlineSeconds: 600,
      revisionHistoryLimit: 10,
    });
  if (workload.kind === 'DaemonSet')
    spec.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } };
  return { apiVersion: 'apps/v1', kind: workload.kind, metadata: { name: workload.name, labels }, spec };
}

function ensureNamespace(store: Store, controllers: Controllers, name: string, labels: Record<string, string>): void {
  const existing = store.tryGet(controllers.types.namespaces, undefined, name);
  if (!existing) {
    store.create(controllers.types.namespaces, undefined, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...labels } },
    });
  } else if (Object.keys(labels).length > 0) {
    store.update(controllers.types.namespaces, undefined, {
      ...existing,
      metadata: { ...existing.metadata, labels: { ...existing.metadata.labels, ...labels } },
    });
  }
}

function istiodReady(store: Store, controllers: Controllers, scenario: Scenario, faults: FaultControl): boolean {
  const names = [
    ...scenario.istio.revisions.map((r) => r.name),
    ...(scenario.istio.defaultInstall ? ['default'] : []),
  ].filter((r) => !faults.isCrashed(r));
  return names.every((revision) => {
    const deployment = store.tryGet(
      controllers.types.deployments,
      ISTIO_NAMESPACE,
      revision === 'default' ? 'istiod' : `istiod-${revision}`,
    );
    return ((deployment?.status as { readyReplicas?: number } | undefined)?.readyReplicas ?? 0) > 0;
  });
}

function waitFor(
  condition: () => boolean,
  timeoutMs: number,
  what: string,
  options: { details?: () => string[]; controllers?: Controllers; pending: Set<(error: Error) => void> },
): Promise<void> {
  const { details, controllers, pending } = options;
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (error?: Error) => {
      if (done) return;
      done = true;
      clearInterval(poll);
      clearTimeout(timer);
      off?.();
      pending.delete(finish);
      if (error) reject(error);
      else resolve();
    };
    const check = () => {
      if (!done && condition()) finish();
    };
    // Activity notifications make it prompt; the poll covers quiet periods.
    pending.add(finish);
    const off = controllers?.onActivity(check);
    const poll = setInterval(check, 10);
    const timer = setTimeout(() => {
      const why = details?.().slice(0, 10).join('; ');
      finish(new Error(`sandbox: timed out after ${timeoutMs} ms waiting for ${what}${why ? `: ${why}` : ''}`));
    }, timeoutMs);
    check();
  });
}

function summarize(
  store: Store,
  scenario: Scenario,
  controllers: Controllers,
  admission: Admission,
  faults: FaultControl,
): Omit<SandboxSummary, 'gateways' | 'droppedRequests'> {
  const { types } = controllers;
  const revisions = store
    .list(types.deployments, { namespace: ISTIO_NAMESPACE })
    .items.filter((d) => d.metadata.labels?.app === 'istiod')
    .map((d) => {
      const revision = d.metadata.labels?.['istio.io/rev'] ?? 'default';
      return {
        revision,
        version: admission.revisionVersion(revision) ?? 'unknown',
        istiodReady: (d.status as { readyReplicas?: number } | undefined)?.readyReplicas ?? 0,
        istiodReplicas: (d.spec as { replicas?: number }).replicas ?? 1,
        crashed: faults.isCrashed(revision),
      };
    });
  const tags: Record<string, string> = {};
  for (const mwc of store.list(types.mutatingwebhookconfigurations).items) {
    const tag = mwc.metadata.labels?.['istio.io/tag'];
    if (tag) tags[tag] = mwc.metadata.labels?.['istio.io/rev'] ?? '';
  }
  const pods = store.list(types.pods).items;
  const injected: Record<string, number> = {};
  let ready = 0;
  for (const pod of pods) {
    if (isPodReady(pod)) ready++;
    const rev = pod.metadata.annotations?.['istio.io/rev'];
    if (rev && pod.metadata.annotations?.['sidecar.istio.io/status']) injected[rev] = (injected[rev] ?? 0) + 1;
  }
  return {
    scenario: scenario.name,
    revisions,
    tags,
    namespaces: store.list(types.namespaces).items.length,
    pods: { total: pods.length, ready, injected },
    unsettled: controllers.unsettled(),
    warnings: [...admission.warnings],
    faults: faults.state(),
  };
}
