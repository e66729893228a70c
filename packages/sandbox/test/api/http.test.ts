/**
 * The wire protocol, request by request, compared with what kube-apiserver answers: discovery,
 * OpenAPI, Status errors, pagination, selectors, subresources, watches, Tables, access reviews,
 * MicroTime, faults and the request log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiServer } from '../../src/api-server.ts';
import { json, jsonInit, startHarness, type Harness } from './harness.ts';

let h: Harness;
let logged: unknown[] = [];

beforeAll(async () => {
  h = await startHarness({ bookmarkIntervalMs: 100, log: (_message, error) => logged.push(error) });
  await h.request('/api/v1/namespaces', jsonInit('POST', { metadata: { name: 'demo', labels: { team: 'a' } } }));
  for (const name of ['alpha', 'bravo', 'charlie', 'delta']) {
    await h.request(
      '/api/v1/namespaces/demo/configmaps',
      jsonInit('POST', { metadata: { name, labels: { tier: name < 'c' ? 'front' : 'back' } }, data: { k: name } }),
    );
  }
});

afterAll(async () => {
  await h.close();
});

type Status = {
  kind: string;
  status: string;
  reason: string;
  message: string;
  code: number;
  details?: Record<string, unknown>;
};

/** Reads a watch stream until `count` JSON events have arrived (keep-alive newlines are skipped). */
async function readEvents(
  response: Response,
  count: number,
  timeoutMs = 3000,
): Promise<{ type: string; object: Record<string, unknown> & { metadata?: { name?: string } } }[]> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const events: { type: string; object: Record<string, unknown> }[] = [];
  let buffer = '';
  const deadline = Date.now() + timeoutMs;
  while (events.length < count && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      if (line !== '') events.push(JSON.parse(line) as { type: string; object: Record<string, unknown> });
    }
  }
  await reader.cancel();
  return events as never;
}

