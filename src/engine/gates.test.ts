/**
 * Gate verdicts as tables, one row per case (inputs, expected outcome): `judge` (one measurement
 * against a threshold), `account` (the budgets over a sequence of evaluations), `bakeVerdict`
 * (the end of a bake) and `formatNumber`. The edge cases are the ones telemetry produces: NaN
 * (0/0), +-Inf, zero baselines, traffic under the floor, shadow checks.
 */
import { describe, expect, it } from 'vitest';
import type { Measurement } from '../ports/metrics.ts';
import type { GateCheck, Gates, Threshold } from '../policy/types.ts';
import {
  account,
  bakeVerdict,
  formatNumber,
  judge,
  type GateCounters,
  type GateOutcome,
  type GateResult,
} from './gates.ts';

type Check = Pick<GateCheck, 'name' | 'threshold' | 'baseline' | 'minTraffic' | 'shadow'>;

function check(threshold: Threshold, extra: Partial<Check> = {}): Check {
  return { name: 'errors', threshold, baseline: 'none', minTraffic: 0, shadow: false, ...extra };
}
const value = (v: number, traffic?: number): Measurement => ({
  kind: 'value',
  value: v,
  ...(traffic !== undefined ? { traffic } : {}),
});
const max5 = check({ max: 0.05 });
const relative = (threshold: Threshold, baseline: GateCheck['baseline'] = 'cohort') => check(threshold, { baseline });

