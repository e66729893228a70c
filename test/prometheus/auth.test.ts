/**
 * Credentials and TLS over real HTTP: a tiny local server records what arrives, so the test
 * sees the headers exactly as Prometheus (or the proxy in front of it) would.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import {
  createServer as createHttpServer,
  type IncomingHttpHeaders,
  type RequestListener,
  type Server,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrometheusClient, PrometheusError } from '../../src/adapters/prometheus/client.ts';
import { createPrometheusMetrics } from '../../src/adapters/prometheus/metrics.ts';
import type { PrometheusSettings } from '../../src/policy/types.ts';

const TOKEN = 'tok-3b7f1e0c-secret';
const PASSWORD = 'pa55:w/rd-secret';
const at = new Date(1_700_000_100_000);

let dir: string;
let seen: { headers: IncomingHttpHeaders; body: string }[] = [];
const servers: Server[] = [];

const answer: RequestListener = (request, response) => {
  let body = '';
  request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
  request.on('end', () => {
    seen.push({ headers: request.headers, body });
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ status: 'success', data: { resultType: 'scalar', result: [1_700_000_100, '42'] } }));
  });
};

async function listen(server: Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

let httpUrl: string;
let httpsUrl: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'revroll-auth-'));
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-keyout',
    join(dir, 'key.pem'),
    '-out',
    join(dir, 'ca.pem'),
  ]);
  await writeFile(join(dir, 'token'), `${TOKEN}\n`);
  await writeFile(join(dir, 'password'), PASSWORD);
  httpUrl = `http://127.0.0.1:${await listen(createHttpServer(answer))}`;
  const tls = { key: await readFile(join(dir, 'key.pem')), cert: await readFile(join(dir, 'ca.pem')) };
  httpsUrl = `https://127.0.0.1:${await listen(createHttpsServer(tls, answer))}`;
});

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  await rm(dir, { recursive: true, force: true });
});

const base = (url: string, over: Partial<PrometheusSettings> = {}): PrometheusSettings => ({
  url,
  timeout: 2_000,
  tls: { insecureSkipVerify: false },
  headers: {},
  ...over,
});

async function lastRequest(settings: PrometheusSettings, env: Record<string, string> = {}) {
  seen = [];
  const data = await createPrometheusClient({ settings, env }).query('vector(42)', at);
  expect(data).toEqual({ resultType: 'scalar', result: [1_700_000_100, 42] });
  expect(seen).toHaveLength(1);
  return seen[0] as { headers: IncomingHttpHeaders; body: string };
}

async function failure(settings: PrometheusSettings, env: Record<string, string> = {}): Promise<PrometheusError> {
  seen = [];
  try {
    await createPrometheusClient({
      settings,
      env,
      retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1, budgetMs: 1 },
    }).query('vector(42)', at);
  } catch (error) {
    if (error instanceof PrometheusError) return error;
    throw error;
  }
  throw new Error('expected a PrometheusError');
}

describe('Prometheus credentials and TLS (real HTTP)', () => {
  it('sends a bearer token from an environment variable, the user agent, extra headers, and a form body', async () => {
    const request = await lastRequest(
      base(httpUrl, { auth: { bearer: { token: { env: 'PROM_TOKEN' } } }, headers: { 'X-Scope-OrgID': 'mesh' } }),
      { PROM_TOKEN: TOKEN },
    );
    expect(request.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(request.headers['user-agent']).toMatch(/^revroll\/\d+\.\d+\.\d+/);
    expect(request.headers['x-scope-orgid']).toBe('mesh');
    expect(request.headers['content-type']).toContain('application/x-www-form-urlencoded');
    expect(new URLSearchParams(request.body).get('time')).toBe('1700000100.000');
  });

  it('reads a bearer token from a file, dropping its trailing newline', async () => {
    const request = await lastRequest(base(httpUrl, { auth: { bearer: { token: { file: join(dir, 'token') } } } }));
    expect(request.headers.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it('sends basic credentials with the password from a file', async () => {
    const request = await lastRequest(
      base(httpUrl, { auth: { basic: { username: 'gates', password: { file: join(dir, 'password') } } } }),
    );
    expect(request.headers.authorization).toBe(`Basic ${Buffer.from(`gates:${PASSWORD}`).toString('base64')}`);
  });

  it('sends nothing when a secret is missing, and names the variable or the file', async () => {
    const env = await failure(base(httpUrl, { auth: { bearer: { token: { env: 'PROM_TOKEN' } } } }));
    expect(env.message).toContain('environment variable PROM_TOKEN is not set');
    const file = await failure(
      base(httpUrl, { auth: { basic: { username: 'u', password: { file: join(dir, 'missing') } } } }),
    );
    expect(file.message).toContain(`secret file ${join(dir, 'missing')} does not exist`);
    expect(seen).toEqual([]);
    for (const error of [env, file]) {
      expect(error.message).not.toContain(TOKEN);
      expect(error.message).not.toContain(PASSWORD);
    }
  });

  it('refuses a self-signed certificate unless its CA is given or verification is skipped', async () => {
    const refused = await failure(base(httpsUrl, { auth: { bearer: { token: { env: 'PROM_TOKEN' } } } }), {
      PROM_TOKEN: TOKEN,
    });
    expect(refused.classification).toBe('unreachable');
    expect(refused.reason).toMatch(/^TLS verification failed: .*self.signed/i);
    expect(refused.message).not.toContain(TOKEN);
    expect(
      (await lastRequest(base(httpsUrl, { tls: { caFile: join(dir, 'ca.pem'), insecureSkipVerify: false } }))).headers
        .host,
    ).toContain('127.0.0.1');
    expect((await lastRequest(base(httpsUrl, { tls: { insecureSkipVerify: true } }))).headers.host).toContain(
      '127.0.0.1',
    );
  });

  it('names an unreadable CA file', async () => {
    const error = await failure(base(httpsUrl, { tls: { caFile: join(dir, 'nope.pem'), insecureSkipVerify: false } }));
    expect(error.reason).toBe(`CA file ${join(dir, 'nope.pem')} cannot be read (ENOENT)`);
  });

  it('measure turns a missing secret into an error measurement', async () => {
    const metrics = createPrometheusMetrics({
      settings: base(httpUrl, { auth: { bearer: { token: { env: 'NOPE' } } } }),
      env: {},
    });
    const m = await metrics.measure(
      {
        name: 'g',
        query: 'vector(1)',
        threshold: { max: 1 },
        baseline: 'none',
        window: 60_000,
        minTraffic: 0,
        shadow: false,
      },
      { subject: 'wave', namespaces: ['a'], fromRevision: 'a', toRevision: 'b', at },
    );
    expect(m).toEqual({ kind: 'error', reason: expect.stringContaining('environment variable NOPE is not set') });
  });
});
