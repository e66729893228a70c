/**
 * Gateway API Gateways and waypoints across whole runs (issue 15), on the sandbox's `gateway-api`
 * scenario: an ingress Gateway owned through the default tag (ingress/public), a Gateway in a
 * namespace labelled istio.io/rev (shop/shop-gw) and a waypoint in an ambient namespace
 * (reviews-ambient/waypoint). A sampler reads, over HTTP while the run goes, the revision each
 * rendered Deployment's pod template names and each Gateway's own istio.io/rev label, so every
 * test asserts the SEQUENCE of owner revisions of each Gateway, and the labels at the end.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { loadScenario, type ScenarioInput } from '@revroll/sandbox';
import { startPrometheus, type PrometheusInstance } from '@revroll/sandbox/prometheus';
import { createHarness, harnessCli, STATE_NS, type Harness } from '../helpers/runner-harness.ts';
import { GatewayResource } from '../../src/mesh/gateway-api.ts';
import { Resources } from '../../src/ports/cluster.ts';
import type { RunState } from '../../src/engine/state.ts';

let h: Harness | undefined;
let prometheus: PrometheusInstance | undefined;
afterEach(async () => {
  await prometheus?.stop();
  await h?.close();
  prometheus = undefined;
  h = undefined;
});

const GATEWAYS = [
  { namespace: 'ingress', name: 'public', deployment: 'public-istio' },
  { namespace: 'shop', name: 'shop-gw', deployment: 'shop-gw-istio' },
  { namespace: 'reviews-ambient', name: 'waypoint', deployment: 'waypoint' },
] as const;
type Key = `${string}/${string}`;

function scenario(canaryErrorRate = 0): ScenarioInput {
  const base = loadScenario('gateway-api');
  const revisions = base.istio.revisions.map((r) =>
    r.name === '1-25-1'
      ? { ...r, replicas: 1, health: { ...r.health, errorRate: canaryErrorRate } }
      : { ...r, replicas: 1 },
  );
  return { ...base, startLatencyMs: 20, istio: { ...base.istio, revisions } } as unknown as ScenarioInput;
}

type Sample = { owner: string; label: string };

/** Samples every Gateway's owner revision (its Deployment's pod template) and own label until stopped. */
function startSampler(harness: Harness) {
  const seen = new Map<Key, Sample[]>();
  const nsLabel: { at: number; shop: string }[] = [];
  const events: { at: number; key: Key; owner: string }[] = [];
  let stopped = false;
  const sampleOnce = async () => {
    for (const g of GATEWAYS) {
      const key: Key = `${g.namespace}/${g.name}`;
      const d = await harness.cluster.get(Resources.deployments, g.namespace, g.deployment);
      const gw = await harness.cluster.get(GatewayResource, g.namespace, g.name);
      const tmpl = (d?.spec as { template?: { metadata?: { annotations?: Record<string, string> } } } | undefined)
        ?.template;
      const owner = tmpl?.metadata?.annotations?.['istio.io/rev'] ?? '?';
      const label = gw?.metadata.labels?.['istio.io/rev'] ?? '-';
      const list = seen.get(key) ?? [];
      const last = list.at(-1);
      if (!last || last.owner !== owner || last.label !== label) {
        list.push({ owner, label });
        if (last?.owner !== owner) events.push({ at: Date.now(), key, owner });
      }
      seen.set(key, list);
    }
    const shop = (await harness.namespaceLabels('shop'))['istio.io/rev'] ?? '-';
    if (nsLabel.at(-1)?.shop !== shop) nsLabel.push({ at: Date.now(), shop });
  };
  const loop = (async () => {
    while (!stopped) {
      await sampleOnce();
      await new Promise((r) => setTimeout(r, 15));
    }
    await sampleOnce();
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return {
        /** Owner revisions in order, consecutive duplicates folded. */
        owners: (key: Key) => (seen.get(key) ?? []).map((s) => s.owner).filter((o, i, a) => i === 0 || a[i - 1] !== o),
        /** Own istio.io/rev label values in order ('-' = absent). */
        labels: (key: Key) => (seen.get(key) ?? []).map((s) => s.label).filter((o, i, a) => i === 0 || a[i - 1] !== o),
        events,
        nsLabel,
      };
    },
  };
}

