/**
 * Memory and planning time at scale (DESIGN section 10, issue 16: `revroll run` at most 200 MiB
 * and `revroll plan` at most 150 MiB at 2,000 namespaces x 10 workloads; `revroll run` at most
 * 300 MiB at 5,000 x 10). The sandbox runs in its own process (`revroll sandbox` on a generated
 * scenario file), so the runner's peak RSS is its own: `revroll plan -o json` and `revroll run`
 * are measured as separate processes, peak RSS from VmHWM. After the run, the size of its state
 * ConfigMap (limit 1 MiB; target under 512 KiB) is read back; before it, the time of one
 * rollout in this sandbox is measured, to set the wave against its physical limit.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKubernetesCluster } from '../src/adapters/kubernetes/cluster.ts';
import { loadKubeConfig } from '../src/adapters/kubernetes/kubeconfig.ts';
import { planRestart, rolloutState } from '../src/mesh/workloads.ts';
import { Resources, type ClusterPort } from '../src/ports/cluster.ts';
import { stateConfigMapName } from '../src/ports/state-store.ts';
import { planRevroll, runRevroll, SOURCE_CLI } from './revroll-cli.ts';
import { benchScenario, migrationPolicy, STATE_NAMESPACE } from './scenario.ts';

export type MemoryOptions = {
  cli: string;
  namespaces: number;
  workloads: number;
  startLatencyMs: number;
  maxParallelRestarts: number;
  /** Also measure `revroll plan` (the 2,000 x 10 target). */
  plan: boolean;
  log: (line: string) => void;
};

export type MemoryResult = {
  namespaces: number;
  workloads: number;
  sandboxStartMs: number;
  plan?: { wallMs: number; peakRssMiB: number; targetMiB: number };
  run: {
    wallMs: number;
    peakRssMiB: number;
    outcome: string;
    waveMs: number;
    targetMiB: number;
    /** The promotion's uninstall of the previous revision: its step's status and note (`skipped` says why). */
    uninstall: { status: string; note?: string };
  };
  /** The run's state ConfigMap as stored: bytes of its JSON, and of its data values. */
  state: { objectBytes: number; dataBytes: number; targetBytes: number };
  /**
   * The wave against its physical limit: one rollout in this sandbox (the slowest of a probe
   * restarting one namespace's workloads at once) times the restart batches.
   */
  wave: {
    rolloutMs: number;
    maxParallelRestarts: number;
    /** Batches if each `maxParallelRestarts` restarts waited for their rollouts. */
    batches: number;
    /** rolloutMs x batches. */
    limitMs: number;
    /** waveMs / limitMs. */
    ratio: number;
    /** waveMs / rolloutMs: the wave against a single rollout (every workload restarted at once). */
    ratioToOneRollout: number;
  };
  meetsTarget: boolean;
};

export const RSS_TARGET_MIB = 200;
export const PLAN_TARGET_MIB = 150;
/** The run target by size: 200 MiB up to 2,000 x 10, 300 MiB at 5,000 x 10. */
export function runTargetMiB(namespaces: number, workloads: number): number {
  return namespaces * workloads > 20_000 ? 300 : RSS_TARGET_MIB;
}
export const STATE_TARGET_BYTES = 512 * 1024;

function connect(kubeconfigFile: string): ClusterPort {
  return createKubernetesCluster({ config: loadKubeConfig({ file: kubeconfigFile, env: {} }).config });
}

/** Restarts the Deployments of one namespace at once and returns when the last rollout is done. */
async function probeRollout(cluster: ClusterPort, namespace: string): Promise<number> {
  const deployments = await cluster.list(Resources.deployments, { namespace });
  const started = performance.now();
  const now = new Date();
  await Promise.all(
    deployments.map((d) =>
      cluster.mutate(
        planRestart({ kind: 'Deployment', namespace, name: d.metadata.name ?? '' }, 'bench-probe@rollout', now),
      ),
    ),
  );
  const names = new Set(deployments.map((d) => `${namespace}/${d.metadata.name ?? ''}`));
  const done = await cluster.waitFor(
    Resources.deployments,
    { namespace },
    (objects) =>
      [...names].every((key) => {
        const o = objects.get(key);
        const template = (o?.spec as { template?: { metadata?: { annotations?: Record<string, string> } } })?.template;
        return (
          template?.metadata?.annotations?.['revroll.dev/restarted-for'] === 'bench-probe@rollout' &&
          o !== undefined &&
          rolloutState('Deployment', o).done
        );
      }),
    120_000,
  );
  if (!done) throw new Error(`the probe rollout in ${namespace} did not finish within 2 minutes`);
  return performance.now() - started;
}

