/**
 * Contract: the faults real clusters produce, on demand and reproducibly (same seed, same
 * sequence), through `POST /sandbox/faults` and the FaultControl API.
 *
 * Sources: k8s.io/apimachinery/pkg/api/errors (NewServiceUnavailable, NewTimeoutError,
 * NewTooManyRequests), the request-timeout filter (504), the mutating webhook dispatcher
 * (k8s.io/apiserver/pkg/admission/plugin/webhook/mutating/dispatcher.go: failed-open
 * annotations, failing closed with NewInternalError), webhook ErrCallingWebhook's message, the
 * `?timeout=` the API server puts on webhook URLs, and the admissionregistration defaults
 * (timeoutSeconds 10).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, type Sandbox } from '../../src/index.ts';
import { openWatch, sender, sleep, type Send } from './helpers.ts';

let sandbox: Sandbox;
let send: Send;

const setFaults = (body: unknown) => send('POST', '/sandbox/faults', body);

beforeAll(async () => {
  sandbox = await createSandbox({
    scenario: {
      name: 'faults',
      nodes: 1,
      startLatencyMs: 20,
      istio: { revisions: [{ name: '1-25-1', version: '1.25.1' }] },
      namespaces: [{ name: 'demo' }, { name: 'meshed', labels: { 'istio.io/rev': '1-25-1' } }],
    } as never,
    speed: 20,
  });
  send = sender(sandbox.url);
});

afterAll(async () => {
  await sandbox.close();
});

async function statuses(count: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push((await send('GET', '/api/v1/namespaces/demo/configmaps')).status);
  return out;
}

describe('seeded API faults', () => {
  it('replays the same sequence of failures for the same seed', async () => {
    expect((await setFaults({ api: { seed: 42, errorRate: 0.5, codes: [500, 503] } })).status).toBe(200);
    const first = await statuses(30);
    await setFaults({ api: { seed: 42, errorRate: 0.5, codes: [500, 503] } });
    const second = await statuses(30);
    await setFaults({ api: { seed: 7, errorRate: 0.5, codes: [500, 503] } });
    const other = await statuses(30);
    await setFaults({ api: null });
    expect(second).toEqual(first);
    expect(new Set(first)).toEqual(new Set([200, 500, 503]));
    expect(other).not.toEqual(first);
  });

  it('answers 503 and 504 with the bodies kube-apiserver writes', async () => {
    await setFaults({ api: { errorRate: 1, codes: [503] } });
    const unavailable = await send('GET', '/api/v1/namespaces/demo/configmaps');
    await setFaults({ api: { errorRate: 1, codes: [504] } });
    const timeout = await send('GET', '/api/v1/namespaces/demo/configmaps');
    await setFaults({ api: null });
    expect(unavailable.body).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'the server is currently unable to handle the request',
      reason: 'ServiceUnavailable',
      code: 503,
    });
    expect(timeout.body).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Timeout: request did not complete within the allotted timeout',
      reason: 'Timeout',
      details: {},
      code: 504,
    });
  });

  it('rejects a malformed fault request with every problem listed', async () => {
    const reply = await setFaults({ api: { errorRate: 2, codes: [418] } });
    expect(reply.status).toBe(400);
    expect((reply.body.issues as string[]).length).toBeGreaterThanOrEqual(2);
  });
});

describe('connections that break', () => {
  it('resets a connection mid-response; the request is not applied', async () => {
    await setFaults({ api: { resetRate: 1, verbs: ['create'], resources: ['configmaps'] } });
    const failure = await send('POST', '/api/v1/namespaces/demo/configmaps', { metadata: { name: 'reset' } }).catch(
      (e: unknown) => e,
    );
    await setFaults({ api: null });
    expect(failure).toBeInstanceOf(Error);
    expect((await send('GET', '/api/v1/namespaces/demo/configmaps/reset')).status).toBe(404);
    expect(sandbox.api.requests.some((r) => r.fault === 'reset' && r.verb === 'create')).toBe(true);
  });

  it('commits a write and loses its response (reset): a retry then meets AlreadyExists', async () => {
    await setFaults({ api: { lostResponseRate: 1, verbs: ['create'], resources: ['configmaps'] } });
    const failure = await send('POST', '/api/v1/namespaces/demo/configmaps', { metadata: { name: 'lost' } }).catch(
      (e: unknown) => e,
    );
    await setFaults({ api: null });
    expect(failure).toBeInstanceOf(Error);
    expect((await send('GET', '/api/v1/namespaces/demo/configmaps/lost')).status).toBe(200);
    const retry = await send('POST', '/api/v1/namespaces/demo/configmaps', { metadata: { name: 'lost' } });
    expect(retry.status).toBe(409);
    expect(retry.body.reason).toBe('AlreadyExists');
  });

  it('commits a write and answers nothing (hang) until the client gives up', async () => {
    await setFaults({ api: { lostResponseRate: 1, lostResponse: 'hang', hangMs: 2000, verbs: ['patch'] } });
    await send('POST', '/api/v1/namespaces/demo/configmaps', { metadata: { name: 'hung' } });
    const started = Date.now();
    const failure = await fetch(`${sandbox.url}/api/v1/namespaces/demo/configmaps/hung`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ data: { applied: 'yes' } }),
      signal: AbortSignal.timeout(300),
    }).catch((e: unknown) => e);
    await setFaults({ api: null });
    expect((failure as Error).name).toBe('TimeoutError');
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect((await send('GET', '/api/v1/namespaces/demo/configmaps/hung')).body.data).toEqual({ applied: 'yes' });
  });

  it('slows every request by a latency drawn in a range', async () => {
    await setFaults({ api: { latencyMs: { min: 80, max: 120 } } });
    const started = Date.now();
    await send('GET', '/version');
    const elapsed = Date.now() - started;
    await setFaults({ api: null });
    expect(elapsed).toBeGreaterThanOrEqual(75);
    expect(elapsed).toBeLessThan(1000);
  });

  it('drops a watch after N events, and another after a time', async () => {
    await setFaults({ api: { watch: { dropAfterEvents: 2 } } });
    const stream = await openWatch(sandbox.url, '/api/v1/namespaces/demo/configmaps?watch=true');
    expect(await stream.ended).toBe('error');
    expect(stream.lines.length).toBe(2);
    await setFaults({ api: { watch: { dropAfterMs: 200 } } });
    const started = Date.now();
    const timed = await openWatch(
      sandbox.url,
      `/api/v1/namespaces/demo/configmaps?watch=true&resourceVersion=${sandbox.store.resourceVersion()}`,
    );
    expect(await timed.ended).toBe('error');
    await setFaults({ api: null });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  it('drives the same faults through the FaultControl API', async () => {
    sandbox.faults.setApiFaults({ errorRate: 1, codes: [429], verbs: ['get'] });
    const reply = await send('GET', '/api/v1/namespaces/demo');
    sandbox.faults.setApiFaults(null);
    expect(reply.status).toBe(429);
    expect(reply.headers.get('retry-after')).toBe('1');
    expect(sandbox.faults.state().api.errorRate).toBe(0);
  });
});

const meshedPod = (name: string) => ({
  metadata: { name },
  spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] },
});

describe('admission webhooks that time out', () => {
  it('fails the create under failurePolicy Fail with the real message, after the webhook timeout', async () => {
    await setFaults({ webhooks: { timeout: ['rev.namespace.sidecar-injector.istio.io'] } });
    const started = Date.now();
    const reply = await send('POST', '/api/v1/namespaces/meshed/pods', meshedPod('timed-out'));
    const elapsed = Date.now() - started;
    expect(reply.status).toBe(500);
    expect(reply.body).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        'Internal error occurred: failed calling webhook "rev.namespace.sidecar-injector.istio.io": failed to call webhook: Post "https://istiod-1-25-1.istio-system.svc:443/inject?timeout=10s": context deadline exceeded',
      reason: 'InternalError',
      details: {
        causes: [
          {
            message:
              'failed calling webhook "rev.namespace.sidecar-injector.istio.io": failed to call webhook: Post "https://istiod-1-25-1.istio-system.svc:443/inject?timeout=10s": context deadline exceeded',
          },
        ],
      },
      code: 500,
    });
    // timeoutSeconds 10 of simulated time at speed 20.
    expect(elapsed).toBeGreaterThanOrEqual(450);
  });

  it('creates the pod without injection under failurePolicy Ignore, with a failed-open audit note', async () => {
    const path = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/istio-sidecar-injector-1-25-1';
    const mwc = await send('GET', path);
    const webhooks = (mwc.body.webhooks as Record<string, unknown>[]).map((w) => ({ ...w, failurePolicy: 'Ignore' }));
    expect((await send('PATCH', path, { webhooks }, { contentType: 'application/merge-patch+json' })).status).toBe(200);
    const reply = await send('POST', '/api/v1/namespaces/meshed/pods', meshedPod('failed-open'));
    await setFaults({ webhooks: { recover: ['rev.namespace.sidecar-injector.istio.io'] } });
    expect(reply.status).toBe(201);
    const annotations = (reply.body.metadata as { annotations?: Record<string, string> }).annotations ?? {};
    expect(annotations['sidecar.istio.io/status']).toBeUndefined();
    expect(
      sandbox
        .summary()
        .warnings.some((w) =>
          w.includes(
            'failed-open.mutation.webhook.admission.k8s.io/round_0_index_0: rev.namespace.sidecar-injector.istio.io',
          ),
        ),
    ).toBe(true);
    expect(sandbox.faults.state().webhookTimeouts).toEqual([]);
    await sleep(10);
  });
});
