/**
 * Failure modes a real Prometheus will not produce on demand: timeouts, 5xx then success,
 * resets, non-JSON and mis-shaped bodies. Everything else is tested against a real server in
 * test/prometheus.
 */
import { describe, expect, it } from 'vitest';
import { mockHttp, setupHttpMocks } from '../../../test/helpers/http-mock.ts';
import type { PrometheusSettings } from '../../policy/types.ts';
import { createPrometheusClient, PrometheusError, type PrometheusClientOptions } from './client.ts';
import { createPrometheusMetrics } from './metrics.ts';

setupHttpMocks();

const BASE = 'http://prometheus.test';
const TOKEN = 's3cr3t-t0ken-value';
const at = new Date(1_700_000_100_000);
const vector = (value: string) => ({
  status: 'success',
  data: { resultType: 'vector', result: [{ metric: {}, value: [1_700_000_100, value] }] },
});

function client(over: Partial<PrometheusSettings> = {}, options: Partial<PrometheusClientOptions> = {}) {
  return createPrometheusClient({
    settings: {
      url: BASE,
      timeout: 2_000,
      tls: { insecureSkipVerify: false },
      headers: {},
      auth: { bearer: { token: { env: 'PROM_TOKEN' } } },
      ...over,
    },
    env: { PROM_TOKEN: TOKEN },
    retryHooks: { sleep: async () => undefined },
    ...options,
  });
}

async function failure(promise: Promise<unknown>): Promise<PrometheusError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof PrometheusError) return error;
    throw error;
  }
  throw new Error('expected a PrometheusError');
}

