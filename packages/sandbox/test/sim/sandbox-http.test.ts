import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, type Sandbox } from '../../src/index.ts';
import { createKubectl, until } from './helpers.ts';

let sandbox: Sandbox;
let k: ReturnType<typeof createKubectl>;

beforeAll(async () => {
  sandbox = await createSandbox({ scenario: 'demo', startLatencyMs: 100 });
  await sandbox.waitForIdle();
  k = createKubectl(sandbox.kubeconfig);
});
afterAll(async () => {
  k.dispose();
  await sandbox.close();
});

describe('sandbox over HTTP with the real kubectl', () => {
  it('kubectl rollout restart + rollout status finish for a Deployment, a StatefulSet and a DaemonSet', async () => {
    const before = await k.kubectl('get', 'pods', '-n', 'shop-frontend', '-l', 'app=web', '-o', 'name');
    expect(before.code).toBe(0);
    expect(before.stdout.trim().split('\n')).toHaveLength(3);

    const restart = await k.kubectl('rollout', 'restart', 'deployment/web', '-n', 'shop-frontend');
    expect(restart).toMatchObject({ code: 0, stdout: 'deployment.apps/web restarted\n' });
    const status = await k.kubectl('rollout', 'status', 'deployment/web', '-n', 'shop-frontend', '--timeout=30s');
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('Waiting for deployment "web" rollout to finish');
    expect(status.stdout.trim().split('\n').at(-1)).toBe('deployment "web" successfully rolled out');

    // The replaced pods stay listed as Terminating until their containers have stopped.
    await sandbox.waitForIdle();
    const after = await k.kubectl('get', 'pods', '-n', 'shop-frontend', '-l', 'app=web', '-o', 'name');
    expect(after.stdout.trim().split('\n')).toHaveLength(3);
    expect(
      after.stdout
        .trim()
        .split('\n')
        .some((name) => before.stdout.includes(name)),
    ).toBe(false);

    expect((await k.kubectl('rollout', 'restart', 'statefulset/cart-redis', '-n', 'shop-cart')).code).toBe(0);
    const sts = await k.kubectl('rollout', 'status', 'statefulset/cart-redis', '-n', 'shop-cart', '--timeout=30s');
    expect(sts.code).toBe(0);
    expect(sts.stdout).toMatch(/roll(ing update|ed out| out) complete/);

    expect((await k.kubectl('rollout', 'restart', 'daemonset/search-indexer', '-n', 'search')).code).toBe(0);
    const ds = await k.kubectl('rollout', 'status', 'daemonset/search-indexer', '-n', 'search', '--timeout=30s');
    expect(ds.code).toBe(0);
    expect(ds.stdout.trim().split('\n').at(-1)).toBe('daemon set "search-indexer" successfully rolled out');
  });

  it('moves a namespace to the canary by relabel + restart, as revroll does', async () => {
    expect((await k.kubectl('label', 'namespace', 'catalog', 'istio-injection-', 'istio.io/rev=1-25-1')).code).toBe(0);
    expect((await k.kubectl('rollout', 'restart', 'deployment', '-n', 'catalog')).code).toBe(0);
    for (const name of ['catalog', 'pricing']) {
      expect((await k.kubectl('rollout', 'status', `deployment/${name}`, '-n', 'catalog', '--timeout=30s')).code).toBe(
        0,
      );
    }
    await sandbox.waitForIdle();
    const annotations = await k.kubectl(
      'get',
      'pods',
      '-n',
      'catalog',
      '-o',
      "jsonpath={range .items[*]}{.metadata.annotations.istio\\.io/rev}{'\\n'}{end}",
    );
    // Five app pods, and the pod of the Gateway catalog-gw: the relabel moved it too (nothing pinned it).
    expect(annotations.stdout.trim().split('\n').sort()).toEqual(Array(6).fill('1-25-1'));
  });

  it('serves the fault control endpoint: istiod crash stalls injection, metrics outage answers 503', async () => {
    const state = (await (await fetch(`${sandbox.url}/sandbox/state`)).json()) as {
      tags: Record<string, string>;
      revisions: { revision: string; istiodReady: number }[];
    };
    expect(state.tags).toEqual({ default: '1-24-3' });
    expect(state.revisions.map((r) => r.revision).sort()).toEqual(['1-24-3', '1-25-1']);

    const post = (body: unknown) =>
      fetch(`${sandbox.url}/sandbox/faults`, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      });
    expect((await post({ crash: ['1-25-1'], metricsOutage: true })).status).toBe(200);
    await until(
      () => sandbox.summary().revisions.find((r) => r.revision === '1-25-1')?.istiodReady === 0,
      5000,
      'istiod not ready',
    );
    expect((await fetch(sandbox.metricsUrl)).status).toBe(503);
    const failed = await k.kubectl('run', 'probe', '-n', 'catalog', '--image=busybox', '--restart=Never');
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain(
      'Internal error occurred: failed calling webhook "rev.namespace.sidecar-injector.istio.io"',
    );
    expect(failed.stderr).toContain('no endpoints available for service "istiod-1-25-1"');

    expect((await post({ recover: ['1-25-1'], metricsOutage: false })).status).toBe(200);
    await until(
      () => sandbox.summary().revisions.find((r) => r.revision === '1-25-1')?.istiodReady === 2,
      5000,
      'istiod ready',
    );
    expect((await fetch(sandbox.metricsUrl)).status).toBe(200);
    expect((await k.kubectl('run', 'probe', '-n', 'catalog', '--image=busybox', '--restart=Never')).code).toBe(0);

    expect((await post({ api: { errorRate: 1, codes: [500], resources: ['configmaps'] } })).status).toBe(200);
    const broken = await k.kubectl('get', 'configmaps', '-n', 'istio-system');
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain('InternalError');
    expect((await post({ api: null })).status).toBe(200);
    expect((await k.kubectl('get', 'configmaps', '-n', 'istio-system')).code).toBe(0);

    const bad = await post({ revisions: { '1-25-1': { errorRate: 2 } } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { issues: string[] }).issues[0]).toMatch(/^revisions\.1-25-1\.errorRate/);
  });
});
