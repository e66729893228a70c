/**
 * The CLI as operators run it: compiled JavaScript (what `npm run build` produces into dist/),
 * built here into the git-ignored .tmp/bench-dist so the benchmark never overwrites the shared
 * dist/ nor measures Node's TypeScript stripping (about 110 MB of extra RSS at start-up).
 */
import { fileURLToPath } from 'node:url';
import { runProcess } from './processes.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = fileURLToPath(new URL('../.tmp/bench-dist/', import.meta.url));

/** Compiles src/ and returns the path of the compiled CLI entry point. */
export async function buildCli(): Promise<string> {
  const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));
  const result = await runProcess(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', OUT], {
    cwd: ROOT,
    timeoutMs: 300_000,
  });
  if (result.code !== 0) throw new Error(`compiling revroll failed:\n${result.stdout}${result.stderr}`);
  return `${OUT}cli/main.js`;
}
