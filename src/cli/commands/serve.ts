/**
 * `revroll serve --policies <dir> [--listen HOST:PORT]`: the in-cluster daemon. Wires the
 * cluster adapters, the daemon (policy folder, schedules, runs), the metrics and the HTTP server,
 * then waits for SIGTERM/SIGINT and shuts down within a bounded time: in-flight runs stop at
 * their next step boundary with their state persisted and their Lease released, so the next
 * daemon resumes them.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createKubernetesCluster, KubernetesError, type KubernetesCluster } from '../../adapters/kubernetes/cluster.ts';
import { loadKubeConfig } from '../../adapters/kubernetes/kubeconfig.ts';
import {
  createConfigMapStateStore,
  createEventRecorder,
  createLeaseLock,
  stateConfigMapName,
} from '../../adapters/kubernetes/state.ts';
import { UsageError } from '../../errors.ts';
import { Resources } from '../../ports/cluster.ts';
import type { MetricsSource } from '../../ports/metrics.ts';
import type { Policy } from '../../policy/types.ts';
import { createSlackActionHandler } from '../../runner/approvals.ts';
import { composeRunner, connectCluster, holderIdentity, realClock } from '../../runner/compose.ts';
import { createDaemon } from '../../runner/daemon.ts';
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
      const effective = withPrometheusUrl(policy, opts.prometheusUrl);
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
  const decisions = createEventRecorder(cluster, { now: () => clock.now() });
  const slackActions = createSlackActionHandler({
    store,
    policies: () => daemon.slackSettings(),
    env: io.env,
    logger: logger.child({ component: 'slack' }),
    // A decision was saved: record it as an Event, and the policy's loop acts on it now instead of at its next poll.
    onDecision: async (record) => {
      daemon.poke(record.policy);
      await decisions.record(
        { apiVersion: 'v1', kind: 'ConfigMap', namespace: stateNamespace, name: stateConfigMapName(record.policy) },
        record.decision === 'approved' ? 'RevrollApproved' : 'RevrollRejected',
        `${record.step} ${record.decision} by ${record.by} (${record.via}${record.channel ? ` in ${record.channel}` : ''})`,
      );
    },
  });
  const server = createHttpServer({
    logger,
    metrics,
    ready: readiness(probe, stateNamespace),
    runs: () => ({ holder, policies: daemon.runs() }),
    slackActions,
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

function withPrometheusUrl(policy: Policy, url: string | undefined): Policy {
  if (!url) return policy;
  const spec = {
    ...policy.spec,
    prometheus: {
      ...(policy.spec.prometheus ?? { timeout: 10_000, tls: { insecureSkipVerify: false }, headers: {} }),
      url,
    },
  };
  return { ...policy, spec };
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
