/**
 * Discovery, in both forms kubectl understands: aggregated (`APIGroupDiscoveryList`, one request
 * for everything) when the Accept header asks for it, legacy (`APIVersions`, `APIGroupList`)
 * otherwise; plus `/api/v1` and `/apis/<g>/<v>` (`APIResourceList`), which client-node's
 * ObjectApi reads. Only served group-versions are advertised: kubectl fails a command whose
 * resource sits in an advertised group-version that answers 404.
 */
import type { Store } from '../store.ts';
import { STATUS_VERBS, servedGroups, type Served, type ServedGroup } from './served.ts';

export function aggregatedContentType(accept: string | undefined): string | undefined {
  if (!accept || !accept.includes('as=APIGroupDiscoveryList')) return undefined;
  const version = /g=apidiscovery\.k8s\.io;v=(v2beta1|v2)\b/.exec(accept)?.[1] ?? 'v2';
  return `application/json;g=apidiscovery.k8s.io;v=${version};as=APIGroupDiscoveryList`;
}

function responseKind(s: Served) {
  return { group: s.group, version: s.version, kind: s.kind };
}

function aggregatedResource(s: Served) {
  return {
    resource: s.plural,
    responseKind: responseKind(s),
    scope: s.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: s.singular,
    verbs: s.verbs,
    ...(s.shortNames.length ? { shortNames: s.shortNames } : {}),
    ...(s.categories.length ? { categories: s.categories } : {}),
    ...(s.subresources.length
      ? {
          subresources: s.subresources.map((sub) => ({
            subresource: sub,
            responseKind: responseKind(s),
            verbs: STATUS_VERBS,
          })),
        }
      : {}),
  };
}

function aggregatedGroup(g: ServedGroup) {
  return {
    metadata: { name: g.group },
    versions: g.versions.map((v) => ({
      version: v.version,
      resources: v.resources.map(aggregatedResource),
      freshness: 'Current',
    })),
  };
}

/** `/api` (core only) or `/apis` (all named groups) in aggregated form. */
export function aggregatedDiscovery(store: Store, core: boolean, contentType: string) {
  const groups = servedGroups(store).filter((g) => (g.group === '') === core);
  const apiVersion = contentType.includes('v=v2beta1') ? 'apidiscovery.k8s.io/v2beta1' : 'apidiscovery.k8s.io/v2';
  return { kind: 'APIGroupDiscoveryList', apiVersion, metadata: {}, items: groups.map(aggregatedGroup) };
}

export function apiVersions(serverAddress: string) {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function apiGroup(g: ServedGroup) {
  const versions = g.versions.map((v) => ({ groupVersion: `${g.group}/${v.version}`, version: v.version }));
  return { name: g.group, versions, preferredVersion: versions[0] };
}

export function apiGroupList(store: Store) {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: servedGroups(store)
      .filter((g) => g.group !== '')
      .map(apiGroup),
  };
}

export function apiGroupInfo(store: Store, group: string) {
  const g = servedGroups(store).find((x) => x.group === group && group !== '');
  return g ? { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(g) } : undefined;
}

/** The resources of one group-version (`APIResourceList`), or undefined when not served. */
export function apiResourceList(store: Store, group: string, version: string) {
  const resources = servedGroups(store)
    .find((g) => g.group === group)
    ?.versions.find((v) => v.version === version)?.resources;
  if (!resources) return undefined;
  const entries = resources.flatMap((s) => [
    {
      name: s.plural,
      singularName: s.singular,
      namespaced: s.namespaced,
      kind: s.kind,
      verbs: s.verbs,
      ...(s.shortNames.length ? { shortNames: s.shortNames } : {}),
      ...(s.categories.length ? { categories: s.categories } : {}),
    },
    ...s.subresources.map((sub) => ({
      name: `${s.plural}/${sub}`,
      singularName: '',
      namespaced: s.namespaced,
      kind: s.kind,
      verbs: STATUS_VERBS,
    })),
  ]);
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group === '' ? version : `${group}/${version}`,
    resources: entries,
  };
}
