/**
 * The Kubernetes adapter's requests against the sandbox API server over HTTP: an error answer
 * becomes a KubernetesError with the server's reason, message and Retry-After; a throttled
 * request is retried after the server's hint and then succeeds; a write asked for a metadata-only
 * answer gets one; an audit Event whose name another writer took, or whose create was sent twice
 * after a lost answer, is recorded exactly once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { createKubernetesCluster, KubernetesError } from '../../src/adapters/kubernetes/cluster.ts';
import { createEventRecorder } from '../../src/adapters/kubernetes/state.ts';
import { ClusterError, Resources, type ClusterPort, type Mutation } from '../../src/ports/cluster.ts';
import { createHarness, type Harness } from '../helpers/runner-harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

function clusterWith(harness: Harness, maxAttempts: number, requestTimeoutMs?: number) {
  const config = new KubeConfig();
  config.loadFromString(harness.sandbox.kubeconfig);
  return createKubernetesCluster({
    config,
    retry: { maxAttempts, baseDelayMs: 10, maxDelayMs: 50, budgetMs: 10_000 },
    ...(requestTimeoutMs !== undefined ? { requestTimeoutMs } : {}),
  });
}

/** A merge patch of one label on a namespace. */
const labelNamespace = (name: string, value = 'b'): Mutation => ({
  op: 'merge-patch',
  ref: Resources.namespaces,
  name,
  patch: { metadata: { labels: { a: value } } },
});

describe('Kubernetes requests', () => {
  it('a 429 becomes an unavailable KubernetesError carrying the server reason and its Retry-After', async () => {
    h = await createHarness();
    h.sandbox.faults.setApiFaults({ errorRate: 1, codes: [429], verbs: ['get'] });
    const cluster = clusterWith(h, 1);
    const error = await cluster.get(Resources.namespaces, undefined, 'alpha').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubernetesError);
    expect(error).toMatchObject({ status: 429, reason: 'TooManyRequests', kind: 'unavailable', retryAfterMs: 1000 });
    expect((error as Error).message).toContain('Too many requests, please try again later.');
    expect(cluster.requestCounts()['get namespaces']).toBe(1);
  });

  it('a throttled request waits for the Retry-After and then succeeds', async () => {
    h = await createHarness();
    h.sandbox.faults.setApiFaults({ errorRate: 1, codes: [429], verbs: ['get'] });
    const harness = h;
    const cluster = clusterWith(h, 3);
    const started = Date.now();
    setTimeout(() => harness.sandbox.faults.setApiFaults({ errorRate: 0, codes: [] }), 300);
    const alpha = await cluster.get(Resources.namespaces, undefined, 'alpha');
    expect(alpha?.metadata.name).toBe('alpha');
    // The server said one second; the backoff alone (10-50 ms) would have spent the attempts.
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(cluster.requests.map((r) => r.status)).toEqual([429, 200]);
  });

  it('a 404 is not-found with the server message, and not retried', async () => {
    h = await createHarness();
    const cluster = clusterWith(h, 5);
    const error = await cluster.mutate(labelNamespace('no-such-namespace')).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 404, reason: 'NotFound', kind: 'not-found' });
    expect((error as Error).message).toContain('namespaces "no-such-namespace" not found');
    expect(cluster.requests).toHaveLength(1);
  });
});

describe('a server that does not answer', () => {
  it('times a request out and says so, instead of waiting for ever', async () => {
    h = await createHarness();
    h.sandbox.faults.setApiFaults({
      errorRate: 0,
      codes: [],
      lostResponseRate: 1,
      lostResponse: 'hang',
      hangMs: 10_000,
      verbs: ['patch'],
    });
    const cluster = clusterWith(h, 2, 300);
    const started = Date.now();
    const error = await cluster.mutate(labelNamespace('alpha')).catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'unavailable', reason: 'Unreachable' });
    expect((error as Error).message).toMatch(/cannot reach the Kubernetes API at .*: .*timeout/i);
    // Two attempts of 300 ms each, far from the 10 s the server would have held them.
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(cluster.requests.filter((r) => r.verb === 'patch')).toHaveLength(2);
  });
});