describe('non-resource endpoints', () => {
  it('serves /version with minor 32 and no-cache on every response', async () => {
    const response = await h.request('/version?timeout=32s');
    expect(response.headers.get('cache-control')).toBe('no-cache, private');
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toMatchObject({
      major: '1',
      minor: '32',
      gitVersion: expect.stringMatching(/^v1\.32\.\d+$/),
    });
    expect((await h.request('/api/v1/namespaces/nope')).headers.get('cache-control')).toBe('no-cache, private');
  });

  it.each(['/healthz', '/readyz', '/livez'])('answers %s with ok', async (path) => {
    const response = await h.request(path);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('ok');
  });

  it('serves aggregated discovery when asked, with the exact content type', async () => {
    const accept =
      'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';
    const apis = await h.request('/apis', { headers: { Accept: accept } });
    expect(apis.headers.get('content-type')).toBe(
      'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList',
    );
    const body = await json<{
      kind: string;
      items: {
        metadata: { name: string };
        versions: {
          version: string;
          resources: { resource: string; scope: string; subresources?: { subresource: string }[] }[];
        }[];
      }[];
    }>(apis);
    expect(body.kind).toBe('APIGroupDiscoveryList');
    const appsGroup = body.items.find((g) => g.metadata.name === 'apps');
    const deploymentsEntry = appsGroup?.versions[0]?.resources.find((r) => r.resource === 'deployments');
    expect(deploymentsEntry).toMatchObject({
      scope: 'Namespaced',
      subresources: [{ subresource: 'status' }],
      shortNames: ['deploy'],
      categories: ['all'],
    });
    const core = await json<{ items: { metadata: { name: string } }[] }>(
      h.request('/api', { headers: { Accept: accept } }),
    );
    expect(core.items.map((i) => i.metadata.name)).toEqual(['']);
  });

  it('serves legacy discovery and per-group-version resource lists', async () => {
    expect(await json(h.request('/api'))).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });
    const groups = await json<{ kind: string; groups: { name: string; preferredVersion: { groupVersion: string } }[] }>(
      h.request('/apis'),
    );
    expect(groups.kind).toBe('APIGroupList');
    expect(groups.groups.find((g) => g.name === 'coordination.k8s.io')?.preferredVersion.groupVersion).toBe(
      'coordination.k8s.io/v1',
    );
    const v1 = await json<{
      kind: string;
      groupVersion: string;
      resources: { name: string; namespaced: boolean; verbs: string[] }[];
    }>(h.request('/api/v1'));
    expect(v1).toMatchObject({ kind: 'APIResourceList', groupVersion: 'v1' });
    expect(v1.resources.find((r) => r.name === 'pods/status')?.verbs).toEqual(['get', 'patch', 'update']);
    expect(v1.resources.find((r) => r.name === 'namespaces')?.namespaced).toBe(false);
    expect(await json(h.request('/apis/authorization.k8s.io/v1'))).toMatchObject({
      resources: [
        { name: 'selfsubjectaccessreviews', verbs: ['create'] },
        { name: 'subjectaccessreviews', verbs: ['create'] },
      ],
    });
  });

  it('answers unknown group-versions with a plain-text 404, unknown resources with a Status', async () => {
    const unknownGroup = await h.request('/apis/nope.example.com/v1/things');
    expect(unknownGroup.status).toBe(404);
    expect(unknownGroup.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await unknownGroup.text()).toBe('404 page not found\n');
    expect((await h.request('/apis/apps/v2')).status).toBe(404);
    const unknownResource = await h.request('/apis/apps/v1/namespaces/demo/widgets');
    expect(await json(unknownResource)).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'the server could not find the requested resource',
      reason: 'NotFound',
      details: {},
      code: 404,
    });
  });

  it('publishes OpenAPI v3 with fieldValidation and strategic merge patch for built-in kinds', async () => {
    const index = await json<{ paths: Record<string, { serverRelativeURL: string }> }>(h.request('/openapi/v3'));
    const appsUrl = index.paths['apis/apps/v1']?.serverRelativeURL;
    expect(appsUrl).toMatch(/^\/openapi\/v3\/apis\/apps\/v1\?hash=[0-9A-F]+$/);
    const doc = await json<{
      paths: Record<
        string,
        {
          patch: {
            parameters: { name: string }[];
            requestBody: { content: Record<string, unknown> };
            'x-kubernetes-group-version-kind': unknown;
          };
        }
      >;
    }>(h.request(`${appsUrl}&timeout=32s`));
    const patch = doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}']?.patch;
    expect(patch?.['x-kubernetes-group-version-kind']).toEqual({ group: 'apps', version: 'v1', kind: 'Deployment' });
    expect(patch?.parameters.map((p) => p.name)).toContain('fieldValidation');
    expect(Object.keys(patch?.requestBody.content ?? {})).toContain('application/strategic-merge-patch+json');
    expect((await h.request('/openapi/v2')).status).toBe(404);
  });
});

