import type { CliIo } from '../io.ts';
import { ExitCode } from '../exit-codes.ts';

/** Placeholder until the policy loader lands (replaced by the policy work). */
export async function lintCommand(files: string[], io: CliIo): Promise<ExitCode> {
  io.err(`lint: ${files.length} file(s): the policy loader is not built yet\n`);
  return ExitCode.failure;
}
