/**
 * What a report is built from, as the runner and the CLI collect it: the stored run state, the
 * run's Events (plain facts, no client types), the gate settings of the policy when known, and
 * range-query series from Prometheus when it answered.
 */
import type { RunState } from '../engine/state.ts';
import type { GateCheck } from '../policy/types.ts';

/** One Kubernetes Event of the run, reduced to what a report shows. */
export type RunEventRecord = {
  reason: string;
  message: string;
  type: string;
  /** lastTimestamp (or firstTimestamp, eventTime, creationTimestamp), ISO. */
  at: string;
  object: { kind: string; namespace?: string; name: string };
  annotations: Record<string, string>;
};

/** The gate settings a report needs from the policy (thresholds, baselines, units). */
export type ReportGates = {
  interval: number;
  warmup: number;
  checks: Pick<GateCheck, 'name' | 'preset' | 'query' | 'threshold' | 'baseline' | 'shadow' | 'window'>[];
};

/** A range query's answer for one check, wave and subject. */
export type GateSeries = {
  wave: number;
  check: string;
  /** `value`: the wave's proxies; `baseline`: the cohort still on the old revision. */
  subject: 'value' | 'baseline';
  /** [Unix seconds, value] pairs, ascending. */
  points: [number, number][];
};

export type ReportInput = {
  generatedAt: Date;
  policy: string;
  runId: string;
  /** Undefined when the state ConfigMap holds another run (the report is rebuilt from Events). */
  state?: RunState;
  /** Where the state was read, for the sources line (`revroll-system/revroll-demo`). */
  stateSource?: string;
  events: { ok: true; items: RunEventRecord[]; selector: string } | { ok: false; reason: string };
  gates?: ReportGates;
  series: { ok: true; items: GateSeries[]; queries: number; failures: string[] } | { ok: false; reason: string };
};