describe('judge: one measurement against a threshold', () => {
  it.each<{
    name: string;
    check: Check;
    measurement: Measurement;
    baseline?: number | null;
    outcome: GateOutcome;
    message: string;
  }>([
    // Absolute thresholds.
    { name: 'under max', check: max5, measurement: value(0.01), outcome: 'Pass', message: '0.01 within threshold' },
    { name: 'exactly max', check: max5, measurement: value(0.05), outcome: 'Pass', message: '0.05 within threshold' },
    { name: 'over max', check: max5, measurement: value(0.06), outcome: 'Fail', message: '0.06 > max 0.05' },
    { name: 'under min', check: check({ min: 10 }), measurement: value(9), outcome: 'Fail', message: '9 < min 10' },
    {
      name: 'exactly min',
      check: check({ min: 10 }),
      measurement: value(10),
      outcome: 'Pass',
      message: '10 within threshold',
    },
    {
      name: 'between min and max',
      check: check({ min: 1, max: 2 }),
      measurement: value(1.5),
      outcome: 'Pass',
      message: '1.5 within threshold',
    },
    // What telemetry answers besides numbers.
    {
      name: 'NaN (0/0: nothing measured)',
      check: max5,
      measurement: value(Number.NaN),
      outcome: 'NoData',
      message: 'the query returned NaN (nothing measured)',
    },
    {
      name: '+Inf breaches max',
      check: max5,
      measurement: value(Infinity),
      outcome: 'Fail',
      message: '+Inf > max 0.05',
    },
    {
      name: '-Inf breaches min',
      check: check({ min: 0 }),
      measurement: value(-Infinity),
      outcome: 'Fail',
      message: '-Inf < min 0',
    },
    {
      name: '-Inf is under max',
      check: max5,
      measurement: value(-Infinity),
      outcome: 'Pass',
      message: '-Inf within threshold',
    },
    {
      name: '+Inf is over min',
      check: check({ min: 0 }),
      measurement: value(Infinity),
      outcome: 'Pass',
      message: '+Inf within threshold',
    },
    {
      name: 'no series',
      check: max5,
      measurement: { kind: 'empty', reason: 'no series for the wave' },
      outcome: 'NoData',
      message: 'no series for the wave',
    },
    {
      name: 'query failed',
      check: max5,
      measurement: { kind: 'error', reason: 'Prometheus answered 503' },
      outcome: 'Error',
      message: 'Prometheus answered 503',
    },
    // Traffic floors (minTraffic): too little traffic says nothing, whatever the value.
    {
      name: 'traffic under the floor, value breaching',
      check: check({ max: 0.05 }, { minTraffic: 1 }),
      measurement: value(0.9, 0.5),
      outcome: 'NoData',
      message: 'traffic 0.5 req/s is below the floor of 1 req/s',
    },
    {
      name: 'traffic exactly at the floor is judged',
      check: check({ max: 0.05 }, { minTraffic: 1 }),
      measurement: value(0.9, 1),
      outcome: 'Fail',
      message: '0.9 > max 0.05',
    },
    {
      name: 'zero traffic, no floor',
      check: max5,
      measurement: value(0, 0),
      outcome: 'Pass',
      message: '0 within threshold',
    },
    {
      name: 'no traffic measured (check without a traffic query) is judged',
      check: check({ max: 0.05 }, { minTraffic: 5 }),
      measurement: value(0.01),
      outcome: 'Pass',
      message: '0.01 within threshold',
    },
    {
      name: 'NaN traffic does not meet a floor',
      check: check({ max: 0.05 }, { minTraffic: 1 }),
      measurement: value(0.01, Number.NaN),
      outcome: 'NoData',
      message: 'traffic is NaN (nothing measured), so the floor of 1 req/s is not shown to be met',
    },
    {
      name: 'NaN traffic without a floor is judged',
      check: max5,
      measurement: value(0.01, Number.NaN),
      outcome: 'Pass',
      message: '0.01 within threshold',
    },
    {
      name: 'NaN value under the floor: the floor speaks first',
      check: check({ max: 0.05 }, { minTraffic: 2 }),
      measurement: value(Number.NaN, 0),
      outcome: 'NoData',
      message: 'traffic 0 req/s is below the floor of 2 req/s',
    },
    // Relative thresholds.
    {
      name: 'maxIncrease held',
      check: relative({ maxIncrease: 0.02 }),
      measurement: value(0.02),
      baseline: 0.01,
      outcome: 'Pass',
      message: '0.02 within threshold',
    },
    {
      name: 'maxIncrease exactly',
      check: relative({ maxIncrease: 0.25 }),
      measurement: value(0.5),
      baseline: 0.25,
      outcome: 'Pass',
      message: '0.5 within threshold',
    },
    {
      name: 'maxIncrease exceeded',
      check: relative({ maxIncrease: 0.02 }),
      measurement: value(0.05),
      baseline: 0.01,
      outcome: 'Fail',
      message: '0.05 exceeds baseline 0.01 by more than 0.02',
    },
    {
      name: 'maxRatio exactly',
      check: relative({ maxRatio: 1.25 }, 'before'),
      measurement: value(125),
      baseline: 100,
      outcome: 'Pass',
      message: '125 within threshold',
    },
    {
      name: 'maxRatio exceeded',
      check: relative({ maxRatio: 1.25 }, 'before'),
      measurement: value(126),
      baseline: 100,
      outcome: 'Fail',
      message: '126 is more than 1.25x baseline 100',
    },
    {
      name: 'zero baseline, zero value, maxRatio',
      check: relative({ maxRatio: 2 }),
      measurement: value(0),
      baseline: 0,
      outcome: 'Pass',
      message: '0 within threshold',
    },
    {
      // Errors where there were none are infinitely worse (peer-tools.md: zero baselines that should fail but pass).
      name: 'zero baseline, any positive value fails maxRatio',
      check: relative({ maxRatio: 2 }),
      measurement: value(0.001),
      baseline: 0,
      outcome: 'Fail',
      message: '0.001 is more than 2x baseline 0',
    },
    {
      name: 'zero baseline, maxIncrease held',
      check: relative({ maxIncrease: 0.01 }),
      measurement: value(0.005),
      baseline: 0,
      outcome: 'Pass',
      message: '0.005 within threshold',
    },
    {
      name: 'no baseline (null)',
      check: relative({ maxRatio: 2 }),
      measurement: value(0.01),
      baseline: null,
      outcome: 'NoData',
      message: 'no baseline to compare with (baseline: cohort)',
    },
    {
      name: 'no baseline given at all',
      check: relative({ maxIncrease: 0.01 }, 'before'),
      measurement: value(0.01),
      outcome: 'NoData',
      message: 'no baseline to compare with (baseline: before)',
    },
    {
      name: 'NaN baseline',
      check: relative({ maxIncrease: 0.01 }),
      measurement: value(0.01),
      baseline: Number.NaN,
      outcome: 'NoData',
      message: 'no baseline to compare with (baseline: cohort)',
    },
    {
      name: '+Inf baseline says nothing (every value would pass maxRatio)',
      check: relative({ maxRatio: 1.25 }, 'before'),
      measurement: value(900),
      baseline: Infinity,
      outcome: 'NoData',
      message: 'no baseline to compare with (baseline: before measured +Inf)',
    },
    {
      name: '+Inf value against a +Inf baseline (Inf - Inf is NaN)',
      check: relative({ maxIncrease: 0.01 }),
      measurement: value(Infinity),
      baseline: Infinity,
      outcome: 'NoData',
      message: 'no baseline to compare with (baseline: cohort measured +Inf)',
    },
    {
      name: '-Inf baseline says nothing (every value would fail maxIncrease)',
      check: relative({ maxIncrease: 0.01 }),
      measurement: value(0),
      baseline: -Infinity,
      outcome: 'NoData',
      message: 'no baseline to compare with (baseline: cohort measured -Inf)',
    },
    {
      name: '+Inf value against a finite baseline, maxIncrease',
      check: relative({ maxIncrease: 0.01 }),
      measurement: value(Infinity),
      baseline: 0.01,
      outcome: 'Fail',
      message: '+Inf exceeds baseline 0.01 by more than 0.01',
    },
    {
      name: '+Inf value against a finite baseline, maxRatio',
      check: relative({ maxRatio: 2 }, 'before'),
      measurement: value(Infinity),
      baseline: 100,
      outcome: 'Fail',
      message: '+Inf is more than 2x baseline 100',
    },
    // Absolute and relative together.
    {
      name: 'absolute breached, no baseline: the absolute threshold fails it',
      check: relative({ max: 0.05, maxIncrease: 0.01 }),
      measurement: value(0.06),
      baseline: null,
      outcome: 'Fail',
      message: '0.06 > max 0.05',
    },
    {
      name: 'absolute held, no baseline: the absolute threshold decides alone',
      check: relative({ max: 0.05, maxIncrease: 0.01 }),
      measurement: value(0.04),
      baseline: null,
      outcome: 'Pass',
      message: '0.04 within threshold',
    },
    {
      name: 'absolute and relative both breached: every breach is named',
      check: relative({ max: 0.05, maxRatio: 2 }),
      measurement: value(0.06),
      baseline: 0.01,
      outcome: 'Fail',
      message: '0.06 > max 0.05; 0.06 is more than 2x baseline 0.01',
    },
    // Shadow checks are judged like any other; only `account` and `bakeVerdict` ignore them.
    {
      name: 'shadow check failing',
      check: check({ max: 0.05 }, { shadow: true }),
      measurement: value(0.5),
      outcome: 'Fail',
      message: '0.5 > max 0.05',
    },
  ])('$name: $outcome', ({ check: c, measurement, baseline, outcome, message }) => {
    const result = judge(c, measurement, baseline);
    expect(result).toMatchObject({ check: c.name, outcome, message });
    expect(result.shadow).toBe(c.shadow ? true : undefined);
    if (measurement.kind === 'value') {
      expect(result.value).toBe(Number.isNaN(measurement.value) ? null : measurement.value);
      expect(result.traffic).toBe(measurement.traffic);
      expect(result.baseline).toBe(baseline);
    } else {
      expect(result.value).toBeUndefined();
    }
  });
});

