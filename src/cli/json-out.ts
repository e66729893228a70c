/**
 * JSON output written in pieces: the same text as `JSON.stringify(value, null, 2)`, produced and
 * written a few kilobytes at a time, so a plan of tens of thousands of mutations is never one
 * string (and one buffer of the same size) in memory; each piece waits for the one before to
 * drain, so pieces do not queue up in front of a slow pipe either.
 */

const CHUNK = 64 * 1024;

/** Arrays and plain objects this shallow are split; deeper values are stringified whole. */
const SPLIT_DEPTH = 3;

function isContainer(value: unknown): value is Record<string, unknown> | unknown[] {
  return typeof value === 'object' && value !== null && typeof (value as { toJSON?: unknown }).toJSON !== 'function';
}

function* pieces(value: unknown, depth: number, inArray: boolean): Generator<string> {
  const pad = '  '.repeat(depth);
  if (depth >= SPLIT_DEPTH || !isContainer(value)) {
    const text = JSON.stringify(value, null, 2);
    // JSON.stringify leaves `undefined` out of objects and writes it as null in arrays.
    yield text === undefined ? (inArray ? 'null' : '') : text.replaceAll('\n', `\n${pad}`);
    return;
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return yield '[]';
    yield '[';
    for (let i = 0; i < value.length; i++) {
      yield `\n${pad}  `;
      yield* pieces(value[i], depth + 1, true);
      if (i < value.length - 1) yield ',';
    }
    return yield `\n${pad}]`;
  }
  const entries = Object.entries(value).filter(
    ([, v]) => v !== undefined && typeof v !== 'function' && typeof v !== 'symbol',
  );
  if (entries.length === 0) return yield '{}';
  yield '{';
  for (let i = 0; i < entries.length; i++) {
    const [key, v] = entries[i] as [string, unknown];
    yield `\n${pad}  ${JSON.stringify(key)}: `;
    yield* pieces(v, depth + 1, false);
    if (i < entries.length - 1) yield ',';
  }
  yield `\n${pad}}`;
}

/**
 * Writes `JSON.stringify(value, null, 2)` and a newline to `io.out`, in pieces of about 64 KiB,
 * waiting for each to drain (`io.drained`) before the next.
 */
export async function writeJson(
  io: { out: (text: string) => void; drained?: () => Promise<void> },
  value: unknown,
): Promise<void> {
  let buffer = '';
  for (const piece of pieces(value, 0, false)) {
    buffer += piece;
    if (buffer.length >= CHUNK) {
      io.out(buffer);
      buffer = '';
      await io.drained?.();
    }
  }
  io.out(`${buffer}\n`);
  await io.drained?.();
}
