/**
 * The benchmark suite (issue 9): which measurements run at which size, and the result document.
 * `bench/main.ts` is the command line; `test/bench/smoke.test.ts` runs the `smoke` size.
 */
import { detectionBenchmark, type DetectionResult } from './detection.ts';
import { machine, type Machine } from './machine.ts';
import { memoryBenchmark, type MemoryResult } from './memory.ts';
import { serveIdleBenchmark, type ServeIdleResult } from './serve-idle.ts';
import { speedBenchmark, type SpeedResult } from './speed.ts';
import { startupBenchmark, type StartupResult } from './startup.ts';

export const BENCH_SIZES = ['smoke', 'small', 'medium', 'full', 'scale'] as const;
export type BenchSize = (typeof BENCH_SIZES)[number];
export const MEASUREMENTS = ['speed', 'memory', 'detection', 'startup', 'serve'] as const;
export type Measurement = (typeof MEASUREMENTS)[number];

export type BenchConfig = {
  size: BenchSize;
  /** Namespace counts of the speed comparison (each with `workloads` Deployments). */
  speedNamespaces: number[];
  workloads: number;
  runs: number;
  /** Memory sizes, in order; `plan` also measures `revroll plan` there. */
  memory: { namespaces: number; workloads: number; plan: boolean }[];
  detectionRuns: number;
  /** Runs of each start-up command (medians); 0 skips start-up. */
  startupRuns: number;
  /** The idle daemon: how many policies, for how long; absent skips it. */
  serve?: { policies: number; idleMs: number };
  only: Measurement[];
  startLatencyMs: number;
  maxParallelRestarts: number;
  manualBudgetMs: number;
  manualSample: number;
  /** The revroll CLI entry point: compiled (what operators run) or the TypeScript source. */
  cli: string;
  cliKind: 'build' | 'source';
};

export type BenchResult = {
  benchmark: 'revroll';
  size: BenchSize;
  date: string;
  machine: Machine;
  config: Omit<BenchConfig, 'cli'>;
  speed: SpeedResult[];
  memory: MemoryResult[];
  detection?: DetectionResult;
  startup?: StartupResult;
  serve?: ServeIdleResult;
  durationMs: number;
};

/** What each size measures. `full` is the whole DESIGN section 10 matrix. */
export function sizeDefaults(
  size: BenchSize,
): Pick<BenchConfig, 'speedNamespaces' | 'workloads' | 'runs' | 'memory' | 'detectionRuns' | 'startupRuns' | 'serve'> {
  switch (size) {
    case 'smoke':
      return { speedNamespaces: [3], workloads: 2, runs: 1, memory: [], detectionRuns: 0, startupRuns: 0 };
    case 'small':
      return {
        speedNamespaces: [50],
        workloads: 5,
        runs: 3,
        memory: [{ namespaces: 200, workloads: 10, plan: true }],
        detectionRuns: 3,
        startupRuns: 5,
      };
    case 'medium':
      return {
        speedNamespaces: [50, 200],
        workloads: 5,
        runs: 3,
        memory: [{ namespaces: 2000, workloads: 10, plan: true }],
        detectionRuns: 3,
        startupRuns: 9,
      };
    case 'full':
      return {
        speedNamespaces: [50, 200, 500],
        workloads: 5,
        runs: 3,
        memory: [{ namespaces: 2000, workloads: 10, plan: true }],
        detectionRuns: 3,
        startupRuns: 9,
        serve: { policies: 20, idleMs: 60_000 },
      };
    // Issue 16: every scale target in one run (speed at 500 x 5 only; no detection).
    case 'scale':
      return {
        speedNamespaces: [500],
        workloads: 5,
        runs: 3,
        memory: [
          { namespaces: 2000, workloads: 10, plan: true },
          { namespaces: 5000, workloads: 10, plan: false },
        ],
        detectionRuns: 0,
        startupRuns: 9,
        serve: { policies: 20, idleMs: 60_000 },
      };
  }
}

export async function runBench(config: BenchConfig, log: (line: string) => void = () => {}): Promise<BenchResult> {
  const started = performance.now();
  const date = new Date().toISOString();
  const speed: SpeedResult[] = [];
  const memory: MemoryResult[] = [];
  let detection: DetectionResult | undefined;
  let startup: StartupResult | undefined;
  let serve: ServeIdleResult | undefined;
  if (config.only.includes('startup') && config.startupRuns > 0) {
    log(`startup: revroll --help and revroll lint of the example policies, ${config.startupRuns} run(s) each`);
    startup = await startupBenchmark({ cli: config.cli, runs: config.startupRuns, log });
  }
  if (config.only.includes('speed')) {
    for (const namespaces of config.speedNamespaces) {
      log(
        `speed: ${namespaces} namespaces x ${config.workloads} Deployments, ${config.runs} run(s) each of revroll and the manual procedure`,
      );
      speed.push(
        await speedBenchmark({
          cli: config.cli,
          namespaces,
          workloads: config.workloads,
          runs: config.runs,
          startLatencyMs: config.startLatencyMs,
          maxParallelRestarts: config.maxParallelRestarts,
          manualBudgetMs: config.manualBudgetMs,
          manualSample: config.manualSample,
          log,
        }),
      );
    }
  }
  for (const size of config.only.includes('memory') ? config.memory : []) {
    log(`memory: ${size.namespaces} namespaces x ${size.workloads} Deployments, sandbox in its own process`);
    memory.push(
      await memoryBenchmark({
        cli: config.cli,
        ...size,
        startLatencyMs: config.startLatencyMs,
        maxParallelRestarts: config.maxParallelRestarts,
        log,
      }),
    );
  }
  if (config.only.includes('serve') && config.serve) {
    log(`serve: the daemon idle with ${config.serve.policies} policies for ${config.serve.idleMs / 1000} s`);
    serve = await serveIdleBenchmark({ cli: config.cli, ...config.serve, log });
  }
  if (config.only.includes('detection') && config.detectionRuns > 0) {
    log(
      `detection: bad canary (30% proxy errors), real Prometheus scraping every 1 s, gate interval 2 s, ${config.detectionRuns} run(s)`,
    );
    detection = await detectionBenchmark({
      cli: config.cli,
      runs: config.detectionRuns,
      scrapeIntervalMs: 1000,
      gateIntervalMs: 2000,
      log,
    });
  }
  const { cli: _cli, ...rest } = config;
  return {
    benchmark: 'revroll',
    size: config.size,
    date,
    machine: machine(),
    config: rest,
    speed,
    memory,
    ...(detection ? { detection } : {}),
    ...(startup ? { startup } : {}),
    ...(serve ? { serve } : {}),
    durationMs: performance.now() - started,
  };
}
