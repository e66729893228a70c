import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { writeJson } from './json-out.ts';

async function written(value: unknown): Promise<string> {
  let text = '';
  await writeJson({ out: (piece) => (text += piece) }, value);
  return text;
}

describe('writeJson', () => {
  it('writes exactly what JSON.stringify(value, null, 2) does, for any JSON value', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 6 }), async (value) => {
        expect(await written(value)).toBe(`${JSON.stringify(value, null, 2)}\n`);
      }),
    );
  });

  it('leaves undefined and functions out of objects, writes null for them in arrays, and calls toJSON', async () => {
    const value = {
      a: undefined,
      b: [undefined, () => 1, 2],
      c: { d: new Date(0), e: undefined },
      f: { g: { h: { i: [undefined] } } },
      j: {},
      k: [],
    };
    expect(await written(value)).toBe(`${JSON.stringify(value, null, 2)}\n`);
  });

  it('writes a large value in pieces of about 64 KiB, each after the one before drained', async () => {
    const pieces: string[] = [];
    let drains = 0;
    const value = { items: Array.from({ length: 20_000 }, (_, i) => ({ name: `item-${i}`, patch: { n: i } })) };
    await writeJson({ out: (piece) => pieces.push(piece), drained: async () => void (drains += 1) }, value);
    expect(pieces.join('')).toBe(`${JSON.stringify(value, null, 2)}\n`);
    expect(pieces.length).toBeGreaterThan(10);
    expect(drains).toBe(pieces.length);
    expect(Math.max(...pieces.map((p) => p.length))).toBeLessThan(70 * 1024);
  });
});
