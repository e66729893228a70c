/**
 * The Kubernetes adapter's requests against the sandbox API server over HTTP: an error answer
 * becomes a KubernetesError with the server's reason, message and Retry-After; a throttled
 * request is retried after the server's hint and then succeeds.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { createKubernetesCluster, KubernetesError } from '../../src/adapters/kubernetes/cluster.ts';
import { Resources } from '../../src/ports/cluster.ts';
import { createHarness, type Harness } from '../helpers/runner-harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

function clusterWith(harness: Harness, maxAttempts: number) {
  const config = new KubeConfig();
  config.loadFromString(harness.sandbox.kubeconfig);
  return createKubernetesCluster({ config, retry: { maxAttempts, baseDelayMs: 10, maxDelayMs: 50, budgetMs: 10_000 } });
}

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
    const error = await cluster
      .mutate({
        op: 'merge-patch',
        ref: Resources.namespaces,
        name: 'no-such-namespace',
        patch: { metadata: { labels: { a: 'b' } } },
      })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 404, reason: 'NotFound', kind: 'not-found' });
    expect((error as Error).message).toContain('namespaces "no-such-namespace" not found');
    expect(cluster.requests).toHaveLength(1);
  });
});
