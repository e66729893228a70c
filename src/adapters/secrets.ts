/**
 * Resolves secret references (`{env: NAME}` or `{file: /path}`) from the policy. Errors name the
 * variable or the file and never include a value: they end up in logs, Slack and run state.
 */
import { readFile as fsReadFile } from 'node:fs/promises';
import { ExternalError } from '../errors.ts';
import type { SecretRef } from '../policy/types.ts';

/** Where secrets come from; injectable so tests need neither real env nor real files. */
export type SecretSources = {
  env: Readonly<Record<string, string | undefined>>;
  readFile?: (path: string) => Promise<string>;
};

/** A secret could not be read. `target` is `env NAME` or `file /path`. */
export class SecretError extends ExternalError {
  constructor(message: string, target: string) {
    super('SECRET_UNAVAILABLE', message, target);
  }
}

/** Describes a reference without its value, for messages: `env PROM_TOKEN`, `file /var/run/token`. */
export function describeSecretRef(ref: SecretRef): string {
  return ref.env !== undefined ? `environment variable ${ref.env}` : `file ${ref.file ?? '(none)'}`;
}

/**
 * Reads a secret. A file's trailing line break is dropped (`echo token > file` adds one, and a
 * header value with a newline is invalid); nothing else is trimmed. An empty secret is an error:
 * sending an empty token fails later with a far less useful 401.
 */
export async function resolveSecret(ref: SecretRef, sources: SecretSources): Promise<string> {
  if (ref.env !== undefined) {
    const value = sources.env[ref.env];
    if (value === undefined) throw new SecretError(`environment variable ${ref.env} is not set`, `env ${ref.env}`);
    if (value === '') throw new SecretError(`environment variable ${ref.env} is empty`, `env ${ref.env}`);
    return value;
  }
  if (ref.file !== undefined) {
    const path = ref.file;
    const read = sources.readFile ?? ((p: string) => fsReadFile(p, 'utf8'));
    let content: string;
    try {
      content = await read(path);
    } catch (error) {
      // Only the error code: some messages quote file content or other paths.
      const code = (error as { code?: unknown }).code;
      const why =
        code === 'ENOENT'
          ? 'does not exist'
          : code === 'EACCES'
            ? 'is not readable (permission denied)'
            : `cannot be read${typeof code === 'string' ? ` (${code})` : ''}`;
      throw new SecretError(`secret file ${path} ${why}`, `file ${path}`);
    }
    const value = content.replace(/\r?\n$/, '');
    if (value === '') throw new SecretError(`secret file ${path} is empty`, `file ${path}`);
    return value;
  }
  throw new SecretError('a secret reference needs exactly one of env or file', 'secret');
}
