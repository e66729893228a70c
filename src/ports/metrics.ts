/**
 * The metrics port: gate checks measured over telemetry (Prometheus in production).
 * It never throws for a failed query: failures are measurements of kind `error`, so the engine
 * can count them against their own budget (DESIGN section 4).
 */
import { ExternalError } from '../errors.ts';
import type { GateCheck } from '../policy/types.ts';

/** A measured value, an empty answer (no series, no traffic), or a failure. */
export type Measurement =
  | { kind: 'value'; value: number; traffic?: number }
  | { kind: 'empty'; reason: string }
  | { kind: 'error'; reason: string };

/** Who is measured and over which window. */
export type MeasureScope = {
  /** `wave`: the wave's namespaces; `cohort`: proxies still on the old revision, cluster-wide. */
  subject: 'wave' | 'cohort';
  namespaces: readonly string[];
  fromRevision: string;
  toRevision: string;
  fromVersion?: string;
  toVersion?: string;
  /** Evaluation time. */
  at: Date;
  /** The gateways wave: the Gateway API Gateways it moved (their pods carry `gateway.networking.k8s.io/gateway-name`). */
  gateways?: readonly { namespace: string; name: string }[];
  /** Pods expected to be scraped (the wave's new pods), for the coverage check. */
  expectedPods?: readonly { namespace: string; pod: string }[];
};

export interface MetricsSource {
  measure(check: GateCheck, scope: MeasureScope): Promise<Measurement>;
}

/** One series of a range query: its labels and `[unix seconds, value]` points. */
export type RangeSeries = { metric: Record<string, string>; values: [number, number][] };

/** Range queries over the metrics backend (the report's charts). Failures throw a MetricsError. */
export interface RangeQuerySource {
  queryRange(query: string, range: { start: Date; end: Date; stepMs: number }): Promise<{ result: RangeSeries[] }>;
}

/** A failed metrics call. `unreachable`: the backend did not answer (refused, timed out), so the next call fails too. */
export class MetricsError extends ExternalError {
  readonly unreachable: boolean;

  constructor(code: string, message: string, target: string, unreachable: boolean, options?: { cause?: unknown }) {
    super(code, message, target, options);
    this.unreachable = unreachable;
  }
}
