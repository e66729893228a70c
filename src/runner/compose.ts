/**
 * The composition root: flags and environment -> adapters -> the runner's ports. The ONLY file
 * under src/runner that imports src/adapters (lint enforces it): it builds the run
 * (`composeRunner`), the daemon with its policy folder, dashboard, metrics and HTTP server
 * (`composeServe`), the approval use case, report sources and the commands' metrics. The CLI
 * parses flags, handles signals and calls these; it wires no adapter itself.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { createDashboard, type Dashboard } from '../adapters/http-server/dashboard.ts';
import { createHttpServer, type HttpServer, type ReadinessCheck } from '../adapters/http-server/server.ts';
import { createKubernetesCluster, type KubernetesCluster } from '../adapters/kubernetes/cluster.ts';
import { loadKubeConfig } from '../adapters/kubernetes/kubeconfig.ts';
import { createConfigMapStateStore, createEventRecorder, createLeaseLock } from '../adapters/kubernetes/state.ts';
import { runCommand } from '../adapters/exec/command.ts';
import { createPolicyFolder } from '../adapters/policy-folder.ts';
import type { PrometheusMetrics } from '../adapters/prometheus/metrics.ts';
import { sleep } from '../adapters/retry.ts';
import type { createSlackActionHandler } from '../adapters/slack/actions.ts';
import { formatNumber } from '../engine/gates.ts';
import type { RunPlan } from '../engine/plan.ts';
import { UsageError } from '../errors.ts';
import type { Clock } from '../ports/clock.ts';
import { isClusterError, Resources, type ClusterPort } from '../ports/cluster.ts';
import type { EventRecorder } from '../ports/events.ts';
import type { Installer } from '../ports/installer.ts';
import type { Lock } from '../ports/lock.ts';
import type { MetricsSource, RangeQuerySource } from '../ports/metrics.ts';
import type { Notifier, RunEvent, ThreadMemory } from '../ports/notifier.ts';
import type { PolicySourceFactory } from '../ports/policy-source.ts';
import type { StateStore } from '../ports/state-store.ts';
import { applyOverrides } from '../policy/identity.ts';
import type { Policy, PrometheusSettings } from '../policy/types.ts';
import type { ReportAssets } from '../report/render-html.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { RunnerMetrics } from '../telemetry/metrics.ts';
import { createApprovals } from './approvals.ts';
import { createDaemon, type Daemon } from './daemon.ts';
import type { ReportSources } from './report-data.ts';
import { collectReport } from './report-data.ts';
import { parseStoredState, type RunnerDeps } from './run-policy.ts';

// Slack, Prometheus (and the HTTP client under both), the report builder and prom-client are
// loaded when first used, not with this module: `revroll plan` and `revroll run` of a policy
// without Slack or Prometheus never load them, and the daemon loads Slack and Prometheus only
// when a policy that names them runs (each is some 10 to 30 MB of RSS once loaded).

/** The report's JavaScript and CSS (uPlot), read from the installation. */
export async function loadReportAssets(): Promise<ReportAssets> {
  return (await import('../adapters/report-assets.ts')).loadReportAssets();
}

/** A notifier whose implementation is loaded at its first notification. */
function lazyNotifier(load: () => Promise<Notifier>): Notifier {
  let loaded: Promise<Notifier> | undefined;
  return {
    async notify(event) {
      loaded ??= load();
      return (await loaded).notify(event);
    },
  };
}

/** A metrics source whose implementation is loaded at its first measurement. */
function lazyMetrics(load: () => Promise<MetricsSource>): MetricsSource {
  let loaded: Promise<MetricsSource> | undefined;
  return {
    async measure(check, scope) {
      loaded ??= load();
      return (await loaded).measure(check, scope);
    },
  };
}

/** Slack thread references kept in memory (synchronised with the run state by the runner). */
function memoryThreads(): ThreadMemory {
  const threads = new Map<string, { channel: string; ts: string }>();
  return {
    async get(runId) {
      return threads.get(runId);
    },
    async set(runId, thread) {
      threads.set(runId, thread);
    },
  };
}

export type { Dashboard, HttpServer, KubernetesCluster };

export type ConnectOptions = {
  kubeconfig?: string;
  context?: string;
  env: NodeJS.ProcessEnv;
};

