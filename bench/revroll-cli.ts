/**
 * Runs revroll the way an operator does: the CLI as its own process (`node src/cli/main.ts`),
 * so its wall time includes start-up and its memory is its own.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/**
 * How the CLI's bin starts: the environment assignments and Node flags of its shebang line
 * (`#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=4 ...`). The bench starts
 * `node` itself (process.execPath), so it applies them as the kernel and env(1) would.
 */
export function cliLaunch(cli: string): { flags: string[]; env: Record<string, string> } {
  const first = readFileSync(cli, 'utf8').split('\n', 1)[0] ?? '';
  const match = /^#!\S*\benv\s+-S\s+(.*)$/.exec(first);
  if (!match) return { flags: [], env: {} };
  const words = (match[1] as string).trim().split(/\s+/);
  const node = words.indexOf('node');
  const env: Record<string, string> = {};
  for (const word of words.slice(0, Math.max(node, 0))) {
    const eq = word.indexOf('=');
    if (eq > 0) env[word.slice(0, eq)] = word.slice(eq + 1);
  }
  return { flags: node >= 0 ? words.slice(node + 1) : [], env };
}

/** Arguments and environment to run the CLI with `process.execPath`, as its bin runs. */
export function cliCommand(cli: string, args: readonly string[]): { args: string[]; env: NodeJS.ProcessEnv } {
  const launch = cliLaunch(cli);
  return { args: [...launch.flags, cli, ...args], env: { ...process.env, ...launch.env } };
}

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
    const command = cliCommand(options.cli, args);
    const result = await runProcess(process.execPath, command.args, {
      env: command.env,
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
    const command = cliCommand(options.cli, ['plan', file, '--kubeconfig', options.kubeconfigFile, '-o', 'json']);
    const result = await runProcess(process.execPath, command.args, {
      env: command.env,
      timeoutMs: options.timeoutMs,
      measureRss: true,
    });
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
