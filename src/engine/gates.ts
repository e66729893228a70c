/**
 * Gate verdicts: pure functions from measured values and typed thresholds to outcomes, and
 * from a wave's evaluations to a decision. Four outcomes with separate budgets (DESIGN section 4).
 */
import type { Measurement } from '../ports/metrics.ts';
import type { GateCheck, Gates, Threshold } from '../policy/types.ts';

/** Outcome of one check at one evaluation. */
export type GateOutcome =
  /** Every threshold holds. */
  | 'Pass'
  /** A threshold is breached. */
  | 'Fail'
  /** No series, too little traffic, or a value that says nothing (NaN). */
  | 'NoData'
  /** The query or its transport failed. */
  | 'Error';

export type GateResult = {
  check: string;
  outcome: GateOutcome;
  value?: number | null;
  baseline?: number | null;
  /** Requests per second behind the value, when the check measured it. */
  traffic?: number | null;
  shadow?: boolean;
  message: string;
};

/**
 * Applies a check's threshold. NaN is NoData (0/0: nothing was measured); +Inf and -Inf are real
 * answers (a ratio over a vanished denominator, an unbounded latency) and are judged as numbers,
 * so +Inf breaches `max`. Baseline-relative thresholds without a usable baseline are NoData; a
 * baseline is usable only when finite: against +Inf every value would pass (`Inf - Inf` is NaN,
 * and no value exceeds `Inf * ratio`), against -Inf every value would fail.
 */
export function judge(
  check: Pick<GateCheck, 'name' | 'threshold' | 'baseline' | 'minTraffic' | 'shadow'>,
  measurement: Measurement,
  baseline: number | null | undefined,
): GateResult {
  const base = { check: check.name, ...(check.shadow ? { shadow: true } : {}) };
  if (measurement.kind === 'error') return { ...base, outcome: 'Error', message: measurement.reason };
  if (measurement.kind === 'empty') return { ...base, outcome: 'NoData', message: measurement.reason };
  const { value } = measurement;
  const withValue = {
    ...base,
    value: Number.isNaN(value) ? null : value,
    ...(baseline !== undefined ? { baseline } : {}),
    ...(measurement.traffic !== undefined ? { traffic: measurement.traffic } : {}),
  };
  const traffic = measurement.traffic;
  if (traffic !== undefined && traffic < check.minTraffic) {
    return {
      ...withValue,
      outcome: 'NoData',
      message: `traffic ${formatNumber(traffic)} req/s is below the floor of ${formatNumber(check.minTraffic)} req/s`,
    };
  }
  // A NaN rate measured nothing, so it cannot show that a floor is met (NaN < floor is false).
  if (traffic !== undefined && Number.isNaN(traffic) && check.minTraffic > 0) {
    return {
      ...withValue,
      outcome: 'NoData',
      message: `traffic is NaN (nothing measured), so the floor of ${formatNumber(check.minTraffic)} req/s is not shown to be met`,
    };
  }
  if (Number.isNaN(value))
    return { ...withValue, outcome: 'NoData', message: 'the query returned NaN (nothing measured)' };
  const breaches = breached(check.threshold, value, baseline);
  if (breaches === 'no-baseline') {
    const measured =
      typeof baseline === 'number' && !Number.isNaN(baseline) ? ` measured ${formatNumber(baseline)}` : '';
    return {
      ...withValue,
      outcome: 'NoData',
      message: `no baseline to compare with (baseline: ${check.baseline}${measured})`,
    };
  }
  if (breaches.length > 0) return { ...withValue, outcome: 'Fail', message: breaches.join('; ') };
  return { ...withValue, outcome: 'Pass', message: `${formatNumber(value)} within threshold` };
}

function breached(threshold: Threshold, value: number, baseline: number | null | undefined): string[] | 'no-baseline' {
  const out: string[] = [];
  if (threshold.min !== undefined && value < threshold.min)
    out.push(`${formatNumber(value)} < min ${formatNumber(threshold.min)}`);
  if (threshold.max !== undefined && value > threshold.max)
    out.push(`${formatNumber(value)} > max ${formatNumber(threshold.max)}`);
  if (threshold.maxIncrease !== undefined || threshold.maxRatio !== undefined) {
    if (baseline === null || baseline === undefined || !Number.isFinite(baseline)) {
      // Absolute thresholds already decided a Fail; without one, the relative check cannot decide.
      return out.length > 0 ? out : threshold.min === undefined && threshold.max === undefined ? 'no-baseline' : out;
    }
    if (threshold.maxIncrease !== undefined && value - baseline > threshold.maxIncrease) {
      out.push(
        `${formatNumber(value)} exceeds baseline ${formatNumber(baseline)} by more than ${formatNumber(threshold.maxIncrease)}`,
      );
    }
    if (threshold.maxRatio !== undefined) {
      // A zero baseline makes any positive value an infinite ratio: compare by multiplication instead.
      if (value > baseline * threshold.maxRatio && !(value === 0 && baseline === 0)) {
        out.push(
          `${formatNumber(value)} is more than ${formatNumber(threshold.maxRatio)}x baseline ${formatNumber(baseline)}`,
        );
      }
    }
  }
  return out;
}

