/**
 * Contract: watches and lists as kube-apiserver serves them: idle watches are silent, too-old
 * versions get 410, bookmarks come when asked, paginated lists read one snapshot and expire
 * after compaction, and metadata-only output (PartialObjectMetadata) is negotiated from Accept.
 *
 * Sources: wire §0.5/§4 (/work/shared/reference/kubernetes-wire.md), the watch cache's
 * nextBookmarkTime (k8s.io/apiserver/pkg/storage/cacher/cache_watcher.go), the etcd3 store's
 * handleCompactedErrorForPaging and inconsistentContinue (k8s.io/apiserver/pkg/storage/etcd3),
 * handlers/response.go (asPartialObjectMetadata[List], errNotAcceptable), handlers/negotiation,
 * and the docs' "Retrieving large results sets in chunks" (a list is one consistent snapshot).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { startHarness, type Harness } from '../api/harness.ts';
import { openWatch, sender, sleep, type Send } from './helpers.ts';

let h: Harness;
let send: Send;

beforeAll(async () => {
  h = await startHarness({ bookmarkIntervalMs: 300 });
  send = sender(h.server.url);
  await send('POST', '/api/v1/namespaces', { metadata: { name: 'demo' } });
  for (const name of ['a', 'b', 'c', 'd', 'e'])
    await send('POST', '/api/v1/namespaces/demo/configmaps', { metadata: { name, labels: { set: 'x' } } });
});

afterAll(async () => {
  await h.close();
});

const rv = () => String(h.store.resourceVersion());

describe('watches', () => {
  it('send nothing at all while idle, then end at timeoutSeconds', async () => {
    const started = Date.now();
    const stream = await openWatch(
      h.server.url,
      `/api/v1/namespaces/demo/configmaps?watch=true&resourceVersion=${rv()}&timeoutSeconds=1`,
    );
    expect(await stream.ended).toBe('ended');
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(stream.text()).toBe('');
  });

  it('let client-node see nothing either: its Watch gets only real events', async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromString((await import('../../src/kubeconfig.ts')).kubeconfigYaml(h.server.url));
    const seen: string[] = [];
    const controller = await new k8s.Watch(kc).watch(
      '/api/v1/namespaces/demo/configmaps',
      { resourceVersion: rv() },
      (type) => seen.push(type),
      () => undefined,
    );
    await sleep(700);
    expect(seen).toEqual([]);
    await send(
      'PATCH',
      '/api/v1/namespaces/demo/configmaps/a',
      { data: { k: 'v' } },
      { contentType: 'application/merge-patch+json' },
    );
    await sleep(100);
    controller.abort();
    expect(seen).toEqual(['MODIFIED']);
  });

  it('answer a too-old resourceVersion with one ERROR event carrying the 410 Status (wire §4)', async () => {
    h.store.compact(); // history older than now is gone, as after etcd compaction
    const stream = await openWatch(h.server.url, '/api/v1/namespaces/demo/configmaps?watch=true&resourceVersion=1');
    await stream.ended;
    expect(stream.lines).toEqual([
      {
        type: 'ERROR',
        object: {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: `too old resource version: 1 (${rv()})`,
          reason: 'Expired',
          code: 410,
        },
      },
    ]);
  });

  it('send BOOKMARKs with only metadata.resourceVersion, periodically and before the deadline, when asked', async () => {
    const stream = await openWatch(
      h.server.url,
      `/api/v1/namespaces/demo/configmaps?watch=true&allowWatchBookmarks=true&resourceVersion=${rv()}&timeoutSeconds=3`,
    );
    await sleep(700);
    const periodic = stream.lines.filter((l) => l.type === 'BOOKMARK');
    expect(periodic.length).toBeGreaterThanOrEqual(1);
    expect(periodic[0]).toEqual({
      type: 'BOOKMARK',
      object: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { resourceVersion: rv() } },
    });
    stream.close();
    const quiet = await openWatch(
      h.server.url,
      `/api/v1/namespaces/demo/configmaps?watch=true&resourceVersion=${rv()}&timeoutSeconds=1`,
    );
    await quiet.ended;
    expect(quiet.lines).toEqual([]);
  });
});

type List = {
  metadata: { resourceVersion: string; continue?: string; remainingItemCount?: number };
  items: { metadata: { name: string } }[];
};

describe('paginated lists', () => {
  it('serve every page from the first page’s snapshot, whatever changes meanwhile', async () => {
    const first = (await send('GET', '/api/v1/namespaces/demo/configmaps?limit=2')).body as unknown as List;
    expect(first.items.map((i) => i.metadata.name)).toEqual(['a', 'b']);
    expect(first.metadata.remainingItemCount).toBe(3);
    await send('DELETE', '/api/v1/namespaces/demo/configmaps/d');
    await send('POST', '/api/v1/namespaces/demo/configmaps', { metadata: { name: 'cc' } });
    const second = (
      await send('GET', `/api/v1/namespaces/demo/configmaps?limit=2&continue=${first.metadata.continue ?? ''}`)
    ).body as unknown as List;
    expect(second.items.map((i) => i.metadata.name)).toEqual(['c', 'd']);
    expect(second.metadata.resourceVersion).toBe(first.metadata.resourceVersion);
    const third = (
      await send('GET', `/api/v1/namespaces/demo/configmaps?limit=2&continue=${second.metadata.continue ?? ''}`)
    ).body as unknown as List;
    expect(third.items.map((i) => i.metadata.name)).toEqual(['e']);
    expect(third.metadata.continue).toBeUndefined();
  });

  it('expire a continue token after compaction with the real 410 and an inconsistent-continue token', async () => {
    const first = (await send('GET', '/api/v1/namespaces/demo/configmaps?limit=2')).body as unknown as List;
    h.store.compact();
    const expired = await send(
      'GET',
      `/api/v1/namespaces/demo/configmaps?limit=2&continue=${first.metadata.continue ?? ''}`,
    );
    expect(expired.status).toBe(410);
    expect(expired.body).toMatchObject({
      kind: 'Status',
      status: 'Failure',
      reason: 'Expired',
      code: 410,
      message:
        'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
    });
    const token = (expired.body.metadata as { continue: string }).continue;
    expect(JSON.parse(Buffer.from(token, 'base64url').toString('utf8'))).toEqual({
      v: 'meta.k8s.io/v1',
      rv: -1,
      start: 'demo/b\u0000',
    });
    // That token continues from the same key, in the current state.
    const rest = (await send('GET', `/api/v1/namespaces/demo/configmaps?continue=${token}`)).body as unknown as List;
    expect(rest.items.map((i) => i.metadata.name)).toEqual(['c', 'cc', 'e']);
    expect(rest.metadata.resourceVersion).toBe(rv());
  });

  it('refuse a resourceVersion together with continue, and ignore limit for resourceVersion=0 (served as from the watch cache)', async () => {
    const first = (await send('GET', '/api/v1/namespaces/demo/configmaps?limit=2')).body as unknown as List;
    const both = await send(
      'GET',
      `/api/v1/namespaces/demo/configmaps?continue=${first.metadata.continue ?? ''}&resourceVersion=5`,
    );
    expect(both.status).toBe(400);
    expect(both.body.message).toBe('specifying resource version is not allowed when using continue');
    const all = (await send('GET', '/api/v1/namespaces/demo/configmaps')).body as unknown as List;
    const cached = (await send('GET', '/api/v1/namespaces/demo/configmaps?limit=2&resourceVersion=0'))
      .body as unknown as List;
    expect(all.items.length).toBeGreaterThan(2);
    expect(cached.items).toHaveLength(all.items.length);
    expect(cached.metadata.continue).toBeUndefined();
  });
});

const META = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';

describe('metadata-only lists and watches', () => {
  it('answer a list as PartialObjectMetadataList with each item’s full metadata', async () => {
    const reply = await send('GET', '/api/v1/namespaces/demo/configmaps?labelSelector=set%3Dx&limit=2', undefined, {
      accept: META,
    });
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toBe('application/json');
    expect(reply.body).toMatchObject({ kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1' });
    const items = reply.body.items as {
      kind: string;
      apiVersion: string;
      metadata: Record<string, unknown>;
      data?: unknown;
    }[];
    expect(items.map((i) => [i.kind, i.apiVersion, i.metadata.name])).toEqual([
      ['PartialObjectMetadata', 'meta.k8s.io/v1', 'a'],
      ['PartialObjectMetadata', 'meta.k8s.io/v1', 'b'],
    ]);
    expect(items[0]?.metadata).toMatchObject({ namespace: 'demo', labels: { set: 'x' } });
    expect(items[0]?.metadata.uid).toBeDefined();
    expect(items[0]).not.toHaveProperty('data');
    expect((reply.body.metadata as { continue?: string }).continue).toBeDefined();
  });

  it('answer a get as PartialObjectMetadata, and a get asked for a list form with 406', async () => {
    const one = await send('GET', '/api/v1/namespaces/demo/configmaps/a', undefined, {
      accept: 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1',
    });
    expect(one.body).toMatchObject({
      kind: 'PartialObjectMetadata',
      apiVersion: 'meta.k8s.io/v1',
      metadata: { name: 'a' },
    });
    const wrong = await send('GET', '/api/v1/namespaces/demo/configmaps/a', undefined, { accept: META });
    expect(wrong.status).toBe(406);
    expect(wrong.body).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'you requested PartialObjectMetadataList, but the requested object is not a list (*core.ConfigMap)',
      reason: 'NotAcceptable',
      code: 406,
    });
  });

  it('stream PartialObjectMetadata objects on a watch', async () => {
    const stream = await openWatch(
      h.server.url,
      `/api/v1/namespaces/demo/configmaps?watch=true&resourceVersion=${rv()}&timeoutSeconds=1`,
      {
        headers: { accept: 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1' },
      },
    );
    await send(
      'PATCH',
      '/api/v1/namespaces/demo/configmaps/a',
      { data: { k: 'w' } },
      { contentType: 'application/merge-patch+json' },
    );
    await stream.ended;
    expect(stream.lines).toHaveLength(1);
    expect(stream.lines[0]).toMatchObject({
      type: 'MODIFIED',
      object: { kind: 'PartialObjectMetadata', metadata: { name: 'a' } },
    });
    expect(stream.lines[0]?.object).not.toHaveProperty('data');
  });

  it('pick the first Accept entry it supports, and answer 406 when it supports none', async () => {
    const fallback = await send('GET', '/api/v1/namespaces/demo/configmaps', undefined, {
      accept: 'application/json;as=Frobnicated;g=meta.k8s.io;v=v1,application/json',
    });
    expect(fallback.body.kind).toBe('ConfigMapList');
    const none = await send('GET', '/api/v1/namespaces/demo/configmaps', undefined, {
      accept: 'application/json;as=Frobnicated;g=meta.k8s.io;v=v1',
    });
    expect(none.status).toBe(406);
    expect(none.body).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        'only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf',
      reason: 'NotAcceptable',
      code: 406,
    });
  });
});
