/**
 * The benchmark suite (issue 9): which measurements run at which size, and the result document.
 * `bench/main.ts` is the command line; `test/bench/smoke.test.ts` runs the `smoke` size.
 */
import { detectionBenchmark, type DetectionResult } from './detection.ts';
import { machine, type Machine } from './machine.ts';
import { memoryBenchmark, type MemoryResult } from './memory.ts';
import { speedBenchmark, type SpeedResult } from './speed.ts';

export const BENCH_SIZES = ['smoke', 'small', 'medium', 'full'] as const;
export type BenchSize = (typeof BENCH_SIZES)[number];
export const MEASUREMENTS = ['speed', 'memory', 'detection'] as const;
export type Measurement = (typeof MEASUREMENTS)[number];

export type BenchConfig = {
  size: BenchSize;
  /** Namespace counts of the speed comparison (each with `workloads` Deployments). */
  speedNamespaces: number[];
  workloads: number;
  runs: number;
  memory?: { namespaces: number; workloads: number };
  detectionRuns: number;
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
  memory?: MemoryResult;
  detection?: DetectionResult;
  durationMs: number;
};

/** What each size measures. `full` is the whole DESIGN section 10 matrix. */
export function sizeDefaults(
  size: BenchSize,
): Pick<BenchConfig, 'speedNamespaces' | 'workloads' | 'runs' | 'memory' | 'detectionRuns'> {
  switch (size) {
    case 'smoke':
      return { speedNamespaces: [3], workloads: 2, runs: 1, detectionRuns: 0 };
    case 'small':
      return {
        speedNamespaces: [50],
        workloads: 5,
        runs: 3,
        memory: { namespaces: 200, workloads: 10 },
        detectionRuns: 3,
      };
    case 'medium':
      return {
        speedNamespaces: [50, 200],
        workloads: 5,
        runs: 3,
        memory: { namespaces: 2000, workloads: 10 },
        detectionRuns: 3,
      };
    case 'full':
      return {
        speedNamespaces: [50, 200, 500],
        workloads: 5,
        runs: 3,
        memory: { namespaces: 2000, workloads: 10 },
        detectionRuns: 3,
      };
  }
}

export async function runBench(config: BenchConfig, log: (line: string) => void = () => {}): Promise<BenchResult> {
  const started = performance.now();
  const date = new Date().toISOString();
  const speed: SpeedResult[] = [];
  let memory: MemoryResult | undefined;
  let detection: DetectionResult | undefined;
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
  if (config.only.includes('memory') && config.memory) {
    log(
      `memory: ${config.memory.namespaces} namespaces x ${config.memory.workloads} Deployments, sandbox in its own process`,
    );
    memory = await memoryBenchmark({
      cli: config.cli,
      ...config.memory,
      startLatencyMs: config.startLatencyMs,
      maxParallelRestarts: config.maxParallelRestarts,
      log,
    });
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
    ...(memory ? { memory } : {}),
    ...(detection ? { detection } : {}),
    durationMs: performance.now() - started,
  };
}
