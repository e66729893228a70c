/**
 * The composition root: flags and environment -> adapters -> the runner's ports. The only
 * place that knows which adapter serves which port.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { createKubernetesCluster, KubernetesError, type KubernetesCluster } from '../adapters/kubernetes/cluster.ts';
import { loadKubeConfig } from '../adapters/kubernetes/kubeconfig.ts';
import { createConfigMapStateStore, createEventRecorder, createLeaseLock } from '../adapters/kubernetes/state.ts';
import { runCommand } from '../adapters/exec/command.ts';
import { sleep } from '../adapters/retry.ts';
import { UsageError } from '../errors.ts';
import { Resources } from '../ports/cluster.ts';
import type { MetricsSource } from '../ports/metrics.ts';
import type { Notifier, RunEvent } from '../ports/notifier.ts';
import type { Policy } from '../policy/types.ts';
import { createPrometheusMetrics } from '../adapters/prometheus/metrics.ts';
import { createMemoryThreadStore, createSlackNotifier } from '../adapters/slack/notifier.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Clock, RunnerDeps } from './run-policy.ts';

export type ConnectOptions = {
  kubeconfig?: string;
  context?: string;
  env: NodeJS.ProcessEnv;
};

export const realClock: Clock = {
  now: () => new Date(),
  sleep: (ms, signal) => sleep(ms, signal),
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
    if (error instanceof KubernetesError && error.status === 403) return; // may read its own namespace only; the save will tell
    throw error;
  }
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
  cluster: KubernetesCluster;
  stateNamespace: string;
  logger: Logger;
  env: NodeJS.ProcessEnv;
  clock?: Clock;
  metrics?: MetricsSource;
  notifier?: Notifier;
  /** Counts failed notifications (the daemon's metrics). */
  onNotifyFailure?: () => void;
  /** Counts audit Events the API server did not accept (the daemon's metrics). */
  onEventLost?: () => void;
};

export function composeRunner(policy: Policy, options: ComposeOptions): RunnerDeps {
  const clock = options.clock ?? realClock;
  const { cluster, stateNamespace, logger } = options;
  const threads = createMemoryThreadStore();
  const slack = policy.spec.notify.slack;
  const notifier =
    options.notifier ??
    (slack
      ? createSlackNotifier({
          settings: slack,
          env: options.env,
          now: () => clock.now(),
          logger: logger.child({ component: 'slack' }),
          threads,
          ...(options.onNotifyFailure ? { onFailure: options.onNotifyFailure } : {}),
          ...(policy.spec.notify.dashboardUrl ? { dashboardUrl: policy.spec.notify.dashboardUrl } : {}),
        })
      : createLogNotifier(logger));
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
      : policy.spec.prometheus
        ? { metrics: createPrometheusMetrics({ settings: policy.spec.prometheus, env: options.env }) }
        : {}),
    runCommand: (command, args, opts) => runCommand(command, args, opts),
    clock,
    logger,
    stateNamespace,
    holder: holderIdentity(options.env),
  };
}