const r = (name: string, outcome: GateOutcome, shadow = false): GateResult => ({
  check: name,
  outcome,
  message: `${name} ${outcome}`,
  ...(shadow ? { shadow: true } : {}),
});
const budgets = (extra: Partial<Pick<Gates, 'failureLimit' | 'consecutiveErrorLimit' | 'onNoData'>> = {}) => ({
  failureLimit: 1,
  consecutiveErrorLimit: 4,
  onNoData: 'hold' as const,
  ...extra,
});
/** `F P N E` per evaluation of the check `errors`. */
const seq = (outcomes: string): GateResult[][] =>
  outcomes.split(' ').map((o) => [r('errors', ({ P: 'Pass', F: 'Fail', N: 'NoData', E: 'Error' } as const)[o as 'P'])]);

describe('account: the budgets over a sequence of evaluations', () => {
  it.each<{
    name: string;
    gates: ReturnType<typeof budgets>;
    evaluations: GateResult[][];
    decisions: string;
    reason?: string;
    counters: GateCounters;
  }>([
    {
      name: 'the first Fail fails the wave (failureLimit 1)',
      gates: budgets(),
      evaluations: seq('F'),
      decisions: 'fail',
      reason: 'gate errors failed 1 time(s) (limit 1): errors Fail',
      counters: { failures: { errors: 1 }, consecutiveErrors: { errors: 0 } },
    },
    {
      name: 'failures are counted over the bake, not in a row',
      gates: budgets({ failureLimit: 2 }),
      evaluations: seq('F P F'),
      decisions: 'continue continue fail',
      reason: 'gate errors failed 2 time(s) (limit 2): errors Fail',
      counters: { failures: { errors: 2 }, consecutiveErrors: { errors: 0 } },
    },
    {
      name: 'under the failure limit the wave keeps baking',
      gates: budgets({ failureLimit: 3 }),
      evaluations: seq('F F P P'),
      decisions: 'continue continue continue continue',
      counters: { failures: { errors: 2 }, consecutiveErrors: { errors: 0 } },
    },
    {
      name: 'NoData counts as a failure with onNoData: fail',
      gates: budgets({ failureLimit: 2, onNoData: 'fail' }),
      evaluations: seq('N N'),
      decisions: 'continue fail',
      reason: 'gate errors failed 2 time(s) (limit 2): errors NoData',
      counters: { failures: { errors: 2 }, consecutiveErrors: { errors: 0 } },
    },
    {
      name: 'NoData does not count with onNoData: hold',
      gates: budgets(),
      evaluations: seq('N N N'),
      decisions: 'continue continue continue',
      counters: { failures: {}, consecutiveErrors: { errors: 0 } },
    },
    {
      name: 'NoData does not count with onNoData: pass',
      gates: budgets({ onNoData: 'pass' }),
      evaluations: seq('N N'),
      decisions: 'continue continue',
      counters: { failures: {}, consecutiveErrors: { errors: 0 } },
    },
    {
      name: 'an Error is not a Fail',
      gates: budgets(),
      evaluations: seq('E'),
      decisions: 'continue',
      counters: { failures: {}, consecutiveErrors: { errors: 1 } },
    },
    {
      name: 'Errors in a row reach consecutiveErrorLimit',
      gates: budgets({ consecutiveErrorLimit: 3 }),
      evaluations: seq('E E E'),
      decisions: 'continue continue error',
      reason: 'gate errors errored 3 times in a row: errors Error',
      counters: { failures: {}, consecutiveErrors: { errors: 3 } },
    },
    {
      name: 'consecutiveErrorLimit 1: the first Error stops the wave',
      gates: budgets({ consecutiveErrorLimit: 1 }),
      evaluations: seq('E'),
      decisions: 'error',
      reason: 'gate errors errored 1 times in a row: errors Error',
      counters: { failures: {}, consecutiveErrors: { errors: 1 } },
    },
    {
      name: 'a Pass breaks the Error streak',
      gates: budgets({ consecutiveErrorLimit: 3 }),
      evaluations: seq('E E P E E'),
      decisions: 'continue continue continue continue continue',
      counters: { failures: {}, consecutiveErrors: { errors: 2 } },
    },
    {
      name: 'a NoData breaks the Error streak',
      gates: budgets({ consecutiveErrorLimit: 2 }),
      evaluations: seq('E N E'),
      decisions: 'continue continue continue',
      counters: { failures: {}, consecutiveErrors: { errors: 1 } },
    },
    {
      name: 'a Fail breaks the Error streak (and counts as a failure)',
      gates: budgets({ consecutiveErrorLimit: 2, failureLimit: 5 }),
      evaluations: seq('E F E'),
      decisions: 'continue continue continue',
      counters: { failures: { errors: 1 }, consecutiveErrors: { errors: 1 } },
    },
    {
      name: 'shadow Fails never count',
      gates: budgets(),
      evaluations: [[r('canary-latency', 'Fail', true)], [r('canary-latency', 'Fail', true)]],
      decisions: 'continue continue',
      counters: { failures: {}, consecutiveErrors: {} },
    },
    {
      name: 'shadow Errors never count',
      gates: budgets({ consecutiveErrorLimit: 1 }),
      evaluations: [[r('canary-latency', 'Error', true)]],
      decisions: 'continue',
      counters: { failures: {}, consecutiveErrors: {} },
    },
    {
      name: 'a Fail past its limit wins over an Error past its limit in the same evaluation',
      gates: budgets({ consecutiveErrorLimit: 1 }),
      evaluations: [[r('latency', 'Error'), r('errors', 'Fail')]],
      decisions: 'fail',
      reason: 'gate errors failed 1 time(s) (limit 1): errors Fail',
      counters: { failures: { errors: 1 }, consecutiveErrors: { latency: 1, errors: 0 } },
    },
    {
      name: 'the first check past its limit is named',
      gates: budgets(),
      evaluations: [[r('latency', 'Fail'), r('errors', 'Fail')]],
      decisions: 'fail',
      reason: 'gate latency failed 1 time(s) (limit 1): latency Fail',
      counters: { failures: { latency: 1, errors: 1 }, consecutiveErrors: { latency: 0, errors: 0 } },
    },
    {
      name: 'each check has its own budget',
      gates: budgets({ failureLimit: 2 }),
      evaluations: [
        [r('latency', 'Fail'), r('errors', 'Pass')],
        [r('latency', 'Pass'), r('errors', 'Fail')],
      ],
      decisions: 'continue continue',
      counters: { failures: { latency: 1, errors: 1 }, consecutiveErrors: { latency: 0, errors: 0 } },
    },
  ])('$name', ({ gates, evaluations, decisions, reason, counters }) => {
    let current: GateCounters = { failures: {}, consecutiveErrors: {} };
    const seen: string[] = [];
    let last: ReturnType<typeof account>['decision'] = { kind: 'continue' };
    for (const results of evaluations) {
      const before = structuredClone(current);
      const next = account(gates, current, results);
      // The counters passed in are never changed: state is only replaced.
      expect(current).toEqual(before);
      current = next.counters;
      last = next.decision;
      seen.push(next.decision.kind);
    }
    expect(seen.join(' ')).toBe(decisions);
    expect(last.kind === 'continue' ? undefined : last.reason).toBe(reason);
    expect(current).toEqual(counters);
  });
});

