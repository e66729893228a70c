/**
 * Memory and planning time at scale (DESIGN section 10: runner RSS at most 200 MB at 2,000
 * namespaces x 10 workloads). The sandbox runs in its own process (`revroll sandbox` on a
 * generated scenario file), so the runner's peak RSS is its own: `revroll plan -o json` and
 * `revroll run` are measured as separate processes, peak RSS from VmHWM.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planRevroll, runRevroll, SOURCE_CLI } from './revroll-cli.ts';
import { benchScenario, migrationPolicy } from './scenario.ts';

export type MemoryOptions = {
  cli: string;
  namespaces: number;
  workloads: number;
  startLatencyMs: number;
  maxParallelRestarts: number;
  log: (line: string) => void;
};

export type MemoryResult = {
  namespaces: number;
  workloads: number;
  sandboxStartMs: number;
  plan: { wallMs: number; peakRssMiB: number };
  run: { wallMs: number; peakRssMiB: number; outcome: string; waveMs: number };
  targetMiB: number;
  meetsTarget: boolean;
};

export const RSS_TARGET_MIB = 200;

export async function memoryBenchmark(options: MemoryOptions): Promise<MemoryResult> {
  const dir = mkdtempSync(join(tmpdir(), 'revroll-bench-memory-'));
  const scenarioFile = join(dir, 'scenario.json');
  const kubeconfigFile = join(dir, 'kubeconfig');
  writeFileSync(
    scenarioFile,
    JSON.stringify(
      benchScenario({
        namespaces: options.namespaces,
        workloads: options.workloads,
        startLatencyMs: options.startLatencyMs,
      }),
    ),
  );
  const started = performance.now();
  const sandbox = spawn(
    process.execPath,
    [
      '--max-old-space-size=8192',
      SOURCE_CLI,
      'sandbox',
      '--scenario',
      scenarioFile,
      '--kubeconfig-out',
      kubeconfigFile,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  sandbox.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(
        () => reject(new Error(`the sandbox was not ready within 15 minutes: ${stderr.slice(-500)}`)),
        900_000,
      );
      sandbox.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString('utf8');
        if (out.includes('Press Ctrl-C to stop.')) {
          clearTimeout(timer);
          resolve();
        }
      });
      sandbox.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the sandbox exited (${code}) before it was ready: ${stderr.slice(-500)}`));
      });
    });
    const sandboxStartMs = performance.now() - started;
    options.log(
      `  ${options.namespaces}x${options.workloads}: sandbox ready in ${(sandboxStartMs / 1000).toFixed(0)} s (separate process)`,
    );
    const policy = migrationPolicy({ maxParallelRestarts: options.maxParallelRestarts, rolloutTimeoutS: 1800 });
    const plan = await planRevroll({ cli: options.cli, kubeconfigFile, policy, timeoutMs: 600_000 });
    if (plan.exitCode !== 0 || plan.problems > 0)
      throw new Error(`revroll plan failed at scale (exit ${plan.exitCode}, ${plan.problems} problems)`);
    options.log(
      `  plan: ${(plan.wallMs / 1000).toFixed(2)} s, peak RSS ${plan.peakRssMiB?.toFixed(0)} MiB (${plan.namespaces} namespaces, ${plan.workloads} workloads)`,
    );
    const run = await runRevroll({ cli: options.cli, kubeconfigFile, policy, timeoutMs: 3_600_000, measureRss: true });
    if (run.outcome !== 'promoted')
      throw new Error(`revroll run did not promote at scale: ${run.outcome}: ${run.message}`);
    const migrate = run.records.find((r) => r.id === 'wave/all/migrate')?.startedAt;
    const bake = run.records.find((r) => r.id === 'wave/all/bake')?.finishedAt;
    const waveMs = migrate && bake ? Date.parse(bake) - Date.parse(migrate) : Number.NaN;
    options.log(`  run: ${(run.wallMs / 1000).toFixed(1)} s, peak RSS ${run.peakRssMiB?.toFixed(0)} MiB`);
    const planRss = plan.peakRssMiB ?? Number.NaN;
    const runRss = run.peakRssMiB ?? Number.NaN;
    return {
      namespaces: options.namespaces,
      workloads: options.workloads,
      sandboxStartMs,
      plan: { wallMs: plan.wallMs, peakRssMiB: planRss },
      run: { wallMs: run.wallMs, peakRssMiB: runRss, outcome: run.outcome, waveMs },
      targetMiB: RSS_TARGET_MIB,
      meetsTarget: runRss <= RSS_TARGET_MIB && planRss <= RSS_TARGET_MIB,
    };
  } finally {
    sandbox.kill('SIGTERM');
    await new Promise<void>((resolve) => {
      if (sandbox.exitCode !== null || sandbox.signalCode !== null) resolve();
      else sandbox.once('exit', () => resolve());
    });
    rmSync(dir, { recursive: true, force: true });
  }
}
