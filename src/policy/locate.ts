/**
 * Maps a field path (`['spec', 'waves', 1, 'name']`) back to where it sits in the YAML source,
 * so every problem can say `file:line:col`. A path that does not exist (a missing key) resolves
 * to the deepest node that does: the mapping the key is missing from.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, Scalar } from 'yaml';
import type { Document, LineCounter, Node } from 'yaml';

/** A path into the document: keys and list indices. */
export type FieldPath = readonly PropertyKey[];

/** The node a path resolves to, and whether it resolved all the way. */
export type Located = { node: Node | undefined; keyNode: Node | undefined; exact: boolean };

/** Finds the node at `path`, following aliases; stops at the deepest existing node. */
export function locateNode(doc: Document, path: FieldPath): Located {
  let node = resolveAlias(doc, doc.contents ?? undefined);
  let keyNode: Node | undefined;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((item) => isPair(item) && keyMatches(item.key, segment));
      if (pair === undefined) return { node, keyNode, exact: false };
      keyNode = isScalar(pair.key) || isMap(pair.key) || isSeq(pair.key) ? pair.key : undefined;
      const value = resolveAlias(doc, pair.value as Node | null);
      // `key:` with no value still has a key to point at.
      if (value === undefined || value.range === undefined || value.range === null)
        return { node: keyNode ?? node, keyNode, exact: true };
      node = value;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = resolveAlias(doc, node.items[segment] as Node | null | undefined);
      if (item === undefined) return { node, keyNode, exact: false };
      keyNode = undefined;
      node = item;
    } else {
      return { node, keyNode, exact: false };
    }
  }
  return { node, keyNode, exact: true };
}

function keyMatches(key: unknown, segment: PropertyKey): boolean {
  if (isScalar(key)) return String(key.value) === String(segment);
  return false;
}

function resolveAlias(doc: Document, node: Node | null | undefined): Node | undefined {
  if (node === null || node === undefined) return undefined;
  if (isAlias(node)) {
    const target = node.resolve(doc);
    return target === undefined ? node : (target as Node);
  }
  return node;
}

/** 1-based line and column of a source offset. */
export function positionOf(lineCounter: LineCounter, offset: number): { line: number; col: number } {
  const { line, col } = lineCounter.linePos(Math.max(0, offset));
  return { line, col };
}

/**
 * Source offset of character `offset` of a scalar's value, when the value is written verbatim
 * (plain or quoted on one line, or a literal block `|`). Undefined when escapes or folding make
 * the mapping uncertain: callers then point at the scalar itself.
 */
export function scalarValueOffset(
  source: string,
  lineCounter: LineCounter,
  node: Node,
  offset: number,
): number | undefined {
  if (!isScalar(node) || typeof node.value !== 'string' || node.range === undefined || node.range === null)
    return undefined;
  const value = node.value;
  const [start, end] = node.range;
  const raw = source.slice(start, end);
  if (node.type === Scalar.PLAIN && raw === value) return start + offset;
  if ((node.type === Scalar.QUOTE_DOUBLE || node.type === Scalar.QUOTE_SINGLE) && raw.slice(1, -1) === value)
    return start + 1 + offset;
  if (node.type === Scalar.BLOCK_LITERAL) return literalBlockOffset(source, lineCounter, start, value, offset);
  return undefined;
}

function literalBlockOffset(
  source: string,
  lineCounter: LineCounter,
  start: number,
  value: string,
  offset: number,
): number | undefined {
  const before = value.slice(0, offset);
  const lineInValue = before.split('\n').length - 1;
  const column = offset - (before.lastIndexOf('\n') + 1);
  const headerLine = lineCounter.linePos(start).line; // 1-based line of the `|` indicator
  const lineStarts = lineCounter.lineStarts;
  const firstContent = lineStarts[headerLine];
  if (firstContent === undefined) return undefined;
  const indent = /^ */.exec(source.slice(firstContent))?.[0].length ?? 0;
  const lineStart = lineStarts[headerLine + lineInValue];
  if (lineStart === undefined) return undefined;
  const candidate = lineStart + indent + column;
  // Trust the arithmetic only when the source really holds the value's text there.
  return source[candidate] === value[offset] ? candidate : undefined;
}
