/** Reading policy files for the commands: size-checked, with one clear problem when unreadable. */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { PolicyError, type PolicyProblem } from '../errors.ts';
import { loadPolicyText, MAX_POLICY_BYTES } from '../policy/load.ts';
import type { Policy } from '../policy/types.ts';

/** Why a file could not be read, in one sentence (no stack, no errno soup). */
function readFailure(file: string, error: unknown): PolicyProblem {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const reason =
    code === 'ENOENT'
      ? 'no such file'
      : code === 'EACCES'
        ? 'permission denied'
        : code === 'EISDIR'
          ? 'is a directory, not a policy file'
          : error instanceof Error
            ? error.message
            : 'unreadable';
  return { path: '', rule: 'read', message: `cannot read policy file: ${reason}`, location: { file, line: 1, col: 1 } };
}

/** Reads a file as text, refusing oversized ones before loading them into memory. */
export async function readPolicyFile(
  file: string,
  cwd: string,
): Promise<{ text: string } | { problem: PolicyProblem }> {
  try {
    const bytes = await readFile(resolve(cwd, file));
    if (bytes.length > MAX_POLICY_BYTES) {
      return {
        problem: {
          path: '',
          rule: 'size',
          message: `the file is ${bytes.length} bytes; policies are limited to ${MAX_POLICY_BYTES} bytes`,
          location: { file, line: 1, col: 1 },
        },
      };
    }
    return { text: bytes.toString('utf8') };
  } catch (error) {
    return { problem: readFailure(file, error) };
  }
}

/** Reads and loads one policy; every problem at once as a PolicyError. Warnings are returned. */
export async function loadPolicyFile(
  file: string,
  cwd: string,
): Promise<{ policy: Policy; warnings: PolicyProblem[] }> {
  const read = await readPolicyFile(file, cwd);
  if ('problem' in read) throw new PolicyError([read.problem]);
  const result = loadPolicyText(read.text, file);
  if (!result.policy) throw new PolicyError(result.problems);
  return { policy: result.policy, warnings: result.warnings };
}
