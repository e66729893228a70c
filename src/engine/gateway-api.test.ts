/**
 * The Gateway API planner, table-driven over small clusters: which steps would move each Gateway,
 * where the pin goes, what the move writes, and when the pin comes off.
 */
import { describe, expect, it } from 'vitest';
import { loadPolicyText } from '../policy/load.ts';
import type { Policy } from '../policy/types.ts';
import type { KubeObject } from '../ports/cluster.ts';
import { planRun, type ClusterSnapshot } from './plan.ts';
import type { MeshSnapshot } from '../mesh/revisions.ts';
import { decide, initialState } from './decide.ts';
import { planProblems, stateProblems } from './state-schema.ts';

function policy(extra = '', waves = '    - {name: one, namespaces: {names: [shop]}}'): Policy {
  const result = loadPolicyText(
    `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: p}
spec:
  revisions: {from: 1-24-3, to: 1-25-1}
  waves:
${waves}
${extra}`,
    'p.yaml',
  );
  if (!result.policy) throw new Error(result.problems.map((p) => p.message).join('; '));
  return result.policy;
}

const ns = (name: string, labels: Record<string, string> = {}): KubeObject => ({ metadata: { name, labels } });
const gw = (namespace: string, name: string, labels: Record<string, string> = {}, className = 'istio'): KubeObject => ({
  metadata: { namespace, name, labels },
  spec: { gatewayClassName: className },
});

function snapshot(gateways: KubeObject[], namespaces: KubeObject[]): ClusterSnapshot {
  const mesh: MeshSnapshot = {
    istioNamespace: 'istio-system',
    revisions: [
      {
        name: '1-24-3',
        ready: true,
        replicas: 1,
        availableReplicas: 1,
        injectorDeactivated: false,
        deployment: 'istiod-1-24-3',
      },
      {
        name: '1-25-1',
        ready: true,
        replicas: 1,
        availableReplicas: 1,
        injectorDeactivated: false,
        deployment: 'istiod-1-25-1',
      },
    ],
    tags: [
      { tag: 'default', revision: '1-24-3', webhook: 'istio-revision-tag-default', namespaces: [] },
      { tag: 'stable', revision: '1-24-3', webhook: 'istio-revision-tag-stable', namespaces: [] },
    ],
    defaultRevision: '1-24-3',
    webhooks: [],
    validators: [],
    namespaces,
  };
  return { mesh, workloads: [], podCounts: {}, gateways: [], gatewayApi: gateways };
}

const cluster = () =>
  snapshot(
    [
      gw('ingress', 'public'),
      gw('shop', 'shop-gw'),
      gw('shop', 'own', { 'istio.io/rev': '1-24-3' }),
      gw('edge', 'tagged', { 'istio.io/rev': 'stable' }),
      gw('other', 'elsewhere', { 'istio.io/rev': '1-25-1' }),
      gw('amb', 'waypoint', {}, 'istio-waypoint'),
    ],
    [
      ns('ingress'),
      ns('shop', { 'istio.io/rev': '1-24-3' }),
      ns('edge'),
      ns('other'),
      ns('amb', { 'istio.io/dataplane-mode': 'ambient' }),
    ],
  );

