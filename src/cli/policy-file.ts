/** Reading policy files for the commands: size-checked, with one clear problem when unreadable. */
import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { constants } from 'node:fs';
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

/**
 * Reads a file as text. A policy is a regular file of at most MAX_POLICY_BYTES (1 MiB): anything
 * else (a device such as /dev/zero, a FIFO, a socket, a bigger file) is refused at once, before
 * any of it is read, so no input can hang or exhaust the command.
 */
export async function readPolicyFile(
  file: string,
  cwd: string,
): Promise<{ text: string } | { problem: PolicyProblem }> {
  const problem = (rule: string, message: string) => ({
    problem: { path: '', rule, message, location: { file, line: 1, col: 1 } },
  });
  try {
    // O_NONBLOCK: opening a FIFO with no writer must not wait.
    const handle = await open(resolve(cwd, file), constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const info = await handle.stat();
      if (info.isDirectory()) return problem('read', 'cannot read policy file: is a directory, not a policy file');
      if (!info.isFile())
        return problem('read', 'cannot read policy file: not a regular file (a device, FIFO or socket)');
      if (info.size > MAX_POLICY_BYTES)
        return problem('size', `the file is ${info.size} bytes; policies are limited to ${MAX_POLICY_BYTES} bytes`);
      // At most one byte more than the limit: a file that grew since stat is still refused.
      const buffer = Buffer.alloc(MAX_POLICY_BYTES + 1);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      if (bytesRead > MAX_POLICY_BYTES)
        return problem('size', `the file is over ${MAX_POLICY_BYTES} bytes; policies are limited to that`);
      return { text: buffer.subarray(0, bytesRead).toString('utf8') };
    } finally {
      await handle.close();
    }
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
