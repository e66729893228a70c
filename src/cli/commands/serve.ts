/**
 * `revroll serve --policies <dir> [--listen HOST:PORT]`: the in-cluster daemon. Wires the
 * cluster adapters, the daemon (policy folder, schedules, runs), the metrics and the HTTP server,
 * then waits for SIGTERM/SIGINT and shuts down within a bounded time: in-flight runs stop at
 * their next step boundary with their state persisted and their Lease released, so the next
 * daemon resumes them.
 */
import { applyOverrides } from '../../policy/identity.ts';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createKubernetesCluster, KubernetesError, type KubernetesCluster } from '../../adapters/kubernetes/cluster.ts';
import { loadKubeConfig } from '../../adapters/kubernetes/kubeconfig.ts';
import { createConfigMapStateStore, createEventRecorder, createLeaseLock } from '../../adapters/kubernetes/state.ts';
import { UsageError } from '../../errors.ts';
import { Resources } from '../../ports/cluster.ts';
import type { MetricsSource } from '../../ports/metrics.ts';
import { createSlackActionHandler } from '../../adapters/slack/actions.ts';
import { createApprovals } from '../../runner/approvals.ts';
import { composeRunner, connectCluster, holderIdentity, realClock } from '../../runner/compose.ts';
import { createDaemon, type Daemon } from '../../runner/daemon.ts';
import { createDashboard, type Dashboard } from '../../runner/dashboard.ts';
import { collectReport, loadReportAssets } from '../../runner/report-data.ts';
import { parseStoredState } from '../../runner/run-policy.ts';
import { createPrometheusClient } from '../../adapters/prometheus/client.ts';
import type { ClusterPort } from '../../ports/cluster.ts';
import { buildReport } from '../../report/build.ts';
import type { ReportAssets } from '../../report/render-html.ts';
import { VERSION } from '../program.ts';
import { createHttpServer, type ReadinessCheck } from '../../runner/server.ts';
import { createLogger } from '../../telemetry/logger.ts';
import { createRunnerMetrics, type RunnerMetrics } from '../../telemetry/metrics.ts';
import { ExitCode } from '../exit-codes.ts';
import type { CliIo } from '../io.ts';
import type { ClusterFlags } from '../program.ts';
import { createMetricsFor } from './metrics.ts';

export type ServeFlags = ClusterFlags & {
  /** Folder of policy files (a mounted ConfigMap in the cluster). */
  policies: string;
  /** `HOST:PORT` (`[::]:8080` for IPv6; port 0 picks a free one). */
  listen: string;
  debug?: boolean;
};

/** Longest graceful shutdown before the daemon exits anyway (Kubernetes' default grace is 30 s). */
const SHUTDOWN_TIMEOUT_MS = 10_000;
/** How often the Kubernetes request log is folded into the error counter (and emptied). */
const HARVEST_MS = 15_000;

/** Parses `HOST:PORT`, `[IPv6]:PORT` or `:PORT`. */
export function parseListen(value: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value.trim());
  const port = Number(match?.[3]);
  if (!match || !Number.isInteger(port) || port > 65_535)
    throw new UsageError(`--listen ${value} is not HOST:PORT (for example 0.0.0.0:8080 or [::]:8080)`);
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port };
}