describe('bakeVerdict: the last evaluation at the end of a bake', () => {
  const checks = [check({ max: 0.05 }), check({ max: 500 }, { name: 'latency' })];
  it.each<{
    name: string;
    checks: Check[];
    onNoData?: Gates['onNoData'];
    last: GateResult[];
    verdict: { pass: true } | { pass: false; reason: string };
  }>([
    { name: 'every check Pass', checks, last: [r('errors', 'Pass'), r('latency', 'Pass')], verdict: { pass: true } },
    {
      name: 'one Fail',
      checks,
      last: [r('errors', 'Fail'), r('latency', 'Pass')],
      verdict: { pass: false, reason: 'errors: Fail (errors Fail)' },
    },
    {
      name: 'one Error',
      checks,
      last: [r('errors', 'Pass'), r('latency', 'Error')],
      verdict: { pass: false, reason: 'latency: Error (latency Error)' },
    },
    {
      name: 'NoData with onNoData: hold',
      checks,
      onNoData: 'hold',
      last: [r('errors', 'NoData'), r('latency', 'Pass')],
      verdict: { pass: false, reason: 'errors: NoData (errors NoData)' },
    },
    {
      name: 'NoData with onNoData: fail',
      checks,
      onNoData: 'fail',
      last: [r('errors', 'NoData'), r('latency', 'Pass')],
      verdict: { pass: false, reason: 'errors: NoData (errors NoData)' },
    },
    {
      name: 'NoData with onNoData: pass',
      checks,
      onNoData: 'pass',
      last: [r('errors', 'NoData'), r('latency', 'Pass')],
      verdict: { pass: true },
    },
    {
      name: 'a shadow check failing does not decide',
      checks: [checks[0]!, check({ max: 500 }, { name: 'latency', shadow: true })],
      last: [r('errors', 'Pass'), r('latency', 'Fail', true)],
      verdict: { pass: true },
    },
    {
      name: 'an enforced check never evaluated',
      checks,
      last: [r('errors', 'Pass')],
      verdict: { pass: false, reason: 'latency: never evaluated' },
    },
    {
      name: 'a shadow check never evaluated',
      checks: [checks[0]!, check({ max: 500 }, { name: 'latency', shadow: true })],
      last: [r('errors', 'Pass')],
      verdict: { pass: true },
    },
    {
      name: 'results of checks the policy no longer has are ignored',
      checks: [checks[0]!],
      last: [r('errors', 'Pass'), r('removed', 'Fail')],
      verdict: { pass: true },
    },
    {
      name: 'every failing check is named, in policy order',
      checks,
      last: [r('latency', 'Error'), r('errors', 'Fail')],
      verdict: { pass: false, reason: 'errors: Fail (errors Fail); latency: Error (latency Error)' },
    },
    { name: 'no checks at all', checks: [], last: [], verdict: { pass: true } },
  ])('$name', ({ checks: cs, onNoData = 'hold', last, verdict }) => {
    expect(bakeVerdict({ onNoData, checks: cs as GateCheck[] }, last)).toEqual(verdict);
  });
});

describe('formatNumber', () => {
  it.each<[number, string]>([
    [Number.NaN, 'NaN'],
    [Infinity, '+Inf'],
    [-Infinity, '-Inf'],
    [0, '0'],
    [-0, '0'],
    [0.05, '0.05'],
    [0.049999999999999996, '0.05'],
    [123.456, '123.5'],
    [999.9, '999.9'],
    [1000, '1.000e+3'],
    [0.0001, '1.000e-4'],
    [-42, '-42'],
  ])('%d -> %s', (input, text) => {
    expect(formatNumber(input)).toBe(text);
  });
});
