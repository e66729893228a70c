/**
 * A small Prometheus HTTP API client: instant queries, range queries and series lookups over
 * the shared axios factory. Every failure becomes a PrometheusError with one of five
 * classifications, the query and the URL (credentials removed), so an SRE reading a gate's
 * Error can tell a typo from an outage at a glance.
 */
import { readFile as fsReadFile } from 'node:fs/promises';
import type { z } from 'zod';
import { ExternalError } from '../../errors.ts';
import { MetricsError } from '../../ports/metrics.ts';
import type { PrometheusSettings } from '../../policy/types.ts';
import { createHttpClient, displayUrl, HttpError, type HttpClient } from '../http.ts';
import { withRetry, type RetryHooks, type RetryPolicy } from '../retry.ts';
import { resolveSecret, SecretError } from '../secrets.ts';
import {
  ErrorEnvelopeSchema,
  MatrixSchema,
  QueryDataSchema,
  SeriesDataSchema,
  SuccessSchema,
  type QueryData,
} from './schema.ts';

/** Why a Prometheus call failed. */
export type PrometheusFailure =
  /** No connection: refused, reset, DNS, TLS, or credentials that could not be read. */
  | 'unreachable'
  /** No answer within `prometheus.timeout`. */
  | 'timeout'
  /** Prometheus rejected the query (4xx with its own error message). */
  | 'bad-query'
  /** Prometheus (or a proxy in front of it) failed: 5xx. */
  | 'server-error'
  /** The answer is not a Prometheus API answer: not JSON, unexpected shape, an error envelope with 2xx, or a non-Prometheus 4xx. */
  | 'malformed';

/** A failed Prometheus call. `message` is one line: classification, reason, query and URL. */
export class PrometheusError extends MetricsError {
  readonly classification: PrometheusFailure;
  /** The query, when the call had one. */
  readonly query?: string;
  /** The endpoint, without credentials. */
  readonly url: string;
  /** The reason alone (the server's message for bad-query). */
  readonly reason: string;

  constructor(classification: PrometheusFailure, reason: string, url: string, query?: string) {
    const about = query !== undefined ? `; query: ${summarizeQuery(query)}` : '';
    super(
      `PROMETHEUS_${classification.toUpperCase().replace('-', '_')}`,
      `Prometheus ${classification}: ${reason} (url: ${url}${about})`,
      url,
      classification === 'unreachable' || classification === 'timeout',
    );
    this.classification = classification;
    this.reason = reason;
    this.url = url;
    if (query !== undefined) this.query = query;
  }
}