describe('src/adapters/prometheus/client', () => {
  it('sends a form-encoded instant query with an explicit time, the token and the user agent', async () => {
    mockHttp(BASE, { reqheaders: { authorization: `Bearer ${TOKEN}`, 'user-agent': /^revroll\/\d+\.\d+\.\d+/ } })
      .post('/api/v1/query', { query: 'up', time: '1700000100.000', timeout: '2' })
      .reply(200, vector('1'));
    const data = await client().query('up', at);
    expect(data).toEqual({ resultType: 'vector', result: [{ metric: {}, value: [1_700_000_100, 1] }] });
  });

  it('retries a 503 and succeeds', async () => {
    mockHttp(BASE)
      .post('/api/v1/query')
      .reply(503, 'upstream unavailable')
      .post('/api/v1/query')
      .reply(200, vector('+Inf'));
    const data = await client().query('x', at);
    expect(data.resultType === 'vector' && data.result[0]?.value[1]).toBe(Number.POSITIVE_INFINITY);
  });

  it('retries a connection reset, then reports it as unreachable', async () => {
    mockHttp(BASE)
      .post('/api/v1/query')
      .times(3)
      .replyWithError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    const error = await failure(client().query('x', at));
    expect(error.classification).toBe('unreachable');
    expect(error.message).toBe(
      'Prometheus unreachable: connection reset (ECONNRESET) (url: http://prometheus.test/api/v1/query; query: x)',
    );
  });

  it('gives up on 502 after three attempts: server-error', async () => {
    mockHttp(BASE).post('/api/v1/query').times(3).reply(502, '<html>Bad Gateway</html>');
    const error = await failure(client().query('x', at));
    expect(error.classification).toBe('server-error');
    expect(error.message).toContain('HTTP 502: <html>Bad Gateway</html>');
  });

  it('never retries a 400, and quotes Prometheus', async () => {
    mockHttp(BASE)
      .post('/api/v1/query')
      .once()
      .reply(400, { status: 'error', errorType: 'bad_data', error: 'invalid parameter "query": 1:1: parse error' });
    const error = await failure(client().query('x(', at));
    expect(error.classification).toBe('bad-query');
    expect(error.reason).toBe('HTTP 400 bad_data: invalid parameter "query": 1:1: parse error');
    expect(error.query).toBe('x(');
    expect(error.url).toBe('http://prometheus.test/api/v1/query');
  });

  it('reads a 422 execution error as bad-query and a 500 with an envelope as server-error', async () => {
    mockHttp(BASE)
      .post('/api/v1/query')
      .reply(422, { status: 'error', errorType: 'execution', error: 'many-to-many matching not allowed' })
      .post('/api/v1/query')
      .reply(500, { status: 'error', errorType: 'internal', error: 'disk on fire' });
    expect((await failure(client().query('a', at))).reason).toBe(
      'HTTP 422 execution: many-to-many matching not allowed',
    );
    const server = await failure(client().query('b', at));
    expect([server.classification, server.reason]).toEqual(['server-error', 'HTTP 500 internal: disk on fire']);
  });

  it('times out, retrying within the budget', async () => {
    mockHttp(BASE).post('/api/v1/query').times(3).delay(300).reply(200, vector('1'));
    const error = await failure(client({ timeout: 50 }).query('slow', at));
    expect(error.classification).toBe('timeout');
    expect(error.message).toMatch(
      /^Prometheus timeout: no answer within the timeout \(prometheus\.timeout\) \(url: http:\/\/prometheus\.test\/api\/v1\/query; query: slow\)$/,
    );
  });

  it.each([
    ['a non-JSON body', 200, '<html>login</html>', /^the answer is not JSON: <html>login<\/html>$/],
    [
      'values that are not strings',
      200,
      JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [1, 5] }] } }),
      /^unexpected answer shape at data\.result\.0\.value\.1: /,
    ],
    [
      'an unknown result type',
      200,
      JSON.stringify({ status: 'success', data: { resultType: 'histogram', result: [] } }),
      /^unexpected answer shape at data\.resultType/,
    ],
    [
      'status "error" with 200',
      200,
      JSON.stringify({ status: 'error', errorType: 'internal', error: 'oops' }),
      /^status "error" with HTTP 2xx: internal: oops$/,
    ],
    [
      'a 401 from an auth proxy',
      401,
      'Unauthorized',
      /^HTTP 401 without a Prometheus error \(credentials rejected: check prometheus\.auth\): Unauthorized$/,
    ],
    ['a 404 for a wrong base path', 404, '404 page not found', /is prometheus\.url the base URL/],
  ])('classifies %s as malformed', async (_, status, body, reason) => {
    mockHttp(BASE).post('/api/v1/query').reply(status, body);
    const error = await failure(client().query('q', at));
    expect(error.classification).toBe('malformed');
    expect(error.reason).toMatch(reason);
  });

  it('never puts a secret in an error, even when the server echoes it', async () => {
    const basic = { basic: { username: 'gate', password: { env: 'PROM_PASSWORD' } } };
    const encoded = Buffer.from(`gate:${TOKEN}`).toString('base64');
    mockHttp(BASE).post('/api/v1/query').reply(500, `token ${TOKEN} rejected`);
    mockHttp(BASE)
      .post('/api/v1/query')
      .reply(400, { status: 'error', errorType: 'bad_data', error: `auth ${encoded} / ${encodeURIComponent(TOKEN)}` });
    mockHttp('http://prometheus.test').post('/api/v1/query').reply(500, 'url password pw%2Fd pw/d');
    const errors = [
      await failure(client().query('a', at)),
      await failure(client({ auth: basic }, { env: { PROM_PASSWORD: TOKEN } }).query('b', at)),
      await failure(client({ url: 'http://user:pw%2Fd@prometheus.test', auth: undefined }).query('c', at)),
    ];
    for (const error of errors) {
      const text = `${error.message} ${error.reason} ${error.url} ${error.target} ${JSON.stringify(error)}`;
      expect(text).not.toContain(TOKEN);
      expect(text).not.toContain(encoded);
      expect(text).not.toContain('pw/d');
      expect(text).not.toContain('pw%2Fd');
      expect(text).toContain('***');
    }
  });

  it('turns a missing credential into an error naming the variable, without sending anything', async () => {
    const error = await failure(client({}, { env: {} }).query('x', at));
    expect(error.classification).toBe('unreachable');
    expect(error.reason).toBe('credentials unavailable: environment variable PROM_TOKEN is not set');
  });

  it('measure never throws: a malformed answer becomes an error measurement', async () => {
    mockHttp(BASE).post('/api/v1/query').reply(200, 'not json');
    const metrics = createPrometheusMetrics({
      settings: { url: BASE, timeout: 1_000, tls: { insecureSkipVerify: false }, headers: {} },
      env: {},
    });
    const m = await metrics.measure(
      {
        name: 'g',
        query: 'sum(up)',
        threshold: { max: 1 },
        baseline: 'none',
        window: 60_000,
        minTraffic: 0,
        shadow: false,
      },
      { subject: 'wave', namespaces: ['a'], fromRevision: 'a', toRevision: 'b', at },
    );
    expect(m).toEqual({
      kind: 'error',
      reason:
        'Prometheus malformed: the answer is not JSON: not json (url: http://prometheus.test/api/v1/query; query: sum(up))',
    });
  });
});
