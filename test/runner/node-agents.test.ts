/**
 * ztunnel and istio-cni are never touched by a run (issue 15, item 7), on the sandbox through the
 * real CLI: the precheck reports their versions and the skew rule and refuses an upgrade that
 * would break it, changing nothing; an uninstall of the old revision refuses while they still
 * carry it, and leaves both DaemonSets exactly as they were.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Resources, type KubeObject } from '../../src/ports/cluster.ts';
import { createHarness, harnessCli, smallScenario, STATE_NS, type Harness } from '../helpers/runner-harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** The small scenario in ambient mode: ztunnel and istio-cni installed with `agents` as their revision. */
function ambientScenario(to: { name: string; version: string }, agents: string) {
  const base = smallScenario();
  return smallScenario({
    istio: {
      ...base.istio,
      revisions: [
        { name: '1-24-3', version: '1.24.3', replicas: 1, ambient: true },
        { name: to.name, version: to.version, replicas: 1, ambient: true },
      ],
      ztunnel: { revision: agents },
      cni: { revision: agents },
    },
  });
}

const policy = (to: string, uninstall = false) => `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: agents}
spec:
  revisions: {from: auto, to: ${to}}
  waves:
    - {name: all, namespaces: {percent: 100}, bake: 100ms}
  gates: {warmup: 100ms}
  promote: {tags: [default, prod-stable], uninstallPrevious: ${uninstall}}
`;

function writePolicy(harness: Harness, text: string): string {
  const file = join(dirname(harness.kubeconfigFile), 'policy.yaml');
  writeFileSync(file, text);
  return file;
}

/** What must never change: the DaemonSets' labels, pod template and generation. */
async function agents(harness: Harness) {
  const pick = (d: KubeObject | undefined) =>
    d && {
      labels: d.metadata.labels,
      generation: d.metadata['generation'],
      template: (d.spec as { template?: unknown }).template,
    };
  const [ztunnel, cni] = await Promise.all([
    harness.cluster.get(Resources.daemonsets, 'istio-system', 'ztunnel'),
    harness.cluster.get(Resources.daemonsets, 'istio-system', 'istio-cni-node'),
  ]);
  return { ztunnel: pick(ztunnel), cni: pick(cni) };
}

const RULE = 'a node agent \\(ztunnel, istio-cni\\) may lag istiod by at most one minor and never lead it';