describe('errors as Status', () => {
  it('answers a missing core object with NotFound and no group', async () => {
    const response = await h.request('/api/v1/namespaces/nope');
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.text()).toBe(
      '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"namespaces \\"nope\\" not found","reason":"NotFound","details":{"name":"nope","kind":"namespaces"},"code":404}\n',
    );
  });

  it('conflicts on a stale resourceVersion and on an existing name', async () => {
    const current = await json<{ metadata: { resourceVersion: string } }>(h.request('/api/v1/namespaces/demo'));
    await h.request(
      '/api/v1/namespaces/demo',
      jsonInit('PATCH', { metadata: { annotations: { bump: '1' } } }, 'application/merge-patch+json'),
    );
    const stale = await h.request(
      '/api/v1/namespaces/demo',
      jsonInit('PUT', { metadata: { name: 'demo', resourceVersion: current.metadata.resourceVersion } }),
    );
    expect(stale.status).toBe(409);
    expect(await json(stale)).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        'Operation cannot be fulfilled on namespaces "demo": the object has been modified; please apply your changes to the latest version and try again',
      reason: 'Conflict',
      details: { name: 'demo', kind: 'namespaces' },
      code: 409,
    });
    const stalePatch = await h.request(
      '/api/v1/namespaces/demo',
      jsonInit(
        'PATCH',
        { metadata: { resourceVersion: current.metadata.resourceVersion, labels: { x: 'y' } } },
        'application/merge-patch+json',
      ),
    );
    expect(stalePatch.status).toBe(409);
    const exists = await json<Status>(
      h.request('/api/v1/namespaces', jsonInit('POST', { metadata: { name: 'demo' } })),
    );
    expect(exists).toMatchObject({ reason: 'AlreadyExists', code: 409, message: 'namespaces "demo" already exists' });
  });

  it('rejects an invalid label value with 422 Invalid and a cause', async () => {
    const response = await h.request(
      '/api/v1/namespaces/demo',
      jsonInit('PATCH', { metadata: { labels: { team: 'bad value!' } } }, 'application/merge-patch+json'),
    );
    expect(response.status).toBe(422);
    const body = await json<Status>(response);
    expect(body.message).toMatch(
      /^Namespace "demo" is invalid: metadata\.labels: Invalid value: "bad value!": a valid label must be an empty string/,
    );
    expect(body.details).toMatchObject({
      name: 'demo',
      kind: 'Namespace',
      causes: [{ reason: 'FieldValueInvalid', field: 'metadata.labels' }],
    });
  });

  it('answers 405 for verbs a resource does not serve', async () => {
    expect((await h.request('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews')).status).toBe(405);
    const response = await h.request('/api/v1/namespaces/demo/status', { method: 'DELETE' });
    expect(response.status).toBe(405);
    expect(await json(response)).toMatchObject({ kind: 'Status', reason: 'MethodNotAllowed', code: 405 });
  });

  it('answers 415 to unknown patch types and to protobuf bodies', async () => {
    const patch = await h.request('/api/v1/namespaces/demo', jsonInit('PATCH', {}, 'application/x-unknown'));
    expect(await json(patch)).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: '415: Unsupported Media Type',
      reason: 'UnsupportedMediaType',
      details: {},
      code: 415,
    });
    const protobuf = await h.request('/api/v1/namespaces', {
      method: 'POST',
      headers: { 'Content-Type': 'application/vnd.kubernetes.protobuf' },
      body: new Uint8Array([0x6b, 0x38, 0x73, 0]),
    });
    expect(protobuf.status).toBe(415);
  });

  it('answers a malformed label selector with 400 BadRequest', async () => {
    const response = await h.request(`/api/v1/namespaces?labelSelector=${encodeURIComponent('a in (b')}`);
    expect(response.status).toBe(400);
    expect(await json(response)).toMatchObject({ reason: 'BadRequest', code: 400 });
  });

  it('fails a JSON patch test operation with 422', async () => {
    const response = await h.request(
      '/api/v1/namespaces/demo',
      jsonInit('PATCH', [{ op: 'test', path: '/metadata/name', value: 'other' }], 'application/json-patch+json'),
    );
    expect(response.status).toBe(422);
  });

  it('refuses objects in a namespace that does not exist', async () => {
    const response = await h.request(
      '/api/v1/namespaces/ghost/configmaps',
      jsonInit('POST', { metadata: { name: 'x' } }),
    );
    expect(await json(response)).toMatchObject({
      code: 404,
      message: 'namespaces "ghost" not found',
      details: { name: 'ghost', kind: 'namespaces' },
    });
  });

  it('turns a handler exception into a 500 InternalError, logged once, and keeps serving', async () => {
    logged = [];
    h.server.addRoute((req) => {
      if (req.url === '/boom') throw new Error('kaboom');
      return false;
    });
    const response = await h.request('/boom');
    expect(response.status).toBe(500);
    expect(await json(response)).toMatchObject({ kind: 'Status', reason: 'InternalError', code: 500 });
    expect(logged).toHaveLength(1);
    expect((await h.request('/version')).status).toBe(200);
  });
});

