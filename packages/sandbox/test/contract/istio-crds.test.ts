/**
 * The objects a real Istio cluster serves: the 15 CRDs of Istio's base chart whenever Istio is
 * installed (lists answer 200 with an empty list, at every served version), the Gateway API
 * CRDs when the scenario says so, each listed with the real kubectl and with client-node.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { createSandbox, type Sandbox } from '../../src/index.ts';
import { ISTIO_CRDS } from '../../src/crds/istio-crds.ts';
import { createKubectl } from '../sim/helpers.ts';

let sandbox: Sandbox;
let kubectl: ReturnType<typeof createKubectl>;
let custom: k8s.CustomObjectsApi;

const ISTIO_KINDS = [
  'AuthorizationPolicy',
  'DestinationRule',
  'EnvoyFilter',
  'Gateway',
  'PeerAuthentication',
  'ProxyConfig',
  'RequestAuthentication',
  'ServiceEntry',
  'Sidecar',
  'Telemetry',
  'TrafficExtension',
  'VirtualService',
  'WasmPlugin',
  'WorkloadEntry',
  'WorkloadGroup',
];

beforeAll(async () => {
  sandbox = await createSandbox({
    startLatencyMs: 20,
    scenario: {
      name: 'crds',
      istio: { revisions: [{ name: '1-25-1', version: '1.25.1' }], tags: { default: '1-25-1' } },
      gatewayApi: { crds: true },
      namespaces: [{ name: 'shop' }],
    },
  });
  await sandbox.waitForIdle();
  kubectl = createKubectl(sandbox.kubeconfig);
  const kc = new k8s.KubeConfig();
  kc.loadFromString(sandbox.kubeconfig);
  custom = kc.makeApiClient(k8s.CustomObjectsApi);
});
afterAll(async () => {
  kubectl?.dispose();
  await sandbox?.close();
});

describe("Istio's CRDs", () => {
  it('installs the 15 CRDs of the base chart, with their kinds, short names and categories', async () => {
    expect(ISTIO_CRDS.map((c) => c.kind).sort()).toEqual(ISTIO_KINDS);
    const crds = await kubectl.kubectl('get', 'crd', '-o', 'jsonpath={range .items[*]}{.metadata.name}{"\\n"}{end}');
    expect(crds.code).toBe(0);
    const istio = crds.stdout.split('\n').filter((n) => n.endsWith('.istio.io'));
    expect(istio).toHaveLength(15);
    expect(istio).toContain('envoyfilters.networking.istio.io');
    expect(istio).toContain('trafficextensions.extensions.istio.io');

    const resources = await kubectl.kubectl('api-resources', '--api-group=networking.istio.io', '-o', 'name');
    expect(resources.stdout.trim().split('\n').sort()).toEqual([
      'destinationrules.networking.istio.io',
      'envoyfilters.networking.istio.io',
      'gateways.networking.istio.io',
      'proxyconfigs.networking.istio.io',
      'serviceentries.networking.istio.io',
      'sidecars.networking.istio.io',
      'virtualservices.networking.istio.io',
      'workloadentries.networking.istio.io',
      'workloadgroups.networking.istio.io',
    ]);
    // Short names and the istio-io category resolve as on a real cluster.
    expect((await kubectl.kubectl('get', 'vs,dr,se,pa,ap', '-A')).stderr).toContain('No resources found');
    expect((await kubectl.kubectl('get', 'istio-io', '-A')).code).toBe(0);
  });

  it('answers every list with 200 and an empty list, with kubectl and client-node, at every served version', async () => {
    for (const crd of ISTIO_CRDS) {
      const listed = await kubectl.kubectl('get', `${crd.plural}.${crd.group}`, '-A', '-o', 'json');
      expect(listed.code, `${crd.plural}: ${listed.stderr}`).toBe(0);
      expect(JSON.parse(listed.stdout)).toMatchObject({ kind: 'List', items: [] });
      for (const version of crd.versions) {
        const list = (await custom.listClusterCustomObject({ group: crd.group, version, plural: crd.plural })) as {
          apiVersion: string;
          items: unknown[];
        };
        expect(list.items, `${crd.plural}/${version}`).toEqual([]);
        expect(list.apiVersion).toBe(`${crd.group}/${version}`);
      }
    }
  });

  it('takes kubectl apply of Istio objects and prints their columns', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'revroll-istio-crds-'));
    const file = join(dir, 'objects.yaml');
    writeFileSync(
      file,
      [
        'apiVersion: networking.istio.io/v1alpha3',
        'kind: EnvoyFilter',
        'metadata: {name: add-header, namespace: shop}',
        'spec: {configPatches: []}',
        '---',
        'apiVersion: networking.istio.io/v1',
        'kind: DestinationRule',
        'metadata: {name: reviews, namespace: shop}',
        'spec: {host: reviews.shop.svc.cluster.local}',
        '',
      ].join('\n'),
    );
    const applied = await kubectl.kubectl('apply', '-f', file);
    expect(applied.stderr).toBe('');
    expect(applied.stdout).toBe(
      'envoyfilter.networking.istio.io/add-header created\ndestinationrule.networking.istio.io/reviews created\n',
    );
    const table = await kubectl.kubectl('get', 'dr', '-n', 'shop');
    expect(table.stdout).toMatch(/^NAME\s+HOST\s+AGE\nreviews\s+reviews\.shop\.svc\.cluster\.local\s+\d+s\n$/);
    const filters = (await custom.listNamespacedCustomObject({
      group: 'networking.istio.io',
      version: 'v1alpha3',
      namespace: 'shop',
      plural: 'envoyfilters',
    })) as { items: { metadata: { name: string } }[] };
    expect(filters.items.map((i) => i.metadata.name)).toEqual(['add-header']);
  });
});

describe('Gateway API CRDs', () => {
  it('serves GatewayClass, Gateway, HTTPRoute, GRPCRoute and ReferenceGrant at their standard-channel versions', async () => {
    const resources = await kubectl.kubectl('api-resources', '--api-group=gateway.networking.k8s.io');
    expect(resources.code).toBe(0);
    expect(resources.stdout).toMatch(/gatewayclasses\s+gc\s+gateway\.networking\.k8s\.io\/v1\s+false\s+GatewayClass/);
    expect(resources.stdout).toMatch(/gateways\s+gtw\s+gateway\.networking\.k8s\.io\/v1\s+true\s+Gateway/);
    expect(resources.stdout).toMatch(/httproutes\s+gateway\.networking\.k8s\.io\/v1\s+true\s+HTTPRoute/);
    expect(resources.stdout).toMatch(
      /referencegrants\s+refgrant\s+gateway\.networking\.k8s\.io\/v1beta1\s+true\s+ReferenceGrant/,
    );
    for (const [plural, versions] of [
      ['gateways', ['v1', 'v1beta1']],
      ['httproutes', ['v1', 'v1beta1']],
      ['grpcroutes', ['v1']],
      ['referencegrants', ['v1beta1']],
    ] as const) {
      for (const version of versions) {
        const list = (await custom.listClusterCustomObject({
          group: 'gateway.networking.k8s.io',
          version,
          plural,
        })) as {
          items: unknown[];
        };
        expect(Array.isArray(list.items), `${plural}/${version}`).toBe(true);
      }
    }
    const crd = await kubectl.kubectl(
      'get',
      'crd',
      'gateways.gateway.networking.k8s.io',
      '-o',
      'jsonpath={.metadata.annotations.gateway\\.networking\\.k8s\\.io/bundle-version} {.metadata.annotations.gateway\\.networking\\.k8s\\.io/channel}',
    );
    expect(crd.stdout).toBe('v1.4.1 standard');
  });

  it('are absent unless the scenario asks for them, and Istio CRDs are absent without Istio', async () => {
    const bare = await createSandbox({ startLatencyMs: 20, scenario: { name: 'bare', namespaces: [{ name: 'a' }] } });
    const k = createKubectl(bare.kubeconfig);
    try {
      const vs = await k.kubectl('get', 'virtualservices', '-A');
      expect(vs.code).not.toBe(0);
      expect(vs.stderr).toContain(`the server doesn't have a resource type "virtualservices"`);
      const gw = await k.kubectl('get', 'gateways.gateway.networking.k8s.io', '-A');
      expect(gw.code).not.toBe(0);
    } finally {
      k.dispose();
      await bare.close();
    }
  });
});
