/**
 * Request bodies: JSON (what kubectl and client-node send) or YAML. Protobuf, which typed kubectl
 * commands (`create namespace`, `auth can-i`) send, is refused with 415 like an unknown type;
 * seed the sandbox with `apply -f` / `create -f` instead.
 */
import type { IncomingMessage } from 'node:http';
import { parse as parseYaml } from 'yaml';
import type { KubeObject } from '../store.ts';
import type { Served } from './served.ts';
import { badRequest, unsupportedMediaType, type ApiError } from './status.ts';
import { readBody } from './respond.ts';

export function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

function cannotHandle(served: Served, detail: string): ApiError {
  return badRequest(`${served.kind} in version "${served.version}" cannot be handled as a ${served.kind}: ${detail}`);
}

/** Parses a body as JSON or YAML according to its media type (`yaml` for apply patches). */
export async function decodeBody(req: IncomingMessage, served: Served, allowYaml: boolean): Promise<unknown> {
  const type = mediaType(req);
  if (type.includes('protobuf')) throw unsupportedMediaType();
  const raw = (await readBody(req)).toString('utf8');
  if (raw.trim() === '') return undefined;
  const yaml = type === 'application/yaml' || type === 'application/apply-patch+yaml';
  try {
    if (yaml && allowYaml) return parseYaml(raw) as unknown;
    return JSON.parse(raw) as unknown;
  } catch (error) {
    throw cannotHandle(served, `json: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** A body that must be a Kubernetes object of the served kind. */
export function asObject(body: unknown, served: Served): KubeObject {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw cannotHandle(served, 'the body must be a JSON object');
  const object = body as KubeObject;
  if (object.kind !== undefined && object.kind !== served.kind) {
    throw badRequest(
      `the kind of the provided object (${String(object.kind)}) does not match the kind of the resource (${served.kind})`,
    );
  }
  if (object.apiVersion !== undefined && object.apiVersion !== served.apiVersion) {
    throw badRequest(
      `the API version in the data (${String(object.apiVersion)}) does not match the expected API version (${served.apiVersion})`,
    );
  }
  if (typeof object.metadata !== 'object' || object.metadata === null) object.metadata = {};
  return object;
}

export function checkMediaType(req: IncomingMessage, allowed: readonly string[]): void {
  const type = mediaType(req);
  if (type !== '' && !allowed.includes(type)) throw unsupportedMediaType();
}
