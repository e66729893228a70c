/**
 * Runs revroll the way an operator does: the CLI as its own process (`node src/cli/main.ts`),
 * so its wall time includes start-up and its memory is its own.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StepRecord } from '../src/engine/state.ts';
import { runProcess } from './processes.ts';
import { STATE_NAMESPACE } from './scenario.ts';

/** The CLI from source (type stripping); `buildCli()` gives the compiled one. */
export const SOURCE_CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

export type RevrollRun = {
  outcome: string;
  message: string;
  exitCode: number | null;
  wallMs: number;
  peakRssMiB?: number;
  records: StepRecord[];
  rollbackReason?: string;
};

type RunJson = { outcome: string; message: string; state?: { records: StepRecord[]; rollbackReason?: string } };

function withPolicyFile<T>(policyText: string, use: (file: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'revroll-bench-policy-'));
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, policyText);
  return use(file).finally(() => rmSync(dir, { recursive: true, force: true }));
}

export function runRevroll(options: {
  cli: string;
  kubeconfigFile: string;
  policy: string;
  timeoutMs: number;
  measureRss?: boolean;
  prometheusUrl?: string;
}): Promise<RevrollRun> {
  return withPolicyFile(options.policy, async (file) => {
    const args = [
      options.cli,
      'run',
      file,
      '--kubeconfig',
      options.kubeconfigFile,
      '--state-namespace',
      STATE_NAMESPACE,
      '-o',
      'json',
    ];
    if (options.prometheusUrl) args.push('--prometheus-url', options.prometheusUrl);
    const result = await runProcess(process.execPath, args, {
      timeoutMs: options.timeoutMs,
      measureRss: options.measureRss ?? false,
    });
    let parsed: RunJson;
    try {
      parsed = JSON.parse(result.stdout) as RunJson;
    } catch {
      throw new Error(
        `revroll run printed no JSON (exit ${result.code ?? result.signal}${result.timedOut ? ', timed out' : ''}): ${result.stderr.trim().split('\n').slice(-5).join(' | ')}`,
      );
    }
    return {
      outcome: parsed.outcome,
      message: parsed.message,
      exitCode: result.code,
      wallMs: result.wallMs,
      ...(result.peakRssMiB !== undefined ? { peakRssMiB: result.peakRssMiB } : {}),
      records: parsed.state?.records ?? [],
      ...(parsed.state?.rollbackReason ? { rollbackReason: parsed.state.rollbackReason } : {}),
    };
  });
}

export type RevrollPlan = {
  wallMs: number;
  peakRssMiB?: number;
  exitCode: number | null;
  namespaces: number;
  workloads: number;
  problems: number;
};

export function planRevroll(options: {
  cli: string;
  kubeconfigFile: string;
  policy: string;
  timeoutMs: number;
}): Promise<RevrollPlan> {
  return withPolicyFile(options.policy, async (file) => {
    const result = await runProcess(
      process.execPath,
      [options.cli, 'plan', file, '--kubeconfig', options.kubeconfigFile, '-o', 'json'],
      { timeoutMs: options.timeoutMs, measureRss: true },
    );
    let parsed: { plan?: { waves: { namespaces: { workloads: unknown[] }[] }[] }; problems?: unknown[] };
    try {
      parsed = JSON.parse(result.stdout) as typeof parsed;
    } catch {
      throw new Error(
        `revroll plan printed no JSON (exit ${result.code ?? result.signal}): ${result.stderr.trim().split('\n').slice(-5).join(' | ')}`,
      );
    }
    const namespaces = parsed.plan?.waves.flatMap((w) => w.namespaces) ?? [];
    return {
      wallMs: result.wallMs,
      ...(result.peakRssMiB !== undefined ? { peakRssMiB: result.peakRssMiB } : {}),
      exitCode: result.code,
      namespaces: namespaces.length,
      workloads: namespaces.reduce((n, ns) => n + ns.workloads.length, 0),
      problems: parsed.problems?.length ?? 0,
    };
  });
}

/** Start and end (epoch ms) of a record, when it ran. */
export function recordSpan(records: readonly StepRecord[], id: string): { start?: number; end?: number } {
  const record = records.find((r) => r.id === id);
  return {
    ...(record?.startedAt ? { start: Date.parse(record.startedAt) } : {}),
    ...(record?.finishedAt ? { end: Date.parse(record.finishedAt) } : {}),
  };
}
