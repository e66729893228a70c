/**
 * Ambient: waypoints (class istio-waypoint, mesh/15008/HBONE, istio.io/waypoint-for) rendered
 * only by revisions installed with the ambient profile; ambient namespaces whose pods get no
 * sidecar and are captured by the CNI; the #60313 trap (an ambient namespace labelled
 * istio.io/rev=<tag> gets sidecars); the ztunnel and istio-cni DaemonSets as istioctl installs
 * them; GatewayClasses per revision features.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, uninstallRevision, type Sandbox } from '../../src/index.ts';
import { deploymentOf, eventually, kube, rendering, type Kube } from './gateway-helpers.ts';
import { pods } from './helpers.ts';
import type { KubeObject } from '../../src/store.ts';

let sandbox: Sandbox;
let k: Kube;

beforeAll(async () => {
  sandbox = await createSandbox({ scenario: 'ambient-sidecar-trap', startLatencyMs: 20 });
  await sandbox.waitForIdle();
  k = kube(sandbox);
});
afterAll(async () => {
  k?.dispose();
  await sandbox?.close();
});

const appPods = (namespace: string) =>
  pods(sandbox.store, namespace).filter((p) => p.metadata.labels?.app !== undefined);
const injected = (pod: KubeObject) => pod.metadata.annotations?.['sidecar.istio.io/status'] !== undefined;
const captured = (pod: KubeObject) => pod.metadata.annotations?.['ambient.istio.io/redirection'] === 'enabled';

describe('ambient namespaces', () => {
  it('give their pods no sidecar; the CNI captures them (ambient.istio.io/redirection)', async () => {
    const list = await k.core.listNamespacedPod({ namespace: 'ratings-ambient', labelSelector: 'app=ratings' });
    expect(list.items).toHaveLength(2);
    for (const pod of list.items) {
      expect(pod.metadata?.annotations?.['sidecar.istio.io/status']).toBeUndefined();
      expect(pod.spec?.initContainers ?? []).toEqual([]);
      expect(pod.metadata?.annotations?.['ambient.istio.io/redirection']).toBe('enabled');
    }
  });

  it('TRAP #60313: an ambient namespace labelled istio.io/rev=<tag> gets sidecars, and the CNI leaves those pods out', () => {
    const reviews = appPods('reviews-ambient');
    expect(reviews).toHaveLength(2);
    for (const pod of reviews) {
      expect(injected(pod)).toBe(true);
      expect(pod.metadata.annotations?.['istio.io/rev']).toBe('1-25-1');
      expect(captured(pod)).toBe(false);
    }
  });

  it('a pod opting out with sidecar.istio.io/inject=false stays ambient in that namespace', async () => {
    await k.apps.createNamespacedDeployment({
      namespace: 'reviews-ambient',
      body: {
        metadata: { name: 'opted-out' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'opted-out' } },
          template: {
            metadata: { labels: { app: 'opted-out', 'sidecar.istio.io/inject': 'false' } },
            spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] },
          },
        },
      },
    });
    const pod = await eventually(
      () => appPods('reviews-ambient').find((p) => p.metadata.labels?.app === 'opted-out' && captured(p)),
      'opted-out pod captured',
    );
    expect(injected(pod)).toBe(false);
  });

  it('leaving ambient un-captures running pods', async () => {
    expect((await k.kubectl('label', 'ns', 'ratings-ambient', 'istio.io/dataplane-mode-')).code).toBe(0);
    await eventually(() => appPods('ratings-ambient').every((p) => !captured(p)), 'pods un-captured');
    expect((await k.kubectl('label', 'ns', 'ratings-ambient', 'istio.io/dataplane-mode=ambient')).code).toBe(0);
    await eventually(() => appPods('ratings-ambient').every(captured), 'pods captured again');
  });
});

describe('waypoints', () => {
  it('render as <name> (no class suffix) with the waypoint template: ClusterIP mesh/15008, proxy waypoint, not captured', async () => {
    const d = JSON.parse((await k.kubectl('get', 'deploy', 'waypoint', '-n', 'ratings-ambient', '-o', 'json')).stdout);
    expect(rendering(d)).toEqual({
      revision: '1-25-1',
      image: 'docker.io/istio/proxyv2:1.25.1',
      caAddr: 'istiod-1-25-1.istio-system.svc:15012',
    });
    expect(d.metadata.labels).toMatchObject({
      'gateway.istio.io/managed': 'istio.io-mesh-controller',
      'gateway.networking.k8s.io/gateway-class-name': 'istio-waypoint',
      'istio.io/waypoint-for': 'service',
      'istio.io/rev': 'prod-stable',
    });
    expect(d.spec.template.metadata.labels['istio.io/dataplane-mode']).toBe('none');
    expect(d.spec.template.spec.containers[0].args.slice(0, 2)).toEqual(['proxy', 'waypoint']);
    const svc = await k.core.readNamespacedService({ name: 'waypoint', namespace: 'ratings-ambient' });
    expect(svc.spec?.type).toBe('ClusterIP');
    expect(svc.spec?.ports?.map((p) => [p.name, p.port, p.appProtocol])).toEqual([
      ['status-port', 15021, 'tcp'],
      ['mesh', 15008, 'hbone'],
    ]);
    const waypointPods = pods(sandbox.store, 'ratings-ambient').filter(
      (p) => p.metadata.labels?.['gateway.networking.k8s.io/gateway-name'] === 'waypoint',
    );
    expect(waypointPods.some(captured)).toBe(false);
    // Waypoints report both address types (the ClusterIP and the hostname).
    const status = JSON.parse(
      (await k.kubectl('get', 'gtw', 'waypoint', '-n', 'ratings-ambient', '-o', 'json')).stdout,
    ).status;
    expect(status.addresses.map((a: { type: string }) => a.type)).toEqual(['IPAddress', 'Hostname']);
    expect(status.addresses[1].value).toBe('waypoint.ratings-ambient.svc.cluster.local');
  });

  it('enrol their namespace (istio.io/use-waypoint) as `waypoint apply --enroll-namespace` does', async () => {
    const ns = await k.core.readNamespace({ name: 'reviews-ambient' });
    expect(ns.metadata?.labels?.['istio.io/use-waypoint']).toBe('waypoint');
  });

  it('are ignored by a revision installed without the ambient profile, even when it holds their tag', async () => {
    const sb = await createSandbox({
      startLatencyMs: 20,
      scenario: {
        name: 'no-ambient-canary',
        istio: {
          revisions: [
            { name: '1-25-1', version: '1.25.1', ambient: true },
            { name: '1-26-0', version: '1.26.0' },
          ],
          tags: { default: '1-25-1', canary: '1-26-0' },
        },
        gatewayApi: {
          waypoints: [
            { name: 'waypoint', namespace: 'apps', labels: { 'istio.io/rev': 'canary' } },
            { name: 'stable-wp', namespace: 'apps' },
          ],
        },
        namespaces: [{ name: 'apps', ambient: true }],
      },
    });
    try {
      await sb.waitForIdle();
      expect(sb.gateways.owners('apps', 'waypoint')).toEqual([]); // "skipping unknown controller"
      expect(deploymentOf(sb, 'apps', 'waypoint')).toBeUndefined();
      expect(sb.gateways.owners('apps', 'stable-wp')).toEqual(['1-25-1']);
      const classes = sb.store.list(sb.store.findType('gateway.networking.k8s.io', 'gatewayclasses')!).items;
      expect(classes.map((c) => [c.metadata.name, (c.spec as { controllerName: string }).controllerName])).toEqual([
        ['istio', 'istio.io/gateway-controller'],
        ['istio-remote', 'istio.io/unmanaged-gateway'],
        ['istio-waypoint', 'istio.io/mesh-controller'],
      ]);
    } finally {
      await sb.close();
    }
  });
});

describe('GatewayClasses', () => {
  it('are created by the revisions that know them, Accepted, and printed as kubectl does', async () => {
    const table = await k.kubectl('get', 'gatewayclass');
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+CONTROLLER\s+ACCEPTED\s+AGE$/);
    expect(table.stdout).toMatch(/\nistio-waypoint\s+istio\.io\/mesh-controller\s+True\s+\d+s/);
    const wide = await k.kubectl('get', 'gc', 'istio', '-o', 'wide', '--no-headers');
    expect(wide.stdout).toMatch(
      /^istio\s+istio\.io\/gateway-controller\s+True\s+\d+s\s+The default Istio GatewayClass\n$/,
    );
    // No multi-network revision: no east-west class.
    expect((await k.kubectl('get', 'gc', 'istio-east-west')).code).not.toBe(0);
  });
});

describe('ztunnel and istio-cni', () => {
  it('are one DaemonSet each, labelled as istioctl installs them, ztunnel pointing at its revision', async () => {
    const z = await k.apps.readNamespacedDaemonSet({ name: 'ztunnel', namespace: 'istio-system' });
    expect(z.metadata?.labels).toMatchObject({ 'istio.io/rev': '1-25-1', 'operator.istio.io/component': 'Ztunnel' });
    expect(z.spec?.updateStrategy?.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: 0 });
    const template = z.spec?.template;
    expect(template?.metadata?.annotations?.['istio.io/rev']).toBe('1-25-1');
    expect(template?.metadata?.labels?.['istio.io/rev']).toBeUndefined(); // annotation only
    const env = Object.fromEntries((template?.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
    expect(env.XDS_ADDRESS).toBe('istiod-1-25-1.istio-system.svc:15012');
    expect(env.CA_ADDRESS).toBe('istiod-1-25-1.istio-system.svc:15012');
    expect(template?.spec?.containers[0]?.image).toBe('docker.io/istio/ztunnel:1.25.1');
    const cni = await k.apps.readNamespacedDaemonSet({ name: 'istio-cni-node', namespace: 'istio-system' });
    expect(cni.metadata?.labels).toMatchObject({ 'istio.io/rev': '1-25-1', 'operator.istio.io/component': 'Cni' });
    const ds = await k.kubectl('get', 'ds', '-n', 'istio-system', '--no-headers');
    expect(ds.stdout).toMatch(/^istio-cni-node\s+3\s+3\s+3\s+3\s+3\s/m);
    expect(ds.stdout).toMatch(/^ztunnel\s+3\s+3\s+3\s+3\s+3\s/m);
  });

  it('match an istioctl uninstall --revision selector (the trap that deletes them)', async () => {
    const selector =
      'istio.io/rev=1-25-1,operator.istio.io/component in (Pilot,IngressGateways,EgressGateways,Cni,Ztunnel)';
    const listed = await k.kubectl('get', 'ds', '-n', 'istio-system', '-l', selector, '-o', 'name');
    expect(listed.stdout.trim().split('\n').sort()).toEqual([
      'daemonset.apps/istio-cni-node',
      'daemonset.apps/ztunnel',
    ]);
    // The sandbox's uninstall (what istioctl does) takes them: the waypoint Deployments stay (owned by Gateways).
    uninstallRevision(sandbox.store, '1-25-1');
    expect(sandbox.store.tryGet(sandbox.controllers.types.daemonsets, 'istio-system', 'ztunnel')).toBeUndefined();
    expect(deploymentOf(sandbox, 'ratings-ambient', 'waypoint')).toBeDefined();
  });
});
