/**
 * The precheck finds the known Gateway API traps (issue 15, item 8) on the sandbox's trap
 * scenarios, through the real CLI: dual ownership, a half-moved tag and an unrevisioned istiod
 * that would co-own label-less Gateways once `default` moves are refused before anything moves;
 * an old owner without the gateway-move fix (istio/istio#59959) is a warning.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ScenarioInput } from '@revroll/sandbox';
import { gatewayResource } from '../../src/mesh/gateway-traps.ts';
import { createHarness, harnessCli, STATE_NS, type Harness } from '../helpers/runner-harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const policy = (from: string, to: string) => `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: traps}
spec:
  revisions: {from: ${from}, to: ${to}}
  waves:
    - {name: all, namespaces: {percent: 100}, bake: 100ms}
  gates: {warmup: 100ms}
`;

function writePolicy(harness: Harness, text: string): string {
  const file = join(dirname(harness.kubeconfigFile), 'policy.yaml');
  writeFileSync(file, text);
  return file;
}

const dryRun = (harness: Harness, file: string) =>
  harnessCli(harness, ['run', file, '--dry-run', '--state-namespace', STATE_NS]);

const MUTATING = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

/** Writes to anything but revroll's own state, Lease, Events and access reviews. */
function clusterWrites(harness: Harness): string[] {
  return harness.sandbox.api.requests
    .filter((r) => MUTATING.has(r.verb))
    .filter((r) => !['selfsubjectaccessreviews', 'leases', 'events'].includes(r.resource))
    .filter((r) => !(r.resource === 'configmaps' && r.namespace === STATE_NS))
    .map((r) => `${r.verb} ${r.resource} ${r.namespace ?? ''}/${r.name ?? ''}`);
}

describe('precheck: Gateway API traps', () => {
  it('refuses dual ownership (gateway-dual-owner): the unrevisioned istiod and the default tag both own a Gateway', async () => {
    h = await createHarness('gateway-dual-owner', { idle: false });
    const file = writePolicy(h, policy('default', '1-29-1'));
    const dry = await dryRun(h, file);
    expect(dry.code).toBe(1);
    expect(dry.out).toMatch(
      /Precheck failed:\n(?: {2}- .*\n)* {2}- Gateway ingress\/public has two owners now, 1-29-1 \(1\.29\.1\) and default \(1\.28\.2\) \(no istio\.io\/rev on it or its namespace: it follows the default\): both apply its Deployment, which flaps between their images; label it istio\.io\/rev=<one revision name, not default> or remove the unrevisioned istiod before the upgrade\n/,
    );
    // The pinned Gateway has one owner: not reported.
    expect(dry.out).not.toMatch(/Gateway ingress\/pinned/);
    // The real run stops at its precheck, before anything moves.
    h.sandbox.api.resetRequests();
    const run = await harnessCli(h, ['run', file, '--state-namespace', STATE_NS]);
    expect(run.code).toBe(1);
    expect(run.err + run.out).toMatch(/precheck failed, nothing was changed: .*Gateway ingress\/public has two owners/);
    expect(clusterWrites(h)).toEqual([]);
    const gateway = await h.cluster.get(gatewayResource, 'ingress', 'public');
    expect(gateway?.metadata.labels?.['istio.io/rev']).toBeUndefined();
  });

  it('refuses a half-moved tag (gateway-half-moved-tag): webhook and Service on different revisions', async () => {
    h = await createHarness('gateway-half-moved-tag', { idle: false });
    const dry = await dryRun(h, writePolicy(h, policy('auto', '1-29-1')));
    expect(dry.code).toBe(1);
    expect(dry.out).toMatch(
      / {2}- tag prod-stable is half moved: its webhook istio-revision-tag-prod-stable points at 1-29-1, its Service istiod-revision-tag-prod-stable at 1-28-3; 1-28-3 \(1\.28\.3\) reads tag Services, so both revisions claim prod-stable and own the Gateways that use it: make both point at one revision \(istioctl tag set prod-stable --revision <rev> --overwrite writes both\) before the upgrade\n/,
    );
    expect(dry.out).toMatch(
      / {2}- Gateway shop\/shop-gw has two owners now, 1-28-3 \(1\.28\.3\) and 1-29-1 \(1\.29\.1\) \(namespace label istio\.io\/rev=prod-stable\)/,
    );
  });

  it('refuses an unrevisioned istiod that would keep claiming a label-less Gateway once the default tag moves', async () => {
    const scenario: ScenarioInput = {
      name: 'unrevisioned-gateways',
      nodes: 2,
      startLatencyMs: 20,
      istio: {
        defaultInstall: { version: '1.24.3' },
        revisions: [{ name: '1-25-1', version: '1.25.1', replicas: 1 }],
      },
      gatewayApi: {
        gateways: [
          { name: 'public', namespace: 'ingress', rps: 10 },
          { name: 'pinned', namespace: 'ingress', labels: { 'istio.io/rev': '1-25-1' }, rps: 10 },
        ],
      },
      namespaces: [
        { name: STATE_NS },
        { name: 'ingress' },
        { name: 'shop', labels: { 'istio-injection': 'enabled' }, workloads: [{ name: 'web', replicas: 1 }] },
      ],
    } as ScenarioInput;
    h = await createHarness(scenario);
    const dry = await dryRun(h, writePolicy(h, policy('auto', '1-25-1')));
    expect(dry.code).toBe(1);
    expect(dry.out).toMatch(
      / {2}- Gateway ingress\/public would have two owners once promotion moves the default tag to 1-25-1: 1-25-1 \(1\.25\.1\) and default \(1\.24\.3\); the unrevisioned istiod runs as revision "default", so it keeps claiming label-less Gateways, and no label can tell it from the default tag: label the Gateway istio\.io\/rev=1-25-1 \(a revision name\) or remove the unrevisioned istiod before the upgrade\n/,
    );
    expect(dry.out).not.toMatch(/Gateway ingress\/pinned/);
  });

  it('warns, and does not refuse, that moving Gateways off 1.24.3 (no #59959 fix) may drop their traffic', async () => {
    h = await createHarness('gateway-api');
    const dry = await harnessCli(h, [
      'run',
      writePolicy(h, policy('auto', '1-25-1')),
      '--dry-run',
      '--state-namespace',
      STATE_NS,
      '-o',
      'json',
    ]);
    expect(dry.code, dry.out).toBe(0);
    const result = JSON.parse(dry.out) as { precheck: string[]; precheckNotes: string[] };
    expect(result.precheck).toEqual([]);
    const warning = result.precheckNotes.find((n) => n.startsWith('warning: moving Gateway(s) '));
    expect(warning).toMatch(
      /^warning: moving Gateway\(s\) [^ ]+, [^ ]+, [^ ]+ off 1-24-3 \(1\.24\.3\) may drop their traffic for about 30 s each: without the gateway-move fix the old owner drops a Gateway from xDS as soon as another revision takes it, and its pods serve empty config until they are replaced \(istio\/istio#59959; fixed in 1\.29\.5, 1\.30\.2, 1\.31\.0; no 1\.28\.x\); move them in a quiet window, or first move 1-24-3 to a fixed patch of its minor where there is one$/,
    );
    for (const id of ['ingress/public', 'shop/shop-gw', 'reviews-ambient/waypoint']) expect(warning).toContain(id);
  });
});
