/**
 * Speed against the manual procedure (DESIGN section 10): the same generated cluster, the same
 * simulated rollout latency, all application namespaces moved to the canary revision, by revroll
 * (one wave, no gates, no warm-up, no bake) and by the guide's kubectl steps namespace after
 * namespace. Each run gets a fresh sandbox; revroll and kubectl alternate so that machine noise
 * hits both alike. The API cost of each revroll run comes from the same runs.
 */
import { apiCost, type ApiCost } from './api-cost.ts';
import { runManualProcedure } from './manual.ts';
import { recordSpan, runRevroll } from './revroll-cli.ts';
import { hostSandbox } from './sandbox-host.ts';
import { appNamespaces, benchScenario, CANARY, migrationPolicy, STABLE } from './scenario.ts';
import { median } from './stats.ts';

export type SpeedOptions = {
  /** Path of the revroll CLI entry point (compiled or source). */
  cli: string;
  namespaces: number;
  workloads: number;
  runs: number;
  startLatencyMs: number;
  maxParallelRestarts: number;
  /** A manual run projected to take longer than this is cut short and extrapolated. */
  manualBudgetMs: number;
  /** Namespaces run for real, at least, before a manual run may be extrapolated. */
  manualSample: number;
  log: (line: string) => void;
};

export type ManualRun = {
  /** Wall time of the whole procedure: measured, or extrapolated from `namespacesRun`. */
  wallMs: number;
  measuredMs: number;
  namespacesRun: number;
  extrapolated: boolean;
  perNamespaceMedianMs: number;
};

export type RevrollSpeedRun = {
  wallMs: number;
  /** From the wave's migrate start to its last step's end (the migration proper). */
  waveMs: number;
  outcome: string;
  peakRssMiB?: number;
  api: ApiCost;
};

export type SpeedResult = {
  namespaces: number;
  workloads: number;
  startLatencyMs: number;
  maxParallelRestarts: number;
  revroll: RevrollSpeedRun[];
  manual: ManualRun[];
  medians: { revrollMs: number; revrollWaveMs: number; manualMs: number; ratio: number; manualPerNamespaceMs: number };
  manualExtrapolated: boolean;
};

/** Namespaces per manual-procedure invocation: the projection is re-checked between chunks. */
const CHUNK = 25;