describe('lists', () => {
  it('paginates with opaque continue tokens and remainingItemCount', async () => {
    const first = await json<{
      metadata: { continue: string; remainingItemCount: number; resourceVersion: string };
      items: { metadata: { name: string } }[];
    }>(h.request('/api/v1/namespaces/demo/configmaps?limit=3'));
    expect(first.items.map((i) => i.metadata.name)).toEqual(['alpha', 'bravo', 'charlie']);
    expect(first.metadata.remainingItemCount).toBe(1);
    expect(JSON.parse(Buffer.from(first.metadata.continue, 'base64url').toString())).toEqual({
      v: 'meta.k8s.io/v1',
      rv: Number(first.metadata.resourceVersion),
      start: 'demo/charlie\u0000',
    });
    const second = await json<{ metadata: Record<string, unknown>; items: { metadata: { name: string } }[] }>(
      h.request(`/api/v1/namespaces/demo/configmaps?limit=3&continue=${first.metadata.continue}`),
    );
    expect(second.items.map((i) => i.metadata.name)).toEqual(['delta']);
    expect(Object.keys(second.metadata)).toEqual(['resourceVersion']);
  });

  it('filters by metadata field selectors and refuses unknown fields', async () => {
    const names = async (selector: string) =>
      (
        await json<{ items: { metadata: { name: string } }[] }>(
          h.request(`/api/v1/configmaps?fieldSelector=${encodeURIComponent(selector)}`),
        )
      ).items.map((i) => i.metadata.name);
    expect(await names('metadata.name=bravo')).toEqual(['bravo']);
    expect(await names('metadata.name==bravo')).toEqual(['bravo']);
    expect(await names('metadata.namespace=demo,metadata.name!=bravo')).toEqual(['alpha', 'charlie', 'delta']);
    const unknown = await h.request('/api/v1/configmaps?fieldSelector=data.k%3Dalpha');
    expect(await json(unknown)).toMatchObject({
      code: 400,
      reason: 'BadRequest',
      message: 'field label not supported: data.k',
    });
  });

  it('serves resourceVersion=0 lists from the current state', async () => {
    const list = await json<{ items: unknown[] }>(
      h.request('/api/v1/namespaces/demo/configmaps?labelSelector=tier%3Dfront&resourceVersion=0'),
    );
    expect(list.items).toHaveLength(2);
  });

  it('returns Tables with PartialObjectMetadata rows when asked', async () => {
    const accept =
      'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';
    const table = await json<{
      kind: string;
      columnDefinitions: { name: string; priority: number }[];
      rows: { cells: unknown[]; object: { kind: string; metadata: { name: string } } }[];
    }>(h.request('/api/v1/namespaces/demo/configmaps?labelSelector=tier%3Dback', { headers: { Accept: accept } }));
    expect(table.kind).toBe('Table');
    expect(table.columnDefinitions.map((c) => c.name)).toEqual(['Name', 'Data', 'Age']);
    expect(table.rows.map((r) => r.cells.slice(0, 2))).toEqual([
      ['charlie', 1],
      ['delta', 1],
    ]);
    expect(table.rows[0]?.object).toMatchObject({
      kind: 'PartialObjectMetadata',
      apiVersion: 'meta.k8s.io/v1',
      metadata: { name: 'charlie' },
    });
    const pods = await json<{ columnDefinitions: { name: string; priority: number }[] }>(
      h.request('/api/v1/pods', { headers: { Accept: accept } }),
    );
    expect(pods.columnDefinitions.filter((c) => c.priority === 1).map((c) => c.name)).toEqual([
      'IP',
      'Node',
      'Nominated Node',
      'Readiness Gates',
    ]);
  });
});