const policyText = (extra = '', waves?: string) => `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: gw-run}
spec:
  revisions: {from: auto, to: 1-25-1}
  waves:
${
  waves ??
  `    - {name: shop, namespaces: {names: [shop]}, bake: 200ms}
    - {name: ambient, namespaces: {names: [reviews-ambient]}, bake: 200ms}
    - {name: payments, namespaces: {names: [payments]}, bake: 1500ms}`
}
  gates: {warmup: 100ms}
  workloads: {rolloutTimeout: 30s}
  gatewayApi: {bake: 300ms, warmup: 100ms}
${extra}`;

async function generations(harness: Harness): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const g of GATEWAYS)
    out[`${g.namespace}/${g.name}`] =
      (await harness.cluster.get(Resources.deployments, g.namespace, g.deployment))?.metadata.generation ?? -1;
  return out;
}

async function ownLabels(harness: Harness): Promise<Record<string, string | undefined>> {
  const out: Record<string, string | undefined> = {};
  for (const g of GATEWAYS)
    out[`${g.namespace}/${g.name}`] = (await harness.cluster.get(GatewayResource, g.namespace, g.name))?.metadata
      .labels?.['istio.io/rev'];
  return out;
}

/** Asks for an abort (as `revroll abort` does) once the run reaches `step`. */
function abortAt(harness: Harness, step: string, policy: string) {
  let asked: Promise<unknown> | undefined;
  return {
    onProgress(state: RunState) {
      if (asked) return;
      if (state.records.some((r) => r.id === step && r.status === 'running'))
        asked = harnessCli(harness, ['abort', policy, '--state-namespace', STATE_NS]);
    },
    wait: () => asked,
  };
}

