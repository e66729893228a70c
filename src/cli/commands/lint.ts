import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { CliIo } from '../io.ts';
import { ExitCode } from '../exit-codes.ts';
import { formatProblem } from '../../errors.ts';
import type { PolicyProblem } from '../../errors.ts';
import { loadPolicyText, MAX_POLICY_BYTES } from '../../policy/load.ts';
import type { Policy } from '../../policy/types.ts';

/** Why a file could not be read, in one sentence (no stack, no errno soup). */
function readFailure(file: string, error: unknown): PolicyProblem {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const reason =
    code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory, not a policy file' : error instanceof Error ? error.message : 'unreadable';
  return { path: '', rule: 'read', message: `cannot read policy file: ${reason}`, location: { file, line: 1, col: 1 } };
}

/** Reads a file as text, refusing oversized ones before loading them into memory. */
async function readPolicyFile(file: string, cwd: string): Promise<{ text: string } | { problem: PolicyProblem }> {
  try {
    const bytes = await readFile(resolve(cwd, file));
    if (bytes.length > MAX_POLICY_BYTES) {
      return { problem: { path: '', rule: 'size', message: `the file is ${bytes.length} bytes; policies are limited to ${MAX_POLICY_BYTES} bytes`, location: { file, line: 1, col: 1 } } };
    }
    return { text: bytes.toString('utf8') };
  } catch (error) {
    return { problem: readFailure(file, error) };
  }
}

/** `nightly-1-25: 1-24-3 -> 1-25-1, 3 waves, 4 gates, labels strategy`. */
export function summarizePolicy(policy: Policy): string {
  const { spec } = policy;
  const waves = spec.waves.length;
  const gates = spec.gates.checks.length;
  const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;
  return `${policy.kind} ${policy.metadata.name}: ${spec.revisions.from} -> ${spec.revisions.to}, ${plural(waves, 'wave')}, ${plural(gates, 'gate')}, ${spec.strategy.type} strategy`;
}

/**
 * `revroll lint <files...>`: every problem on stderr as `file:line:col path: message`, one summary
 * line per valid file on stdout. Exit 2 when any file is invalid, 0 otherwise (warnings allowed).
 */
export async function lintCommand(files: string[], io: CliIo): Promise<ExitCode> {
  let invalid = false;
  for (const file of files) {
    const read = await readPolicyFile(file, io.cwd);
    if ('problem' in read) {
      io.err(`${formatProblem(read.problem)}\n`);
      invalid = true;
      continue;
    }
    const result = loadPolicyText(read.text, file);
    for (const problem of result.problems) io.err(`${formatProblem(problem)}\n`);
    for (const warning of result.warnings) io.err(`${formatProblem(warning)} (warning)\n`);
    if (result.policy === undefined) {
      invalid = true;
      io.err(`${file}: invalid (${result.problems.length} problem${result.problems.length === 1 ? '' : 's'})\n`);
    } else {
      io.out(`${file}: ok (${summarizePolicy(result.policy)})\n`);
    }
  }
  return invalid ? ExitCode.invalid : ExitCode.ok;
}
