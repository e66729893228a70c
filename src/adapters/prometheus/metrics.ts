/**
 * The metrics port over Prometheus: builds a check's queries for a scope (src/mesh/queries.ts),
 * checks first that the wave's new pods are scraped at all, then reads one number and, for
 * request-based presets, the traffic behind it. Never throws: every failure is a Measurement
 * of kind `error` whose reason names the classification, the query and the URL.
 */
import { buildCoverageQuery, buildGateQueries, GateQueryError, type GateQueries } from '../../mesh/queries.ts';
import type { GateCheck } from '../../policy/types.ts';
import type { Measurement, MeasureScope, MetricsSource } from '../../ports/metrics.ts';
import {
  createPrometheusClient,
  PrometheusError,
  summarizeQuery,
  type PrometheusClient,
  type PrometheusClientOptions,
} from './client.ts';
import type { QueryData } from './schema.ts';

export type PrometheusMetricsOptions = PrometheusClientOptions & {
  /** Clock for `checkQuery`; measurements use `scope.at`. */
  now?: () => Date;
};

/** A measurement with the queries behind it, for `revroll plan` and for logs. */
export type Evaluation = {
  /** Undefined when the queries could not be built (the measurement says why). */
  queries?: GateQueries & { coverage?: string };
  measurement: Measurement;
};

/** What the server thinks of a query: fine, rejected (with its message), or unanswered. */
export type QueryCheck = { kind: 'ok' } | { kind: 'rejected'; message: string } | { kind: 'error'; reason: string };

export type PrometheusMetrics = MetricsSource & {
  /** Like `measure`, with the query texts. */
  evaluate(check: GateCheck, scope: MeasureScope): Promise<Evaluation>;
  /** Sends `query` (already expanded) to the server; for `plan`, which checks what lint cannot. */
  checkQuery(query: string, at?: Date): Promise<QueryCheck>;
  readonly client: PrometheusClient;
};

/** How many missing pods a coverage message lists before "and N more". */
const MISSING_PODS_SHOWN = 5;

type Reading =
  | { kind: 'number'; value: number }
  | { kind: 'none' }
  | { kind: 'many'; count: number }
  | { kind: 'other'; resultType: string };

/** One number out of a query answer: a scalar, or a vector of exactly one sample. */
function readOne(data: QueryData): Reading {
  switch (data.resultType) {
    case 'scalar':
      return { kind: 'number', value: data.result[1] };
    case 'vector': {
      const [first, ...rest] = data.result;
      if (first === undefined) return { kind: 'none' };
      if (rest.length > 0) return { kind: 'many', count: data.result.length };
      return { kind: 'number', value: first.value[1] };
    }
    default:
      return { kind: 'other', resultType: data.resultType };
  }
}

function notOneNumber(
  reading: Exclude<Reading, { kind: 'number' } | { kind: 'none' }>,
  query: string,
  url: string,
): Measurement {
  const why =
    reading.kind === 'many'
      ? `query returned ${reading.count} series; a gate query must return one number (aggregate it, e.g. with sum())`
      : `query returned a ${reading.resultType}; a gate query must return one number`;
  return { kind: 'error', reason: `${why} (url: ${url}; query: ${summarizeQuery(query)})` };
}

export function createPrometheusMetrics(options: PrometheusMetricsOptions): PrometheusMetrics {
  const client = createPrometheusClient(options);
  const now = options.now ?? (() => new Date());
  const queryUrl = `${client.url}/api/v1/query`;

  /** Pods of the wave that Prometheus has no proxy series for; undefined when all are there. */
  const coverage = async (query: string, scope: MeasureScope): Promise<Measurement | undefined> => {
    const expected = scope.expectedPods ?? [];
    const data = await client.query(query, scope.at);
    const seen = new Set(
      data.resultType === 'vector' ? data.result.map((s) => `${s.metric.namespace ?? ''}/${s.metric.pod ?? ''}`) : [],
    );
    const missing = expected
      .map((p) => `${p.namespace}/${p.pod}`)
      .filter((key, i, all) => !seen.has(key) && all.indexOf(key) === i);
    if (missing.length === 0) return undefined;
    const total = new Set(expected.map((p) => `${p.namespace}/${p.pod}`)).size;
    const shown = missing.slice(0, MISSING_PODS_SHOWN).join(', ');
    const more = missing.length > MISSING_PODS_SHOWN ? ` and ${missing.length - MISSING_PODS_SHOWN} more` : '';
    return {
      kind: 'empty',
      reason: `Prometheus does not scrape ${missing.length} of ${total} new pods: ${shown}${more} (no istio_build{component="proxy"} series; check the scrape config)`,
    };
  };

  const evaluate = async (check: GateCheck, scope: MeasureScope): Promise<Evaluation> => {
    let queries: GateQueries & { coverage?: string };
    try {
      const built = buildGateQueries(check, scope);
      const pods = scope.expectedPods ?? [];
      queries = pods.length > 0 ? { ...built, coverage: buildCoverageQuery(pods) } : built;
    } catch (error) {
      if (error instanceof GateQueryError)
        return { measurement: { kind: 'error', reason: `check ${check.name}: ${error.message}` } };
      return {
        measurement: { kind: 'error', reason: `check ${check.name}: cannot build its query: ${String(error)}` },
      };
    }
    try {
      if (queries.coverage !== undefined) {
        const uncovered = await coverage(queries.coverage, scope);
        if (uncovered !== undefined) return { queries, measurement: uncovered };
      }
      const [value, traffic] = await Promise.all([
        client.query(queries.value, scope.at),
        queries.traffic !== undefined ? client.query(queries.traffic, scope.at) : Promise.resolve(undefined),
      ]);
      const reading = readOne(value);
      if (reading.kind === 'none') {
        return {
          queries,
          measurement: {
            kind: 'empty',
            reason: `no series for ${check.name} of ${queries.subject} (query: ${summarizeQuery(queries.value)})`,
          },
        };
      }
      if (reading.kind !== 'number') return { queries, measurement: notOneNumber(reading, queries.value, queryUrl) };
      if (traffic === undefined || queries.traffic === undefined)
        return { queries, measurement: { kind: 'value', value: reading.value } };
      const rate = readOne(traffic);
      // No request series at all is no traffic; anything else odd about the traffic query is our bug or a broken server.
      if (rate.kind === 'none') return { queries, measurement: { kind: 'value', value: reading.value, traffic: 0 } };
      if (rate.kind !== 'number') return { queries, measurement: notOneNumber(rate, queries.traffic, queryUrl) };
      return {
        queries,
        measurement: { kind: 'value', value: reading.value, traffic: Number.isNaN(rate.value) ? 0 : rate.value },
      };
    } catch (error) {
      const reason =
        error instanceof PrometheusError
          ? error.message
          : `Prometheus query failed: ${error instanceof Error ? error.message : String(error)} (url: ${queryUrl})`;
      return { queries, measurement: { kind: 'error', reason } };
    }
  };

  return {
    client,
    evaluate,
    measure: async (check, scope) => (await evaluate(check, scope)).measurement,
    checkQuery: async (query, at) => {
      try {
        await client.query(query, at ?? now());
        return { kind: 'ok' };
      } catch (error) {
        if (error instanceof PrometheusError) {
          return error.classification === 'bad-query'
            ? { kind: 'rejected', message: error.reason }
            : { kind: 'error', reason: error.message };
        }
        return { kind: 'error', reason: error instanceof Error ? error.message : String(error) };
      }
    },
  };
}
