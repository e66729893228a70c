import { describe, expect, it } from 'vitest';
import { applyPatch, jsonPatch, mergePatch } from './patch.ts';
import { ApiError } from './status.ts';

describe('mergePatch (RFC 7386)', () => {
  it('merges objects, deletes on null and replaces arrays', () => {
    expect(mergePatch({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { b: null, d: 3 }, l: [3] })).toEqual({
      a: { c: 2, d: 3 },
      l: [3],
    });
  });
});

describe('jsonPatch (RFC 6902)', () => {
  const doc = { metadata: { labels: { 'a/b': 'x' } }, items: [1, 2, 3] };

  it('adds, removes, replaces, moves and copies, with escaped pointers and "-"', () => {
    const result = jsonPatch(doc, [
      { op: 'add', path: '/items/-', value: 4 },
      { op: 'remove', path: '/items/0' },
      { op: 'replace', path: '/metadata/labels/a~1b', value: 'y' },
      { op: 'copy', from: '/metadata/labels', path: '/copy' },
      { op: 'move', from: '/copy', path: '/moved' },
      { op: 'test', path: '/items', value: [2, 3, 4] },
    ]);
    expect(result).toEqual({ metadata: { labels: { 'a/b': 'y' } }, items: [2, 3, 4], moved: { 'a/b': 'y' } });
    expect(doc.items).toEqual([1, 2, 3]);
  });

  it('fails a test op and a missing path with 422, a non-array body with 400', () => {
    expect(() => jsonPatch(doc, [{ op: 'test', path: '/items/0', value: 9 }])).toThrow(ApiError);
    expect(() => jsonPatch(doc, [{ op: 'remove', path: '/nope' }])).toThrow(/nonexistent/);
    try {
      jsonPatch(doc, { op: 'add' });
    } catch (error) {
      expect((error as ApiError).code).toBe(400);
    }
    expect.assertions(3);
  });
});

describe('applyPatch', () => {
  it('merges objects and refuses non-object merge bodies', () => {
    expect(applyPatch('merge', { a: 1 }, { b: 2 })).toEqual({ a: 1, b: 2 });
    expect(() => applyPatch('merge', { a: 1 }, [1])).toThrow(ApiError);
  });
});