describe('writes', () => {
  it('keeps status on main-resource writes and changes only status on /status', async () => {
    const created = await json<{ metadata: { generation: number } }>(
      h.request(
        '/apis/apps/v1/namespaces/demo/deployments',
        jsonInit('POST', {
          metadata: { name: 'web' },
          spec: {
            selector: { matchLabels: { app: 'web' } },
            template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx' }] } },
          },
          status: { replicas: 9 },
        }),
      ),
    );
    expect(created.metadata.generation).toBe(1);
    const statusWrite = await json<{ spec: { replicas: number }; status: unknown; metadata: { generation: number } }>(
      h.request(
        '/apis/apps/v1/namespaces/demo/deployments/web/status',
        jsonInit(
          'PATCH',
          { spec: { replicas: 5 }, status: { observedGeneration: 1, replicas: 1 } },
          'application/merge-patch+json',
        ),
      ),
    );
    expect(statusWrite).toMatchObject({
      spec: { replicas: 1 },
      status: { observedGeneration: 1, replicas: 1 },
      metadata: { generation: 1 },
    });
    const specWrite = await json<{ spec: { replicas: number }; status: unknown; metadata: { generation: number } }>(
      h.request(
        '/apis/apps/v1/namespaces/demo/deployments/web',
        jsonInit('PATCH', { spec: { replicas: 3 }, status: { replicas: 42 } }, 'application/merge-patch+json'),
      ),
    );
    expect(specWrite).toMatchObject({
      spec: { replicas: 3 },
      status: { observedGeneration: 1, replicas: 1 },
      metadata: { generation: 2 },
    });
  });

  it('merges strategic patches by container name, honouring $setElementOrder', async () => {
    const patched = await json<{ spec: { template: { spec: { containers: { name: string; image: string }[] } } } }>(
      h.request(
        '/apis/apps/v1/namespaces/demo/deployments/web',
        jsonInit(
          'PATCH',
          {
            spec: {
              template: {
                spec: {
                  '$setElementOrder/containers': [{ name: 'sidecar' }, { name: 'web' }],
                  containers: [{ name: 'sidecar', image: 'proxy:1' }],
                },
              },
            },
          },
          'application/strategic-merge-patch+json',
        ),
      ),
    );
    expect(patched.spec.template.spec.containers.map((c) => `${c.name}=${c.image}`)).toEqual([
      'sidecar=proxy:1',
      'web=nginx',
    ]);
  });

  it('deletes with a Status Success carrying details, and deletes collections by selector', async () => {
    const deleted = await json(
      h.request(
        '/apis/apps/v1/namespaces/demo/deployments/web',
        jsonInit('DELETE', { propagationPolicy: 'Background' }),
      ),
    );
    expect(deleted).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Success',
      details: { name: 'web', group: 'apps', kind: 'deployments', uid: expect.stringMatching(/^[0-9a-f-]{36}$/) },
    });
    expect((await h.request('/apis/apps/v1/namespaces/demo/deployments/web')).status).toBe(404);
    await h.request(
      '/api/v1/namespaces/demo/secrets',
      jsonInit('POST', { metadata: { name: 's1', labels: { sweep: 'yes' } } }),
    );
    await h.request('/api/v1/namespaces/demo/secrets', jsonInit('POST', { metadata: { name: 's2' } }));
    expect(
      (await h.request('/api/v1/namespaces/demo/secrets?labelSelector=sweep%3Dyes', { method: 'DELETE' })).status,
    ).toBe(200);
    const left = await json<{ items: { metadata: { name: string } }[] }>(h.request('/api/v1/namespaces/demo/secrets'));
    expect(left.items.map((i) => i.metadata.name)).toEqual(['s2']);
  });

  it('honours dryRun=All on create', async () => {
    const response = await h.request(
      '/api/v1/namespaces/demo/configmaps?dryRun=All',
      jsonInit('POST', { metadata: { name: 'dry' } }),
    );
    expect(response.status).toBe(201);
    expect((await h.request('/api/v1/namespaces/demo/configmaps/dry')).status).toBe(404);
  });

  it('requires six fraction digits in MicroTime fields', async () => {
    const response = await h.request(
      '/apis/coordination.k8s.io/v1/namespaces/demo/leases',
      jsonInit('POST', { metadata: { name: 'l' }, spec: { renewTime: '2026-11-22T04:11:34.097Z' } }),
    );
    expect(response.status).toBe(400);
    expect((await json<Status>(response)).message).toBe(
      'Lease in version "v1" cannot be handled as a Lease: parsing time "2026-11-22T04:11:34.097Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse ".097Z" as ".000000"',
    );
    const ok = await h.request(
      '/apis/coordination.k8s.io/v1/namespaces/demo/leases',
      jsonInit('POST', { metadata: { name: 'l' }, spec: { renewTime: '2026-11-22T04:11:34.097000Z' } }),
    );
    expect(ok.status).toBe(201);
  });

  it('stores events.k8s.io/v1 and core/v1 events in one place, converting fields', async () => {
    await h.request(
      '/apis/events.k8s.io/v1/namespaces/demo/events',
      jsonInit('POST', {
        metadata: { name: 'web.1' },
        eventTime: '2026-11-22T04:00:00.000000Z',
        reportingController: 'revroll',
        reportingInstance: 'r1',
        action: 'Gate',
        reason: 'Passed',
        regarding: { kind: 'Pod', name: 'p', namespace: 'demo' },
        note: 'ok',
        type: 'Normal',
      }),
    );
    const asCore = await json<Record<string, unknown>>(h.request('/api/v1/namespaces/demo/events/web.1'));
    expect(asCore).toMatchObject({
      apiVersion: 'v1',
      kind: 'Event',
      involvedObject: { kind: 'Pod', name: 'p' },
      message: 'ok',
      reportingComponent: 'revroll',
    });
    const asModern = await json<Record<string, unknown>>(
      h.request('/apis/events.k8s.io/v1/namespaces/demo/events/web.1'),
    );
    expect(asModern).toMatchObject({
      apiVersion: 'events.k8s.io/v1',
      regarding: { name: 'p' },
      note: 'ok',
      reportingController: 'revroll',
    });
    expect(asModern).not.toHaveProperty('message');
  });

  it('requires a CRD to be named <plural>.<group>', async () => {
    const crd = {
      metadata: { name: 'wrong' },
      spec: {
        group: 'example.com',
        names: { plural: 'things', kind: 'Thing' },
        scope: 'Namespaced',
        versions: [{ name: 'v1', served: true, storage: true }],
      },
    };
    const response = await h.request('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', jsonInit('POST', crd));
    expect(response.status).toBe(422);
    expect(h.store.findType('example.com', 'things')).toBeUndefined();
  });

  it('cascades a namespace deletion to what it contains (the namespace controller)', async () => {
    await h.request('/api/v1/namespaces', jsonInit('POST', { metadata: { name: 'doomed' } }));
    await h.request('/api/v1/namespaces/doomed/configmaps', jsonInit('POST', { metadata: { name: 'c' } }));
    const deleted = await h.request('/api/v1/namespaces/doomed', { method: 'DELETE' });
    expect(deleted.status).toBe(200);
    expect(await deleted.json()).toMatchObject({ kind: 'Namespace', status: { phase: 'Terminating' } });
    for (let i = 0; i < 100 && (await h.request('/api/v1/namespaces/doomed')).status !== 404; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect((await h.request('/api/v1/namespaces/doomed/configmaps/c')).status).toBe(404);
    expect((await h.request('/api/v1/namespaces/doomed')).status).toBe(404);
  });
});

