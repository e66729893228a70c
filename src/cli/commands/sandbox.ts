import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ExitCode } from '../exit-codes.ts';
import type { CliIo } from '../io.ts';
import { UsageError, ExternalError } from '../../errors.ts';
import { createSandbox, ScenarioError, type Sandbox, type SandboxOptions } from '@revroll/sandbox';
import { PrometheusNotInstalledError, startPrometheus, type PrometheusInstance } from '@revroll/sandbox/prometheus';

export type SandboxCommandOptions = {
  /** Built-in scenario name or scenario file (default `demo`). */
  scenario?: string;
  /** Where to write the kubeconfig (default: a new temporary directory). */
  kubeconfigOut?: string;
  /** Also start a real Prometheus scraping the sandbox. */
  prometheus?: boolean;
  /** API server port (default: any free port). */
  port?: number;
  startLatencyMs?: number;
  speed?: number;
};

/**
 * `revroll sandbox`: starts the simulated cluster (and optionally Prometheus), prints how to use
 * it, and runs until SIGINT/SIGTERM (or until `stop` aborts, for tests), then stops everything
 * it started.
 */
export async function sandboxCommand(options: SandboxCommandOptions, io: CliIo, stop?: AbortSignal): Promise<ExitCode> {
  const startedAt = performance.now();
  let sandbox: Sandbox | undefined;
  let prometheus: PrometheusInstance | undefined;
  try {
    sandbox = await startSandbox({
      scenario: options.scenario ?? 'demo',
      cwd: io.cwd,
      ...(options.port !== undefined ? { port: options.port } : {}),
      ...(options.startLatencyMs !== undefined ? { startLatencyMs: options.startLatencyMs } : {}),
      ...(options.speed !== undefined ? { speed: options.speed } : {}),
    });
    const kubeconfigPath = options.kubeconfigOut
      ? resolve(io.cwd, options.kubeconfigOut)
      : join(mkdtempSync(join(tmpdir(), 'revroll-sandbox-')), 'kubeconfig');
    writeFileSync(kubeconfigPath, sandbox.kubeconfig, { mode: 0o600 });
    if (options.prometheus) {
      try {
        prometheus = await startPrometheus({ targets: [sandbox.metricsUrl], scrapeIntervalMs: 1000 });
      } catch (error) {
        if (error instanceof PrometheusNotInstalledError) throw new UsageError(error.message);
        throw new ExternalError(
          'prometheus-start',
          error instanceof Error ? error.message : String(error),
          'prometheus',
        );
      }
    }
    await sandbox.waitForIdle({ timeoutMs: 120_000 }).catch((error: unknown) => {
      io.err(`warning: ${error instanceof Error ? error.message : String(error)}\n`);
    });
    const summary = sandbox.summary();
    const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
    io.out(
      [
        `revroll sandbox: scenario "${sandbox.scenario.name}" ready in ${seconds} s (${summary.namespaces} namespaces, ${summary.pods.total} pods)`,
        `  API server:  ${sandbox.url}`,
        `  kubeconfig:  ${kubeconfigPath}`,
        `  metrics:     ${sandbox.metricsUrl}  (scrape with honor_labels: true)`,
        ...(prometheus ? [`  prometheus:  ${prometheus.url}`] : []),
        `  faults:      curl -s ${sandbox.url}/sandbox/state ; curl -s -XPOST ${sandbox.url}/sandbox/faults -d '{"crash":["1-25-1"]}'`,
        '',
        'Try:',
        `  KUBECONFIG=${kubeconfigPath} kubectl get ns`,
        `  KUBECONFIG=${kubeconfigPath} kubectl get mutatingwebhookconfigurations`,
        `  KUBECONFIG=${kubeconfigPath} kubectl rollout restart deployment -n shop-frontend`,
        '',
        'Press Ctrl-C to stop.',
        '',
      ].join('\n'),
    );
    await waitForStop(stop);
    io.out('revroll sandbox: stopping\n');
    return ExitCode.ok;
  } finally {
    await prometheus?.stop();
    await sandbox?.close();
  }
}

/** Starts a sandbox; a bad scenario is the user's input (exit 2). */
export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  try {
    return await createSandbox(options);
  } catch (error) {
    if (error instanceof ScenarioError) throw new UsageError(error.message);
    throw error;
  }
}

function waitForStop(stop: AbortSignal | undefined): Promise<void> {
  return new Promise((resolveStop) => {
    // The sandbox's own timers are unref'ed; this keeps the process alive until a signal.
    const keepAlive = setInterval(() => {}, 1 << 30);
    const done = () => {
      clearInterval(keepAlive);
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      stop?.removeEventListener('abort', done);
      resolveStop();
    };
    if (stop?.aborted) return done();
    stop?.addEventListener('abort', done, { once: true });
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}
