/**
 * The real kubectl 1.32 against the sandbox API, unchanged: the commands revroll's users and
 * docs rely on, with fixtures applied from files. One server for the whole file; the tests run
 * in order and build on each other (namespace, then deployment, webhook, CRD...).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { fixture, jsonInit, startHarness, type Harness } from './harness.ts';
import type { KubeObject } from '../../src/store.ts';

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h.close();
});

function deployments() {
  return h.store.findType('apps', 'deployments')!;
}

describe('kubectl against the sandbox', () => {
  it('reports server version 1.32 so the dispatcher runs its built-in kubectl, without skew warnings', async () => {
    const result = await h.kubectl(['version']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Server Version: v1.32.4');
    expect(result.stderr).not.toContain('WARNING');
  });

  it('applies a namespace from a file and lists namespaces as a table', async () => {
    const applied = await h.kubectl(['apply', '-f', fixture('namespace-demo.yaml')]);
    expect(applied.stdout.trim()).toBe('namespace/demo created');
    const listed = await h.kubectl(['get', 'ns']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^NAME\s+STATUS\s+AGE\n/);
    expect(listed.stdout).toMatch(/\ndemo\s+Active\s+\d+s\n/);
  });

  it('labels a namespace, removing and adding in one command', async () => {
    const result = await h.kubectl(['label', 'ns', 'demo', 'istio-injection-', 'istio.io/rev=canary']);
    expect(result.stdout.trim()).toBe('namespace/demo unlabeled');
    const again = await h.kubectl(['label', 'ns', 'demo', 'istio.io/rev=canary']);
    expect(again.stdout.trim()).toBe('namespace/demo not labeled');
    const labels = await h.kubectl(['get', 'ns', 'demo', '-o', 'jsonpath={.metadata.labels}']);
    expect(JSON.parse(labels.stdout)).toEqual({
      'istio.io/rev': 'canary',
      'kubernetes.io/metadata.name': 'demo',
      team: 'payments',
    });
  });

  it('annotates, adding and removing in one command', async () => {
    expect((await h.kubectl(['annotate', 'ns', 'demo', 'revroll.io/note=first'])).stdout.trim()).toBe(
      'namespace/demo annotated',
    );
    const result = await h.kubectl(['annotate', 'ns', 'demo', 'revroll.io/note-', 'revroll.io/owner=alice']);
    expect(result.stdout.trim()).toBe('namespace/demo annotated');
    const annotations = JSON.parse(
      (await h.kubectl(['get', 'ns', 'demo', '-o', 'jsonpath={.metadata.annotations}'])).stdout,
    ) as Record<string, string>;
    expect(annotations['revroll.io/owner']).toBe('alice');
    expect(annotations).not.toHaveProperty('revroll.io/note');
  });

  it.each([
    ['istio.io/rev=canary', ['demo']],
    ['istio.io/rev==canary', ['demo']],
    ['team!=payments', ['default', 'kube-node-lease', 'kube-public', 'kube-system']],
    ['istio.io/rev in (canary,stable)', ['demo']],
    ['kubernetes.io/metadata.name notin (default,kube-public,kube-node-lease)', ['demo', 'kube-system']],
    ['istio.io/rev', ['demo']],
    ['!team', ['default', 'kube-node-lease', 'kube-public', 'kube-system']],
    ['team=payments,istio.io/rev', ['demo']],
  ])('selects namespaces with -l %s', async (selector, expected) => {
    const result = await h.kubectl(['get', 'ns', '-l', selector, '-o', 'name']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split('\n')).toEqual(expected.map((n) => `namespace/${n}`));
  });

  it('answers a malformed selector with BadRequest', async () => {
    const result = await h.kubectl(['get', 'ns', '-l', 'team in (a']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('BadRequest');
  });

  it('applies a deployment: created, unchanged on a no-op, configured on a change', async () => {
    expect((await h.kubectl(['apply', '-f', fixture('deployment-web.yaml')])).stdout.trim()).toBe(
      'deployment.apps/web created',
    );
    expect((await h.kubectl(['apply', '-f', fixture('deployment-web.yaml')])).stdout.trim()).toBe(
      'deployment.apps/web unchanged',
    );
    const before = h.store.get(deployments(), 'demo', 'web');
    const changed = await h.kubectl(['apply', '-f', fixture('deployment-web-v2.yaml')]);
    expect(changed.stdout.trim()).toBe('deployment.apps/web configured');
    const after = h.store.get(deployments(), 'demo', 'web') as KubeObject & {
      spec: { replicas: number; template: { spec: { containers: { name: string; image: string; env: unknown[] }[] } } };
    };
    expect(after.spec.replicas).toBe(2);
    expect(after.spec.template.spec.containers).toHaveLength(1);
    expect(after.spec.template.spec.containers[0]).toMatchObject({
      name: 'web',
      image: 'nginx:1.26',
      env: [{ name: 'LOG_LEVEL', value: 'debug' }],
    });
    expect(after.metadata.generation).toBe((before.metadata.generation ?? 0) + 1);
  });

  it('prints deployments as json, yaml, jsonpath, wide and name', async () => {
    const asJson = JSON.parse((await h.kubectl(['get', 'deploy', '-n', 'demo', '-o', 'json'])).stdout) as {
      kind: string;
      items: KubeObject[];
    };
    expect(asJson.kind).toBe('List');
    expect(asJson.items.map((d) => [d.kind, d.metadata.name])).toEqual([['Deployment', 'web']]);
    const asYaml = parseYaml(
      (await h.kubectl(['get', 'deploy', 'web', '-n', 'demo', '-o', 'yaml'])).stdout,
    ) as KubeObject;
    expect(asYaml.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect((await h.kubectl(['get', 'deploy', '-n', 'demo', '-o', 'jsonpath={.items[*].metadata.name}'])).stdout).toBe(
      'web',
    );
    const wide = (await h.kubectl(['get', 'deploy', '-n', 'demo', '-o', 'wide'])).stdout;
    expect(wide).toMatch(/^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR\n/);
    expect(wide).toMatch(/\nweb\s+0\/2\s+0\s+0\s+\S+\s+web\s+nginx:1\.26\s+app=web\n/);
    expect((await h.kubectl(['get', 'deploy', '-n', 'demo', '-o', 'name'])).stdout.trim()).toBe('deployment.apps/web');
  });

  it('creates an Istio-style per-revision injector, lists it and refuses a duplicate', async () => {
    const created = await h.kubectl(['create', '-f', fixture('injector-canary.yaml')]);
    expect(created.stdout.trim()).toBe(
      'mutatingwebhookconfiguration.admissionregistration.k8s.io/istio-sidecar-injector-canary created',
    );
    const listed = (await h.kubectl(['get', 'mutatingwebhookconfigurations'])).stdout;
    expect(listed).toMatch(/^NAME\s+WEBHOOKS\s+AGE\n/);
    expect(listed).toMatch(/\nistio-sidecar-injector-canary\s+2\s+\d+s\n/);
    const stored = JSON.parse(
      (await h.kubectl(['get', 'mutatingwebhookconfiguration', 'istio-sidecar-injector-canary', '-o', 'json'])).stdout,
    ) as { webhooks: Record<string, unknown>[] };
    expect(stored.webhooks[0]).toMatchObject({
      matchPolicy: 'Equivalent',
      reinvocationPolicy: 'Never',
      rules: [{ scope: '*' }],
    });
    const duplicate = await h.kubectl(['create', '-f', fixture('injector-canary.yaml')]);
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toContain('Error from server (AlreadyExists)');
    expect(duplicate.stderr).toContain(
      'mutatingwebhookconfigurations.admissionregistration.k8s.io "istio-sidecar-injector-canary" already exists',
    );
  });

  it('serves a kind declared by an applied CRD, at every served version, with its printer columns', async () => {
    const crd = await h.kubectl(['apply', '-f', fixture('crd-virtualservices.yaml')]);
    expect(crd.stdout.trim()).toBe(
      'customresourcedefinition.apiextensions.k8s.io/virtualservices.networking.istio.io created',
    );
    const vs = await h.kubectl(['apply', '-f', fixture('virtualservice-reviews.yaml')]);
    expect(vs.stdout.trim()).toBe('virtualservice.networking.istio.io/reviews created');
    const table = (await h.kubectl(['get', 'vs', '-n', 'demo'])).stdout;
    expect(table).toMatch(/^NAME\s+GATEWAYS\s+HOSTS\s+AGE\n/);
    expect(table).toContain('["reviews.demo.svc.cluster.local"]');
    const beta = await h.kubectl([
      'get',
      'virtualservices.v1beta1.networking.istio.io',
      'reviews',
      '-n',
      'demo',
      '-o',
      'jsonpath={.apiVersion}',
    ]);
    expect(beta.stdout).toBe('networking.istio.io/v1beta1');
    expect((await h.kubectl(['apply', '-f', fixture('virtualservice-reviews.yaml')])).stdout.trim()).toBe(
      'virtualservice.networking.istio.io/reviews unchanged',
    );
    const resources = (
      await h.kubectl(['api-resources', '--api-group=networking.istio.io', '-o', 'name'])
    ).stdout.trim();
    expect(resources).toBe('virtualservices.networking.istio.io');
  });

  it('deletes a custom resource and its CRD from files', async () => {
    expect((await h.kubectl(['delete', '-f', fixture('virtualservice-reviews.yaml')])).stdout.trim()).toBe(
      'virtualservice.networking.istio.io "reviews" deleted',
    );
    expect((await h.kubectl(['delete', '-f', fixture('crd-virtualservices.yaml')])).stdout.trim()).toBe(
      'customresourcedefinition.apiextensions.k8s.io "virtualservices.networking.istio.io" deleted',
    );
    expect(h.store.findType('networking.istio.io', 'virtualservices')).toBeUndefined();
  });

  it('shows core/v1 and events.k8s.io/v1 events together in get events', async () => {
    const core = await h.request(
      '/api/v1/namespaces/demo/events',
      jsonInit('POST', {
        metadata: { generateName: 'web.' },
        involvedObject: { kind: 'Deployment', name: 'web', namespace: 'demo', apiVersion: 'apps/v1' },
        reason: 'ScalingReplicaSet',
        message: 'Scaled up replica set web-5d4f to 2',
        type: 'Normal',
        source: { component: 'deployment-controller' },
        count: 1,
        firstTimestamp: '2026-11-22T03:58:31Z',
        lastTimestamp: '2026-11-22T03:58:31Z',
      }),
    );
    expect(core.status).toBe(201);
    const modern = await h.request(
      '/apis/events.k8s.io/v1/namespaces/demo/events',
      jsonInit('POST', {
        metadata: { name: 'web.187a2b3c4d5e6f70' },
        eventTime: '2026-11-22T03:59:00.123456Z',
        reportingController: 'revroll.io/sandbox',
        reportingInstance: 'sandbox-1',
        action: 'Upgrade',
        reason: 'CanaryStarted',
        regarding: { kind: 'Deployment', name: 'web', namespace: 'demo', apiVersion: 'apps/v1' },
        note: 'canary revision 1-24 started',
        type: 'Normal',
      }),
    );
    expect(modern.status).toBe(201);
    const result = await h.kubectl(['get', 'events', '-n', 'demo']);
    expect(result.stdout).toMatch(/^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE\n/);
    expect(result.stdout).toMatch(/Normal\s+ScalingReplicaSet\s+deployment\/web\s+Scaled up replica set web-5d4f to 2/);
    expect(result.stdout).toMatch(/Normal\s+CanaryStarted\s+deployment\/web\s+canary revision 1-24 started/);
  });

  it('restarts a rollout: the restartedAt annotation lands and generation bumps', async () => {
    const before = h.store.get(deployments(), 'demo', 'web').metadata.generation ?? 0;
    const result = await h.kubectl(['rollout', 'restart', 'deployment', '-n', 'demo']);
    expect(result.stdout.trim()).toBe('deployment.apps/web restarted');
    const after = h.store.get(deployments(), 'demo', 'web') as KubeObject & {
      spec: { template: { metadata: { annotations: Record<string, string> } } };
    };
    expect(after.spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt']).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
    );
    expect(after.metadata.generation).toBe(before + 1);
  });

  it('follows rollout status over a watch while the test plays the deployment controller', async () => {
    h.server.resetRequests();
    const status = h.kubectl(['rollout', 'status', 'deployment/web', '-n', 'demo', '--timeout=20s']);
    // Wait until kubectl is watching, so the completion can only arrive through the watch.
    for (let i = 0; i < 200 && !h.server.requests.some((r) => r.verb === 'watch' && r.resource === 'deployments'); i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(h.server.requests.find((r) => r.verb === 'watch')).toMatchObject({
      group: 'apps',
      resource: 'deployments',
      namespace: 'demo',
      status: 200,
    });
    const current = h.store.get(deployments(), 'demo', 'web') as KubeObject & { spec: { replicas: number } };
    const replicas = current.spec.replicas;
    const patch = await h.request(
      '/apis/apps/v1/namespaces/demo/deployments/web/status',
      jsonInit(
        'PATCH',
        {
          status: {
            observedGeneration: current.metadata.generation,
            replicas,
            updatedReplicas: replicas,
            readyReplicas: replicas,
            availableReplicas: replicas,
          },
        },
        'application/merge-patch+json',
      ),
    );
    expect(patch.status).toBe(200);
    const result = await status;
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Waiting for deployment spec update to be observed...');
    expect(result.stdout).toContain('deployment "web" successfully rolled out');
  });

  it('reports a missing deployment in rollout status as NotFound', async () => {
    const result = await h.kubectl(['rollout', 'status', 'deployment/nope', '-n', 'demo', '--timeout=5s']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Error from server (NotFound): deployments.apps "nope" not found');
  });

  it('says no resources found for an empty selection with -o wide', async () => {
    const result = await h.kubectl(['get', 'pods', '-n', 'demo', '-l', 'istio.io/rev in (canary)', '-o', 'wide']);
    expect(result.code).toBe(0);
    expect(result.stderr.trim()).toBe('No resources found in demo namespace.');
  });

  it('refuses the protobuf body of typed commands with UnsupportedMediaType (documented limitation)', async () => {
    const result = await h.kubectl(['create', 'namespace', 'typed']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Error from server (UnsupportedMediaType)');
  });

  it('deletes from files; kubectl waits until the namespace controller has emptied and removed the namespace', async () => {
    expect((await h.kubectl(['delete', '-f', fixture('deployment-web.yaml')])).stdout.trim()).toBe(
      'deployment.apps "web" deleted',
    );
    expect((await h.kubectl(['delete', '-f', fixture('injector-canary.yaml')])).stdout.trim()).toBe(
      'mutatingwebhookconfiguration.admissionregistration.k8s.io "istio-sidecar-injector-canary" deleted',
    );
    const missing = await h.kubectl(['get', 'deploy', 'web', '-n', 'demo']);
    expect(missing.stderr).toContain('Error from server (NotFound): deployments.apps "web" not found');
    expect((await h.kubectl(['delete', '-f', fixture('namespace-demo.yaml')])).stdout.trim()).toBe(
      'namespace "demo" deleted',
    );
    expect(h.store.list(h.store.findType('', 'events')!, { namespace: 'demo' }).items).toEqual([]);
  });
});
