/**
 * The traps revroll's precheck must find, modelled as Istio behaves: two owners fighting over a
 * Gateway (an unrevisioned istiod after `default` moved; a half-moved tag), the #59959 traffic
 * drop when an old owner without the fix loses a Gateway, and the Gateways istiod skips
 * (a newer controller version, manual deployments).
 */
import { describe, expect, it } from 'vitest';
import { createSandbox, setTag, setTagService, type Sandbox } from '../../src/index.ts';
import { condition, deploymentOf, eventually, gatewayOf, kube, rendering } from './gateway-helpers.ts';
import { parseExposition, pods } from './helpers.ts';

/** The (revision, image) renderings the Deployment goes through over `ms` (every write, from the store's watch). */
async function watchRenderings(sandbox: Sandbox, namespace: string, name: string, ms: number) {
  const seen: { revision: string; image: string }[] = [];
  const note = (r: { revision?: string; image?: string }) => {
    if (r.revision && r.image && seen.at(-1)?.revision !== r.revision)
      seen.push({ revision: r.revision, image: r.image });
  };
  note(rendering(deploymentOf(sandbox, namespace, name)));
  const stop = sandbox.store.watch(undefined, (event) => {
    if (event.resource !== sandbox.controllers.types.deployments) return;
    if (event.object.metadata.namespace === namespace && event.object.metadata.name === name)
      note(rendering(event.object));
  });
  await new Promise((resolve) => setTimeout(resolve, ms));
  stop();
  return seen;
}

const watchRevisions = async (sandbox: Sandbox, namespace: string, name: string, ms: number) =>
  (await watchRenderings(sandbox, namespace, name, ms)).map((r) => r.revision);

describe('dual ownership', () => {
  it('an unrevisioned istiod keeps claiming label-less Gateways after default moved: the Deployment flaps until pinned', async () => {
    const sandbox = await createSandbox({ scenario: 'gateway-dual-owner', startLatencyMs: 20 });
    const k = kube(sandbox);
    try {
      await eventually(() => deploymentOf(sandbox, 'ingress', 'public-istio'), 'first render');
      expect(sandbox.gateways.owners('ingress', 'public')).toEqual(['1-29-1', 'default']);
      expect(sandbox.gateways.owners('ingress', 'pinned')).toEqual(['1-29-1']);
      const flaps = await watchRenderings(sandbox, 'ingress', 'public-istio', 1500);
      expect(flaps.length).toBeGreaterThanOrEqual(4); // default, 1-29-1, default, 1-29-1...
      expect(new Set(flaps.map((f) => `${f.revision} ${f.image}`))).toEqual(
        new Set(['default docker.io/istio/proxyv2:1.28.2', '1-29-1 docker.io/istio/proxyv2:1.29.1']),
      );
      expect(await watchRevisions(sandbox, 'ingress', 'pinned-istio', 500)).toEqual(['1-29-1']);
      await expect(sandbox.waitForIdle({ timeoutMs: 1000 })).rejects.toThrow(/timed out/);

      // The fix: pin the Gateway (the label beats the default); then it settles.
      expect((await k.kubectl('label', 'gateway', 'public', '-n', 'ingress', 'istio.io/rev=1-29-1')).code).toBe(0);
      await sandbox.waitForIdle({ timeoutMs: 10_000 });
      expect(sandbox.gateways.owners('ingress', 'public')).toEqual(['1-29-1']);
      expect(await watchRevisions(sandbox, 'ingress', 'public-istio', 500)).toEqual(['1-29-1']);
    } finally {
      k.dispose();
      await sandbox.close();
    }
  });

  it('a tag whose webhook and tag Service point at different revisions is claimed by both', async () => {
    const sandbox = await createSandbox({ scenario: 'gateway-half-moved-tag', startLatencyMs: 20 });
    const k = kube(sandbox);
    try {
      await eventually(() => deploymentOf(sandbox, 'shop', 'shop-gw-istio'), 'first render');
      const tags = await k.kubectl(
        'get',
        'mutatingwebhookconfiguration,svc',
        '-A',
        '-l',
        'istio.io/tag=prod-stable',
        '-o',
        'jsonpath={range .items[*]}{.kind}={.metadata.labels.istio\\.io/rev} {end}',
      );
      expect(tags.stdout.trim()).toBe('MutatingWebhookConfiguration=1-29-1 Service=1-28-3');
      expect(sandbox.gateways.owners('shop', 'shop-gw')).toEqual(['1-28-3', '1-29-1']);
      expect(new Set(await watchRevisions(sandbox, 'shop', 'shop-gw-istio', 1500))).toEqual(
        new Set(['1-28-3', '1-29-1']),
      );
      // Finishing the move (the Service too) ends the fight.
      setTagService(sandbox.store, { tag: 'prod-stable', revision: '1-29-1' });
      await sandbox.waitForIdle({ timeoutMs: 10_000 });
      expect(sandbox.gateways.owners('shop', 'shop-gw')).toEqual(['1-29-1']);
      expect(rendering(deploymentOf(sandbox, 'shop', 'shop-gw-istio')).revision).toBe('1-29-1');
    } finally {
      k.dispose();
      await sandbox.close();
    }
  });
});