describe('metadata-only answers', () => {
  it('a patch asked for metadata only answers PartialObjectMetadata with the labels it set', async () => {
    h = await createHarness();
    const answer = await h.cluster.mutate(labelNamespace('alpha'), { metadataOnly: true });
    expect(answer?.kind).toBe('PartialObjectMetadata');
    expect(answer?.metadata.labels?.a).toBe('b');
    expect(answer?.spec).toBeUndefined();
    const whole = await h.cluster.mutate(labelNamespace('alpha', 'c'));
    expect(whole?.kind).toBe('Namespace');
    expect(whole?.spec).toBeDefined();
  });
});

describe('audit Events', () => {
  const at = new Date('2026-12-02T10:00:00.000Z');
  const target = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'alpha', name: 'audited' };
  const eventsOf = async (harness: Harness) =>
    (await harness.cluster.list(Resources.events, { namespace: 'alpha' })).filter(
      (e) => (e.involvedObject as { name?: string }).name === 'audited',
    );

  /**
   * Seed 31: the first Event create is stored and its answer lost (the connection reset), the
   * second is answered: the transport sends the create again and meets its own Event.
   */
  const loseFirstEventAnswer = (harness: Harness) =>
    harness.sandbox.faults.setApiFaults({
      errorRate: 0,
      codes: [],
      lostResponseRate: 0.5,
      verbs: ['create'],
      resources: ['events'],
      seed: 31,
    });

  it('an Event whose name another writer took is recorded under the next name', async () => {
    h = await createHarness();
    // The name the recorder picks first: the clock's nanoseconds plus its sequence, in hex.
    const first = `audited.${(BigInt(at.getTime()) * 1_000_000n + 1n).toString(16)}`;
    await h.cluster.mutate({
      op: 'create',
      ref: Resources.events,
      namespace: 'alpha',
      object: {
        metadata: { name: first, namespace: 'alpha' },
        involvedObject: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'audited', namespace: 'alpha' },
        reason: 'ScalingReplicaSet',
        message: 'Scaled up replica set audited-1 from 0 to 1',
        source: { component: 'deployment-controller' },
        type: 'Normal',
      },
    });
    const recorder = createEventRecorder(h.cluster, { now: () => at });
    await recorder.record(target, 'RevrollRestarted', 'restarted to move its proxies');

    expect(recorder.lost().count).toBe(0);
    const events = await eventsOf(h);
    expect(events.map((e) => e.reason).sort()).toEqual(['RevrollRestarted', 'ScalingReplicaSet']);
    const ours = events.find((e) => e.reason === 'RevrollRestarted');
    expect(ours?.metadata.name).toBe(`audited.${(BigInt(at.getTime()) * 1_000_000n + 2n).toString(16)}`);
  });

  it('an Event whose create was answered late and sent again is recorded once', async () => {
    h = await createHarness();
    loseFirstEventAnswer(h);
    const recorder = createEventRecorder(h.cluster, { now: () => at });
    await recorder.record(target, 'RevrollRestarted', 'restarted to move its proxies');
    h.sandbox.faults.setApiFaults(null);

    expect(recorder.lost().count).toBe(0);
    const creates = h.sandbox.api.requests.filter((r) => r.verb === 'create' && r.resource === 'events');
    expect(creates.map((r) => r.fault ?? r.status)).toEqual(['lost-response', 409]);
    const events = await eventsOf(h);
    expect(events.map((e) => e.reason)).toEqual(['RevrollRestarted']);
  });

  it('without the right to read Events, a create sent again after a lost answer still counts once', async () => {
    h = await createHarness();
    const harness = h;
    loseFirstEventAnswer(h);
    // The chart grants `create events` only: a read of the taken name is refused.
    const createOnly: ClusterPort = {
      ...harness.cluster,
      mutate: (mutation, read) => harness.cluster.mutate(mutation, read),
      get: async (ref, namespace, name) => {
        if (ref.resource === 'events')
          throw new ClusterError('forbidden', 'K8S_FORBIDDEN', 'events is forbidden', `events "${name}"`);
        return harness.cluster.get(ref, namespace, name);
      },
    };
    const recorder = createEventRecorder(createOnly, { now: () => at });
    await recorder.record(target, 'RevrollRestarted', 'restarted to move its proxies');
    h.sandbox.faults.setApiFaults(null);

    expect(recorder.lost().count).toBe(0);
    const events = await eventsOf(h);
    expect(events.map((e) => e.reason)).toEqual(['RevrollRestarted']);
  });
});
