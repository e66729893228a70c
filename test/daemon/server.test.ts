import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpServer, type HttpServerOptions } from '../../src/adapters/http-server/server.ts';
import { silentLogger } from '../../src/telemetry/logger.ts';
import { createRunnerMetrics } from '../../src/telemetry/metrics.ts';

const servers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function start(overrides: Partial<HttpServerOptions> = {}): Promise<string> {
  const metrics = createRunnerMetrics();
  metrics.runFinished('nightly', 'promoted');
  const server = createHttpServer({
    logger: silentLogger(),
    metrics,
    ready: async () => ({ ok: true, message: 'reachable' }),
    runs: () => ({ policies: [{ name: 'nightly', valid: true }] }),
    ...overrides,
  });
  servers.push({ close: () => server.close(100) });
  const { url } = await server.listen('127.0.0.1', 0);
  return url;
}

/** Sends raw bytes and returns the raw answer (for requests fetch refuses to send). */
function raw(url: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.end(bytes));
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString()));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}

describe('src/runner/server', () => {
  it('serves health, metrics and the runs API', async () => {
    const url = await start();
    const health = await fetch(`${url}/healthz`);
    expect([health.status, await health.json()]).toEqual([200, { status: 'ok' }]);
    const metrics = await fetch(`${url}/metrics`);
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    expect(await metrics.text()).toContain('revroll_runs_total{policy="nightly",outcome="promoted"} 1');
    expect(await (await fetch(`${url}/api/runs`)).json()).toEqual({ policies: [{ name: 'nightly', valid: true }] });
  });

  it('caches readiness and reports an unreachable cluster as 503', async () => {
    let calls = 0;
    const url = await start({
      ready: async () => {
        calls += 1;
        return calls === 1
          ? { ok: false, message: 'cannot reach the Kubernetes API' }
          : { ok: true, message: 'reachable' };
      },
      readyCacheMs: 60_000,
    });
    const first = await fetch(`${url}/readyz`);
    const second = await fetch(`${url}/readyz`);
    expect([first.status, second.status, calls]).toEqual([503, 503, 1]);
    expect(await first.json()).toEqual({ status: 'not ready', message: 'cannot reach the Kubernetes API' });
  });

  it('times out a readiness check that hangs', async () => {
    const url = await start({ ready: () => new Promise(() => undefined), readyTimeoutMs: 50 });
    const answer = await fetch(`${url}/readyz`);
    expect(answer.status).toBe(503);
    expect(((await answer.json()) as { message: string }).message).toContain('no answer within 50 ms');
  });

  it('answers unknown routes and wrong methods with JSON errors', async () => {
    const url = await start();
    const missing = await fetch(`${url}/nope`);
    expect([missing.status, await missing.json()]).toEqual([404, { error: 'no route /nope' }]);
    const wrong = await fetch(`${url}/metrics`, { method: 'DELETE' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET, HEAD');
    expect((await fetch(`${url}/slack/actions`)).status).toBe(405);
    expect((await fetch(`${url}/slack/actions`, { method: 'POST', body: 'x' })).status).toBe(404);
  });

  it('passes the Slack body through byte for byte and enforces the size limit', async () => {
    const seen: { rawBody: string; signature: unknown }[] = [];
    const url = await start({
      slackActions: async (request) => {
        seen.push({ rawBody: request.rawBody, signature: request.headers['x-slack-signature'] });
        return { status: 200, body: '' };
      },
    });
    const body = 'payload=%7B%22type%22%3A%22block_actions%22%7D&x=%C3%A9';
    const ok = await fetch(`${url}/slack/actions`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-signature': 'v0=abc' },
    });
    expect(ok.status).toBe(200);
    expect(seen).toEqual([{ rawBody: body, signature: 'v0=abc' }]);

    const big = 'a'.repeat(64 * 1024 + 1);
    expect((await fetch(`${url}/slack/actions`, { method: 'POST', body: big })).status).toBe(413);
    // Without a Content-Length (chunked), the limit applies while reading.
    const chunked = await raw(
      url,
      `POST /slack/actions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${(70 * 1024).toString(16)}\r\n${'b'.repeat(70 * 1024)}\r\n0\r\n\r\n`,
    );
    expect(chunked).toMatch(/^HTTP\/1\.1 413/);
    expect(seen).toHaveLength(1);
  });

  it('survives malformed requests and failing handlers', async () => {
    const url = await start({
      runs: () => {
        throw new Error('boom');
      },
    });
    expect(await raw(url, 'NOT HTTP AT ALL\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
    const failing = await fetch(`${url}/api/runs`);
    expect([failing.status, await failing.json()]).toEqual([500, { error: 'internal error' }]);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });
});
