/**
 * OpenAPI v3, as much as `kubectl apply -f` and `create -f` need: an index of group-versions and,
 * per group-version, the PATCH operation of every kind with its `fieldValidation` parameter
 * (so kubectl leaves validation to the server) and the patch media types it accepts. Built-in
 * kinds declare strategic merge patch, custom resources do not (kubectl then sends a JSON merge
 * patch, as against a real cluster). `components.schemas` is present but empty: kubectl then
 * computes strategic merge patches from its compiled-in types.
 */
import { createHash } from 'node:crypto';
import type { Store } from '../store.ts';
import { servedGroups, type Served } from './served.ts';

function gvPath(group: string, version: string): string {
  return group === '' ? `api/${version}` : `apis/${group}/${version}`;
}

function itemPath(s: Served): string {
  const prefix = `/${gvPath(s.group, s.version)}`;
  return s.namespaced ? `${prefix}/namespaces/{namespace}/${s.plural}/{name}` : `${prefix}/${s.plural}/{name}`;
}

function patchOperation(s: Served) {
  const media = [
    'application/json-patch+json',
    'application/merge-patch+json',
    ...(s.custom ? [] : ['application/strategic-merge-patch+json']),
  ];
  return {
    'x-kubernetes-group-version-kind': { group: s.group, version: s.version, kind: s.kind },
    'x-kubernetes-action': 'patch',
    operationId: `patch${s.kind}`,
    parameters: [
      { name: 'dryRun', in: 'query', schema: { type: 'string', uniqueItems: true } },
      { name: 'fieldManager', in: 'query', schema: { type: 'string', uniqueItems: true } },
      { name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } },
      { name: 'force', in: 'query', schema: { type: 'boolean', uniqueItems: true } },
    ],
    requestBody: { content: Object.fromEntries(media.map((m) => [m, { schema: { type: 'object' } }])), required: true },
    responses: { '200': { description: 'OK' }, '201': { description: 'Created' } },
  };
}

function documents(store: Store): Map<string, Record<string, unknown>> {
  const docs = new Map<string, Record<string, unknown>>();
  for (const g of servedGroups(store)) {
    for (const v of g.versions) {
      docs.set(gvPath(g.group, v.version), {
        openapi: '3.0.0',
        info: { title: 'Kubernetes', version: 'v1.32.4' },
        paths: Object.fromEntries(v.resources.map((s) => [itemPath(s), { patch: patchOperation(s) }])),
        components: { schemas: {} },
      });
    }
  }
  return docs;
}

function hashOf(doc: unknown): string {
  return createHash('sha512').update(JSON.stringify(doc)).digest('hex').slice(0, 128).toUpperCase();
}

/** `GET /openapi/v3`: one entry per served group-version, hashed so caches notice new CRDs. */
export function openApiIndex(store: Store) {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const [path, doc] of documents(store))
    paths[path] = { serverRelativeURL: `/openapi/v3/${path}?hash=${hashOf(doc)}` };
  return { paths };
}

/** `GET /openapi/v3/<api/v1 | apis/g/v>`, or undefined when that group-version is not served. */
export function openApiDocument(store: Store, path: string): Record<string, unknown> | undefined {
  return documents(store).get(path.replace(/^\/+|\/+$/g, ''));
}