/** Moves `default` from `from` to `to` while new pods take 1.5 s to start; returns what was lost. */
async function moveDefault(from: { name: string; version: string }, to: { name: string; version: string }) {
  const sandbox = await createSandbox({
    startLatencyMs: 20,
    scenario: {
      name: 'move-default',
      istio: { revisions: [from, to], tags: { default: from.name } },
      gatewayApi: { gateways: [{ name: 'public', namespace: 'ingress', rps: 200 }] },
      namespaces: [{ name: 'ingress' }],
      telemetry: { tickMs: 50 },
    },
  });
  try {
    await sandbox.waitForIdle();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const oldPod = pods(sandbox.store, 'ingress')[0]?.metadata.name ?? '';
    const countOf = async () =>
      parseExposition(await (await fetch(sandbox.metricsUrl)).text())
        .filter((s) => s.name === 'istio_requests_total' && s.labels.pod === oldPod)
        .reduce((sum, s) => sum + s.value, 0);
    sandbox.controllers.kubelet.setStartLatency(1500);
    setTag(sandbox.store, { tag: 'default', revision: to.name, overwrite: true });
    await eventually(() => rendering(deploymentOf(sandbox, 'ingress', 'public-istio')).revision === to.name, 'moved');
    const before = await countOf();
    await new Promise((resolve) => setTimeout(resolve, 600));
    const during = await countOf();
    await sandbox.waitForIdle({ timeoutMs: 10_000 });
    return { dropped: sandbox.summary().droppedRequests['ingress/public'] ?? 0, oldPodGrew: during - before };
  } finally {
    await sandbox.close();
  }
}

describe('#59959: the old owner drops the Gateway from xDS at once', () => {
  it('blackholes the old pods until the rollout completes when the old owner lacks the fix (1.28.x)', async () => {
    const lost = await moveDefault({ name: '1-28-3', version: '1.28.3' }, { name: '1-29-5', version: '1.29.5' });
    expect(lost.dropped).toBeGreaterThan(100); // ~200 rps into the old pod for ~1.5 s
    expect(lost.oldPodGrew).toBe(0); // its counters froze: no listeners, no stats
  });

  it('keeps serving through the move when the old owner has the fix (1.29.5, 1.30.2, 1.31+)', async () => {
    const lost = await moveDefault({ name: '1-29-5', version: '1.29.5' }, { name: '1-30-2', version: '1.30.2' });
    expect(lost.dropped).toBe(0);
    expect(lost.oldPodGrew).toBeGreaterThan(0);
  });
});

describe('Gateways istiod skips', () => {
  it('leaves a newer controller version, an unparsable one, and manual deployments alone', async () => {
    const sandbox = await createSandbox({
      startLatencyMs: 20,
      scenario: {
        name: 'skipped',
        istio: { revisions: [{ name: '1-29-1', version: '1.29.1' }], tags: { default: '1-29-1' } },
        gatewayApi: {
          gateways: [
            { name: 'newer', namespace: 'ingress', annotations: { 'gateway.istio.io/controller-version': '6' } },
            { name: 'odd', namespace: 'ingress', annotations: { 'gateway.istio.io/controller-version': 'v5' } },
            { name: 'older', namespace: 'ingress', annotations: { 'gateway.istio.io/controller-version': '1' } },
            {
              name: 'manual',
              namespace: 'ingress',
              addresses: [{ type: 'Hostname', value: 'ingress-gw.ingress.svc.cluster.local' }],
            },
          ],
        },
        namespaces: [{ name: 'ingress', workloads: [{ name: 'ingress-gw', replicas: 1 }] }],
      },
    });
    try {
      await sandbox.waitForIdle();
      expect(deploymentOf(sandbox, 'ingress', 'newer-istio')).toBeUndefined();
      expect(deploymentOf(sandbox, 'ingress', 'odd-istio')).toBeUndefined();
      expect(deploymentOf(sandbox, 'ingress', 'manual-istio')).toBeUndefined();
      // An older version is taken over: rendered, and the annotation rewritten.
      expect(deploymentOf(sandbox, 'ingress', 'older-istio')).toBeDefined();
      expect(
        gatewayOf(sandbox, 'ingress', 'older')?.metadata.annotations?.['gateway.istio.io/controller-version'],
      ).toBe('5');
      // The manual Gateway binds to the user's Service: programmed through it.
      expect(condition(gatewayOf(sandbox, 'ingress', 'manual'), 'Programmed')).toMatchObject({
        status: 'True',
        message: 'Resource programmed, assigned to service(s) ingress-gw.ingress.svc.cluster.local:80',
      });
    } finally {
      await sandbox.close();
    }
  });
});