export const realClock: Clock = {
  now: () => new Date(),
  sleep: (ms, signal) => sleep(ms, signal),
};

/** istioctl, helm or the policy's command, run as argv (src/adapters/exec). */
export const commandInstaller: Installer = {
  run: (command, args, options) => runCommand(command, args, options),
};

export function connectCluster(options: ConnectOptions): KubernetesCluster {
  const loaded = loadKubeConfig({
    ...(options.kubeconfig ? { file: options.kubeconfig } : {}),
    ...(options.context ? { context: options.context } : {}),
    env: options.env,
  });
  return createKubernetesCluster({ config: loaded.config });
}

/** Fails with a clear sentence when the state namespace is missing (revroll does not create namespaces). */
export async function requireStateNamespace(cluster: KubernetesCluster, namespace: string): Promise<void> {
  try {
    const ns = await cluster.get(Resources.namespaces, undefined, namespace);
    if (!ns)
      throw new UsageError(
        `the state namespace ${namespace} does not exist on ${cluster.server}: create it (kubectl create namespace ${namespace}) or pass --state-namespace`,
      );
  } catch (error) {
    if (isClusterError(error, 'forbidden')) return; // may read its own namespace only; the save will tell
    throw error;
  }
}

/** The run states, Leases and audit Events of a state namespace. */
export type StateAccess = { store: StateStore; lock: Lock; events: EventRecorder };

export function composeStateAccess(
  cluster: ClusterPort,
  stateNamespace: string,
  clock: Clock = realClock,
): StateAccess {
  return {
    store: createConfigMapStateStore(cluster, stateNamespace),
    lock: createLeaseLock(cluster, stateNamespace, () => clock.now()),
    events: createEventRecorder(cluster, { now: () => clock.now() }),
  };
}

/** Notifications as log lines (when no Slack is configured): nobody is told, and it says so. */
export function createLogNotifier(logger: Logger): Notifier {
  return {
    async notify(event: RunEvent) {
      logger.debug({ event: event.kind, policy: event.policy, runId: event.runId, step: event.step }, 'notification');
      return { delivered: false, error: 'no notification channel is configured (spec.notify.slack)', retry: false };
    },
  };
}

export function holderIdentity(env: NodeJS.ProcessEnv): string {
  return `${env.POD_NAME ?? hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`;
}

export type ComposeOptions = {
  cluster: ClusterPort;
  stateNamespace: string;
  logger: Logger;
  env: NodeJS.ProcessEnv;
  clock?: Clock;
  metrics?: MetricsSource;
  notifier?: Notifier;
  installer?: Installer;
  /** Counts failed notifications (the daemon's metrics). */
  onNotifyFailure?: () => void;
  /** Counts audit Events the API server did not accept (the daemon's metrics). */
  onEventLost?: () => void;
};

export function composeRunner(policy: Policy, options: ComposeOptions): RunnerDeps {
  const clock = options.clock ?? realClock;
  const { cluster, stateNamespace, logger } = options;
  const threads = memoryThreads();
  const slack = policy.spec.notify.slack;
  const notifier =
    options.notifier ??
    (slack
      ? lazyNotifier(async () =>
          (await import('../adapters/slack/notifier.ts')).createSlackNotifier({
            settings: slack,
            env: options.env,
            now: () => clock.now(),
            logger: logger.child({ component: 'slack' }),
            threads,
            ...(options.onNotifyFailure ? { onFailure: options.onNotifyFailure } : {}),
            ...(policy.spec.notify.dashboardUrl ? { dashboardUrl: policy.spec.notify.dashboardUrl } : {}),
          }),
        )
      : createLogNotifier(logger));
  const prometheus = policy.spec.prometheus;
  return {
    cluster,
    store: createConfigMapStateStore(cluster, stateNamespace),
    lock: createLeaseLock(cluster, stateNamespace, () => clock.now()),
    events: createEventRecorder(cluster, {
      now: () => clock.now(),
      onError: (error) =>
        logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'event not recorded'),
    }),
    notifier,
    threads,
    ...(options.metrics
      ? { metrics: options.metrics }
      : prometheus
        ? {
            metrics: lazyMetrics(async () =>
              (await import('../adapters/prometheus/metrics.ts')).createPrometheusMetrics({
                settings: prometheus,
                env: options.env,
              }),
            ),
          }
        : {}),
    installer: options.installer ?? commandInstaller,
    clock,
    logger,
    stateNamespace,
    holder: holderIdentity(options.env),
  };
}