describe('ztunnel and istio-cni', () => {
  it('precheck reports their versions and the skew rule for a one-minor upgrade', async () => {
    h = await createHarness(ambientScenario({ name: '1-25-1', version: '1.25.1' }, '1-24-3'));
    const file = writePolicy(h, policy('1-25-1'));
    const { code, out } = await harnessCli(h, ['run', file, '--dry-run', '--state-namespace', STATE_NS]);
    expect(code, out).toBe(0);
    expect(out).toMatch(
      new RegExp(
        `Precheck notes:\\n(?: {2}- .*\\n)* {2}- DaemonSet istio-system/ztunnel \\(ztunnel\\): version 1\\.24\\.3, revision 1-24-3, served by istiod-1-24-3; never changed by revroll \\(rule: ${RULE}\\)\\n {2}- DaemonSet istio-system/istio-cni-node \\(istio-cni\\): version 1\\.24\\.3, revision 1-24-3; never changed by revroll`,
      ),
    );
    expect(out).toMatch(/Precheck: ok\./);
  });

  it('refuses an upgrade two minors past ztunnel, naming the DaemonSet, the versions and the rule, changing nothing', async () => {
    h = await createHarness(ambientScenario({ name: '1-26-0', version: '1.26.0' }, '1-24-3'));
    const before = await agents(h);
    const labelsBefore = await h.namespaceLabels('alpha');
    const file = writePolicy(h, policy('1-26-0'));
    const dry = await harnessCli(h, ['run', file, '--dry-run', '--state-namespace', STATE_NS]);
    expect(dry.code).toBe(1);
    expect(dry.out).toMatch(
      new RegExp(
        `Precheck failed:\\n(?: {2}- .*\\n)* {2}- upgrading to 1-26-0 \\(1\\.26\\.0\\) breaks the skew rule for DaemonSet istio-system/ztunnel \\(ztunnel\\): ztunnel 1\\.24\\.3 would lag istiod 1\\.26\\.0 by 2 minors once 1-24-3 is gone \\(${RULE}\\)`,
      ),
    );
    expect(dry.out).toMatch(/breaks the skew rule for DaemonSet istio-system\/istio-cni-node \(istio-cni\)/);
    // The real run refuses at its precheck: exit 1, and nothing moved.
    const run = await harnessCli(h, ['run', file, '--state-namespace', STATE_NS]);
    expect(run.code).toBe(1);
    expect(run.err + run.out).toMatch(/precheck failed, nothing was changed: .*DaemonSet istio-system\/ztunnel/);
    expect(await h.namespaceLabels('alpha')).toEqual(labelsBefore);
    expect(await h.defaultRevision()).toBe('1-24-3');
    expect(await agents(h)).toEqual(before);
  });

  it('uninstall refuses while ztunnel and istio-cni carry the old revision: both DaemonSets stay as they were', async () => {
    h = await createHarness(ambientScenario({ name: '1-25-1', version: '1.25.1' }, '1-24-3'));
    const before = await agents(h);
    expect(before.ztunnel?.labels).toMatchObject({
      'istio.io/rev': '1-24-3',
      'operator.istio.io/component': 'Ztunnel',
    });
    const file = writePolicy(h, policy('1-25-1', true));
    // The plan already says the uninstall will refuse, and why.
    const plan = await harnessCli(h, ['plan', file]);
    expect(plan.out).toMatch(
      /uninstall revision 1-24-3: refused, deleting nothing, while 2 reference\(s\) remain: DaemonSet istio-system\/ztunnel \(ztunnel\) still carries 1-24-3 \(label istio\.io\/rev=1-24-3, pod-template annotation istio\.io\/rev=1-24-3, XDS_ADDRESS of istiod-1-24-3\): revroll never deletes or re-points ztunnel/,
    );
    const run = await harnessCli(h, ['run', file, '--state-namespace', STATE_NS, '-o', 'json']);
    expect(run.code, run.err).toBe(0);
    const status = await harnessCli(h, ['status', 'agents', '--state-namespace', STATE_NS, '-o', 'json']);
    const records = (JSON.parse(status.out) as { records: { id: string; status: string; note?: string }[] }).records;
    const uninstall = records.find((r) => r.id === 'promote/uninstall-previous');
    expect(uninstall?.status).toBe('skipped');
    expect(uninstall?.note).toMatch(
      /uninstall of 1-24-3 skipped: DaemonSet istio-system\/ztunnel \(ztunnel\) still carries 1-24-3 .*revroll never deletes or re-points ztunnel; move it to the new revision first.*; DaemonSet istio-system\/istio-cni-node \(istio-cni\) still carries 1-24-3 \(label istio\.io\/rev=1-24-3\)/,
    );
    await h.sandbox.waitForIdle();
    expect(await agents(h)).toEqual(before);
    // The old control plane stays too: ztunnel still gets its config from it.
    expect(await h.cluster.get(Resources.deployments, 'istio-system', 'istiod-1-24-3')).toBeDefined();
    expect(await h.defaultRevision()).toBe('1-25-1');
  });

  it('once they are moved to the new revision, the uninstall goes ahead and still never deletes them', async () => {
    h = await createHarness(ambientScenario({ name: '1-25-1', version: '1.25.1' }, '1-25-1'));
    const before = await agents(h);
    const file = writePolicy(h, policy('1-25-1', true));
    const run = await harnessCli(h, ['run', file, '--state-namespace', STATE_NS]);
    expect(run.code, run.err).toBe(0);
    await h.sandbox.waitForIdle();
    expect(await h.cluster.get(Resources.deployments, 'istio-system', 'istiod-1-24-3')).toBeUndefined();
    expect(await agents(h)).toEqual(before);
  });
});
