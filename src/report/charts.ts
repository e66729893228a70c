/**
 * One chart per gate check per wave: the measured value (Prometheus range query, or the recorded
 * evaluations when Prometheus did not answer), the baseline, the effective threshold and the
 * evaluations marked by outcome, all on one shared time axis. Pure.
 */
import { formatNumber, type GateOutcome } from '../engine/gates.ts';

/** Numbers as reports show them: the engine's 4 significant digits, without exponents between 1e3 and 1e9. */
export function formatValue(value: number): string {
  const abs = Math.abs(value);
  if (Number.isFinite(value) && abs >= 1000 && abs < 1e9) return String(Number(value.toPrecision(6)));
  return formatNumber(value);
}
import type { GatePreset, Threshold } from '../policy/types.ts';
import type { GateEvaluation } from './evaluations.ts';
import type { GateSeries, ReportGates } from './input.ts';
import type { ChartSeries, ChartUnit, EvaluationRow, GateChart } from './model.ts';

type Check = ReportGates['checks'][number];

export type ChartInput = {
  wave: number;
  waveName: string;
  check: string;
  config?: Check;
  /** Evaluations of this wave (any order). */
  evaluations: readonly GateEvaluation[];
  series: readonly GateSeries[];
  /** Why there is no Prometheus series, when there is none. */
  seriesNote?: string;
};

const UNITS: Record<GatePreset, ChartUnit> = {
  'proxy-5xx-ratio': 'ratio',
  'proxy-p99-latency': 'ms',
  'istiod-xds-rejects': 'per-second',
  'istiod-push-errors': 'per-second',
  'proxy-convergence-p99': 'seconds',
  'sidecar-injection-failures': 'per-second',
  'gateway-5xx-ratio': 'ratio',
  'gateway-p99-latency': 'ms',
  'waypoint-5xx-ratio': 'ratio',
  'waypoint-p99-latency': 'ms',
  'ztunnel-connection-failures': 'ratio',
};

/** The markers drawn for evaluations with a value; NoData and Error have none and are in the table only. */
const MARKED: readonly GateOutcome[] = ['Pass', 'Fail'];

export function buildChart(input: ChartInput): GateChart {
  const { config } = input;
  const evaluations = [...input.evaluations]
    .sort((a, b) => Date.parse(a.at) - Date.parse(b.at))
    .flatMap((e) => {
      const result = e.results.find((r) => r.check === input.check);
      return result ? [{ at: e.at, t: Date.parse(e.at) / 1000, result }] : [];
    });
  const promValue = input.series.find((s) => s.subject === 'value' && s.points.length > 0);
  const promBaseline = input.series.find((s) => s.subject === 'baseline' && s.points.length > 0);
  const times = new Set<number>(evaluations.map((e) => e.t));
  for (const s of [promValue, promBaseline]) for (const [t] of s?.points ?? []) times.add(t);
  const x = [...times].sort((a, b) => a - b);
  const index = new Map(x.map((t, i) => [t, i]));
  const empty = () => x.map((): number | null => null);
  const put = (points: (number | null)[], t: number, v: number | null | undefined) => {
    const i = index.get(t);
    if (i !== undefined && v !== undefined && v !== null && Number.isFinite(v)) points[i] = v;
  };

  const value = empty();
  if (promValue) for (const [t, v] of promValue.points) put(value, t, v);
  else for (const e of evaluations) put(value, e.t, e.result.value);
  const baseline = empty();
  if (promBaseline) for (const [t, v] of promBaseline.points) put(baseline, t, v);
  else for (const e of evaluations) put(baseline, e.t, e.result.baseline);

  const series: ChartSeries[] = [{ id: 'value', label: 'value', role: 'value', points: value }];
  if (baseline.some((v) => v !== null))
    series.push({
      id: 'baseline',
      label: config?.baseline === 'before' ? 'baseline (before the move)' : 'baseline (old revision)',
      role: 'baseline',
      points: baseline,
    });
  if (config) series.push(...thresholdSeries(config.threshold, baseline));
  for (const outcome of MARKED) {
    const points = empty();
    for (const e of evaluations) if (e.result.outcome === outcome) put(points, e.t, e.result.value);
    if (points.some((v) => v !== null))
      series.push({ id: `eval-${outcome.toLowerCase()}`, label: `${outcome} evaluations`, role: 'evaluation', points });
  }

  const rows: EvaluationRow[] = evaluations.map((e) => {
    const limits = config ? limitsAt(config.threshold, e.result.baseline) : {};
    return {
      at: e.at,
      outcome: e.result.outcome,
      ...(e.result.value !== undefined ? { value: e.result.value } : {}),
      ...(e.result.baseline !== undefined ? { baseline: e.result.baseline } : {}),
      ...limits,
      message: e.result.message,
    };
  });
  const chart: GateChart = {
    id: `gate-${input.wave}-${input.check}`,
    wave: input.wave,
    waveName: input.waveName,
    check: input.check,
    ...(config ? { source: config.preset ? `preset ${config.preset}` : 'custom query' } : {}),
    unit: config?.preset ? UNITS[config.preset] : 'number',
    shadow: config?.shadow ?? evaluations.some((e) => e.result.shadow === true),
    ...(config ? { baselineKind: config.baseline, thresholdText: describeThreshold(config.threshold) } : {}),
    valueSource: promValue ? 'prometheus' : value.some((v) => v !== null) ? 'evaluations' : 'none',
    ...(promValue ? {} : input.seriesNote ? { seriesNote: input.seriesNote } : {}),
    x,
    series,
    evaluations: rows,
    summary: '',
  };
  chart.summary = summarize(chart);
  return chart;
}

