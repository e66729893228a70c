/**
 * Contract: the request log (`sandbox.api.requests`) names the object each request is about, as
 * kube-apiserver's audit log fills `objectRef.name` (k8s.io/apiserver/pkg/apis/audit/types.go):
 * from the URL for gets, updates, patches and deletes, and for a create the name of the object
 * stored, which is how a `generateName` create gets one. A refused create stored nothing and names
 * nothing. Tests that compare the writes a run sent with the plan read this log.
 *
 * It also keeps the query string, as the audit log's `requestURI` carries it (selectors, paging,
 * `watch`), and the Accept header, which the audit log does not record: tests read it to tell a
 * metadata-only read (`as=PartialObjectMetadataList`) from a whole one. Recording changes no answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/index.ts';
import { smallSandbox, type Send } from './helpers.ts';

let sandbox: Sandbox;
let send: Send;

beforeAll(async () => {
  ({ sandbox, send } = await smallSandbox('request-log'));
});

afterAll(async () => {
  await sandbox.close();
});

const lastCreate = () => sandbox.api.requests.filter((r) => r.verb === 'create' && r.resource === 'configmaps').at(-1);

describe('the request log', () => {
  it('names a created object by the name it was stored under, generateName included', async () => {
    const named = await send('POST', '/api/v1/namespaces/demo/configmaps', { metadata: { name: 'plain' } });
    expect(named.status).toBe(201);
    expect(lastCreate()).toMatchObject({ namespace: 'demo', name: 'plain', status: 201 });

    const generated = await send('POST', '/api/v1/namespaces/demo/configmaps', { metadata: { generateName: 'gen-' } });
    expect(generated.status).toBe(201);
    const stored = (generated.body.metadata as { name: string }).name;
    expect(stored).toMatch(/^gen-[a-z0-9]{5}$/);
    expect(lastCreate()).toMatchObject({ name: stored, status: 201 });
  });

  it('names nothing for a create it refused', async () => {
    const refused = await send('POST', '/api/v1/namespaces/demo/configmaps', { metadata: { name: 'Not_Valid' } });
    expect(refused.status).toBe(422);
    const entry = lastCreate();
    expect(entry?.status).toBe(422);
    expect(entry?.name).toBeUndefined();
  });

  it('keeps the query string and the Accept header of a read', async () => {
    const accept = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
    const listed = await send('GET', '/api/v1/namespaces/demo/configmaps?labelSelector=app%3Dx&limit=2', undefined, {
      accept,
    });
    expect(listed.status).toBe(200);
    expect(listed.body.kind).toBe('PartialObjectMetadataList');
    const entry = sandbox.api.requests.filter((r) => r.verb === 'list' && r.resource === 'configmaps').at(-1);
    expect(entry).toMatchObject({ accept, query: 'labelSelector=app%3Dx&limit=2', status: 200 });

    await send('GET', '/api/v1/namespaces/demo/configmaps/plain');
    const get = sandbox.api.requests.filter((r) => r.verb === 'get' && r.resource === 'configmaps').at(-1);
    expect(get?.query).toBeUndefined();
  });
});
