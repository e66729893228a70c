/**
 * Who owns each Gateway API Gateway, through every resolution path of istiod's `IsMine`
 * (own label, namespace label, tags as webhooks and as Services, the default tag, the
 * default-validator fallback, nobody), and what the owner renders; then relabelling a namespace
 * and moving a tag re-render exactly the affected Gateways, whose pods roll.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { createSandbox, setTag, setTagService, type Sandbox } from '../../src/index.ts';
import {
  condition,
  deploymentOf,
  eventually,
  gatewayOf,
  kube,
  merge,
  rendering,
  type Kube,
} from './gateway-helpers.ts';
import { pods } from './helpers.ts';

let sandbox: Sandbox;
let k: Kube;

const gw = (name: string, namespace: string, labels?: Record<string, string>) => ({
  name,
  namespace,
  ...(labels ? { labels } : {}),
});

beforeAll(async () => {
  sandbox = await createSandbox({
    startLatencyMs: 20,
    scenario: {
      name: 'ownership',
      istio: {
        revisions: [
          { name: '1-28-3', version: '1.28.3' },
          { name: '1-29-1', version: '1.29.1' },
        ],
        tags: { default: '1-28-3', stable: '1-28-3', canary: '1-29-1' },
      },
      gatewayApi: {
        gateways: [
          gw('plain-gw', 'plain'),
          gw('own-rev', 'plain', { 'istio.io/rev': '1-29-1' }),
          gw('own-tag', 'plain', { 'istio.io/rev': 'canary' }),
          gw('ns-gw', 'revns'),
          gw('pinned-in-ns', 'revns', { 'istio.io/rev': '1-28-3' }),
          gw('empty-label', 'revns', { 'istio.io/rev': '' }),
          gw('ns-tag-gw', 'tagns'),
          gw('injection-ns', 'injns'),
          gw('orphan', 'plain', { 'istio.io/rev': 'gone' }),
        ],
      },
      namespaces: [
        { name: 'plain' },
        { name: 'revns', labels: { 'istio.io/rev': '1-29-1' } },
        { name: 'tagns', labels: { 'istio.io/rev': 'stable' } },
        { name: 'injns', labels: { 'istio-injection': 'enabled' } },
      ],
    },
  });
  await sandbox.waitForIdle();
  k = kube(sandbox);
});
afterAll(async () => {
  k?.dispose();
  await sandbox?.close();
});

const owner = (namespace: string, name: string) => sandbox.gateways.owners(namespace, name);

describe('Gateway ownership (IsMine)', () => {
  it('resolves the own label, the namespace label, tags, the default tag, and nobody', () => {
    const table = Object.fromEntries(sandbox.summary().gateways.map((g) => [`${g.namespace}/${g.name}`, g.owners]));
    expect(table).toEqual({
      'plain/plain-gw': ['1-28-3'], // no label anywhere: the default tag
      'plain/own-rev': ['1-29-1'], // its own label, a revision
      'plain/own-tag': ['1-29-1'], // its own label, a tag (canary -> 1-29-1)
      'revns/ns-gw': ['1-29-1'], // the namespace's label
      'revns/pinned-in-ns': ['1-28-3'], // its own label beats the namespace's
      'revns/empty-label': ['1-28-3'], // present but empty: "", i.e. the default (the namespace is not read)
      'tagns/ns-tag-gw': ['1-28-3'], // the namespace's label, a tag (stable -> 1-28-3)
      'injns/injection-ns': ['1-28-3'], // istio-injection is not read
      'plain/orphan': [], // a tag nobody holds
    });
  });

  it('renders <gw>-istio Deployment, Service and ServiceAccount as the owning revision, with kubectl', async () => {
    const deploy = await k.kubectl('get', 'deploy', 'own-tag-istio', '-n', 'plain', '-o', 'json');
    expect(deploy.code).toBe(0);
    const d = JSON.parse(deploy.stdout);
    expect(rendering(d)).toEqual({
      revision: '1-29-1', // the revision, never the tag
      image: 'docker.io/istio/proxyv2:1.29.1',
      caAddr: 'istiod-1-29-1.istio-system.svc:15012',
    });
    expect(d.metadata.labels).toMatchObject({
      'istio.io/rev': 'canary', // the Gateway's own labels are copied
      'gateway.networking.k8s.io/gateway-name': 'own-tag',
      'gateway.networking.k8s.io/gateway-class-name': 'istio',
      'gateway.istio.io/managed': 'istio.io-gateway-controller',
    });
    expect(d.metadata.ownerReferences).toEqual([
      expect.objectContaining({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name: 'own-tag' }),
    ]);
    expect(d.spec.selector).toEqual({ matchLabels: { 'gateway.networking.k8s.io/gateway-name': 'own-tag' } });
    expect(d.spec.replicas).toBe(1);
    expect(d.spec.template.metadata.labels['sidecar.istio.io/inject']).toBe('false');
    expect(d.spec.template.metadata.annotations['prometheus.io/port']).toBe('15020');
    expect(d.spec.template.spec.containers[0].args.slice(0, 2)).toEqual(['proxy', 'router']);
    // Not injected: no sidecar status, no init containers.
    expect(d.spec.template.metadata.annotations['sidecar.istio.io/status']).toBeUndefined();
    const managed = await k.kubectl(
      'get',
      'deploy',
      'own-tag-istio',
      '-n',
      'plain',
      '--show-managed-fields',
      '-o',
      'jsonpath={.metadata.managedFields[*].manager}',
    );
    expect(managed.stdout).toBe('istio.io/gateway-controller');

    const svc = await k.core.readNamespacedService({ name: 'own-tag-istio', namespace: 'plain' });
    expect(svc.spec?.type).toBe('LoadBalancer');
    expect(svc.spec?.ports?.map((p) => [p.name, p.port, p.appProtocol])).toEqual([
      ['status-port', 15021, 'tcp'],
      ['http', 80, 'http'],
    ]);
    expect(
      (await k.core.readNamespacedServiceAccount({ name: 'own-tag-istio', namespace: 'plain' })).metadata?.name,
    ).toBe('own-tag-istio');
    expect(deploymentOf(sandbox, 'plain', 'orphan-istio')).toBeUndefined(); // nobody renders it
    // The controller stamps the Gateway it manages.
    expect(gatewayOf(sandbox, 'plain', 'own-tag')?.metadata.annotations?.['gateway.istio.io/controller-version']).toBe(
      '5',
    );
  });

  it('reports status only from the owner: an unowned Gateway stays PROGRAMMED Unknown', async () => {
    const table = await k.kubectl('get', 'gateway', '-n', 'plain');
    const rows = Object.fromEntries(
      table.stdout
        .trim()
        .split('\n')
        .slice(1)
        .map((line) => line.split(/\s+/))
        .map((cells) => [cells[0], cells]),
    );
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+CLASS\s+ADDRESS\s+PROGRAMMED\s+AGE$/);
    expect(rows.orphan?.slice(1, 3)).toEqual(['istio', 'Unknown']); // no address column value
    expect(rows['plain-gw']?.[1]).toBe('istio');
    expect(rows['plain-gw']?.[2]).toMatch(/^172\.18\.\d+\.\d+$/);
    expect(rows['plain-gw']?.[3]).toBe('True');
    expect(condition(gatewayOf(sandbox, 'plain', 'orphan'), 'Programmed')).toMatchObject({
      reason: 'Pending',
      message: 'Waiting for controller',
    });
  });

  it('relabelling a namespace re-renders its label-less Gateways, and only them; their pods roll', async () => {
    const before = Object.fromEntries(
      ['plain-gw', 'own-rev', 'own-tag'].map((n) => [
        n,
        deploymentOf(sandbox, 'plain', `${n}-istio`)?.metadata.generation,
      ]),
    );
    const pinned = deploymentOf(sandbox, 'revns', 'pinned-in-ns-istio')?.metadata.generation;
    expect((await k.kubectl('label', 'ns', 'revns', 'istio.io/rev=1-28-3', '--overwrite')).code).toBe(0);
    await eventually(
      () => rendering(deploymentOf(sandbox, 'revns', 'ns-gw-istio')).revision === '1-28-3',
      'ns-gw re-rendered',
    );
    await sandbox.waitForIdle();
    expect(rendering(deploymentOf(sandbox, 'revns', 'ns-gw-istio'))).toEqual({
      revision: '1-28-3',
      image: 'docker.io/istio/proxyv2:1.28.3',
      caAddr: 'istiod-1-28-3.istio-system.svc:15012',
    });
    const gwPods = pods(sandbox.store, 'revns').filter(
      (p) => p.metadata.labels?.['gateway.networking.k8s.io/gateway-name'] === 'ns-gw',
    );
    expect(gwPods.map((p) => p.metadata.annotations?.['istio.io/rev'])).toEqual(['1-28-3']);
    expect(gwPods.map((p) => (p.spec as { containers: { image: string }[] }).containers[0]?.image)).toEqual([
      'docker.io/istio/proxyv2:1.28.3',
    ]);
    // Untouched: the pinned Gateway in that namespace, and the Gateways elsewhere.
    expect(deploymentOf(sandbox, 'revns', 'pinned-in-ns-istio')?.metadata.generation).toBe(pinned);
    for (const [n, generation] of Object.entries(before))
      expect(deploymentOf(sandbox, 'plain', `${n}-istio`)?.metadata.generation, n).toBe(generation);
  });

  it('moving a tag re-renders the Gateways that follow it, and only them', async () => {
    const plain = deploymentOf(sandbox, 'plain', 'plain-gw-istio')?.metadata.generation;
    const ownTag = deploymentOf(sandbox, 'plain', 'own-tag-istio')?.metadata.generation;
    setTag(sandbox.store, { tag: 'stable', revision: '1-29-1', overwrite: true });
    await eventually(
      () => rendering(deploymentOf(sandbox, 'tagns', 'ns-tag-gw-istio')).revision === '1-29-1',
      'ns-tag-gw moved',
    );
    await sandbox.waitForIdle();
    expect(owner('tagns', 'ns-tag-gw')).toEqual(['1-29-1']);
    expect(deploymentOf(sandbox, 'plain', 'plain-gw-istio')?.metadata.generation).toBe(plain);
    expect(deploymentOf(sandbox, 'plain', 'own-tag-istio')?.metadata.generation).toBe(ownTag);

    // The default tag: every label-less Gateway outside labelled namespaces moves at once.
    setTag(sandbox.store, { tag: 'default', revision: '1-29-1', overwrite: true });
    await eventually(
      () =>
        rendering(deploymentOf(sandbox, 'plain', 'plain-gw-istio')).revision === '1-29-1' &&
        rendering(deploymentOf(sandbox, 'injns', 'injection-ns-istio')).revision === '1-29-1',
      'default-tag Gateways moved',
    );
    await sandbox.waitForIdle();
    expect(owner('revns', 'pinned-in-ns')).toEqual(['1-28-3']);
    expect(owner('revns', 'empty-label')).toEqual(['1-29-1']);
  });

  it('a Gateway label change moves it too (kubectl label on the Gateway)', async () => {
    expect(
      (await k.kubectl('label', 'gateway', 'own-rev', '-n', 'plain', 'istio.io/rev=1-28-3', '--overwrite')).code,
    ).toBe(0);
    await eventually(
      () => rendering(deploymentOf(sandbox, 'plain', 'own-rev-istio')).revision === '1-28-3',
      'own-rev moved',
    );
    await sandbox.waitForIdle();
    const d = deploymentOf(sandbox, 'plain', 'own-rev-istio');
    // The copied label follows the Gateway's (the controller owns the key it applied).
    expect(d?.metadata.labels?.['istio.io/rev']).toBe('1-28-3');
    expect(
      (d?.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels[
        'istio.io/rev'
      ],
    ).toBe('1-28-3');
    // Removing the label: the key goes from what was rendered, and the Gateway follows the default again.
    await k.custom.patchNamespacedCustomObject(
      {
        group: 'gateway.networking.k8s.io',
        version: 'v1',
        namespace: 'plain',
        plural: 'gateways',
        name: 'own-rev',
        body: { metadata: { labels: { 'istio.io/rev': null } } },
      },
      merge,
    );
    await eventually(
      () => rendering(deploymentOf(sandbox, 'plain', 'own-rev-istio')).revision === '1-29-1',
      'own-rev follows default',
    );
    expect(deploymentOf(sandbox, 'plain', 'own-rev-istio')?.metadata.labels?.['istio.io/rev']).toBeUndefined();
  });
});

describe('Gateway ownership without a default tag', () => {
  it('falls back to the default validator (1.28+), reads tag Services (1.28+), and otherwise leaves Gateways unowned', async () => {
    const sb = await createSandbox({
      startLatencyMs: 20,
      scenario: {
        name: 'no-default-tag',
        istio: {
          revisions: [
            { name: '1-27-0', version: '1.27.0' },
            { name: '1-28-3', version: '1.28.3' },
          ],
        },
        gatewayApi: { gateways: [gw('plain-gw', 'plain'), gw('by-service-tag', 'plain', { 'istio.io/rev': 'blue' })] },
        namespaces: [{ name: 'plain' }],
      },
    });
    const kk = kube(sb);
    try {
      await sb.waitForIdle();
      expect(sb.gateways.owners('plain', 'plain-gw')).toEqual([]); // no default tag, no validator: nobody
      expect(condition(gatewayOf(sb, 'plain', 'plain-gw'), 'Programmed')?.status).toBe('Unknown');

      // istio-base installed with defaultRevision=1-27-0: the base chart's validator names it, but
      // the fallback exists only from 1.25.5/1.26.4/1.27.1/1.28.0, so 1.27.0 still does not claim.
      const validator = {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'ValidatingWebhookConfiguration',
        metadata: { name: 'istiod-default-validator', labels: { app: 'istiod', 'istio.io/rev': '1-27-0' } },
        webhooks: [
          {
            name: 'validation.istio.io',
            admissionReviewVersions: ['v1'],
            clientConfig: { service: { name: 'istiod-1-27-0', namespace: 'istio-system', path: '/validate' } },
            failurePolicy: 'Ignore',
            sideEffects: 'None',
            rules: [
              {
                apiGroups: ['networking.istio.io'],
                apiVersions: ['*'],
                operations: ['CREATE', 'UPDATE'],
                resources: ['*'],
              },
            ],
          },
        ],
      };
      const kc = new k8s.KubeConfig();
      kc.loadFromString(sb.kubeconfig);
      const reg = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
      await reg.createValidatingWebhookConfiguration({ body: validator });
      await sb.waitForIdle();
      expect(sb.gateways.owners('plain', 'plain-gw')).toEqual([]);

      await reg.patchValidatingWebhookConfiguration(
        { name: 'istiod-default-validator', body: { metadata: { labels: { 'istio.io/rev': '1-28-3' } } } },
        merge,
      );
      await eventually(
        () => rendering(deploymentOf(sb, 'plain', 'plain-gw-istio')).revision === '1-28-3',
        'fallback owner renders',
      );
      expect(sb.gateways.owners('plain', 'plain-gw')).toEqual(['1-28-3']);

      // A tag that exists only as a Service: read by 1.28.3's tag watcher, not by 1.27.0's.
      expect(sb.gateways.owners('plain', 'by-service-tag')).toEqual([]);
      setTagService(sb.store, { tag: 'blue', revision: '1-28-3' });
      await eventually(() => deploymentOf(sb, 'plain', 'by-service-tag-istio'), 'tag Service owner renders');
      expect(sb.gateways.owners('plain', 'by-service-tag')).toEqual(['1-28-3']);
      setTagService(sb.store, { tag: 'blue', revision: '1-27-0' });
      await eventually(() => sb.gateways.owners('plain', 'by-service-tag').length === 0, '1.27 ignores tag Services');
      const listed = await kk.kubectl('get', 'svc', '-n', 'istio-system', '-l', 'istio.io/tag=blue', '-o', 'name');
      expect(listed.stdout.trim()).toBe('service/istiod-revision-tag-blue');
    } finally {
      kk.dispose();
      await sb.close();
    }
  });
});
