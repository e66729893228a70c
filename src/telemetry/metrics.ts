/**
 * The daemon's Prometheus metrics: ONE object owning every series, on its own prom-client
 * Registry (style rule 12), so tests read it without touching the global registry and two
 * daemons in one process do not collide. Label sets are fixed and bounded: policy names, the
 * engine's phases and outcomes, gate check names, Kubernetes verbs and resources.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RunPhase } from '../engine/state.ts';

export type RunnerMetricsOptions = {
  /** Also export the process metrics (CPU, memory, event loop lag); off in tests. */
  processMetrics?: boolean;
  /** Called before every scrape (e.g. to fold the Kubernetes request log into counters). */
  beforeCollect?: () => void;
};

const PHASES: readonly RunPhase[] = ['Progressing', 'Held', 'RollingBack', 'Promoted', 'RolledBack', 'Failed'];

export type RunnerMetrics = {
  readonly registry: Registry;
  /** The Prometheus text exposition of every series. */
  render(): Promise<string>;
  readonly contentType: string;
  /** One runner invocation returned (promoted, rolled-back, held, failed, locked, interrupted, error). */
  runFinished(policy: string, outcome: string): void;
  /** The run's phase now; undefined clears the policy's phase series (no run). */
  phase(policy: string, phase: RunPhase | undefined): void;
  /** A wave finished baking: seconds from its first step to the end of its bake. */
  waveDuration(policy: string, seconds: number): void;
  /** One gate evaluation and, when numeric, its value. */
  gateEvaluation(policy: string, check: string, outcome: string, value?: number | null): void;
  pendingApprovals(policy: string, count: number): void;
  rollbackStarted(policy: string): void;
  /** A failed Kubernetes API request (status 0 = unreachable). */
  kubernetesError(verb: string, resource: string, status: number): void;
  /** A failed Prometheus query (transport or server error). */
  prometheusError(policy: string): void;
  /** A notification (Slack) could not be delivered; never fails a run. */
  notificationFailed(policy: string): void;
  /** An audit Event could not be recorded; never fails a run, never silent. */
  eventLost(policy: string): void;
  promoted(policy: string, at: Date): void;
  invalidPolicies(count: number): void;
  /** Drops every per-policy series of a policy that is no longer loaded. */
  forget(policy: string): void;
};

export function createRunnerMetrics(options: RunnerMetricsOptions = {}): RunnerMetrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'revroll_' });
  const before = options.beforeCollect;
  const series = createSeries(registry, before);

  // Label values set per policy, so a removed policy's series can be dropped whole.
  const outcomesSeen = new Map<string, Set<string>>();
  const checksSeen = new Map<string, Map<string, Set<string>>>();

  return {
    registry,
    contentType: registry.contentType,
    render: () => registry.metrics(),
    runFinished(policy, outcome) {
      series.runs.inc({ policy, outcome });
      outcomesSeen.set(policy, (outcomesSeen.get(policy) ?? new Set<string>()).add(outcome));
    },
    phase(policy, current) {
      for (const p of PHASES) {
        if (current === undefined) series.phase.remove({ policy, phase: p });
        else series.phase.set({ policy, phase: p }, p === current ? 1 : 0);
      }
    },
    waveDuration: (policy, seconds) => series.waveSeconds.observe({ policy }, seconds),
    gateEvaluation(policy, check, outcome, value) {
      series.gateEvaluations.inc({ policy, check, outcome });
      const checks = checksSeen.get(policy) ?? new Map<string, Set<string>>();
      checksSeen.set(policy, checks.set(check, (checks.get(check) ?? new Set<string>()).add(outcome)));
      if (typeof value === 'number' && Number.isFinite(value)) series.gateValue.set({ policy, check }, value);
    },
    pendingApprovals: (policy, count) => series.approvals.set({ policy }, count),
    rollbackStarted: (policy) => series.rollbacks.inc({ policy }),
    kubernetesError: (verb, resource, status) =>
      series.kubernetesErrors.inc({ verb, resource, status: String(status) }),
    prometheusError: (policy) => series.prometheusErrors.inc({ policy }),
    notificationFailed: (policy) => series.notifyErrors.inc({ policy }),
    eventLost: (policy) => series.eventsLost.inc({ policy }),
    promoted: (policy, at) => series.lastPromotion.set({ policy }, Math.floor(at.getTime() / 1000)),
    invalidPolicies: (count) => series.invalid.set(count),
    forget(policy) {
      for (const metric of [
        series.waveSeconds,
        series.approvals,
        series.rollbacks,
        series.prometheusErrors,
        series.notifyErrors,
        series.eventsLost,
        series.lastPromotion,
      ])
        metric.remove({ policy });
      for (const outcome of outcomesSeen.get(policy) ?? []) series.runs.remove({ policy, outcome });
      for (const p of PHASES) series.phase.remove({ policy, phase: p });
      for (const [check, outcomes] of checksSeen.get(policy) ?? []) {
        series.gateValue.remove({ policy, check });
        for (const outcome of outcomes) series.gateEvaluations.remove({ policy, check, outcome });
      }
      outcomesSeen.delete(policy);
      checksSeen.delete(policy);
    },
  };
}

