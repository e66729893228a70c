import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../ports/cluster.ts';
import { Resources } from '../ports/cluster.ts';
import {
  isManagedGateway,
  listIstioGateways,
  renderedDeploymentName,
  renderedPending,
  resolveOwner,
  type OwnershipView,
} from './gateway-api.ts';
import { unsafeDeletions } from './uninstall.ts';

const view: OwnershipView = {
  tags: { default: '1-24-3', 'prod-stable': '1-24-3', canary: '1-25-1' },
  revisions: new Set(['1-24-3', '1-25-1']),
  defaultRevision: '1-24-3',
};

const gateway = (name: string, className: string, labels: Record<string, string> = {}, extra = {}): KubeObject => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'Gateway',
  metadata: { name, namespace: 'ns', labels },
  spec: { gatewayClassName: className, ...extra },
});

describe('resolveOwner (IsMine)', () => {
  it.each([
    // own label, namespace label, owner, source, tag
    [undefined, undefined, '1-24-3', 'default', 'default'],
    ['', '1-25-1', '1-24-3', 'own-label', 'default'],
    ['1-25-1', '1-24-3', '1-25-1', 'own-label', undefined],
    [undefined, '1-25-1', '1-25-1', 'namespace-label', undefined],
    [undefined, 'prod-stable', '1-24-3', 'namespace-label', 'prod-stable'],
    ['canary', 'prod-stable', '1-25-1', 'own-label', 'canary'],
    ['gone', undefined, undefined, 'own-label', undefined],
  ] as const)('own %s, namespace %s -> %s (%s)', (own, ns, owner, source, tag) => {
    const o = resolveOwner(own, ns, view);
    expect(o.owner).toBe(owner);
    expect(o.source).toBe(source);
    expect(o.tag).toBe(tag);
  });

  it('falls back to an unrevisioned istiod (revision `default`) when no default tag exists', () => {
    expect(
      resolveOwner(undefined, undefined, { tags: {}, revisions: new Set(), defaultRevision: 'default' }).owner,
    ).toBe('default');
    expect(resolveOwner(undefined, undefined, { tags: {}, revisions: new Set() }).owner).toBeUndefined();
  });
});

describe('Istio-managed Gateways', () => {
  it('keeps Istio classes, skips manual deployments and other controllers, names the rendered Deployment', () => {
    expect(isManagedGateway(gateway('a', 'istio'))).toBe(true);
    expect(isManagedGateway(gateway('a', 'other'))).toBe(false);
    expect(isManagedGateway(gateway('a', 'istio', {}, { addresses: [{ type: 'Hostname', value: 'x' }] }))).toBe(false);
    expect(renderedDeploymentName(gateway('web', 'istio'))).toBe('web-istio');
    expect(renderedDeploymentName(gateway('waypoint', 'istio-waypoint'))).toBe('waypoint');
    expect(renderedDeploymentName(gateway('ew', 'istio-east-west'))).toBe('ew');
  });

  it('lists each with its owner and namespace, ambient namespaces marked', () => {
    const namespaces: KubeObject[] = [
      { metadata: { name: 'ns', labels: { 'istio.io/rev': '1-25-1', 'istio.io/dataplane-mode': 'ambient' } } },
    ];
    const [g] = listIstioGateways([gateway('wp', 'istio-waypoint')], namespaces, view);
    expect(g).toMatchObject({ namespaceRev: '1-25-1', ambientNamespace: true, waypoint: true, deployment: 'wp' });
    expect(g?.ownership).toEqual({ owner: '1-25-1', source: 'namespace-label' });
  });
});

describe('renderedPending (a move is checked on the Deployment, never on Gateway status)', () => {
  const deployment = (rev: string, image: string, label: string | undefined, status: Record<string, number>) => ({
    metadata: { name: 'web-istio', generation: 3 },
    spec: {
      template: {
        metadata: { annotations: { 'istio.io/rev': rev }, labels: label ? { 'istio.io/rev': label } : {} },
        spec: { containers: [{ name: 'istio-proxy', image }] },
      },
    },
    status,
  });
  const done = { observedGeneration: 3, replicas: 1, updatedReplicas: 1, availableReplicas: 1 };
  const want = { revision: '1-25-1', version: '1.25.1', rev: null, copiesLabels: true };
  it.each([
    [deployment('1-24-3', 'x/proxyv2:1.24.3', undefined, done), /names revision 1-24-3/],
    [deployment('1-25-1', 'x/proxyv2:1.24.3', undefined, done), /image is x\/proxyv2:1.24.3/],
    [deployment('1-25-1', 'x/proxyv2:1.25.1', '1-24-3', done), /label istio.io\/rev is 1-24-3/],
    [deployment('1-25-1', 'x/proxyv2:1.25.1', undefined, { ...done, observedGeneration: 2 }), /not started/],
    [deployment('1-25-1', 'x/proxyv2:1.25.1', undefined, { ...done, availableReplicas: 0 }), /1\/1 updated, 0/],
    [deployment('1-25-1', 'x/proxyv2:1.25.1', undefined, { ...done, replicas: 2 }), /terminating/],
  ])('%#: pending', (d, why) => {
    expect(renderedPending(d, want)).toMatch(why);
  });
  it('is done when all hold', () => {
    expect(renderedPending(deployment('1-25-1', 'x/proxyv2:1.25.1', undefined, done), want)).toBeUndefined();
    expect(renderedPending(undefined, want)).toMatch(/does not exist/);
  });
});

describe('uninstall never deletes what a Gateway owns', () => {
  it('refuses a Deployment with ownerReferences to a Gateway, even when the selector matched it', () => {
    const owned: KubeObject = {
      metadata: {
        name: 'public-istio',
        namespace: 'ingress',
        labels: { 'istio.io/rev': '1-24-3', 'operator.istio.io/component': 'IngressGateways' },
        ownerReferences: [{ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name: 'public', uid: 'u' }],
      },
      spec: { selector: { matchLabels: { 'gateway.networking.k8s.io/gateway-name': 'public' } } },
    };
    const reasons = unsafeDeletions([{ ref: Resources.deployments, object: owned }], {
      revision: '1-24-3',
      pods: [],
      protect: [],
    });
    expect(reasons).toEqual([
      'Deployment ingress/public-istio is owned by Gateway ingress/public (rendered by istiod): not deleting it',
    ]);
  });
});
