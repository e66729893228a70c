import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeSecretRef, resolveSecret, SecretError } from './secrets.ts';

const VALUE = 'very-secret-value';
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'revroll-secrets-'));
  await writeFile(join(dir, 'crlf'), `${VALUE}\r\n`);
  await writeFile(join(dir, 'spaces'), ` ${VALUE} \n\n`);
  await writeFile(join(dir, 'empty'), '\n');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function refusal(promise: Promise<string>): Promise<SecretError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof SecretError)) throw new Error(`expected a SecretError, got ${String(error)}`);
  expect(error.message).not.toContain(VALUE);
  return error;
}

describe('src/adapters/secrets', () => {
  it('reads an environment variable as is', async () => {
    expect(await resolveSecret({ env: 'TOKEN' }, { env: { TOKEN: ` ${VALUE}\n` } })).toBe(` ${VALUE}\n`);
  });

  it('reads a file, dropping one trailing line break only', async () => {
    expect(await resolveSecret({ file: join(dir, 'crlf') }, { env: {} })).toBe(VALUE);
    expect(await resolveSecret({ file: join(dir, 'spaces') }, { env: {} })).toBe(` ${VALUE} \n`);
  });

  it('names a missing or empty variable without a value', async () => {
    expect((await refusal(resolveSecret({ env: 'TOKEN' }, { env: {} }))).message).toBe(
      'environment variable TOKEN is not set',
    );
    const empty = await refusal(resolveSecret({ env: 'TOKEN' }, { env: { TOKEN: '' } }));
    expect([empty.message, empty.target, empty.code]).toEqual([
      'environment variable TOKEN is empty',
      'env TOKEN',
      'SECRET_UNAVAILABLE',
    ]);
  });

  it('names a missing, empty or unreadable file, never quoting the reader error', async () => {
    expect((await refusal(resolveSecret({ file: join(dir, 'nope') }, { env: {} }))).message).toBe(
      `secret file ${join(dir, 'nope')} does not exist`,
    );
    expect((await refusal(resolveSecret({ file: join(dir, 'empty') }, { env: {} }))).message).toBe(
      `secret file ${join(dir, 'empty')} is empty`,
    );
    const leaky = async () => {
      throw Object.assign(new Error(`EACCES: content was ${VALUE}`), { code: 'EACCES' });
    };
    expect((await refusal(resolveSecret({ file: '/run/token' }, { env: {}, readFile: leaky }))).message).toBe(
      'secret file /run/token is not readable (permission denied)',
    );
  });

  it('describes references without values', () => {
    expect(describeSecretRef({ env: 'A' })).toBe('environment variable A');
    expect(describeSecretRef({ file: '/x' })).toBe('file /x');
  });
});