describe('access reviews', () => {
  it('allows by default and denies what the live deny list names', async () => {
    const review = (verb: string, resource: string) =>
      json<{ status: { allowed: boolean } }>(
        h.request(
          '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
          jsonInit('POST', { spec: { resourceAttributes: { verb, group: 'apps', resource, namespace: 'demo' } } }),
        ),
      );
    expect((await review('patch', 'deployments')).status.allowed).toBe(true);
    h.server.denied.push({ verb: 'patch', group: 'apps', resource: '*' });
    expect((await review('patch', 'deployments')).status.allowed).toBe(false);
    expect((await review('get', 'deployments')).status.allowed).toBe(true);
    h.server.denied.length = 0;
  });
});

describe('watches', () => {
  it('flushes headers at once and sends synthetic ADDED only without a resourceVersion', async () => {
    const fresh = await h.request('/api/v1/namespaces/demo/configmaps?watch=true&labelSelector=tier%3Dfront');
    expect(fresh.status).toBe(200);
    expect(fresh.headers.get('content-type')).toBe('application/json');
    expect((await readEvents(fresh, 2)).map((e) => `${e.type} ${e.object.metadata?.name ?? ''}`)).toEqual([
      'ADDED alpha',
      'ADDED bravo',
    ]);
    const rv = (await json<{ metadata: { resourceVersion: string } }>(h.request('/api/v1/namespaces/demo/configmaps')))
      .metadata.resourceVersion;
    const resumed = await h.request(
      `/api/v1/namespaces/demo/configmaps?watch=1&resourceVersion=${rv}&labelSelector=tier%3Dfront`,
    );
    const events = readEvents(resumed, 2);
    await h.request(
      '/api/v1/namespaces/demo/configmaps/charlie',
      jsonInit('PATCH', { metadata: { labels: { tier: 'front' } } }, 'application/merge-patch+json'),
    );
    await h.request(
      '/api/v1/namespaces/demo/configmaps/charlie',
      jsonInit('PATCH', { metadata: { labels: { tier: 'back' } } }, 'application/merge-patch+json'),
    );
    // Entering the selection is ADDED, leaving it is DELETED, as kube-apiserver reports.
    expect((await events).map((e) => `${e.type} ${e.object.metadata?.name ?? ''}`)).toEqual([
      'ADDED charlie',
      'DELETED charlie',
    ]);
  });

  it('watches a single object when the URL names it', async () => {
    const response = await h.request('/api/v1/namespaces/demo/configmaps/bravo?watch=true&timeoutSeconds=1');
    const text = await response.text();
    const events = text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as { type: string; object: { metadata: { name: string } } });
    expect(events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED bravo']);
  });

  it('ends after timeoutSeconds and sends nothing at all while idle', async () => {
    const started = Date.now();
    const response = await h.request(
      '/api/v1/namespaces/demo/configmaps?watch=true&resourceVersion=999999&timeoutSeconds=1',
    );
    const text = await response.text();
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(text).toBe('');
  });

  it('sends a BOOKMARK at the current resourceVersion when bookmarks are allowed', async () => {
    const response = await h.request(
      '/api/v1/namespaces/demo/configmaps?watch=true&allowWatchBookmarks=true&resourceVersion=' +
        String(h.store.resourceVersion()) +
        '&labelSelector=nothing%3Dhere',
    );
    await h.request(
      '/api/v1/namespaces/demo/configmaps/alpha',
      jsonInit('PATCH', { data: { k: 'bookmarked' } }, 'application/merge-patch+json'),
    );
    const [bookmark] = await readEvents(response, 1);
    expect(bookmark).toEqual({
      type: 'BOOKMARK',
      object: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { resourceVersion: String(h.store.resourceVersion()) } },
    });
  });

  it('sends a 410 Expired ERROR event for a compacted resourceVersion, then closes', async () => {
    h.store.compact(0);
    const text = await (await h.request('/api/v1/namespaces?watch=true&resourceVersion=1')).text();
    const current = h.store.resourceVersion();
    expect(text).toBe(
      `{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (${current})","reason":"Expired","code":410}}\n`,
    );
  });
});