/** What the wave should do after an evaluation. */
/** What the measure action observed for one gate check: the wave, and the cohort when the check's baseline is `cohort`. */
export type GateMeasurement = { check: string; wave: Measurement; cohort?: Measurement };

/**
 * Judges the raw measurements of one evaluation. A baseline evaluation only records values (no
 * threshold applies); a bake evaluation compares with the stored `before` baseline or with the
 * cohort measured alongside. A check with no measurement is an Error.
 */
export function judgeMeasurements(
  checks: readonly GateCheck[],
  mode: 'baseline' | 'bake',
  measurements: readonly GateMeasurement[],
  stored: Readonly<Record<string, number | null>>,
): GateResult[] {
  const byCheck = new Map(measurements.map((m) => [m.check, m]));
  return checks.map((check) => {
    const measured = byCheck.get(check.name);
    const wave: Measurement = measured?.wave ?? { kind: 'error', reason: 'not measured' };
    if (mode === 'baseline') return judge({ ...check, threshold: { max: Number.POSITIVE_INFINITY } }, wave, undefined);
    return judge(check, wave, baselineOf(check, measured, stored));
  });
}

function baselineOf(
  check: GateCheck,
  measured: GateMeasurement | undefined,
  stored: Readonly<Record<string, number | null>>,
): number | null | undefined {
  if (check.baseline === 'before') return stored[check.name] ?? null;
  if (check.baseline === 'cohort') {
    const cohort = measured?.cohort;
    return cohort?.kind === 'value' && !Number.isNaN(cohort.value) ? cohort.value : null;
  }
  return undefined;
}

export type GateDecision =
  /** Keep baking. */
  | { kind: 'continue' }
  /** A check failed past its budget. */
  | { kind: 'fail'; reason: string }
  /** Errors past the consecutive limit. */
  | { kind: 'error'; reason: string };

export type GateCounters = { failures: Record<string, number>; consecutiveErrors: Record<string, number> };

/** Updates the budgets with one evaluation and says whether the wave must stop. Shadow checks never count. */
export function account(
  gates: Pick<Gates, 'failureLimit' | 'consecutiveErrorLimit' | 'onNoData'>,
  counters: GateCounters,
  results: readonly GateResult[],
): { counters: GateCounters; decision: GateDecision } {
  const failures = { ...counters.failures };
  const consecutiveErrors = { ...counters.consecutiveErrors };
  let decision: GateDecision = { kind: 'continue' };
  for (const result of results) {
    if (result.shadow) continue;
    const countsAsFail = result.outcome === 'Fail' || (result.outcome === 'NoData' && gates.onNoData === 'fail');
    if (result.outcome === 'Error') consecutiveErrors[result.check] = (consecutiveErrors[result.check] ?? 0) + 1;
    else consecutiveErrors[result.check] = 0;
    if (countsAsFail) failures[result.check] = (failures[result.check] ?? 0) + 1;
    if (decision.kind === 'continue' && (failures[result.check] ?? 0) >= gates.failureLimit) {
      decision = {
        kind: 'fail',
        reason: `gate ${result.check} failed ${failures[result.check]} time(s) (limit ${gates.failureLimit}): ${result.message}`,
      };
    }
  }
  if (decision.kind === 'continue') {
    for (const result of results) {
      if (result.shadow) continue;
      if ((consecutiveErrors[result.check] ?? 0) >= gates.consecutiveErrorLimit) {
        decision = {
          kind: 'error',
          reason: `gate ${result.check} errored ${consecutiveErrors[result.check]} times in a row: ${result.message}`,
        };
        break;
      }
    }
  }
  return { counters: { failures, consecutiveErrors }, decision };
}

/**
 * The verdict at the end of a bake (safety invariant 2): pass only if every enforced check's
 * last evaluation is Pass (NoData counts as Pass only with `onNoData: pass`). Otherwise the
 * list of checks that did not pass, which makes the wave hold.
 */
export function bakeVerdict(
  gates: Pick<Gates, 'onNoData' | 'checks'>,
  last: readonly GateResult[],
): { pass: true } | { pass: false; reason: string } {
  const notPassing: string[] = [];
  for (const check of gates.checks) {
    if (check.shadow) continue;
    const result = last.find((r) => r.check === check.name);
    if (!result) {
      notPassing.push(`${check.name}: never evaluated`);
      continue;
    }
    if (result.outcome === 'Pass') continue;
    if (result.outcome === 'NoData' && gates.onNoData === 'pass') continue;
    notPassing.push(`${check.name}: ${result.outcome} (${result.message})`);
  }
  return notPassing.length === 0 ? { pass: true } : { pass: false, reason: notPassing.join('; ') };
}

export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return value > 0 ? '+Inf' : value < 0 ? '-Inf' : 'NaN';
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1000 || abs < 0.001) return value.toExponential(3);
  return String(Number(value.toPrecision(4)));
}