/** The policy folder as the daemon's policy source (read, watch, debounce, last good copy). */
export function policyFolderSource(options: {
  dir: string;
  logger: Logger;
  rescanMs?: number;
  debounceMs?: number;
  watch?: boolean;
}): PolicySourceFactory {
  return (onChange) => createPolicyFolder({ ...options, onChange });
}

// ---------------------------------------------------------------------------------------------
// The commands' metrics: Prometheus when the policy (or --prometheus-url) names one.

/** One gate as `revroll plan` shows it. */
export type PlanGate = { check: string; text: string; rejected: boolean; query?: string };

export type CommandMetrics = {
  source: PrometheusMetrics;
  evaluatePlan(policy: Policy, plan: RunPlan, versions: { from?: string; to?: string }): Promise<PlanGate[]>;
};

export async function createMetricsFor(policy: Policy, env: NodeJS.ProcessEnv): Promise<CommandMetrics | undefined> {
  const settings = policy.spec.prometheus;
  if (!settings) return undefined;
  const { createPrometheusMetrics } = await import('../adapters/prometheus/metrics.ts');
  const source = createPrometheusMetrics({ settings, env });
  return {
    source,
    /**
     * Evaluates every gate now over the first wave's namespaces (all proxies: nothing has moved
     * yet), and sends each query to the server so a query it rejects is reported before any run.
     */
    async evaluatePlan(_policy, plan, versions) {
      const wave = plan.waves.find((w) => w.namespaces.length > 0);
      const namespaces = wave?.namespaces.map((n) => n.name) ?? [];
      const out: PlanGate[] = [];
      for (const check of policy.spec.gates.checks) {
        const evaluation = await source.evaluate(check, {
          subject: 'wave',
          namespaces,
          fromRevision: plan.from,
          toRevision: plan.to,
          ...(versions.from ? { fromVersion: versions.from } : {}),
          at: new Date(),
        });
        const query = evaluation.queries?.value;
        const verdict = query ? await source.checkQuery(query) : undefined;
        const m = evaluation.measurement;
        let text: string;
        if (verdict?.kind === 'rejected') text = `REJECTED by Prometheus: ${verdict.message}`;
        else if (m.kind === 'value')
          text = `${formatNumber(m.value)}${m.traffic !== undefined ? ` at ${formatNumber(m.traffic)} req/s` : ''}${check.shadow ? ' [shadow]' : ''}`;
        else if (m.kind === 'empty') text = `no data: ${m.reason}`;
        else text = `error: ${m.reason}`;
        out.push({ check: check.name, text, rejected: verdict?.kind === 'rejected', ...(query ? { query } : {}) });
      }
      return out;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Reports.

/** Range queries to the policy's Prometheus, its client loaded at the first query. */
function lazyRangeQueries(settings: PrometheusSettings, env: NodeJS.ProcessEnv): RangeQuerySource {
  let client: Promise<RangeQuerySource> | undefined;
  return {
    async queryRange(query, range) {
      client ??= import('../adapters/prometheus/client.ts').then((m) => m.createPrometheusClient({ settings, env }));
      return (await client).queryRange(query, range);
    },
  };
}

/** Where `revroll report`, `revroll demo` and the dashboard read a run from. */
export function composeReportSources(options: {
  cluster: ClusterPort;
  stateNamespace: string;
  policy?: Policy;
  prometheus?: PrometheusSettings;
  env: NodeJS.ProcessEnv;
  now?: () => Date;
}): ReportSources {
  const prometheus = options.prometheus;
  return {
    cluster: options.cluster,
    store: createConfigMapStateStore(options.cluster, options.stateNamespace),
    stateNamespace: options.stateNamespace,
    ...(options.policy ? { policy: options.policy } : {}),
    ...(prometheus ? { prometheus: lazyRangeQueries(prometheus, options.env) } : {}),
    now: options.now ?? (() => new Date()),
  };
}

/** The dashboard over a daemon: its policies, their stored runs, their Events and Prometheus. */
export function createDaemonDashboard(deps: {
  daemon: Pick<Daemon, 'runs' | 'policy'>;
  cluster: ClusterPort;
  stateNamespace: string;
  env: NodeJS.ProcessEnv;
  prometheusUrl?: string;
  refreshMs?: number;
  version: string;
}): Dashboard {
  const store = createConfigMapStateStore(deps.cluster, deps.stateNamespace);
  let assets: Promise<ReportAssets> | undefined;
  return createDashboard({
    runs: () => deps.daemon.runs(),
    states: async () =>
      new Map(
        (await store.list()).map(({ policy, stored }) => [
          policy,
          parseStoredState(stored.document, policy, deps.stateNamespace),
        ]),
      ),
    report: async (name) => {
      const loaded = deps.daemon.policy(name);
      const policy = loaded
        ? applyOverrides(loaded, { ...(deps.prometheusUrl ? { prometheusUrl: deps.prometheusUrl } : {}) })
        : undefined;
      const settings = policy?.spec.prometheus;
      const sources = composeReportSources({
        cluster: deps.cluster,
        stateNamespace: deps.stateNamespace,
        ...(policy ? { policy } : {}),
        ...(settings ? { prometheus: settings } : {}),
        env: deps.env,
      });
      const { buildReport } = await import('../report/build.ts');
      return buildReport(await collectReport(sources, name));
    },
    assets: () => {
      assets ??= loadReportAssets();
      assets.catch(() => (assets = undefined));
      return assets;
    },
    version: deps.version,
    ...(deps.refreshMs !== undefined ? { refreshMs: deps.refreshMs } : {}),
  });
}

// ---------------------------------------------------------------------------------------------
// The daemon (`revroll serve`).

export type ServeOptions = ConnectOptions & {
  policiesDir: string;
  stateNamespace: string;
  logger: Logger;
  prometheusUrl?: string;
  version: string;
};

/** The daemon and its HTTP server, wired; `dispose` stops the background harvest of request counts. */
export type Serving = { daemon: Daemon; server: HttpServer; holder: string; dispose(): void };

/** How often the Kubernetes request log is folded into the error counter (and emptied). */
const HARVEST_MS = 15_000;

export async function composeServe(options: ServeOptions): Promise<Serving> {
  const { logger, stateNamespace, env } = options;
  const connect = {
    ...(options.kubeconfig ? { kubeconfig: options.kubeconfig } : {}),
    ...(options.context ? { context: options.context } : {}),
  };
  const cluster = connectCluster({ ...connect, env });
  const probe = connectProbe({ ...connect, env });
  const harvest = () => {
    harvestRequests(cluster, metrics);
    harvestRequests(probe, metrics);
  };
  const { createRunnerMetrics } = await import('../telemetry/metrics.ts');
  const metrics = createRunnerMetrics({ processMetrics: true, beforeCollect: harvest });
  const harvestTimer = setInterval(harvest, HARVEST_MS);
  harvestTimer.unref();
  const clock = realClock;
  const { store, lock } = composeStateAccess(cluster, stateNamespace, clock);
  // One identity for the daemon's life: a Lease it failed to release is still recognised as its own.
  const holder = holderIdentity(env);
  const daemon = createDaemon({
    policies: policyFolderSource({ dir: options.policiesDir, logger }),
    clock,
    logger,
    metrics,
    store,
    lock,
    runnerDeps: (policy) => daemonRunnerDeps(policy, { ...options, cluster, clock, metrics, holder }),
  });
  const server = createHttpServer({
    logger,
    metrics,
    ready: readiness(probe, stateNamespace),
    runs: () => ({ holder, policies: daemon.runs() }),
    slackActions: composeSlackActions(daemon, cluster, { ...options, clock }),
    dashboard: createDaemonDashboard({
      daemon,
      cluster,
      stateNamespace,
      env,
      version: options.version,
      ...(options.prometheusUrl ? { prometheusUrl: options.prometheusUrl } : {}),
    }),
  });
  return { daemon, server, holder, dispose: () => clearInterval(harvestTimer) };
}

/** Probes get their own client: one attempt, short timeout, so a slow API server never stalls them. */
function connectProbe(options: ConnectOptions): KubernetesCluster {
  return createKubernetesCluster({
    config: loadKubeConfig({
      ...(options.kubeconfig ? { file: options.kubeconfig } : {}),
      ...(options.context ? { context: options.context } : {}),
      env: options.env,
    }).config,
    retry: { maxAttempts: 1, baseDelayMs: 0, maxDelayMs: 0, budgetMs: 0 },
    requestTimeoutMs: 2_000,
  });
}

async function daemonRunnerDeps(
  policy: Policy,
  wiring: ServeOptions & { cluster: ClusterPort; clock: Clock; metrics: RunnerMetrics; holder: string },
): Promise<RunnerDeps> {
  const { metrics, env } = wiring;
  const effective = applyOverrides(policy, {
    ...(wiring.prometheusUrl ? { prometheusUrl: wiring.prometheusUrl } : {}),
  });
  const source = (await createMetricsFor(effective, env))?.source;
  return {
    ...composeRunner(effective, {
      cluster: wiring.cluster,
      stateNamespace: wiring.stateNamespace,
      logger: wiring.logger,
      env,
      clock: wiring.clock,
      onNotifyFailure: () => metrics.notificationFailed(policy.metadata.name),
      onEventLost: () => metrics.eventLost(policy.metadata.name),
      ...(source ? { metrics: countErrors(source, policy.metadata.name, metrics) } : {}),
    }),
    holder: wiring.holder,
  };
}

/** The Slack action endpoint over the approval use case; a saved decision wakes the policy's loop. */
function composeSlackActions(
  daemon: Daemon,
  cluster: ClusterPort,
  options: ServeOptions & { clock: Clock },
): ReturnType<typeof createSlackActionHandler> {
  const slackLogger = options.logger.child({ component: 'slack' });
  const approvals = createApprovals({
    store: createConfigMapStateStore(cluster, options.stateNamespace),
    events: {
      recorder: createEventRecorder(cluster, { now: () => options.clock.now() }),
      namespace: options.stateNamespace,
    },
    // A decision was saved: the policy's loop acts on it now instead of at its next poll.
    onDecided: (record) => daemon.poke(record.policy),
    logger: slackLogger,
  });
  // The Slack client (and the HTTP client under it) loads at the first Slack request: an idle
  // daemon, or one whose policies use no Slack, never loads it.
  let handler: Promise<ReturnType<typeof createSlackActionHandler>> | undefined;
  return async (request) => {
    handler ??= import('../adapters/slack/actions.ts').then((m) =>
      m.createSlackActionHandler({
        approvals,
        policies: () => daemon.slackSettings(),
        env: options.env,
        logger: slackLogger,
      }),
    );
    return (await handler)(request);
  };
}

/** Counts failed Prometheus queries (measurements of kind `error`) without changing them. */
function countErrors(source: MetricsSource, policy: string, metrics: RunnerMetrics): MetricsSource {
  return {
    async measure(check, scope) {
      const measurement = await source.measure(check, scope);
      if (measurement.kind === 'error') metrics.prometheusError(policy);
      return measurement;
    },
  };
}

/** Folds failed requests into the error counter and empties the log (a daemon must not grow it forever). */
function harvestRequests(cluster: KubernetesCluster, metrics: RunnerMetrics): void {
  const records = cluster.requests;
  for (const r of records) {
    if (r.status === 0 || r.status >= 400)
      metrics.kubernetesError(r.verb, r.group === '' ? r.resource : `${r.resource}.${r.group}`, r.status);
  }
  cluster.resetRequests();
}

/** Ready when the API server answers for the state namespace. */
function readiness(probe: KubernetesCluster, namespace: string): ReadinessCheck {
  return async () => {
    try {
      const ns = await probe.get(Resources.namespaces, undefined, namespace);
      if (!ns) return { ok: false, message: `the state namespace ${namespace} does not exist on ${probe.server}` };
      return { ok: true, message: `${probe.server} reachable` };
    } catch (error) {
      // Allowed to read its own namespace only: the API server answered, which is what counts.
      if (isClusterError(error, 'forbidden')) return { ok: true, message: `${probe.server} reachable` };
      return { ok: false, message: error instanceof Error ? error.message : String(error) };
    }
  };
}