/** A query on one line, clipped: for messages, not for sending. */
export function summarizeQuery(query: string, max = 160): string {
  const line = query.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max)}...` : line;
}

/** Quick retries for transport hiccups only: a gate evaluation must not stall, and the engine has its own error budget. */
export const prometheusRetryPolicy: RetryPolicy = {
  maxAttempts: 3,
  baseDelayMs: 100,
  maxDelayMs: 500,
  budgetMs: 1_000,
};

export type PrometheusClientOptions = {
  settings: PrometheusSettings;
  /** Environment for `{env}` secret references. */
  env: Readonly<Record<string, string | undefined>>;
  /** Reads secret and CA files; node's by default. */
  readFile?: (path: string) => Promise<string>;
  retry?: RetryPolicy;
  retryHooks?: RetryHooks;
};

type Labels = Record<string, string>;
type Matrix = z.output<typeof MatrixSchema>;

export type PrometheusClient = {
  /** Base URL without credentials, for messages. */
  readonly url: string;
  /** `POST /api/v1/query` at an explicit time. */
  query(query: string, at: Date): Promise<QueryData>;
  /** `POST /api/v1/query_range`. */
  queryRange(query: string, range: { start: Date; end: Date; stepMs: number }): Promise<Matrix>;
  /** `POST /api/v1/series`: label sets of the series matching any of `match` in the range. */
  series(match: readonly string[], range: { start: Date; end: Date }): Promise<Labels[]>;
};

const seconds = (date: Date) => (date.getTime() / 1000).toFixed(3);

export function createPrometheusClient(options: PrometheusClientOptions): PrometheusClient {
  const { settings } = options;
  const readFile = options.readFile ?? ((path: string) => fsReadFile(path, 'utf8'));
  const base = settings.url.replace(/\/+$/, '');
  const shownBase = displayUrl(base).replace(/\/+$/, '');
  let secrets: readonly string[] = [];
  let http: Promise<HttpClient> | undefined;

  /** The axios instance needs the CA bundle: read it once, and again after a failure so a fixed file is picked up. */
  const httpClient = (): Promise<HttpClient> => {
    http ??= (async () => {
      const caFile = settings.tls.caFile;
      let ca: string | undefined;
      if (caFile !== undefined) {
        try {
          ca = await readFile(caFile);
        } catch (error) {
          const code = (error as { code?: unknown }).code;
          throw new ExternalError(
            'TLS_CA_UNREADABLE',
            `CA file ${caFile} cannot be read${typeof code === 'string' ? ` (${code})` : ''}`,
            `file ${caFile}`,
          );
        }
      }
      return createHttpClient({
        baseUrl: base,
        timeoutMs: settings.timeout,
        headers: settings.headers,
        tls: { ...(ca !== undefined ? { ca } : {}), insecureSkipVerify: settings.tls.insecureSkipVerify },
        secrets: () => secrets,
      });
    })();
    http.catch(() => {
      http = undefined;
    });
    return http;
  };

  /** Credentials are read per request: mounted token files rotate under a long-running daemon. */
  const authHeaders = async (): Promise<Record<string, string>> => {
    const auth = settings.auth;
    if (auth?.bearer !== undefined) {
      const token = await resolveSecret(auth.bearer.token, { env: options.env, readFile });
      secrets = [token];
      return { Authorization: `Bearer ${token}` };
    }
    if (auth?.basic !== undefined) {
      const password = await resolveSecret(auth.basic.password, { env: options.env, readFile });
      const encoded = Buffer.from(`${auth.basic.username}:${password}`).toString('base64');
      secrets = [password, encoded];
      return { Authorization: `Basic ${encoded}` };
    }
    return {};
  };

  const post = async <T extends z.ZodType>(
    path: string,
    form: Record<string, string | readonly string[]>,
    schema: T,
    query?: string,
  ): Promise<z.output<T>> => {
    const url = `${shownBase}${path}`;
    const body = new URLSearchParams();
    for (const [key, value] of Object.entries(form)) {
      for (const item of typeof value === 'string' ? [value] : value) body.append(key, item);
    }
    let text: string;
    try {
      const [client, headers] = await Promise.all([httpClient(), authHeaders()]);
      text = await withRetry(
        options.retry ?? prometheusRetryPolicy,
        async () => {
          const response = await client.axios.post<string>(path, body, {
            headers,
            responseType: 'text',
            // Parse ourselves: axios would silently hand back a string when JSON is broken.
            transformResponse: [(data: unknown) => data],
          });
          return response.data;
        },
        (error) =>
          error instanceof HttpError && error.transient
            ? { retry: true, ...(error.retryAfterMs !== undefined ? { afterMs: error.retryAfterMs } : {}) }
            : { retry: false },
        options.retryHooks,
      );
    } catch (error) {
      throw classify(error, url, query);
    }
    return parseBody(text, schema, url, query);
  };

  const timeoutParam = () => (settings.timeout / 1000).toString();

  return {
    url: shownBase,
    query: (query, at) =>
      post(
        '/api/v1/query',
        { query, time: seconds(at), timeout: timeoutParam() },
        SuccessSchema(QueryDataSchema),
        query,
      ).then((r) => r.data),
    queryRange: (query, range) =>
      post(
        '/api/v1/query_range',
        {
          query,
          start: seconds(range.start),
          end: seconds(range.end),
          step: (range.stepMs / 1000).toString(),
          timeout: timeoutParam(),
        },
        SuccessSchema(MatrixSchema),
        query,
      ).then((r) => r.data),
    series: (match, range) =>
      post(
        '/api/v1/series',
        { 'match[]': match, start: seconds(range.start), end: seconds(range.end) },
        SuccessSchema(SeriesDataSchema),
        match.join(' or '),
      ).then((r) => r.data),
  };
}

/** Turns a failed request into a PrometheusError. */
function classify(error: unknown, url: string, query: string | undefined): PrometheusError {
  if (error instanceof PrometheusError) return error;
  if (error instanceof SecretError)
    return new PrometheusError('unreachable', `credentials unavailable: ${error.message}`, url, query);
  if (error instanceof ExternalError && error.code === 'TLS_CA_UNREADABLE')
    return new PrometheusError('unreachable', error.message, url, query);
  if (!(error instanceof HttpError)) {
    return new PrometheusError('unreachable', error instanceof Error ? error.message : String(error), url, query);
  }
  if (error.kind === 'timeout')
    return new PrometheusError('timeout', 'no answer within the timeout (prometheus.timeout)', url, query);
  if (error.kind === 'unreachable') return new PrometheusError('unreachable', error.detail, url, query);
  const status = error.status ?? 0;
  const envelope = parseEnvelope(error.body);
  if (status >= 400 && status < 500) {
    if (envelope !== undefined) return new PrometheusError('bad-query', `HTTP ${status} ${envelope}`, url, query);
    const hint =
      status === 401 || status === 403
        ? ' (credentials rejected: check prometheus.auth)'
        : status === 404
          ? ' (is prometheus.url the base URL of the Prometheus API?)'
          : '';
    return new PrometheusError(
      'malformed',
      `HTTP ${status} without a Prometheus error${hint}: ${excerpt(error.body ?? '')}`,
      url,
      query,
    );
  }
  if (status >= 500) {
    return new PrometheusError(
      'server-error',
      `HTTP ${status}${envelope !== undefined ? ` ${envelope}` : `: ${excerpt(error.body ?? '')}`}`,
      url,
      query,
    );
  }
  return new PrometheusError('malformed', `unexpected HTTP ${status}: ${excerpt(error.body ?? '')}`, url, query);
}

/** `errorType: error` from a Prometheus error body, if it is one. */
function parseEnvelope(body: string | undefined): string | undefined {
  if (body === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return undefined;
  }
  const parsed = ErrorEnvelopeSchema.safeParse(json);
  if (!parsed.success || (parsed.data.error === undefined && parsed.data.errorType === undefined)) return undefined;
  return [parsed.data.errorType, parsed.data.error].filter((s) => s !== undefined && s !== '').join(': ');
}

function excerpt(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  if (line === '') return '(empty body)';
  return line.length > 120 ? `${line.slice(0, 120)}...` : line;
}

function parseBody<T extends z.ZodType>(text: string, schema: T, url: string, query: string | undefined): z.output<T> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new PrometheusError('malformed', `the answer is not JSON: ${excerpt(text)}`, url, query);
  }
  const envelope = ErrorEnvelopeSchema.safeParse(json);
  if (envelope.success) {
    throw new PrometheusError(
      'malformed',
      `status "error" with HTTP 2xx: ${parseEnvelope(text) ?? 'no message'}`,
      url,
      query,
    );
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue !== undefined && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
    throw new PrometheusError(
      'malformed',
      `unexpected answer shape${where}: ${issue?.message ?? 'invalid'}`,
      url,
      query,
    );
  }
  return parsed.data;
}
