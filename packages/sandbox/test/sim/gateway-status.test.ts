/**
 * Gateway and HTTPRoute status as the owning revision writes it: Accepted, Programmed when the
 * generated Service has an address and instances (a LoadBalancer without an external IP, or no
 * pod, is AddressNotAssigned), never from Deployment readiness; listener status with attached
 * routes; route parents with Accepted and ResolvedRefs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, type Sandbox } from '../../src/index.ts';
import { condition, deploymentOf, eventually, gatewayOf, kube, merge, type Kube } from './gateway-helpers.ts';

let sandbox: Sandbox;
let k: Kube;

beforeAll(async () => {
  sandbox = await createSandbox({
    startLatencyMs: 20,
    scenario: {
      name: 'status',
      istio: { revisions: [{ name: '1-29-1', version: '1.29.1' }], tags: { default: '1-29-1' } },
      gatewayApi: {
        gateways: [
          {
            name: 'public',
            namespace: 'ingress',
            listeners: [
              { name: 'http', port: 80, protocol: 'HTTP', allowedRoutes: 'All' },
              { name: 'tls.passthrough', port: 8443, protocol: 'TLS' },
            ],
          },
          { name: 'internal', namespace: 'shop', annotations: { 'networking.istio.io/service-type': 'ClusterIP' } },
        ],
        routes: [
          {
            name: 'web',
            namespace: 'shop',
            gateway: 'public',
            gatewayNamespace: 'ingress',
            backend: { service: 'web' },
          },
          { name: 'broken', namespace: 'shop', gateway: 'internal', backend: { service: 'nope' } },
        ],
      },
      namespaces: [{ name: 'ingress' }, { name: 'shop', workloads: [{ name: 'web' }] }],
    },
  });
  await sandbox.waitForIdle();
  k = kube(sandbox);
});
afterAll(async () => {
  k?.dispose();
  await sandbox?.close();
});

describe('Gateway status', () => {
  it('is Accepted and Programmed once the LoadBalancer Service has an external IP, with that IP as address', async () => {
    const out = await k.kubectl('get', 'gtw', 'public', '-n', 'ingress', '-o', 'json');
    const status = JSON.parse(out.stdout).status;
    const svc = await k.core.readNamespacedService({ name: 'public-istio', namespace: 'ingress' });
    const ip = svc.status?.loadBalancer?.ingress?.[0]?.ip;
    expect(ip).toMatch(/^172\.18\./);
    expect(status.addresses).toEqual([{ type: 'IPAddress', value: ip }]);
    expect(status.conditions).toEqual([
      expect.objectContaining({
        type: 'Accepted',
        status: 'True',
        reason: 'Accepted',
        message: 'Resource accepted',
        observedGeneration: 1,
      }),
      expect.objectContaining({
        type: 'Programmed',
        status: 'True',
        reason: 'Programmed',
        message:
          'Resource programmed, assigned to service(s) public-istio.ingress.svc.cluster.local:80 and public-istio.ingress.svc.cluster.local:8443',
      }),
    ]);
    expect(status.listeners.map((l: { name: string; attachedRoutes: number }) => [l.name, l.attachedRoutes])).toEqual([
      ['http', 1],
      ['tls.passthrough', 1], // the route names no sectionName, so it attaches to every listener allowing it
    ]);
    expect(status.listeners[1].supportedKinds).toEqual([{ group: 'gateway.networking.k8s.io', kind: 'TLSRoute' }]);
    // The listener name has a dot; the Service port name may not.
    expect(svc.spec?.ports?.map((p) => p.name)).toEqual(['status-port', 'http', 'tls-passthrough']);
  });

  it('reports a ClusterIP Gateway by hostname (istio class) without waiting for a load balancer', () => {
    const gateway = gatewayOf(sandbox, 'shop', 'internal');
    expect((gateway?.status as { addresses: unknown }).addresses).toEqual([
      { type: 'Hostname', value: 'internal-istio.shop.svc.cluster.local' },
    ]);
    expect(condition(gateway, 'Programmed')?.status).toBe('True');
  });

  it('writes route parents: Accepted, and ResolvedRefs False for a missing backend', async () => {
    const web = await k.kubectl(
      'get',
      'httproute',
      'web',
      '-n',
      'shop',
      '-o',
      'jsonpath={.status.parents[0].controllerName} {.status.parents[0].conditions[*].type}={.status.parents[0].conditions[*].status}',
    );
    expect(web.stdout).toBe('istio.io/gateway-controller Accepted ResolvedRefs=True True');
    const broken = JSON.parse((await k.kubectl('get', 'httproute', 'broken', '-n', 'shop', '-o', 'json')).stdout);
    expect(broken.status.parents[0].conditions[1]).toMatchObject({
      type: 'ResolvedRefs',
      status: 'False',
      reason: 'BackendNotFound',
      message: 'backend(nope.shop.svc.cluster.local) not found',
    });
  });

  it('stays Programmed during a rollout that is not complete (Deployment readiness is not checked)', async () => {
    sandbox.controllers.kubelet.setStartLatency(1500);
    try {
      // A template change rolls the gateway's pods; the old pod keeps serving meanwhile.
      await k.custom.patchNamespacedCustomObject(
        {
          group: 'gateway.networking.k8s.io',
          version: 'v1',
          namespace: 'ingress',
          plural: 'gateways',
          name: 'public',
          body: { metadata: { annotations: { 'example.com/team': 'edge' } } },
        },
        merge,
      );
      await eventually(
        () => sandbox.controllers.unsettled().some((u) => u.startsWith('deployment/ingress/public-istio')),
        'rollout in progress',
      );
      expect(condition(gatewayOf(sandbox, 'ingress', 'public'), 'Programmed')?.status).toBe('True');
      const d = deploymentOf(sandbox, 'ingress', 'public-istio');
      expect((d?.status as { updatedReplicas?: number; availableReplicas?: number }).availableReplicas).toBe(1);
    } finally {
      sandbox.controllers.kubelet.setStartLatency(20);
    }
    await sandbox.waitForIdle();
  });

  it('is AddressNotAssigned with no pod behind the Service (scaled to 0), and recovers', async () => {
    await k.apps.patchNamespacedDeployment(
      { name: 'internal-istio', namespace: 'shop', body: { spec: { replicas: 0 } } },
      merge,
    );
    const programmed = await eventually(() => {
      const c = condition(gatewayOf(sandbox, 'shop', 'internal'), 'Programmed');
      return c?.status === 'False' ? c : undefined;
    }, 'Programmed False');
    expect(programmed).toMatchObject({
      reason: 'AddressNotAssigned',
      message:
        'Failed to assign to any requested addresses: no instances found for hostname "internal-istio.shop.svc.cluster.local"',
    });
    // The address once reported is kept.
    expect((gatewayOf(sandbox, 'shop', 'internal')?.status as { addresses: unknown[] }).addresses).toHaveLength(1);
    // The controller leaves replicas alone (the template has none): scaling is the user's.
    await sandbox.waitForIdle();
    expect((deploymentOf(sandbox, 'shop', 'internal-istio')?.spec as { replicas: number }).replicas).toBe(0);
    await k.apps.patchNamespacedDeployment(
      { name: 'internal-istio', namespace: 'shop', body: { spec: { replicas: 2 } } },
      merge,
    );
    await eventually(
      () => condition(gatewayOf(sandbox, 'shop', 'internal'), 'Programmed')?.status === 'True',
      'Programmed again',
    );
  });

  it('deleting a Gateway removes what it owned', async () => {
    await k.custom.deleteNamespacedCustomObject({
      group: 'gateway.networking.k8s.io',
      version: 'v1',
      namespace: 'shop',
      plural: 'gateways',
      name: 'internal',
    });
    await eventually(() => !deploymentOf(sandbox, 'shop', 'internal-istio'), 'Deployment collected');
    expect((await k.kubectl('get', 'svc,sa', '-n', 'shop', '-o', 'name')).stdout).not.toContain('internal-istio');
  });
});

describe('Gateway status without a cloud load balancer', () => {
  it('is Programmed False, AddressNotAssigned, while the LoadBalancer address is pending', async () => {
    const sb = await createSandbox({
      startLatencyMs: 20,
      scenario: {
        name: 'no-lb',
        loadBalancer: false,
        istio: { revisions: [{ name: '1-29-1', version: '1.29.1' }], tags: { default: '1-29-1' } },
        gatewayApi: { gateways: [{ name: 'public', namespace: 'ingress' }] },
        namespaces: [{ name: 'ingress' }],
      },
    });
    const kk = kube(sb);
    try {
      await sb.waitForIdle();
      const programmed = condition(gatewayOf(sb, 'ingress', 'public'), 'Programmed');
      expect(programmed).toMatchObject({
        status: 'False',
        reason: 'AddressNotAssigned',
        message:
          'Assigned to service(s) public-istio.ingress.svc.cluster.local:80, but failed to assign to all requested addresses: address pending for hostname "public-istio.ingress.svc.cluster.local"',
      });
      const table = await kk.kubectl('get', 'gateway', '-n', 'ingress', '--no-headers');
      expect(table.stdout).toMatch(/^public\s+istio\s+False\s+\d+s\n$/);
      const svc = await kk.kubectl('get', 'svc', 'public-istio', '-n', 'ingress', '--no-headers');
      expect(svc.stdout).toContain('<pending>');
    } finally {
      kk.dispose();
      await sb.close();
    }
  });
});