describe('faults and the request log', () => {
  it('fails matching requests with 429, Retry-After and a Status body', async () => {
    h.server.faults.errorRate = 1;
    h.server.faults.codes = [429];
    h.server.faults.resources = ['configmaps'];
    try {
      const response = await h.request('/api/v1/namespaces/demo/configmaps');
      expect(response.status).toBe(429);
      expect(response.headers.get('retry-after')).toBe('1');
      expect(await json(response)).toMatchObject({
        kind: 'Status',
        status: 'Failure',
        reason: 'TooManyRequests',
        code: 429,
        details: { retryAfterSeconds: 1 },
      });
      expect((await h.request('/api/v1/namespaces/demo')).status).toBe(200);
      h.server.faults.codes = [500];
      expect(await json(h.request('/api/v1/namespaces/demo/configmaps/alpha'))).toMatchObject({
        reason: 'InternalError',
        code: 500,
      });
    } finally {
      Object.assign(h.server.faults, { errorRate: 0, codes: [], resources: undefined });
    }
  });

  it('adds latency to every request', async () => {
    h.server.faults.latencyMs = 150;
    try {
      const started = Date.now();
      await h.request('/api/v1/namespaces/demo');
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    } finally {
      h.server.faults.latencyMs = 0;
    }
  });

  it('records every request with its Kubernetes verb', async () => {
    h.server.resetRequests();
    await h.request('/api/v1/namespaces/demo/configmaps?limit=1');
    await h.request('/api/v1/namespaces/demo/configmaps/alpha', { headers: { 'User-Agent': 'revroll-test' } });
    await h.request(
      '/api/v1/namespaces/demo/configmaps/alpha',
      jsonInit('PATCH', { data: { k: 'v' } }, 'application/merge-patch+json'),
    );
    await h.request('/api/v1/namespaces/demo/configmaps/nope', { method: 'DELETE' });
    await h.request('/apis');
    expect(h.server.requests.map((r) => [r.verb, r.resource, r.name ?? '', r.status])).toEqual([
      ['list', 'configmaps', '', 200],
      ['get', 'configmaps', 'alpha', 200],
      ['patch', 'configmaps', 'alpha', 200],
      ['delete', 'configmaps', 'nope', 404],
      ['get', '', '', 200],
    ]);
    expect(h.server.requests[1]).toMatchObject({ userAgent: 'revroll-test', namespace: 'demo', group: '' });
  });

  it('refuses to listen anywhere but loopback', async () => {
    await expect(createApiServer({ store: h.store, host: '0.0.0.0' })).rejects.toThrow(/loopback/);
  });
});