describe('Gateway API gateways and waypoints move only when the policy says', () => {
  it('promotes: pins, moves in the gateways wave and the ambient wave, unpins; labels end as they were', async () => {
    h = await createHarness(scenario());
    const before = await generations(h);
    const policy = h.policy(policyText());
    const sampler = startSampler(h);
    const result = await h.run(policy);
    const s = await sampler.stop();
    expect(result.outcome, result.message).toBe('promoted');
    const ids = result.state?.steps.map((st) => st.id) ?? [];
    // Pinned right before the first step that would move one (the shop wave's relabel).
    expect(ids.indexOf('gateway-api/pin')).toBe(ids.indexOf('wave/shop/migrate') - 1);
    expect(ids.indexOf('gateway-api/move')).toBeGreaterThan(ids.indexOf('promote/tags'));
    expect(ids).toContain('wave/ambient/waypoints');
    // Owner revisions across the run: each moves once, in its own step.
    expect(s.owners('ingress/public')).toEqual(['1-24-3', '1-25-1']);
    expect(s.owners('shop/shop-gw')).toEqual(['1-24-3', '1-25-1']);
    expect(s.owners('reviews-ambient/waypoint')).toEqual(['1-24-3', '1-25-1']);
    // Own labels: pinned to the old revision, the pin removed by the move itself.
    expect(s.labels('ingress/public')).toEqual(['-', '1-24-3', '-']);
    expect(s.labels('shop/shop-gw')).toEqual(['-', '1-24-3', '-']);
    // The ambient wave moves its waypoint by the Gateway's label; the label comes off on promotion.
    expect(s.labels('reviews-ambient/waypoint')).toEqual(['-', '1-25-1', '-']);
    // The shop Gateway moved in the gateways wave, not when its namespace was relabelled.
    const shopRelabel = s.nsLabel.find((n) => n.shop === '1-25-1')?.at ?? 0;
    const shopMoved = s.events.find((e) => e.key === 'shop/shop-gw' && e.owner === '1-25-1')?.at ?? 0;
    expect(shopMoved).toBeGreaterThan(shopRelabel);
    // Final labels are the originals (none), and the Gateways resolve to the new revision without them.
    expect(await ownLabels(h)).toEqual({
      'ingress/public': undefined,
      'shop/shop-gw': undefined,
      'reviews-ambient/waypoint': undefined,
    });
    // Rollouts: pin (same revision) and move for the pinned ones; removing the pin at the move added none.
    const after = await generations(h);
    expect(after['ingress/public']).toBe((before['ingress/public'] ?? 0) + 2);
    expect(after['shop/shop-gw']).toBe((before['shop/shop-gw'] ?? 0) + 2);
    // The move's note gives each Deployment's generation right after it: unchanged since (the pin came off in the move).
    const moveNote = result.state?.records.find((r) => r.id === 'gateway-api/move')?.note ?? '';
    expect(moveNote).toContain(`ingress/public-istio on 1-25-1 (generation ${after['ingress/public']})`);
    expect(moveNote).toContain(`shop/shop-gw-istio on 1-25-1 (generation ${after['shop/shop-gw']})`);
    // The waypoint: its move, then its label off on promotion (Istio copies Gateway labels onto pods).
    expect(after['reviews-ambient/waypoint']).toBe((before['reviews-ambient/waypoint'] ?? 0) + 2);
    // The ambient namespace was never labelled istio.io/rev and its workloads never restarted (#60313).
    expect((await h.namespaceLabels('reviews-ambient'))['istio.io/rev']).toBeUndefined();
    const reviews = await h.workload('deployments', 'reviews-ambient', 'reviews');
    expect(reviews?.metadata.generation).toBe(1);
    expect(await h.podRevisions('reviews-ambient')).toEqual(['1-25-1']);
    // revroll status lists them with their original labels and what the run did.
    const status = await harnessCli(h, ['status', 'gw-run', '--state-namespace', STATE_NS]);
    expect(status.out).toContain(
      'gateway ingress/public (Deployment public-istio, pinned): original istio.io/rev absent, pinned, moved',
    );
    expect(status.out).toContain(
      'gateway reviews-ambient/waypoint (Deployment waypoint, pinned): original istio.io/rev absent, moved',
    );
  });

  it('rolls back from a namespace wave (the canary istiod crashes): Gateways revert first, to exactly their labels', async () => {
    h = await createHarness(scenario());
    const policy = h.policy(policyText());
    const sampler = startSampler(h);
    const result = await h.run(policy, {
      onProgress: (state) => {
        if (state.records.some((r) => r.id === 'wave/ambient/bake' && r.status === 'done'))
          h?.sandbox.faults.crashIstiod('1-25-1');
      },
    });
    const s = await sampler.stop();
    expect(result.outcome, result.message).toBe('rolled-back');
    expect(result.state?.records.find((r) => r.id === 'wave/payments/canary-health')?.status).toBe('failed');
    // Nothing but the ambient waypoint ever ran the canary; it went back.
    expect(s.owners('ingress/public')).toEqual(['1-24-3']);
    expect(s.owners('shop/shop-gw')).toEqual(['1-24-3']);
    expect(s.owners('reviews-ambient/waypoint')).toEqual(['1-24-3', '1-25-1', '1-24-3']);
    // shop-gw stays pinned while its namespace still names the canary, then its label comes off.
    expect(s.labels('shop/shop-gw')).toEqual(['-', '1-24-3', '-']);
    expect(s.labels('ingress/public')).toEqual(['-', '1-24-3', '-']);
    expect(s.labels('reviews-ambient/waypoint')).toEqual(['-', '1-25-1', '-']);
    const records = result.state?.records ?? [];
    const done = (id: string) => Date.parse(records.find((r) => r.id === id)?.finishedAt ?? '');
    expect(done('rollback/gateway-api')).toBeLessThanOrEqual(done('rollback/labels'));
    expect(await ownLabels(h)).toEqual({
      'ingress/public': undefined,
      'shop/shop-gw': undefined,
      'reviews-ambient/waypoint': undefined,
    });
    expect((await h.namespaceLabels('shop'))['istio.io/rev']).toBe('1-24-3');
  });

  it('aborts mid-run during the gateways wave: back first, held by their label until tag and namespace are back', async () => {
    h = await createHarness(scenario());
    const policy = h.policy(policyText().replace('gatewayApi: {bake: 300ms', 'gatewayApi: {bake: 3s'));
    const sampler = startSampler(h);
    const abort = abortAt(h, 'gateway-api/bake', 'gw-run');
    const result = await h.run(policy, { onProgress: (state) => abort.onProgress(state) });
    await abort.wait();
    const s = await sampler.stop();
    expect(result.outcome, result.message).toBe('rolled-back');
    expect(result.state?.rollbackReason).toMatch(/aborted/);
    expect(s.owners('ingress/public')).toEqual(['1-24-3', '1-25-1', '1-24-3']);
    expect(s.owners('shop/shop-gw')).toEqual(['1-24-3', '1-25-1', '1-24-3']);
    // The waypoint moved in the ambient wave (label 1-25-1), back by its original (no) label once the tag is back.
    expect(s.owners('reviews-ambient/waypoint')).toEqual(['1-24-3', '1-25-1', '1-24-3']);
    expect(s.labels('ingress/public')).toEqual(['-', '1-24-3', '-', '1-24-3', '-']);
    expect(s.labels('shop/shop-gw')).toEqual(['-', '1-24-3', '-', '1-24-3', '-']);
    // Gateways back before the namespace label and the default tag.
    const gwBack = s.events.filter((e) => e.key === 'shop/shop-gw' && e.owner === '1-24-3')[1]?.at ?? 0;
    const nsBack = s.nsLabel.filter((n) => n.shop === '1-24-3').at(-1)?.at ?? 0;
    expect(gwBack).toBeGreaterThan(0);
    expect(gwBack).toBeLessThan(nsBack);
    expect(await ownLabels(h)).toEqual({
      'ingress/public': undefined,
      'shop/shop-gw': undefined,
      'reviews-ambient/waypoint': undefined,
    });
    expect(await h.defaultRevision()).toBe('1-24-3');
  });

  it('rolls back from the gateways wave on a failing gate of the ingress 5xx ratio (real Prometheus)', async () => {
    h = await createHarness(scenario(0.4));
    prometheus = await startPrometheus({ targets: [h.sandbox.metricsUrl], scrapeIntervalMs: 500 });
    for (let i = 0; i < 100; i++) {
      if ((await prometheus.query('istio_requests_total{reporter="source"}')).length > 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const ratio = (code: string) =>
      `sum(rate(istio_requests_total{reporter="source",namespace=~"{{namespaces}}"${code}}[{{window}}]))`;
    const gate = `      - name: ingress-5xx
        query: '${ratio(',response_code=~"5.."')} / ${ratio('')}'
        threshold: {max: 0.05}
        window: 4s`;
    const policy = h.policy(
      policyText(
        `  prometheus: {url: "${prometheus.url}", timeout: 5s}\n`,
        `    - {name: shop, namespaces: {names: [shop]}, bake: 200ms}`,
      ).replace(
        '  gatewayApi: {bake: 300ms, warmup: 100ms}',
        `  gatewayApi:\n    bake: 8s\n    warmup: 3s\n    gates:\n${gate}`,
      ),
    );
    const sampler = startSampler(h);
    const result = await h.run(policy);
    const s = await sampler.stop();
    expect(result.outcome, result.message).toBe('rolled-back');
    expect(result.state?.rollbackReason).toMatch(/ingress-5xx/);
    expect(result.state?.records.find((r) => r.id === 'gateway-api/bake')?.status).toBe('failed');
    // Both moved in the gateways wave, then back first (held by their label while the tag and
    // namespace still named the canary), then their original labels.
    expect(s.owners('ingress/public')).toEqual(['1-24-3', '1-25-1', '1-24-3']);
    expect(s.owners('shop/shop-gw')).toEqual(['1-24-3', '1-25-1', '1-24-3']);
    expect(s.labels('ingress/public')).toEqual(['-', '1-24-3', '-', '1-24-3', '-']);
    const backAt = s.events.filter((e) => e.key === 'shop/shop-gw' && e.owner === '1-24-3')[1]?.at ?? 0;
    const nsBack = s.nsLabel.filter((n) => n.shop === '1-24-3').at(-1)?.at ?? 0;
    expect(backAt).toBeGreaterThan(0);
    expect(backAt).toBeLessThan(nsBack);
    expect(await ownLabels(h)).toMatchObject({ 'ingress/public': undefined, 'shop/shop-gw': undefined });
    expect(await h.defaultRevision()).toBe('1-24-3');
  }, 60_000);

  it('resumes after a crash during the gateways wave and ends as an uninterrupted run does', async () => {
    h = await createHarness(scenario());
    const policy = h.policy(policyText());
    const sampler = startSampler(h);
    // Kill the runner right after it persisted the move and started performing it.
    const stop = new AbortController();
    const first = await h.run(policy, {
      signal: stop.signal,
      onProgress: (state) => {
        if (state.records.some((r) => r.id === 'gateway-api/move' && r.status === 'running')) stop.abort();
      },
    });
    expect(first.outcome).toBe('interrupted');
    const second = await h.run(policy);
    const s = await sampler.stop();
    expect(second.outcome, second.message).toBe('promoted');
    expect(s.owners('ingress/public')).toEqual(['1-24-3', '1-25-1']);
    expect(s.owners('shop/shop-gw')).toEqual(['1-24-3', '1-25-1']);
    expect(await ownLabels(h)).toEqual({
      'ingress/public': undefined,
      'shop/shop-gw': undefined,
      'reviews-ambient/waypoint': undefined,
    });
  });

  it('order: before-waves moves them first by their label, which comes off on promotion', async () => {
    h = await createHarness(scenario());
    const before = await generations(h);
    const policy = h.policy(
      policyText().replace('gatewayApi: {bake: 300ms', 'gatewayApi: {order: before-waves, bake: 300ms'),
    );
    const sampler = startSampler(h);
    const result = await h.run(policy);
    const s = await sampler.stop();
    expect(result.outcome, result.message).toBe('promoted');
    const ids = result.state?.steps.map((st) => st.id) ?? [];
    expect(ids).not.toContain('gateway-api/pin');
    expect(ids.indexOf('gateway-api/move')).toBeLessThan(ids.indexOf('wave/shop/migrate'));
    expect(s.owners('ingress/public')).toEqual(['1-24-3', '1-25-1']);
    expect(s.owners('shop/shop-gw')).toEqual(['1-24-3', '1-25-1']);
    expect(s.labels('ingress/public')).toEqual(['-', '1-25-1', '-']);
    expect(s.labels('shop/shop-gw')).toEqual(['-', '1-25-1', '-']);
    // The move, then the label off on promotion: one more rollout on the same revision (documented).
    const after = await generations(h);
    expect(after['ingress/public']).toBe((before['ingress/public'] ?? 0) + 2);
    expect(await ownLabels(h)).toEqual({
      'ingress/public': undefined,
      'shop/shop-gw': undefined,
      'reviews-ambient/waypoint': undefined,
    });
  });

  it('mode: follow leaves them to their namespace and tag: no label write, they move with the relabel', async () => {
    h = await createHarness(scenario());
    const policy = h.policy(
      policyText(
        '',
        `    - {name: shop, namespaces: {names: [shop]}, bake: 200ms}
    - {name: payments, namespaces: {names: [payments]}, bake: 200ms}`,
      ).replace('gatewayApi: {bake: 300ms', 'gatewayApi: {mode: follow, bake: 300ms'),
    );
    const sampler = startSampler(h);
    const result = await h.run(policy);
    const s = await sampler.stop();
    expect(result.outcome, result.message).toBe('promoted');
    expect(result.state?.steps.some((st) => st.id.startsWith('gateway-api/'))).toBe(false);
    expect(s.labels('shop/shop-gw')).toEqual(['-']);
    expect(s.owners('shop/shop-gw')).toEqual(['1-24-3', '1-25-1']);
    // It moved when its namespace was relabelled, before the payments wave began.
    const moved = s.events.find((e) => e.key === 'shop/shop-gw' && e.owner === '1-25-1')?.at ?? 0;
    const paymentsStarted = Date.parse(
      result.state?.records.find((r) => r.id === 'wave/payments/migrate')?.startedAt ?? '',
    );
    expect(moved).toBeLessThan(paymentsStarted);
  });

  it('revroll plan says per step which Gateways would move and what revroll does instead', async () => {
    h = await createHarness(scenario());
    const file = join(dirname(h.kubeconfigFile), 'gw.yaml');
    writeFileSync(file, policyText());
    const plan = await harnessCli(h, ['plan', file]);
    expect(plan.code, plan.err).toBe(0);
    const text = plan.out;
    expect(text).toContain('Gateway API gateways and waypoints:');
    expect(text).toContain(
      'ingress/public (istio, Deployment public-istio): no istio.io/rev label: the default tag -> 1-24-3',
    );
    expect(text).toMatch(/ingress\/public[\s\S]*?if nothing were done, moved by: promote\/tags/);
    expect(text).toMatch(/shop\/shop-gw[^\n]*namespace label istio.io\/rev=1-24-3 -> 1-24-3/);
    expect(text).toMatch(/shop\/shop-gw[\s\S]*?moved by: wave\/shop\/migrate/);
    expect(text).toMatch(/pins it \(istio.io\/rev=1-24-3\) at gateway-api\/pin, then moves it at gateway-api\/move/);
    expect(text).toMatch(
      /reviews-ambient\/waypoint[\s\S]*?moves it at wave\/ambient\/waypoints \(sets istio.io\/rev=1-25-1\)/,
    );
    // The mutation list names the label writes, in their steps.
    expect(text).toMatch(
      /before the first step that would move them: label gateway ingress\/public istio.io\/rev=1-24-3/,
    );
    expect(text).toMatch(/gateways wave: label gateway shop\/shop-gw istio.io\/rev- \(was: 1-24-3/);
    expect(text).toMatch(/wave ambient: label gateway reviews-ambient\/waypoint istio.io\/rev=1-25-1/);
    expect(text).toMatch(/promote: label gateway reviews-ambient\/waypoint istio.io\/rev- /);
    // The ambient namespace is never labelled.
    expect(text).not.toMatch(/label namespace reviews-ambient/);
  });

  it('kubectl shows the Gateways and their rendered Deployments', async () => {
    h = await createHarness(scenario());
    const result = await h.run(h.policy(policyText()));
    expect(result.outcome).toBe('promoted');
    const kubectl = async (...args: string[]) =>
      (await promisify(execFile)('kubectl', ['--kubeconfig', h?.kubeconfigFile ?? '', ...args])).stdout;
    const gateways = await kubectl('get', 'gateway', '-A');
    expect(gateways).toMatch(/NAMESPACE\s+NAME\s+CLASS\s+ADDRESS\s+PROGRAMMED/);
    expect(gateways).toMatch(/ingress\s+public\s+istio\s+\S+\s+True/);
    expect(gateways).toMatch(/reviews-ambient\s+waypoint\s+istio-waypoint/);
    const deployments = await kubectl(
      'get',
      'deploy',
      '-A',
      '-l',
      'gateway.networking.k8s.io/gateway-name',
      '-o',
      'custom-columns=NS:.metadata.namespace,NAME:.metadata.name,REV:.spec.template.metadata.annotations.istio\\.io/rev,IMAGE:.spec.template.spec.containers[0].image',
    );
    expect(deployments).toMatch(/ingress\s+public-istio\s+1-25-1\s+\S+proxyv2:1\.25\.1/);
    expect(deployments).toMatch(/shop\s+shop-gw-istio\s+1-25-1/);
    expect(deployments).toMatch(/reviews-ambient\s+waypoint\s+1-25-1/);
    process.stdout.write(`\n$ kubectl get gateway -A\n${gateways}\n$ kubectl get deploy -A -l ...\n${deployments}\n`);
  });
});