export async function serveCommand(opts: ServeFlags, io: CliIo): Promise<ExitCode> {
  const { host, port } = parseListen(opts.listen);
  const dir = resolve(io.cwd, opts.policies);
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw new UsageError(`the policies folder ${dir} does not exist or is not a folder`);

  const logger = createLogger({ level: opts.debug ? 'debug' : 'info', pretty: io.isTty });
  const kube = {
    ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}),
    ...(opts.context ? { context: opts.context } : {}),
  };
  const cluster = connectCluster({ ...kube, env: io.env });
  // Probes get their own client: one attempt, short timeout, so a slow API server never stalls them.
  const probe = createKubernetesCluster({
    config: loadKubeConfig({
      ...(opts.kubeconfig ? { file: opts.kubeconfig } : {}),
      ...(opts.context ? { context: opts.context } : {}),
      env: io.env,
    }).config,
    retry: { maxAttempts: 1, baseDelayMs: 0, maxDelayMs: 0, budgetMs: 0 },
    requestTimeoutMs: 2_000,
  });
  const harvest = () => {
    harvestRequests(cluster, metrics);
    harvestRequests(probe, metrics);
  };
  const metrics = createRunnerMetrics({ processMetrics: true, beforeCollect: harvest });
  const harvestTimer = setInterval(harvest, HARVEST_MS);
  harvestTimer.unref();

  const stateNamespace = opts.stateNamespace;
  const clock = realClock;
  const store = createConfigMapStateStore(cluster, stateNamespace);
  const lock = createLeaseLock(cluster, stateNamespace, () => clock.now());
  // One identity for the daemon's life: a Lease it failed to release is still recognised as its own.
  const holder = holderIdentity(io.env);

  const daemon = createDaemon({
    policiesDir: dir,
    clock,
    logger,
    metrics,
    store,
    lock,
    runnerDeps: async (policy) => {
      const effective = applyOverrides(policy, {
        ...(opts.prometheusUrl ? { prometheusUrl: opts.prometheusUrl } : {}),
      });
      const source = (await createMetricsFor(effective, io.env))?.source;
      return {
        ...composeRunner(effective, {
          cluster,
          stateNamespace,
          logger,
          env: io.env,
          clock,
          onNotifyFailure: () => metrics.notificationFailed(policy.metadata.name),
          onEventLost: () => metrics.eventLost(policy.metadata.name),
          ...(source ? { metrics: countErrors(source, policy.metadata.name, metrics) } : {}),
        }),
        holder,
      };
    },
  });
  const slackLogger = logger.child({ component: 'slack' });
  const approvals = createApprovals({
    store,
    events: { recorder: createEventRecorder(cluster, { now: () => clock.now() }), namespace: stateNamespace },
    // A decision was saved: the policy's loop acts on it now instead of at its next poll.
    onDecided: (record) => daemon.poke(record.policy),
    logger: slackLogger,
  });
  const slackActions = createSlackActionHandler({
    approvals,
    policies: () => daemon.slackSettings(),
    env: io.env,
    logger: slackLogger,
  });
  const server = createHttpServer({
    logger,
    metrics,
    ready: readiness(probe, stateNamespace),
    runs: () => ({ holder, policies: daemon.runs() }),
    slackActions,
    dashboard: createDaemonDashboard({
      daemon,
      cluster,
      stateNamespace,
      env: io.env,
      ...(opts.prometheusUrl ? { prometheusUrl: opts.prometheusUrl } : {}),
    }),
  });

  const stop = waitForSignal();
  try {
    await daemon.start();
    const { url } = await server.listen(host, port);
    logger.info({ url, policies: dir, holder, stateNamespace }, 'revroll serve listening');
    const signal = await stop.promise;
    logger.info({ signal }, 'shutting down');
    const outcome = await Promise.race([
      Promise.all([daemon.stop(), server.close(2_000)]).then(() => 'stopped' as const),
      unrefTimeout(SHUTDOWN_TIMEOUT_MS).then(() => 'timeout' as const),
    ]);
    if (outcome === 'timeout') {
      logger.error(
        { timeoutMs: SHUTDOWN_TIMEOUT_MS },
        'shutdown timed out; exiting with runs not stopped (their state is saved after every decision)',
      );
      forceExitLater(ExitCode.failure);
      return ExitCode.failure;
    }
    logger.info('stopped');
    forceExitLater(ExitCode.ok);
    return ExitCode.ok;
  } catch (error) {
    await Promise.allSettled([daemon.stop(), server.close(0)]);
    throw error;
  } finally {
    stop.dispose();
    clearInterval(harvestTimer);
  }
}

/** The dashboard over a daemon: its policies, their stored runs, their Events and Prometheus. */
export function createDaemonDashboard(deps: {
  daemon: Pick<Daemon, 'runs' | 'policy'>;
  cluster: ClusterPort;
  stateNamespace: string;
  env: NodeJS.ProcessEnv;
  prometheusUrl?: string;
  refreshMs?: number;
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
      const input = await collectReport(
        {
          cluster: deps.cluster,
          store,
          stateNamespace: deps.stateNamespace,
          ...(policy ? { policy } : {}),
          ...(settings ? { prometheus: createPrometheusClient({ settings, env: deps.env }) } : {}),
          now: () => new Date(),
        },
        name,
      );
      return buildReport(input);
    },
    assets: () => {
      assets ??= loadReportAssets();
      assets.catch(() => (assets = undefined));
      return assets;
    },
    version: VERSION,
    ...(deps.refreshMs !== undefined ? { refreshMs: deps.refreshMs } : {}),
  });
}

/** Resolves with the first SIGTERM or SIGINT. */
function waitForSignal(): { promise: Promise<NodeJS.Signals>; dispose(): void } {
  let onSignal: (signal: NodeJS.Signals) => void = () => undefined;
  const promise = new Promise<NodeJS.Signals>((resolveSignal) => {
    onSignal = (signal) => resolveSignal(signal);
  });
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  return {
    promise,
    dispose() {
      process.removeListener('SIGTERM', onSignal);
      process.removeListener('SIGINT', onSignal);
    },
  };
}

/** A timer that does not keep the process alive by itself. */
function unrefTimeout(ms: number): Promise<void> {
  return new Promise((resolveTimer) => setTimeout(resolveTimer, ms).unref());
}

/**
 * Client keep-alive sockets and timers of abandoned calls could keep the process up after a
 * clean stop; this unref'd timer only fires if something does.
 */
function forceExitLater(code: ExitCode): void {
  setTimeout(() => process.exit(code), 2_000).unref();
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
      if (error instanceof KubernetesError && error.status === 403)
        return { ok: true, message: `${probe.server} reachable` };
      return { ok: false, message: error instanceof Error ? error.message : String(error) };
    }
  };
}
