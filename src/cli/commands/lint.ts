import type { CliIo } from '../io.ts';
import { ExitCode } from '../exit-codes.ts';
import { formatProblem } from '../../errors.ts';
import { loadPolicyText } from '../../policy/load.ts';
import { readPolicyFile } from '../policy-file.ts';
import { problemLines } from '../problem-lines.ts';
import type { Policy } from '../../policy/types.ts';

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
    for (const line of problemLines(result.problems)) io.err(`${line}\n`);
    for (const line of problemLines(result.warnings, ' (warning)')) io.err(`${line}\n`);
    if (result.policy === undefined) {
      invalid = true;
      io.err(`${file}: invalid (${result.problems.length} problem${result.problems.length === 1 ? '' : 's'})\n`);
    } else {
      io.out(`${file}: ok (${summarizePolicy(result.policy)})\n`);
    }
  }
  return invalid ? ExitCode.invalid : ExitCode.ok;
}