/**
 * The effective upper and lower limits along the axis. Relative limits follow the baseline
 * (carried forward from its last known point, and back to the first one), as `judge` applies them.
 */
function thresholdSeries(threshold: Threshold, baseline: readonly (number | null)[]): ChartSeries[] {
  const out: ChartSeries[] = [];
  const carried: (number | null)[] = [];
  let last: number | null = baseline.find((v) => v !== null) ?? null;
  for (const v of baseline) {
    if (v !== null) last = v;
    carried.push(last);
  }
  const upper = carried.map((b) => limitsAt(threshold, b).upper ?? null);
  if (upper.some((v) => v !== null))
    out.push({ id: 'threshold-max', label: 'upper limit', role: 'threshold', points: upper });
  if (threshold.min !== undefined)
    out.push({
      id: 'threshold-min',
      label: 'lower limit',
      role: 'threshold',
      points: carried.map(() => threshold.min ?? null),
    });
  return out;
}

/** The tightest limits that hold at one evaluation, as `judge` checks them. */
export function limitsAt(
  threshold: Threshold,
  baseline: number | null | undefined,
): { upper?: number; lower?: number } {
  const uppers: number[] = [];
  if (threshold.max !== undefined) uppers.push(threshold.max);
  if (baseline !== null && baseline !== undefined && Number.isFinite(baseline)) {
    if (threshold.maxIncrease !== undefined) uppers.push(baseline + threshold.maxIncrease);
    if (threshold.maxRatio !== undefined) uppers.push(baseline * threshold.maxRatio);
  }
  return {
    ...(uppers.length > 0 ? { upper: Math.min(...uppers) } : {}),
    ...(threshold.min !== undefined ? { lower: threshold.min } : {}),
  };
}

export function describeThreshold(threshold: Threshold): string {
  const parts: string[] = [];
  if (threshold.min !== undefined) parts.push(`min ${formatValue(threshold.min)}`);
  if (threshold.max !== undefined) parts.push(`max ${formatValue(threshold.max)}`);
  if (threshold.maxIncrease !== undefined)
    parts.push(`at most ${formatValue(threshold.maxIncrease)} over the baseline`);
  if (threshold.maxRatio !== undefined) parts.push(`at most ${formatValue(threshold.maxRatio)}x the baseline`);
  return parts.join(', ');
}

function summarize(chart: GateChart): string {
  const counts = new Map<GateOutcome, number>();
  for (const e of chart.evaluations) counts.set(e.outcome, (counts.get(e.outcome) ?? 0) + 1);
  const outcomes = [...counts].map(([o, n]) => `${n} ${o}`).join(', ');
  const values = (chart.series.find((s) => s.id === 'value')?.points ?? []).filter((v): v is number => v !== null);
  const range =
    values.length > 0
      ? `; value from ${formatValue(Math.min(...values))} to ${formatValue(Math.max(...values))}`
      : '; no value measured';
  const source =
    chart.valueSource === 'prometheus'
      ? ` (${values.length} point${values.length === 1 ? '' : 's'} from Prometheus)`
      : chart.valueSource === 'evaluations'
        ? ' (from the recorded evaluations)'
        : '';
  return `Gate ${chart.check} in wave ${chart.waveName}${chart.shadow ? ' (shadow)' : ''}: ${chart.evaluations.length} evaluation(s)${outcomes ? ` (${outcomes})` : ''}${range}${source}${chart.thresholdText ? `; threshold ${chart.thresholdText}` : ''}.`;
}
