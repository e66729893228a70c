/**
 * `npm run bench [-- flags]`: revroll's performance against DESIGN section 10.
 *
 *   --bench-size=smoke|small|medium|full|scale   what to measure (default small; full is DESIGN's
 *                                          matrix; scale is issue 16's: 500 x 5 speed, memory at
 *                                          2,000 x 10 and 5,000 x 10, start-up, the idle daemon)
 *   --only=speed,memory,detection,startup,serve   a subset of the measurements
 *   --runs=N                               runs per speed size (default 3; medians are reported)
 *   --namespaces=50,200                    speed sizes instead of the size's own
 *   --start-latency-ms=200                 simulated pod start time, same for revroll and kubectl
 *   --max-parallel-restarts=5              the wave's maxParallelRestarts (policy default 5)
 *   --manual-budget-s=600                  a manual run projected longer than this is extrapolated
 *   --manual-sample=50                     namespaces run for real before extrapolating
 *   --cli=build|source                     compiled CLI (default, what operators run) or src/
 *   --out=bench/results                    where the JSON goes; --no-write to skip it
 *
 * Run it alone on the machine: two benchmarks in parallel measure each other.
 */
import { fileURLToPath } from 'node:url';
import { buildCli } from './build.ts';
import { BENCH_SIZES, MEASUREMENTS, runBench, sizeDefaults, type BenchSize, type Measurement } from './harness.ts';
import { renderReport, writeResult } from './report.ts';
import { SOURCE_CLI } from './revroll-cli.ts';

function parseFlags(argv: readonly string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (const arg of argv) {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw new Error(`unknown argument ${arg} (flags look like --name=value)`);
    flags.set(match[1] as string, match[2] ?? 'true');
  }
  return flags;
}

function positive(flags: Map<string, string>, name: string, fallback: number): number {
  const raw = flags.get(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number, not ${raw}`);
  return value;
}

async function main(): Promise<number> {
  const flags = parseFlags(process.argv.slice(2));
  const known = new Set([
    'bench-size',
    'only',
    'runs',
    'namespaces',
    'start-latency-ms',
    'max-parallel-restarts',
    'manual-budget-s',
    'manual-sample',
    'cli',
    'out',
    'no-write',
    'help',
  ]);
  for (const name of flags.keys()) if (!known.has(name)) throw new Error(`unknown flag --${name}`);
  if (flags.has('help')) {
    process.stdout.write(
      `usage: npm run bench -- [--bench-size=${BENCH_SIZES.join('|')}] [--only=${MEASUREMENTS.join(',')}] [--runs=N] [--namespaces=50,200] [--start-latency-ms=200] [--max-parallel-restarts=5] [--manual-budget-s=600] [--manual-sample=50] [--cli=build|source] [--out=DIR] [--no-write]\n`,
    );
    return 0;
  }
  const size = (flags.get('bench-size') ?? 'small') as BenchSize;
  if (!BENCH_SIZES.includes(size)) throw new Error(`--bench-size must be one of ${BENCH_SIZES.join(', ')}`);
  const defaults = sizeDefaults(size);
  const only = (flags.get('only')?.split(',') ?? [...MEASUREMENTS]) as Measurement[];
  for (const m of only)
    if (!MEASUREMENTS.includes(m)) throw new Error(`--only takes ${MEASUREMENTS.join(', ')}, not ${m}`);
  const cliKind = flags.get('cli') ?? 'build';
  if (cliKind !== 'build' && cliKind !== 'source') throw new Error('--cli must be build or source');
  const log = (line: string) => process.stderr.write(`${line}\n`);
  let cli = SOURCE_CLI;
  if (cliKind === 'build') {
    log('compiling revroll into .tmp/bench-dist ...');
    cli = await buildCli();
  }
  const result = await runBench(
    {
      size,
      ...defaults,
      speedNamespaces: flags.get('namespaces')?.split(',').map(Number) ?? defaults.speedNamespaces,
      runs: positive(flags, 'runs', defaults.runs),
      only,
      startLatencyMs: positive(flags, 'start-latency-ms', 200),
      maxParallelRestarts: positive(flags, 'max-parallel-restarts', 5),
      manualBudgetMs: positive(flags, 'manual-budget-s', 600) * 1000,
      manualSample: positive(flags, 'manual-sample', 50),
      cli,
      cliKind,
    },
    log,
  );
  process.stdout.write(renderReport(result));
  if (!flags.has('no-write')) {
    const file = writeResult(result, flags.get('out') ?? fileURLToPath(new URL('./results/', import.meta.url)));
    log(`written: ${file}`);
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