describe('planning Gateway API Gateways', () => {
  it('finds the side effects, pins before the first, moves after the promoted tags and unpins in the move', () => {
    const { plan, problems } = planRun(policy('  promote: {tags: [default, stable]}'), cluster());
    expect(problems).toEqual([]);
    const by = (name: string) => plan?.gatewayApi.gateways.find((g) => g.name === name);
    expect(by('public')).toMatchObject({ movedBy: ['promote/tags'], pin: true, moveTo: null, unpin: false });
    expect(by('shop-gw')).toMatchObject({ movedBy: ['wave/one/migrate'], pin: true, moveTo: null, unpin: false });
    // Pinned by the operator with the revision itself: no side effect, moved by its label, kept.
    expect(by('own')).toMatchObject({ movedBy: [], pin: false, moveTo: '1-25-1', unpin: false });
    // Follows a tag the run promotes: pinned, and its tag label comes back at the move.
    expect(by('tagged')).toMatchObject({ movedBy: ['promote/tags'], pin: true, moveTo: 'stable' });
    expect(plan?.gatewayApi.others).toEqual([
      { namespace: 'other', name: 'elsewhere', resolution: 'own label istio.io/rev=1-25-1 -> 1-25-1' },
    ]);
    expect(plan?.gatewayApi.pinBefore).toBe('wave/one/migrate');
    const ids = plan?.steps.map((s) => s.id) ?? [];
    expect(ids.slice(ids.indexOf('gateway-api/pin'), ids.indexOf('gateway-api/pin') + 2)).toEqual([
      'gateway-api/pin',
      'wave/one/migrate',
    ]);
    expect(ids.indexOf('gateway-api/move')).toBe(ids.indexOf('promote/tags') + 1);
    expect(ids).not.toContain('promote/unpin-gateways');
  });

  it('before-waves: moves first by the Gateway label, nothing to pin, the pins come off on promotion', () => {
    const { plan } = planRun(policy('  gatewayApi: {order: before-waves}'), cluster());
    const by = (name: string) => plan?.gatewayApi.gateways.find((g) => g.name === name);
    expect(by('public')).toMatchObject({ pin: false, moveTo: '1-25-1', unpin: true });
    expect(by('shop-gw')).toMatchObject({ pin: false, moveTo: '1-25-1', unpin: true });
    const ids = plan?.steps.map((s) => s.id) ?? [];
    expect(ids).not.toContain('gateway-api/pin');
    expect(ids.indexOf('gateway-api/move')).toBeLessThan(ids.indexOf('wave/one/migrate'));
    expect(ids).toContain('promote/unpin-gateways');
  });

  it('follow: no pin, no gateways wave; the plan still names what moves them', () => {
    const { plan } = planRun(policy('  gatewayApi: {mode: follow}'), cluster());
    expect(plan?.steps.some((s) => s.id.startsWith('gateway-api/'))).toBe(false);
    expect(plan?.gatewayApi.gateways.find((g) => g.name === 'shop-gw')?.movedBy).toEqual(['wave/one/migrate']);
  });

  it('a per-Gateway override and a name that does not exist', () => {
    const { plan, problems } = planRun(
      policy(
        '  gatewayApi:\n    gateways:\n      - {namespace: ingress, name: public, mode: follow}\n      - {namespace: ingress, name: nope, mode: follow}',
      ),
      cluster(),
    );
    expect(plan).toBeUndefined();
    expect(problems).toEqual([
      {
        path: 'spec.gatewayApi.gateways[1]',
        message:
          'Gateway ingress/nope does not exist or is not rendered by istiod (class istio, istio-waypoint or istio-east-west)',
      },
    ]);
  });

  it('an ambient namespace named by a wave moves its waypoints there, never relabelled', () => {
    const { plan, problems } = planRun(
      policy('', '    - {name: one, namespaces: {names: [shop]}}\n    - {name: amb, namespaces: {names: [amb]}}'),
      cluster(),
    );
    expect(problems).toEqual([]);
    expect(plan?.gatewayApi.ambient).toEqual({ amb: 1 });
    expect(plan?.waves[1]?.namespaces).toEqual([]);
    expect(plan?.gatewayApi.gateways.find((g) => g.name === 'waypoint')).toMatchObject({
      wave: 1,
      pin: false,
      moveTo: '1-25-1',
      unpin: true,
    });
    expect(plan?.steps.map((s) => s.id)).toContain('wave/amb/waypoints');
  });

  it('refuses an ambient namespace without a waypoint on the old revision', () => {
    const c = cluster();
    c.gatewayApi = (c.gatewayApi ?? []).filter((g) => g.metadata.name !== 'waypoint');
    const { problems } = planRun(
      policy('', '    - {name: one, namespaces: {names: [shop]}}\n    - {name: amb, namespaces: {names: [amb]}}'),
      c,
    );
    expect(problems.map((p) => p.message).join()).toMatch(/namespace amb is ambient .* no waypoint owned by 1-24-3/);
  });

  it('the stored state carries the records, validates, and its steps are rebuilt from it', () => {
    const p = policy(
      '',
      '    - {name: one, namespaces: {names: [shop]}}\n    - {name: amb, namespaces: {names: [amb]}}',
    );
    const { plan } = planRun(p, cluster());
    if (!plan) throw new Error('no plan');
    const state = JSON.parse(JSON.stringify(initialState(p, plan, 'r1', new Date(0)))) as unknown;
    const checked = stateProblems(state, 'p');
    expect(checked.problems).toEqual([]);
    expect(checked.state?.gatewayApi?.gateways.map((g) => `${g.namespace}/${g.name}:${g.originalRev ?? '-'}`)).toEqual([
      'amb/waypoint:-',
      'edge/tagged:stable',
      'ingress/public:-',
      'shop/own:1-24-3',
      'shop/shop-gw:-',
    ]);
    if (checked.state) expect(planProblems(p, checked.state)).toEqual([]);
    const broken = structuredClone(checked.state) as NonNullable<typeof checked.state>;
    (broken.gatewayApi?.gateways[0] as { wave?: number }).wave = 7;
    expect(stateProblems(broken, 'p').problems).toContain('gatewayApi.gateways[0].wave: 7 is not a wave of the run');
  });

  it('the gateways wave starts only when it fits the window (DESIGN section 6)', () => {
    const p = policy('  gatewayApi: {bake: 30m}');
    const { plan } = planRun(p, cluster());
    if (!plan) throw new Error('no plan');
    const now = new Date('2026-03-02T02:00:00Z');
    const state = initialState(p, plan, 'r1', now);
    state.cursor = state.steps.findIndex((st) => st.id === 'gateway-api/move');
    for (let i = 0; i < state.cursor; i++) (state.records[i] as { status: string }).status = 'done';
    const tight = decide(p, state, undefined, { now, windowClosesAt: new Date(now.getTime() + 20 * 60_000) });
    expect(tight.action).toBeUndefined();
    expect(tight.state.hold?.kind).toBe('window');
    expect(tight.state.hold?.reason).toMatch(/^the gateways wave needs about \d+ min but the window closes at/);
    const roomy = decide(p, state, undefined, { now, windowClosesAt: new Date(now.getTime() + 3 * 3_600_000) });
    expect(roomy.action?.type).toBe('set-gateway-labels');
  });
});
