/** Runs the real CLI in-process (the same entry point as the binary), capturing its output. */
import { runCli } from '../../src/cli/program.ts';

export type CliResult = { code: number; out: string; err: string };

export async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  let out = '';
  let err = '';
  const code = await runCli(args, {
    out: (t) => (out += t),
    err: (t) => (err += t),
    isTty: false,
    env,
    cwd: process.cwd(),
  });
  return { code, out, err };
}
