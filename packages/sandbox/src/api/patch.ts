/**
 * The PATCH flavours of the Kubernetes API the sandbox implements: JSON patch, JSON merge patch
 * and strategic merge patch. They work on plain JSON and never mutate their inputs (stored objects
 * are shared and read-only).
 *
 * Server-side apply (`application/apply-patch+yaml`) is refused with the 415 a server answers for
 * a patch type it does not support (wire reference §4), never treated as a merge patch: its real
 * semantics (field ownership, conflicts between managers, removal of fields an applier stops
 * setting) would be a second, lenient implementation of a protocol revroll does not use, and a
 * client that starts using it should fail here at once rather than pass on merge semantics.
 */
import { ApiError, badRequest } from './status.ts';
import { strategicMerge } from './strategic-merge.ts';
import { cloneJson } from '../clone.ts';

export type PatchType = 'json' | 'merge' | 'strategic';

export const PATCH_CONTENT_TYPES: Record<string, PatchType> = {
  'application/json-patch+json': 'json',
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
};

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** RFC 7386: objects merge recursively, `null` deletes, everything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const result: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value) as Json;
  }
  return result;
}

type Operation = { op: string; path: string; value?: unknown; from?: string };

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw jsonPatchError(`invalid JSON pointer "${pointer}"`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function jsonPatchError(message: string): ApiError {
  return new ApiError(422, 'Invalid', message, {});
}

function arrayIndex(token: string, length: number, forInsert: boolean): number {
  if (forInsert && token === '-') return length;
  if (!/^(0|[1-9]\d*)$/.test(token)) throw jsonPatchError(`invalid array index "${token}"`);
  const index = Number(token);
  if (index > length || (!forInsert && index === length)) throw jsonPatchError(`array index ${index} out of bounds`);
  return index;
}

/** Returns a copy of `doc` where the container at `tokens[..-1]` was copied and handed to `fn`. */
function withParent(doc: unknown, tokens: string[], fn: (parent: JsonObject | Json[], last: string) => void): unknown {
  if (tokens.length === 0) throw jsonPatchError('the root cannot be the target of this operation');
  const root = cloneJson(doc);
  let node: unknown = root;
  for (const token of tokens.slice(0, -1)) {
    if (Array.isArray(node)) node = node[arrayIndex(token, node.length, false)];
    else if (isObject(node) && Object.hasOwn(node, token)) node = node[token];
    else throw jsonPatchError(`doc is missing path: "/${tokens.join('/')}"`);
  }
  if (!Array.isArray(node) && !isObject(node)) throw jsonPatchError(`doc is missing path: "/${tokens.join('/')}"`);
  fn(node, tokens[tokens.length - 1] as string);
  return root;
}

function getAt(doc: unknown, tokens: string[]): unknown {
  let node: unknown = doc;
  for (const token of tokens) {
    if (Array.isArray(node)) node = node[arrayIndex(token, node.length, false)];
    else if (isObject(node) && Object.hasOwn(node, token)) node = node[token];
    else throw jsonPatchError(`doc is missing path: "/${tokens.join('/')}"`);
  }
  return node;
}

function add(doc: unknown, tokens: string[], value: unknown): unknown {
  if (tokens.length === 0) return cloneJson(value);
  return withParent(doc, tokens, (parent, last) => {
    if (Array.isArray(parent)) parent.splice(arrayIndex(last, parent.length, true), 0, cloneJson(value) as Json);
    else parent[last] = cloneJson(value) as Json;
  });
}

function remove(doc: unknown, tokens: string[]): unknown {
  return withParent(doc, tokens, (parent, last) => {
    if (Array.isArray(parent)) parent.splice(arrayIndex(last, parent.length, false), 1);
    else if (Object.hasOwn(parent, last)) delete parent[last];
    else throw jsonPatchError(`unable to remove nonexistent key: ${last}: missing value`);
  });
}

function jsonEqualValues(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (isObject(value))
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, canonical(value[k])]),
    );
  return value;
}

/** RFC 6902, including `test` (a failed test is 422, as kube-apiserver answers). */
export function jsonPatch(doc: unknown, operations: unknown): unknown {
  if (!Array.isArray(operations))
    throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let current = doc;
  for (const raw of operations as Operation[]) {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string')
      throw badRequest('json: cannot unmarshal into Go value of type jsonpatch.Operation');
    const tokens = parsePointer(raw.path);
    switch (raw.op) {
      case 'add':
        current = add(current, tokens, raw.value);
        break;
      case 'remove':
        current = remove(current, tokens);
        break;
      case 'replace':
        getAt(current, tokens);
        current = tokens.length === 0 ? cloneJson(raw.value) : add(remove(current, tokens), tokens, raw.value);
        break;
      case 'move': {
        const from = parsePointer(String(raw.from ?? ''));
        const value = getAt(current, from);
        current = add(remove(current, from), tokens, value);
        break;
      }
      case 'copy':
        current = add(current, tokens, getAt(current, parsePointer(String(raw.from ?? ''))));
        break;
      case 'test':
        if (!jsonEqualValues(getAt(current, tokens), raw.value))
          throw jsonPatchError(`testing value ${raw.path} failed: test failed`);
        break;
      default:
        throw badRequest(`Unexpected kind: ${raw.op}`);
    }
  }
  return current;
}

/** Applies a parsed patch body of the given type. `custom` resources have no strategic merge. */
export function applyPatch(type: PatchType, current: unknown, patch: unknown): unknown {
  switch (type) {
    case 'json':
      return jsonPatch(current, patch);
    case 'merge':
      if (!isObject(patch)) throw badRequest('the patch must be a JSON object');
      return mergePatch(current, patch);
    case 'strategic':
      if (!isObject(patch)) throw badRequest('the patch must be a JSON object');
      return strategicMerge(current, patch);
  }
}
