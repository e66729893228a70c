/**
 * Contract: `metadata.generation` moves as each kind's registry strategy moves it, managedFields
 * record who set which field, and server-side apply is refused rather than faked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../api/harness.ts';
import { deploymentBody, sender, type Send } from './helpers.ts';

let h: Harness;
let send: Send;
const merge = { contentType: 'application/merge-patch+json' };

beforeAll(async () => {
  h = await startHarness();
  send = sender(h.server.url);
  await send('POST', '/api/v1/namespaces', { metadata: { name: 'demo' } });
});

afterAll(async () => {
  await h.close();
});

const generation = (reply: { body: Record<string, unknown> }) =>
  (reply.body.metadata as { generation?: number }).generation;

describe('generation (PrepareForCreate/PrepareForUpdate of each strategy)', () => {
  it('Deployment: 1 on create; spec and annotation changes bump it, labels and status never do (pkg/registry/apps/deployment/strategy.go)', async () => {
    const path = '/apis/apps/v1/namespaces/demo/deployments/gen';
    expect(generation(await send('POST', '/apis/apps/v1/namespaces/demo/deployments', deploymentBody('gen')))).toBe(1);
    expect(generation(await send('PATCH', path, { metadata: { labels: { x: 'y' } } }, merge))).toBe(1);
    expect(generation(await send('PATCH', `${path}/status`, { status: { replicas: 5 } }, merge))).toBe(1);
    expect(generation(await send('PATCH', path, { metadata: { annotations: { note: 'a' } } }, merge))).toBe(2);
    expect(generation(await send('PATCH', path, { spec: { replicas: 3 } }, merge))).toBe(3);
    // A no-op write changes nothing at all (same resourceVersion).
    const before = await send('GET', path);
    const again = await send('PATCH', path, { spec: { replicas: 3 } }, merge);
    expect(generation(again)).toBe(3);
    expect((again.body.metadata as { resourceVersion: string }).resourceVersion).toBe(
      (before.body.metadata as { resourceVersion: string }).resourceVersion,
    );
  });

  it('StatefulSet: only spec changes bump it', async () => {
    const body = {
      ...deploymentBody('db'),
      kind: 'StatefulSet',
      spec: { ...(deploymentBody('db').spec as object), serviceName: 'db' },
    };
    await send('POST', '/apis/apps/v1/namespaces/demo/statefulsets', body);
    const path = '/apis/apps/v1/namespaces/demo/statefulsets/db';
    expect(generation(await send('PATCH', path, { metadata: { annotations: { note: 'a' } } }, merge))).toBe(1);
    expect(generation(await send('PATCH', path, { spec: { replicas: 2 } }, merge))).toBe(2);
  });

  it('kinds without a spec strategy carry no generation (ConfigMap); webhook configurations bump on webhooks', async () => {
    const cm = await send('POST', '/api/v1/namespaces/demo/configmaps', { metadata: { name: 'cm' }, data: { a: '1' } });
    expect(generation(cm)).toBeUndefined();
    const hook = {
      name: 'inject.example.com',
      clientConfig: { service: { name: 'istiod', namespace: 'istio-system' } },
      rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
      sideEffects: 'None',
      admissionReviewVersions: ['v1'],
    };
    const path = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';
    expect(generation(await send('POST', path, { metadata: { name: 'mwc' }, webhooks: [hook] }))).toBe(1);
    expect(generation(await send('PATCH', `${path}/mwc`, { metadata: { labels: { a: 'b' } } }, merge))).toBe(1);
    expect(generation(await send('PATCH', `${path}/mwc`, { webhooks: [{ ...hook, timeoutSeconds: 5 }] }, merge))).toBe(
      2,
    );
  });

  it('custom resources: anything but metadata (and status, with a status subresource) bumps it (apiextensions customResourceStrategy)', async () => {
    await send('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
      metadata: { name: 'widgets.example.com' },
      spec: {
        group: 'example.com',
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
        versions: [{ name: 'v1', served: true, storage: true, subresources: { status: {} } }],
      },
    });
    const path = '/apis/example.com/v1/namespaces/demo/widgets';
    expect(generation(await send('POST', path, { metadata: { name: 'w' }, spec: { size: 1 } }))).toBe(1);
    expect(generation(await send('PATCH', `${path}/w`, { metadata: { labels: { a: 'b' } } }, merge))).toBe(1);
    expect(generation(await send('PATCH', `${path}/w`, { spec: { size: 2 }, extra: true }, merge))).toBe(2);
  });
});

type Entry = {
  manager: string;
  operation: string;
  apiVersion: string;
  time: string;
  fieldsType: string;
  fieldsV1: Record<string, unknown>;
  subresource?: string;
};
const managed = (reply: { body: Record<string, unknown> }) =>
  ((reply.body.metadata as { managedFields?: Entry[] }).managedFields ?? []) as Entry[];

describe('managedFields (k8s.io/apiserver/pkg/endpoints/handlers/fieldmanager)', () => {
  it('records the creating manager (the User-Agent prefix without ?fieldManager=) with the fields it set', async () => {
    const reply = await send(
      'POST',
      '/api/v1/namespaces/demo/configmaps',
      { metadata: { name: 'owned', labels: { app: 'web' } }, data: { a: '1' } },
      { userAgent: 'kubernetes-client-javascript/2.0.1' },
    );
    const [entry] = managed(reply);
    expect(managed(reply)).toHaveLength(1);
    expect(entry).toMatchObject({
      manager: 'kubernetes-client-javascript',
      operation: 'Update',
      apiVersion: 'v1',
      fieldsType: 'FieldsV1',
      fieldsV1: { 'f:data': { 'f:a': {} }, 'f:metadata': { 'f:labels': { 'f:app': {} } } },
    });
    expect(entry?.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('gives a field to the manager that changes it and takes it from the previous owner', async () => {
    const reply = await send(
      'PATCH',
      '/api/v1/namespaces/demo/configmaps/owned?fieldManager=kubectl-label',
      { metadata: { labels: { app: 'api', team: 'a' } } },
      merge,
    );
    const entries = managed(reply);
    // Sorted by operation, time (seconds), then manager: both wrote within the same second here.
    expect(entries.map((e) => e.manager)).toEqual(['kubectl-label', 'kubernetes-client-javascript']);
    const by = (manager: string) => entries.find((e) => e.manager === manager)?.fieldsV1;
    expect(by('kubernetes-client-javascript')).toEqual({ 'f:data': { 'f:a': {} } });
    expect(by('kubectl-label')).toEqual({ 'f:metadata': { 'f:labels': { 'f:app': {}, 'f:team': {} } } });
  });

  it("keeps a manager's set over writes to its own fields, grows and shrinks it as fields come and go", async () => {
    const as = (manager: string) => `/api/v1/namespaces/demo/configmaps/sets?fieldManager=${manager}`;
    const sets = (reply: { body: Record<string, unknown> }) =>
      Object.fromEntries(managed(reply).map((e) => [e.manager, e.fieldsV1]));
    await send('POST', '/api/v1/namespaces/demo/configmaps?fieldManager=writer', {
      metadata: { name: 'sets' },
      data: { a: '1' },
    });
    expect(sets(await send('PATCH', as('writer'), { data: { a: '2' } }, merge))).toEqual({
      writer: { 'f:data': { 'f:a': {} } },
    });
    expect(sets(await send('PATCH', as('writer'), { data: { b: '1' } }, merge))).toEqual({
      writer: { 'f:data': { 'f:a': {}, 'f:b': {} } },
    });
    expect(sets(await send('PATCH', as('other'), { data: { b: '2' } }, merge))).toEqual({
      writer: { 'f:data': { 'f:a': {} } },
      other: { 'f:data': { 'f:b': {} } },
    });
    // A manager left with no field is dropped; one that takes the last field of another drops it.
    expect(sets(await send('PATCH', as('writer'), { data: { a: null } }, merge))).toEqual({
      other: { 'f:data': { 'f:b': {} } },
    });
    expect(sets(await send('PATCH', as('writer'), { data: { b: '3' } }, merge))).toEqual({
      writer: { 'f:data': { 'f:b': {} } },
    });
  });

  it('keys list items by their merge key and records status writes as the status subresource', async () => {
    const created = await send(
      'POST',
      '/apis/apps/v1/namespaces/demo/deployments?fieldManager=revroll',
      deploymentBody('mf'),
    );
    const spec = managed(created)[0]?.fieldsV1['f:spec'] as Record<string, Record<string, Record<string, unknown>>>;
    const containers = (spec['f:template']?.['f:spec'] as Record<string, Record<string, unknown>>)['f:containers'];
    expect(containers?.['k:{"name":"main"}']).toMatchObject({ '.': {}, 'f:image': {}, 'f:name': {} });
    const status = await send(
      'PATCH',
      '/apis/apps/v1/namespaces/demo/deployments/mf/status?fieldManager=kube-controller-manager',
      { status: { replicas: 1 } },
      merge,
    );
    expect(managed(status).find((e) => e.manager === 'kube-controller-manager')).toMatchObject({
      subresource: 'status',
      fieldsV1: { 'f:status': { 'f:replicas': {} } },
    });
  });

  it('strips managedFields when a write sets them to [{}], and ignores [] (documented behaviour)', async () => {
    const ignored = await send(
      'PATCH',
      '/api/v1/namespaces/demo/configmaps/owned',
      { metadata: { managedFields: [] } },
      merge,
    );
    expect(managed(ignored).length).toBeGreaterThan(0);
    const stripped = await send(
      'PATCH',
      '/api/v1/namespaces/demo/configmaps/owned',
      [{ op: 'replace', path: '/metadata/managedFields', value: [{}] }],
      {
        contentType: 'application/json-patch+json',
      },
    );
    expect(stripped.status).toBe(200);
    expect(managed(stripped)).toEqual([]);
  });
});

describe('server-side apply is refused, never merged', () => {
  it('answers application/apply-patch+yaml with the 415 a server gives an unsupported patch type (wire §4)', async () => {
    const reply = await send(
      'PATCH',
      '/api/v1/namespaces/demo/configmaps/owned?fieldManager=kubectl&force=true',
      'data:\n  a: "2"\n',
      {
        contentType: 'application/apply-patch+yaml',
      },
    );
    expect(reply.status).toBe(415);
    expect(reply.body).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: '415: Unsupported Media Type',
      reason: 'UnsupportedMediaType',
      details: {},
      code: 415,
    });
    const after = await send('GET', '/api/v1/namespaces/demo/configmaps/owned');
    expect(after.body.data).toEqual({ a: '1' });
  });
});
