/**
 * Contract: a write answers in the output its Accept header negotiated, as a read does. In
 * kube-apiserver every handler (create.go, update.go, patch.go, delete.go in
 * k8s.io/apiserver/pkg/endpoints/handlers) negotiates the output media type before it writes and
 * ends in transformResponseObject (response.go), which turns the stored object into
 * PartialObjectMetadata or a Table when asked, passes a Status through untouched, and answers 406
 * when a list form was asked of one object: after the object was stored. An Accept naming no
 * type the server writes is a 406 before anything is written.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox } from '../../src/index.ts';
import { smallSandbox, type Send } from './helpers.ts';

const PARTIAL = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';
const PARTIAL_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';
const TABLE = 'application/json;as=Table;g=meta.k8s.io;v=v1';

let sandbox: Sandbox;
let send: Send;

beforeAll(async () => {
  ({ sandbox, send } = await smallSandbox('write-output'));
});

afterAll(async () => {
  await sandbox.close();
});

const configMap = (name: string) => ({ metadata: { name, labels: { tier: 'front' } }, data: { key: 'value' } });

describe('the answer of a write', () => {
  it('a create, patch and update asked for PartialObjectMetadata answer with the stored metadata only', async () => {
    const created = await send('POST', '/api/v1/namespaces/demo/configmaps', configMap('meta'), { accept: PARTIAL });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      kind: 'PartialObjectMetadata',
      apiVersion: 'meta.k8s.io/v1',
      metadata: { name: 'meta', namespace: 'demo', labels: { tier: 'front' } },
    });
    expect(created.body.data).toBeUndefined();

    const patched = await send(
      'PATCH',
      '/api/v1/namespaces/demo/configmaps/meta',
      { metadata: { labels: { tier: 'back' } }, data: { key: 'changed' } },
      { contentType: 'application/merge-patch+json', accept: PARTIAL },
    );
    expect(patched.status).toBe(200);
    expect(patched.body.kind).toBe('PartialObjectMetadata');
    expect(patched.body.data).toBeUndefined();
    const patchedMeta = patched.body.metadata as { labels: Record<string, string>; resourceVersion: string };
    expect(patchedMeta.labels.tier).toBe('back');

    // The object itself was written whole; only the answer is smaller.
    const read = await send('GET', '/api/v1/namespaces/demo/configmaps/meta');
    expect(read.body.data).toEqual({ key: 'changed' });
    expect((read.body.metadata as { resourceVersion: string }).resourceVersion).toBe(patchedMeta.resourceVersion);

    const updated = await send(
      'PUT',
      '/api/v1/namespaces/demo/configmaps/meta',
      { ...read.body, data: { key: 'replaced' } },
      { accept: PARTIAL },
    );
    expect(updated.status).toBe(200);
    expect(updated.body.kind).toBe('PartialObjectMetadata');
  });

  it('falls back to the next acceptable type, and answers a Table or YAML when those are asked', async () => {
    const fallback = await send('POST', '/api/v1/namespaces/demo/configmaps', configMap('fallback'), {
      accept: `application/json;as=Unknown;g=meta.k8s.io;v=v1,application/json`,
    });
    expect(fallback.status).toBe(201);
    expect(fallback.body).toMatchObject({ kind: 'ConfigMap', data: { key: 'value' } });

    const table = await send('POST', '/api/v1/namespaces/demo/configmaps', configMap('table'), { accept: TABLE });
    expect(table.status).toBe(201);
    expect(table.body.kind).toBe('Table');
    expect((table.body.rows as { cells: unknown[] }[])[0]?.cells[0]).toBe('table');

    const yaml = await send('POST', '/api/v1/namespaces/demo/configmaps', configMap('yaml'), {
      accept: 'application/yaml',
    });
    expect(yaml.status).toBe(201);
    expect(yaml.headers.get('content-type')).toBe('application/yaml');
    expect(yaml.text).toContain('name: yaml');
  });

  it('a list form asked of one object is a 406 after the write was stored', async () => {
    const response = await send('POST', '/api/v1/namespaces/demo/configmaps', configMap('listform'), {
      accept: PARTIAL_LIST,
    });
    expect(response.status).toBe(406);
    expect(response.body.message).toBe(
      'you requested PartialObjectMetadataList, but the requested object is not a list (*core.ConfigMap)',
    );
    expect((await send('GET', '/api/v1/namespaces/demo/configmaps/listform')).status).toBe(200);
  });

  it('an Accept the server cannot write is a 406 before anything is stored', async () => {
    const response = await send('POST', '/api/v1/namespaces/demo/configmaps', configMap('refused'), {
      accept: 'application/xml',
    });
    expect(response.status).toBe(406);
    expect(response.body.message).toBe(
      'only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf',
    );
    expect((await send('GET', '/api/v1/namespaces/demo/configmaps/refused')).status).toBe(404);
  });

  it('a delete answers its Status untouched, and a returned object transformed', async () => {
    await send('POST', '/api/v1/namespaces/demo/configmaps', configMap('gone'));
    const status = await send('DELETE', '/api/v1/namespaces/demo/configmaps/gone', undefined, { accept: PARTIAL });
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ kind: 'Status', status: 'Success' });

    await send('POST', '/api/v1/namespaces', { metadata: { name: 'leaving' } });
    const namespace = await send('DELETE', '/api/v1/namespaces/leaving', undefined, { accept: PARTIAL });
    expect(namespace.status).toBe(200);
    expect(namespace.body).toMatchObject({ kind: 'PartialObjectMetadata', metadata: { name: 'leaving' } });
  });
});
