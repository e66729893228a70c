/**
 * Contract: writes are validated as kube-apiserver validates them, and rejected with its 422.
 * Each fact names its source; "wire §4" is /work/shared/reference/kubernetes-wire.md §4 (a real
 * kube-apiserver 1.24, recorded), the others are Kubernetes source files.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../api/harness.ts';
import { deploymentBody, sender, type Send } from './helpers.ts';

let h: Harness;
let send: Send;

beforeAll(async () => {
  h = await startHarness();
  send = sender(h.server.url);
  await send('POST', '/api/v1/namespaces', { metadata: { name: 'demo' } });
  await send('POST', '/api/v1/namespaces', { metadata: { name: 'other' } });
});

afterAll(async () => {
  await h.close();
});

const event = (namespace: string, involved: Record<string, unknown>) => ({
  metadata: { name: `x.${Math.random().toString(16).slice(2)}` },
  involvedObject: involved,
  reason: 'Test',
  message: 'm',
  type: 'Normal',
  source: { component: 'contract' },
});

describe('Events (pkg/apis/core/validation/events.go, legacyValidateEvent)', () => {
  it('accepts an Event in the namespace of the object it is about', async () => {
    const reply = await send(
      'POST',
      '/api/v1/namespaces/demo/events',
      event('demo', { kind: 'Pod', name: 'p', namespace: 'demo' }),
    );
    expect(reply.status).toBe(201);
  });

  it('rejects an Event whose namespace does not match involvedObject.namespace, with the real text', async () => {
    const body = { ...event('demo', { kind: 'Pod', name: 'p', namespace: 'other' }), metadata: { name: 'mismatch' } };
    const reply = await send('POST', '/api/v1/namespaces/demo/events', body);
    expect(reply.status).toBe(422);
    expect(reply.body).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        'Event "mismatch" is invalid: involvedObject.namespace: Invalid value: "other": does not match event.namespace',
      reason: 'Invalid',
      details: {
        name: 'mismatch',
        kind: 'Event',
        causes: [
          {
            reason: 'FieldValueInvalid',
            message: 'Invalid value: "other": does not match event.namespace',
            field: 'involvedObject.namespace',
          },
        ],
      },
      code: 422,
    });
  });

  it('puts Events about cluster-scoped objects in `default` only (empty involvedObject.namespace)', async () => {
    const ok = await send(
      'POST',
      '/api/v1/namespaces/default/events',
      event('default', { kind: 'Namespace', name: 'demo' }),
    );
    expect(ok.status).toBe(201);
    const body = { ...event('demo', { kind: 'Namespace', name: 'demo' }), metadata: { name: 'ns-event' } };
    const wrong = await send('POST', '/api/v1/namespaces/demo/events', body);
    expect(wrong.status).toBe(422);
    expect(wrong.body.message).toBe(
      'Event "ns-event" is invalid: involvedObject.namespace: Invalid value: "": does not match event.namespace',
    );
  });

  it('applies the strict events.k8s.io/v1 rules there (ValidateEventCreate): eventTime required, deprecated fields unset', async () => {
    const reply = await send('POST', '/apis/events.k8s.io/v1/namespaces/demo/events', {
      metadata: { name: 'strict' },
      regarding: { kind: 'Pod', name: 'p', namespace: 'demo' },
      reason: 'Test',
      note: 'n',
      type: 'Normal',
      deprecatedCount: 3,
    });
    expect(reply.status).toBe(422);
    expect(reply.body.message).toBe(
      'Event.events.k8s.io "strict" is invalid: [eventTime: Required value, count: Invalid value: "": needs to be unset]',
    );
    expect((reply.body.details as { group: string }).group).toBe('events.k8s.io');
  });
});

describe('ObjectMeta (k8s.io/apimachinery/pkg/api/validation/objectmeta.go, util/validation)', () => {
  it('rejects an invalid label value with the message recorded from a real server (wire §4)', async () => {
    const reply = await send(
      'PATCH',
      '/api/v1/namespaces/demo',
      { metadata: { labels: { team: 'bad value!' } } },
      {
        contentType: 'application/merge-patch+json',
      },
    );
    expect(reply.status).toBe(422);
    expect(reply.body.message).toBe(
      `Namespace "demo" is invalid: metadata.labels: Invalid value: "bad value!": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
    );
  });

  it('rejects a label key that is not a qualified name', async () => {
    const reply = await send('POST', '/api/v1/namespaces/demo/configmaps', {
      metadata: { name: 'k', labels: { 'bad/key/here': 'v' } },
    });
    expect(reply.status).toBe(422);
    expect(reply.body.message).toMatch(
      /^ConfigMap "k" is invalid: metadata.labels: Invalid value: "bad\/key\/here": a qualified name must consist of/,
    );
  });

  it.each([
    [
      '/api/v1/namespaces',
      { metadata: { name: 'Bad.Name' } },
      'Namespace "Bad.Name" is invalid: metadata.name: Invalid value: "Bad.Name": a lowercase RFC 1123 label must',
    ],
    [
      '/api/v1/namespaces/demo/services',
      { metadata: { name: '1svc' }, spec: { ports: [{ port: 80 }] } },
      'Service "1svc" is invalid: metadata.name: Invalid value: "1svc": a DNS-1035 label must consist of lower case alphanumeric characters',
    ],
    [
      '/api/v1/namespaces/demo/configmaps',
      { metadata: { name: 'a_b' } },
      'ConfigMap "a_b" is invalid: metadata.name: Invalid value: "a_b": a lowercase RFC 1123 subdomain must',
    ],
  ])('validates names per kind (%s)', async (path, body, prefix) => {
    const reply = await send('POST', path, body);
    expect(reply.status).toBe(422);
    expect(String(reply.body.message).startsWith(prefix)).toBe(true);
  });

  it('allows path-segment names where the kind does (RBAC roles)', async () => {
    const reply = await send('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      metadata: { name: 'system:controller:thing' },
      rules: [],
    });
    expect(reply.status).toBe(201);
  });

  it('requires a name or generateName', async () => {
    const reply = await send('POST', '/api/v1/namespaces/demo/configmaps', { metadata: {} });
    expect(reply.status).toBe(422);
    expect(reply.body.message).toBe(
      'ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required',
    );
    expect((reply.body.details as { causes: unknown[] }).causes).toEqual([
      {
        reason: 'FieldValueRequired',
        message: 'Required value: name or generateName is required',
        field: 'metadata.name',
      },
    ]);
  });

  it('never lets an update change metadata.uid', async () => {
    const created = await send('POST', '/api/v1/namespaces/demo/configmaps', { metadata: { name: 'uid' } });
    const reply = await send('PUT', '/api/v1/namespaces/demo/configmaps/uid', {
      metadata: { name: 'uid', uid: '00000000-0000-0000-0000-000000000000' },
    });
    expect(created.status).toBe(201);
    expect(reply.status).toBe(422);
    expect(reply.body.message).toBe(
      'ConfigMap "uid" is invalid: metadata.uid: Invalid value: "00000000-0000-0000-0000-000000000000": field is immutable',
    );
  });
});

describe('workloads (pkg/apis/apps/validation, pkg/apis/core/validation)', () => {
  it('names the group in the message and details: Deployment.apps', async () => {
    const body = deploymentBody('noimage');
    (body.spec as { template: { spec: { containers: object[] } } }).template.spec.containers = [{ name: 'main' }];
    const reply = await send('POST', '/apis/apps/v1/namespaces/demo/deployments', body);
    expect(reply.status).toBe(422);
    expect(reply.body.message).toBe(
      'Deployment.apps "noimage" is invalid: spec.template.spec.containers[0].image: Required value',
    );
    expect(reply.body.details).toMatchObject({ name: 'noimage', group: 'apps', kind: 'Deployment' });
  });

  it('lists several errors as [a, b] with one cause each', async () => {
    const reply = await send('POST', '/apis/apps/v1/namespaces/demo/deployments', {
      metadata: { name: 'broken' },
      spec: { replicas: -1, template: { metadata: { labels: { app: 'x' } }, spec: { containers: [] } } },
    });
    expect(reply.status).toBe(422);
    expect(reply.body.message).toBe(
      'Deployment.apps "broken" is invalid: [spec.selector: Required value, spec.replicas: Invalid value: -1: must be greater than or equal to 0, spec.template.spec.containers: Required value]',
    );
    expect((reply.body.details as { causes: unknown[] }).causes).toHaveLength(3);
  });

  it('requires the selector to match the template labels', async () => {
    const body = deploymentBody('mismatch');
    (body.spec as { selector: unknown }).selector = { matchLabels: { app: 'other' } };
    const reply = await send('POST', '/apis/apps/v1/namespaces/demo/deployments', body);
    expect(reply.body.message).toBe(
      'Deployment.apps "mismatch" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{"app":"mismatch"}: `selector` does not match template `labels`',
    );
  });

  it('keeps spec.selector immutable (the selector printed through its String())', async () => {
    await send('POST', '/apis/apps/v1/namespaces/demo/deployments', deploymentBody('web'));
    const reply = await send(
      'PATCH',
      '/apis/apps/v1/namespaces/demo/deployments/web',
      {
        spec: {
          selector: { matchLabels: { app: 'web', tier: 'x' } },
          template: { metadata: { labels: { app: 'web', tier: 'x' } } },
        },
      },
      { contentType: 'application/merge-patch+json' },
    );
    expect(reply.status).toBe(422);
    expect(reply.body.message).toBe(
      'Deployment.apps "web" is invalid: spec.selector: Invalid value: &LabelSelector{MatchLabels:map[string]string{app: web,tier: x,},MatchExpressions:[]LabelSelectorRequirement{},}: field is immutable',
    );
  });

  it('refuses a pod spec change other than images', async () => {
    await send('POST', '/api/v1/namespaces/demo/pods', {
      metadata: { name: 'p' },
      spec: { containers: [{ name: 'c', image: 'busybox' }] },
    });
    const image = await send(
      'PATCH',
      '/api/v1/namespaces/demo/pods/p',
      { spec: { containers: [{ name: 'c', image: 'busybox:2' }] } },
      {
        contentType: 'application/strategic-merge-patch+json',
      },
    );
    expect(image.status).toBe(200);
    const other = await send(
      'PATCH',
      '/api/v1/namespaces/demo/pods/p',
      { spec: { hostNetwork: true } },
      {
        contentType: 'application/merge-patch+json',
      },
    );
    expect(other.status).toBe(422);
    expect(other.body.message).toMatch(
      /^Pod "p" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers\[\*\].image`/,
    );
  });
});

describe('Services (pkg/apis/core/validation ValidateService, the registry patchAllocatedValues)', () => {
  it('keeps the allocated cluster IP across a PUT that omits it, and refuses to change it', async () => {
    const created = await send('POST', '/api/v1/namespaces/demo/services', {
      metadata: { name: 'svc' },
      spec: { selector: { app: 'web' }, ports: [{ port: 80 }] },
    });
    const ip = (created.body.spec as { clusterIP: string }).clusterIP;
    expect(ip).toMatch(/^10\.96\./);
    const kept = await send('PUT', '/api/v1/namespaces/demo/services/svc', {
      metadata: { name: 'svc' },
      spec: { selector: { app: 'web' }, ports: [{ port: 80 }] },
    });
    expect((kept.body.spec as { clusterIP: string }).clusterIP).toBe(ip);
    const changed = await send(
      'PATCH',
      '/api/v1/namespaces/demo/services/svc',
      { spec: { clusterIP: '10.96.200.200', clusterIPs: ['10.96.200.200'] } },
      {
        contentType: 'application/merge-patch+json',
      },
    );
    expect(changed.status).toBe(422);
    expect(changed.body.message).toBe(
      'Service "svc" is invalid: [spec.clusterIP: Invalid value: "10.96.200.200": field is immutable, spec.clusterIPs[0]: Invalid value: []string{"10.96.200.200"}: may not change once set]',
    );
  });

  it('requires ports on a ClusterIP service', async () => {
    const reply = await send('POST', '/api/v1/namespaces/demo/services', { metadata: { name: 'noports' }, spec: {} });
    expect(reply.body.message).toBe('Service "noports" is invalid: spec.ports: Required value');
  });
});

describe('other kinds revroll writes', () => {
  it('refuses a webhook configuration without sideEffects and admissionReviewVersions (admissionregistration v1)', async () => {
    const reply = await send('POST', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', {
      metadata: { name: 'hooks' },
      webhooks: [
        {
          name: 'inject.example.com',
          clientConfig: { service: { name: 'istiod', namespace: 'istio-system' } },
          rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
        },
      ],
    });
    expect(reply.status).toBe(422);
    expect(reply.body.message).toBe(
      'MutatingWebhookConfiguration.admissionregistration.k8s.io "hooks" is invalid: [webhooks[0].sideEffects: Required value: must specify one of None, NoneOnDryRun, webhooks[0].admissionReviewVersions: Required value: must specify one of v1, v1beta1]',
    );
  });

  it('keeps a RoleBinding roleRef immutable (pkg/apis/rbac/validation)', async () => {
    const binding = {
      metadata: { name: 'b' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
      subjects: [{ kind: 'ServiceAccount', name: 'default' }],
    };
    expect(
      (await send('POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/demo/rolebindings', binding)).status,
    ).toBe(201);
    const reply = await send(
      'PATCH',
      '/apis/rbac.authorization.k8s.io/v1/namespaces/demo/rolebindings/b',
      { roleRef: { name: 'edit' } },
      {
        contentType: 'application/merge-patch+json',
      },
    );
    expect(reply.status).toBe(422);
    expect(reply.body.message).toBe(
      'RoleBinding.rbac.authorization.k8s.io "b" is invalid: roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"edit"}: cannot change roleRef',
    );
  });

  it('refuses a Lease with a non-positive duration (pkg/apis/coordination/validation)', async () => {
    const reply = await send('POST', '/apis/coordination.k8s.io/v1/namespaces/demo/leases', {
      metadata: { name: 'l' },
      spec: { leaseDurationSeconds: 0 },
    });
    expect(reply.body.message).toBe(
      'Lease.coordination.k8s.io "l" is invalid: spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0',
    );
  });

  it('caps ConfigMap data at 1 MiB and checks its keys (ValidateConfigMap)', async () => {
    const big = await send('POST', '/api/v1/namespaces/demo/configmaps', {
      metadata: { name: 'big' },
      data: { state: 'x'.repeat(1024 * 1024) },
    });
    expect(big.status).toBe(422);
    expect(big.body.message).toBe('ConfigMap "big" is invalid: []: Too long: must have at most 1048576 bytes');
    const key = await send('POST', '/api/v1/namespaces/demo/configmaps', {
      metadata: { name: 'key' },
      data: { 'a b': 'v' },
    });
    expect(key.body.message).toMatch(
      /^ConfigMap "key" is invalid: data\[a b\]: Invalid value: "a b": a valid config key must consist of/,
    );
  });

  it('validates what the simulation writes too: the store refuses an invalid object from any writer', () => {
    const type = h.store.findType('', 'configmaps')!;
    expect(() => h.store.create(type, 'demo', { metadata: { name: 'Bad' } })).toThrow(/ConfigMap "Bad" is invalid/);
  });
});

describe('defaults every writer gets', () => {
  it('labels every namespace with kubernetes.io/metadata.name, which a write cannot remove', async () => {
    const created = await send('POST', '/api/v1/namespaces', { metadata: { name: 'labelled' } });
    expect((created.body.metadata as { labels: Record<string, string> }).labels).toEqual({
      'kubernetes.io/metadata.name': 'labelled',
    });
    const patched = await send(
      'PATCH',
      '/api/v1/namespaces/labelled',
      { metadata: { labels: { 'kubernetes.io/metadata.name': null } } },
      {
        contentType: 'application/merge-patch+json',
      },
    );
    expect((patched.body.metadata as { labels: Record<string, string> }).labels['kubernetes.io/metadata.name']).toBe(
      'labelled',
    );
  });

  it('reports a core/v1 validation failure of an events.k8s.io/v1 write in that group', async () => {
    const reply = await send('POST', '/apis/events.k8s.io/v1/namespaces/demo/events', {
      metadata: { name: 'elsewhere' },
      eventTime: '2026-11-22T04:00:00.000000Z',
      reportingController: 'revroll',
      reportingInstance: 'r1',
      action: 'Gate',
      reason: 'Passed',
      // With eventTime set, only an empty involvedObject namespace outside default/kube-system is refused.
      regarding: { kind: 'Node', name: 'n1' },
      note: 'n',
      type: 'Normal',
    });
    expect(reply.status).toBe(422);
    expect(reply.body.message).toBe(
      'Event.events.k8s.io "elsewhere" is invalid: involvedObject.namespace: Invalid value: "": does not match event.namespace',
    );
  });
});
