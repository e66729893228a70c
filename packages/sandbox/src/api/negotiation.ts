/**
 * Output negotiation as kube-apiserver does it (k8s.io/apiserver/pkg/endpoints/handlers/
 * negotiation and handlers/response.go): the Accept header is a list of media types tried in
 * order of preference; a clause is acceptable when its type is one the server writes (JSON, YAML;
 * `*\/*` and `application/*` mean JSON) and its `as=` transformation is one the endpoint allows:
 * `Table`, `PartialObjectMetadata` and `PartialObjectMetadataList` in `g=meta.k8s.io`,
 * `v=v1|v1beta1`. The first acceptable clause wins (so `...;as=X,application/json` falls back);
 * none acceptable is 406 NotAcceptable "only the following media types are accepted: ...".
 *
 * Then the transformation: a get asked `as=PartialObjectMetadataList` (or a list asked
 * `as=PartialObjectMetadata`) is a 406 as well ("you requested PartialObjectMetadataList, but the
 * requested object is not a list (...)"); a watch applies the transformation to each event's
 * object, and one that does not apply (a list form) leaves the object whole, as the watch encoder
 * does. The sandbox writes no protobuf: protobuf clauses are skipped (clients list JSON after it).
 */
import type { KubeObject } from '../store.ts';
import type { Served } from './served.ts';
import { ApiError } from './status.ts';

export type Transform = 'none' | 'Table' | 'PartialObjectMetadata' | 'PartialObjectMetadataList';

export type Negotiated = {
  format: 'json' | 'yaml';
  transform: Transform;
  /** `meta.k8s.io/v1` or `meta.k8s.io/v1beta1` for transformed output. */
  groupVersion: string;
};

type Clause = { type: string; subtype: string; params: Record<string, string>; q: number; index: number };

function parseAccept(header: string): Clause[] {
  const clauses: Clause[] = [];
  header.split(',').forEach((part, index) => {
    const [media = '', ...rawParams] = part.split(';').map((p) => p.trim());
    const [type = '', subtype = ''] = media.toLowerCase().split('/');
    if (!type || !subtype) return;
    const params: Record<string, string> = {};
    for (const p of rawParams) {
      const eq = p.indexOf('=');
      if (eq > 0) params[p.slice(0, eq).trim().toLowerCase()] = p.slice(eq + 1).trim();
    }
    const q = params.q === undefined ? 1 : Number(params.q);
    delete params.q;
    clauses.push({ type, subtype, params, q: Number.isFinite(q) ? q : 0, index });
  });
  // Most preferred first: higher q, then more specific, then as written (goautoneg's order).
  const specificity = (c: Clause) => (c.type === '*' ? 0 : c.subtype === '*' ? 1 : 2);
  return clauses
    .filter((c) => c.q > 0)
    .sort((a, b) => b.q - a.q || specificity(b) - specificity(a) || a.index - b.index);
}

function formatOf(clause: Clause): 'json' | 'yaml' | undefined {
  if (clause.type === '*' && clause.subtype === '*') return 'json';
  if (clause.type !== 'application') return undefined;
  if (clause.subtype === '*' || clause.subtype === 'json') return 'json';
  if (clause.subtype === 'yaml') return 'yaml';
  return undefined;
}

function acceptedTypes(served: Served): string {
  // What the endpoint's serializers write: protobuf for built-in kinds only.
  return served.custom
    ? 'application/json, application/yaml'
    : 'application/json, application/yaml, application/vnd.kubernetes.protobuf';
}

/** The output a request gets; throws the real 406 when nothing it accepts can be written. */
export function negotiate(accept: string | undefined, served: Served): Negotiated {
  if (accept === undefined || accept.trim() === '') return { format: 'json', transform: 'none', groupVersion: '' };
  for (const clause of parseAccept(accept)) {
    const format = formatOf(clause);
    if (!format) continue;
    const { as, g, v } = clause.params;
    if (as === undefined && g === undefined && v === undefined) return { format, transform: 'none', groupVersion: '' };
    if (g !== 'meta.k8s.io' || (v !== 'v1' && v !== 'v1beta1')) continue;
    if (as === 'Table' || as === 'PartialObjectMetadata' || as === 'PartialObjectMetadataList')
      return { format, transform: as, groupVersion: `meta.k8s.io/${v}` };
  }
  throw new ApiError(406, 'NotAcceptable', `only the following media types are accepted: ${acceptedTypes(served)}`);
}

/** The Go type name in "(%T)" of the transformation errors: internal types, or unstructured. */
function goType(served: Served, list: boolean): string {
  if (served.custom) return list ? '*unstructured.UnstructuredList' : '*unstructured.Unstructured';
  const pkg = served.storage.group === '' ? 'core' : (served.storage.group.split('.')[0] ?? '');
  return `*${pkg}.${served.kind}${list ? 'List' : ''}`;
}

/** Checks a negotiated transformation against a get (single object) or a list. */
export function checkTransform(negotiated: Negotiated, served: Served, isList: boolean): void {
  if (negotiated.transform === 'PartialObjectMetadata' && isList)
    throw new ApiError(
      406,
      'NotAcceptable',
      `you requested PartialObjectMetadata, but the requested object is a list (${goType(served, true)})`,
    );
  if (negotiated.transform === 'PartialObjectMetadataList' && !isList)
    throw new ApiError(
      406,
      'NotAcceptable',
      `you requested PartialObjectMetadataList, but the requested object is not a list (${goType(served, false)})`,
    );
}

export function partialObject(object: KubeObject, groupVersion: string): KubeObject {
  return { kind: 'PartialObjectMetadata', apiVersion: groupVersion, metadata: object.metadata };
}

export function partialList(
  items: readonly KubeObject[],
  groupVersion: string,
  metadata: Record<string, unknown>,
): Record<string, unknown> {
  return {
    kind: 'PartialObjectMetadataList',
    apiVersion: groupVersion,
    metadata,
    items: items.map((o) => partialObject(o, groupVersion)),
  };
}