export async function speedBenchmark(options: SpeedOptions): Promise<SpeedResult> {
  const scenario = benchScenario({
    namespaces: options.namespaces,
    workloads: options.workloads,
    startLatencyMs: options.startLatencyMs,
  });
  const namespaces = appNamespaces(scenario);
  const totalWorkloads = namespaces.length * options.workloads;
  const idleTimeoutMs = 60_000 + totalWorkloads * 100;
  const revroll: RevrollSpeedRun[] = [];
  const manual: ManualRun[] = [];
  const size = `${options.namespaces}x${options.workloads}`;

  for (let run = 1; run <= options.runs; run++) {
    {
      const host = await hostSandbox(scenario, { idleTimeoutMs });
      try {
        host.arrivals.length = 0;
        const result = await runRevroll({
          cli: options.cli,
          kubeconfigFile: host.kubeconfigFile,
          policy: migrationPolicy({ maxParallelRestarts: options.maxParallelRestarts, rolloutTimeoutS: 600 }),
          timeoutMs: 1_200_000,
          measureRss: true,
        });
        if (result.outcome !== 'promoted')
          throw new Error(`revroll did not promote at ${size}: ${result.outcome}: ${result.message}`);
        await host.sandbox.waitForIdle({ timeoutMs: idleTimeoutMs });
        // Every proxy moves: the workloads', and the gateway's, which promotion moves as well.
        const moved = host.proxies()[CANARY.name] ?? 0;
        const left = host.proxies()[STABLE.name] ?? 0;
        if (moved < totalWorkloads || left > 0)
          throw new Error(`revroll left ${left} proxies on ${STABLE.name} (${moved} on ${CANARY.name}) at ${size}`);
        const migrate = recordSpan(result.records, 'wave/all/migrate');
        const bake = recordSpan(result.records, 'wave/all/bake');
        const api = apiCost(host.arrivals, result.records, {
          wave: 'all',
          namespaces: namespaces.length,
          workloads: totalWorkloads,
        });
        revroll.push({
          wallMs: result.wallMs,
          waveMs: (bake.end ?? 0) - (migrate.start ?? 0),
          outcome: result.outcome,
          ...(result.peakRssMiB !== undefined ? { peakRssMiB: result.peakRssMiB } : {}),
          api,
        });
        options.log(
          `  ${size} run ${run}: revroll ${(result.wallMs / 1000).toFixed(2)} s (wave ${(((bake.end ?? 0) - (migrate.start ?? 0)) / 1000).toFixed(2)} s), ${api.waveBudgeted} wave requests (target ${api.waveTarget})`,
        );
      } finally {
        await host.close();
      }
    }
    {
      const host = await hostSandbox(scenario, { idleTimeoutMs });
      try {
        const result = await manualRun(host.kubeconfigFile, namespaces, options);
        if (!result.extrapolated) {
          await host.sandbox.waitForIdle({ timeoutMs: idleTimeoutMs });
          const moved = host.proxies()[CANARY.name] ?? 0;
          if (moved !== totalWorkloads)
            throw new Error(
              `the manual procedure left ${totalWorkloads - moved} proxies off ${CANARY.name} at ${size}`,
            );
        }
        manual.push(result);
        options.log(
          `  ${size} run ${run}: manual ${(result.wallMs / 1000).toFixed(1)} s${result.extrapolated ? ` (extrapolated from ${result.namespacesRun} namespaces run for real in ${(result.measuredMs / 1000).toFixed(1)} s)` : ''}, ${result.perNamespaceMedianMs} ms per namespace`,
        );
      } finally {
        await host.close();
      }
    }
  }
  const revrollMs = median(revroll.map((r) => r.wallMs));
  const manualMs = median(manual.map((r) => r.wallMs));
  return {
    namespaces: options.namespaces,
    workloads: options.workloads,
    startLatencyMs: options.startLatencyMs,
    maxParallelRestarts: options.maxParallelRestarts,
    revroll,
    manual,
    medians: {
      revrollMs,
      revrollWaveMs: median(revroll.map((r) => r.waveMs)),
      manualMs,
      ratio: manualMs / revrollMs,
      manualPerNamespaceMs: median(manual.map((r) => r.perNamespaceMedianMs)),
    },
    manualExtrapolated: manual.some((m) => m.extrapolated),
  };
}

/**
 * Runs the procedure in chunks of namespaces, in order. After each chunk the total is projected
 * linearly; once `manualSample` namespaces ran and the projection exceeds the budget, it stops
 * and reports the projection, flagged as extrapolated.
 */
async function manualRun(
  kubeconfigFile: string,
  namespaces: readonly string[],
  options: SpeedOptions,
): Promise<ManualRun> {
  let measuredMs = 0;
  const perNamespace: number[] = [];
  let done = 0;
  while (done < namespaces.length) {
    const chunk = namespaces.slice(done, done + CHUNK);
    const result = await runManualProcedure({ kubeconfigFile, to: CANARY.name, namespaces: chunk, timeoutMs: 600_000 });
    if (result.namespacesRun !== chunk.length)
      throw new Error(`the manual procedure reported ${result.namespacesRun} of ${chunk.length} namespaces`);
    measuredMs += result.wallMs;
    perNamespace.push(...result.perNamespaceMs);
    done += chunk.length;
    const projected = (measuredMs / done) * namespaces.length;
    if (done < namespaces.length && done >= options.manualSample && projected > options.manualBudgetMs) {
      return {
        wallMs: projected,
        measuredMs,
        namespacesRun: done,
        extrapolated: true,
        perNamespaceMedianMs: median(perNamespace),
      };
    }
  }
  return {
    wallMs: measuredMs,
    measuredMs,
    namespacesRun: done,
    extrapolated: false,
    perNamespaceMedianMs: median(perNamespace),
  };
}