/** Every series of the runner's registry. */
function createSeries(registry: Registry, before: (() => void) | undefined) {
  const series = {
    runs: new Counter({
      name: 'revroll_runs_total',
      help: 'Runner invocations by outcome (a run spanning nights counts once per invocation).',
      labelNames: ['policy', 'outcome'],
      registers: [registry],
    }),
    phase: new Gauge({
      name: 'revroll_run_phase',
      help: 'Phase of the policy run (1 for the current phase, 0 for the others).',
      labelNames: ['policy', 'phase'],
      registers: [registry],
      // Fold external observations in at scrape time (first registered series: runs once per scrape).
      collect: before ? () => before() : undefined,
    }),
    waveSeconds: new Histogram({
      name: 'revroll_wave_duration_seconds',
      help: 'Time from the first step of a wave to the end of its bake.',
      labelNames: ['policy'],
      buckets: [60, 300, 900, 1800, 3600, 7200, 14_400, 28_800],
      registers: [registry],
    }),
    gateEvaluations: new Counter({
      name: 'revroll_gate_evaluations_total',
      help: 'Gate evaluations by outcome (Pass, Fail, NoData, Error).',
      labelNames: ['policy', 'check', 'outcome'],
      registers: [registry],
    }),
    gateValue: new Gauge({
      name: 'revroll_gate_last_value',
      help: 'Last measured value of a gate check.',
      labelNames: ['policy', 'check'],
      registers: [registry],
    }),
    approvals: new Gauge({
      name: 'revroll_pending_approvals',
      help: 'Approvals requested and not decided yet.',
      labelNames: ['policy'],
      registers: [registry],
    }),
    rollbacks: new Counter({
      name: 'revroll_rollbacks_total',
      help: 'Rollbacks started.',
      labelNames: ['policy'],
      registers: [registry],
    }),
    kubernetesErrors: new Counter({
      name: 'revroll_kubernetes_request_errors_total',
      help: 'Failed Kubernetes API requests (status 0: unreachable).',
      labelNames: ['verb', 'resource', 'status'],
      registers: [registry],
    }),
    prometheusErrors: new Counter({
      name: 'revroll_prometheus_request_errors_total',
      help: 'Failed Prometheus queries.',
      labelNames: ['policy'],
      registers: [registry],
    }),
    notifyErrors: new Counter({
      name: 'revroll_notification_failures_total',
      help: 'Notifications that could not be delivered.',
      labelNames: ['policy'],
      registers: [registry],
    }),
    eventsLost: new Counter({
      name: 'revroll_events_lost_total',
      help: 'Audit Events (Kubernetes Events about the objects revroll changed) the API server did not accept.',
      labelNames: ['policy'],
      registers: [registry],
    }),
    lastPromotion: new Gauge({
      name: 'revroll_last_promotion_timestamp_seconds',
      help: 'Unix time of the last successful promotion.',
      labelNames: ['policy'],
      registers: [registry],
    }),
    invalid: new Gauge({
      name: 'revroll_invalid_policies',
      help: 'Policy files in the folder that do not load.',
      registers: [registry],
    }),
  };
  series.invalid.set(0);
  return series;
}