async function stateSize(cluster: ClusterPort): Promise<MemoryResult['state']> {
  const cm = await cluster.get(Resources.configmaps, STATE_NAMESPACE, stateConfigMapName('bench'));
  if (!cm) throw new Error(`no state ConfigMap ${STATE_NAMESPACE}/${stateConfigMapName('bench')} after the run`);
  const data = (cm.data ?? {}) as Record<string, string>;
  const dataBytes = Object.entries(data).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
  return { objectBytes: Buffer.byteLength(JSON.stringify(cm)), dataBytes, targetBytes: STATE_TARGET_BYTES };
}

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
    const cluster = connect(kubeconfigFile);
    const rolloutMs = await probeRollout(cluster, 'ns-0001');
    options.log(`  one namespace's rollouts (${options.workloads} at once): ${rolloutMs.toFixed(0)} ms`);
    const policy = migrationPolicy({
      maxParallelRestarts: options.maxParallelRestarts,
      rolloutTimeoutS: 1800,
      complete: true,
    });
    let plan: MemoryResult['plan'];
    if (options.plan) {
      const planned = await planRevroll({ cli: options.cli, kubeconfigFile, policy, timeoutMs: 600_000 });
      if (planned.exitCode !== 0 || planned.problems > 0)
        throw new Error(`revroll plan failed at scale (exit ${planned.exitCode}, ${planned.problems} problems)`);
      options.log(
        `  plan: ${(planned.wallMs / 1000).toFixed(2)} s, peak RSS ${planned.peakRssMiB?.toFixed(0)} MiB (${planned.namespaces} namespaces, ${planned.workloads} workloads)`,
      );
      plan = { wallMs: planned.wallMs, peakRssMiB: planned.peakRssMiB ?? Number.NaN, targetMiB: PLAN_TARGET_MIB };
    }
    const run = await runRevroll({ cli: options.cli, kubeconfigFile, policy, timeoutMs: 3_600_000, measureRss: true });
    if (run.outcome !== 'promoted')
      throw new Error(`revroll run did not promote at scale: ${run.outcome}: ${run.message}`);
    const migrate = run.records.find((r) => r.id === 'wave/all/migrate')?.startedAt;
    const bake = run.records.find((r) => r.id === 'wave/all/bake')?.finishedAt;
    const waveMs = migrate && bake ? Date.parse(bake) - Date.parse(migrate) : Number.NaN;
    const uninstallRecord = run.records.find((r) => r.id === 'promote/uninstall-previous');
    const uninstall = {
      status: uninstallRecord?.status ?? 'not run',
      ...(uninstallRecord?.note ? { note: uninstallRecord.note } : {}),
    };
    options.log(
      `  run: ${(run.wallMs / 1000).toFixed(1)} s (wave ${(waveMs / 1000).toFixed(1)} s), peak RSS ${run.peakRssMiB?.toFixed(0)} MiB; uninstall of the previous revision ${uninstall.status}${uninstall.note ? `: ${uninstall.note}` : ''}`,
    );
    const state = await stateSize(cluster);
    options.log(`  state ConfigMap: ${(state.objectBytes / 1024).toFixed(0)} KiB`);
    const runRss = run.peakRssMiB ?? Number.NaN;
    const runTarget = runTargetMiB(options.namespaces, options.workloads);
    const batches = Math.ceil((options.namespaces * options.workloads) / options.maxParallelRestarts);
    return {
      namespaces: options.namespaces,
      workloads: options.workloads,
      sandboxStartMs,
      ...(plan ? { plan } : {}),
      run: { wallMs: run.wallMs, peakRssMiB: runRss, outcome: run.outcome, waveMs, targetMiB: runTarget, uninstall },
      state,
      wave: {
        rolloutMs,
        maxParallelRestarts: options.maxParallelRestarts,
        batches,
        limitMs: rolloutMs * batches,
        ratio: waveMs / (rolloutMs * batches),
        ratioToOneRollout: waveMs / rolloutMs,
      },
      meetsTarget:
        runRss <= runTarget &&
        (plan === undefined || plan.peakRssMiB <= PLAN_TARGET_MIB) &&
        state.objectBytes < STATE_TARGET_BYTES,
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
