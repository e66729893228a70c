/**
 * The scenario fields for Gateway API and ambient: validated like the rest (unknown keys and
 * dangling references are errors, every problem with its path), and the built-in `gateway-api`
 * scenario as described in docs/sandbox.md; `demo` keeps no Gateway API objects.
 */
import { describe, expect, it } from 'vitest';
import { createSandbox, loadScenario, parseScenario, ScenarioError } from '../../src/index.ts';
import { kube } from './gateway-helpers.ts';
import { pods } from './helpers.ts';

describe('Gateway API and ambient scenario fields', () => {
  it('reports every problem with its path', () => {
    const attempt = () =>
      parseScenario({
        name: 'broken',
        istio: {
          revisions: [{ name: '1-25-1', version: '1.25.1', ambient: 'yes' }],
          tags: { prod: { revision: '1-25-1', service: '1-24-0' } },
          ztunnel: { revision: 'prod' },
        },
        gatewayApi: {
          crds: false,
          gateways: [
            { name: 'web', namespace: 'nowhere', listners: [] },
            { name: 'web2', namespace: 'shop', listeners: [{ name: 'http', port: 70000 }] },
          ],
          routes: [{ name: 'r', namespace: 'shop', gateway: 'missing', backend: { service: 'web' } }],
        },
        namespaces: [{ name: 'shop', ambient: true }],
      });
    expect(attempt).toThrow(ScenarioError);
    let message = '';
    try {
      attempt();
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('istio.revisions.0.ambient');
    expect(message).toMatch(/gatewayApi\.gateways\.0: Unrecognized key.*listners/);
    expect(message).toContain('gatewayApi.gateways.1.listeners.0.port');
    // Cross-field problems are reported once the shapes are valid: check them separately.
    const crossField = () =>
      parseScenario({
        name: 'dangling',
        istio: {
          revisions: [{ name: '1-25-1', version: '1.25.1', ambient: true }],
          tags: { prod: { revision: '1-25-1', service: '1-24-0' } },
          ztunnel: { revision: 'prod' },
        },
        gatewayApi: {
          crds: false,
          gateways: [{ name: 'web', namespace: 'nowhere' }],
          routes: [{ name: 'r', namespace: 'shop', gateway: 'missing', backend: { service: 'web' } }],
        },
        namespaces: [{ name: 'shop', ambient: true }],
      });
    try {
      crossField();
      expect.unreachable();
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('istio.tags.prod.service: revision "1-24-0" is not installed');
    expect(message).toContain('istio.ztunnel.revision: revision "prod" is not installed (a revision, not a tag)');
    expect(message).toContain(
      'gatewayApi.crds: the Gateway API CRDs are off, but gateways, waypoints or routes are listed',
    );
    expect(message).toContain(
      `gatewayApi.gateways.0.namespace: namespace "nowhere" is not in the scenario's namespaces`,
    );
    expect(message).toContain('gatewayApi.routes.0.gateway: no Gateway "missing" in namespace "shop"');
  });

  it('gives the demo scenario a Gateway API ingress, a namespace Gateway and a waypoint, with Istio CRDs served', async () => {
    expect(loadScenario('demo').gatewayApi?.gateways.map((g) => `${g.namespace}/${g.name}`)).toEqual([
      'ingress/public',
      'catalog/catalog-gw',
    ]);
    const demo = await createSandbox({ scenario: 'demo', startLatencyMs: 20 });
    try {
      await demo.waitForIdle();
      expect(demo.store.findType('gateway.networking.k8s.io', 'gateways')).toBeDefined();
      expect(demo.store.findType('networking.istio.io', 'envoyfilters')).toBeDefined();
      expect(
        demo.summary().gateways.map((g) => `${g.namespace}/${g.name}:${g.className}:${g.owners.join('+')}`),
      ).toEqual([
        'catalog/catalog-gw:istio:1-24-3',
        'ingress/public:istio:1-24-3',
        'recommendations/waypoint:istio-waypoint:1-24-3',
      ]);
    } finally {
      await demo.close();
    }
  });

  it('loads the gateway-api built-in: an ingress Gateway, a namespace Gateway, an ambient namespace with a waypoint', async () => {
    const scenario = loadScenario('gateway-api');
    expect(scenario.istio.revisions.map((r) => [r.name, r.ambient])).toEqual([
      ['1-24-3', true],
      ['1-25-1', true],
    ]);
    const sandbox = await createSandbox({ scenario, startLatencyMs: 20 });
    const k = kube(sandbox);
    try {
      await sandbox.waitForIdle();
      expect(sandbox.summary().gateways).toEqual([
        { namespace: 'ingress', name: 'public', className: 'istio', owners: ['1-24-3'], programmed: 'True' },
        {
          namespace: 'reviews-ambient',
          name: 'waypoint',
          className: 'istio-waypoint',
          owners: ['1-24-3'],
          programmed: 'True',
        },
        { namespace: 'shop', name: 'shop-gw', className: 'istio', owners: ['1-24-3'], programmed: 'True' },
      ]);
      const routes = await k.kubectl('get', 'httproute', '-A', '--no-headers');
      expect(routes.stdout).toMatch(/^shop\s+shop-internal\s+\d+s\n/m);
      expect(routes.stdout).toMatch(/^shop\s+storefront\s+\["shop\.example\.com"\]\s+\d+s\n/m);
      const listener = await k.kubectl(
        'get',
        'gtw',
        'public',
        '-n',
        'ingress',
        '-o',
        'jsonpath={.status.listeners[0].attachedRoutes}',
      );
      expect(listener.stdout).toBe('1'); // storefront, from another namespace (allowedRoutes All)
      const ambientPods = pods(sandbox.store, 'reviews-ambient').filter((p) => p.metadata.labels?.app);
      expect(ambientPods).toHaveLength(5);
      expect(ambientPods.every((p) => p.metadata.annotations?.['ambient.istio.io/redirection'] === 'enabled')).toBe(
        true,
      );
      expect(sandbox.summary().pods.injected['1-24-3']).toBeGreaterThan(0); // sidecars elsewhere
    } finally {
      k.dispose();
      await sandbox.close();
    }
  });
});
