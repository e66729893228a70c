/**
 * `revroll demo`: the whole job end to end on the built-in sandbox. Starts the simulated cluster
 * running Istio, a real Prometheus scraping it, then runs policies/demo.yaml with live progress:
 * three waves gated on telemetry, then promotion (or, with `--scenario bad-canary`, a rollback).
 */
import { applyOverrides } from '../../policy/identity.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../errors.ts';
import { Resources } from '../../ports/cluster.ts';
import { composeRunner, connectCluster } from '../../runner/compose.ts';
import { runPolicy } from '../../runner/run-policy.ts';
import type { Sandbox } from '@revroll/sandbox';
import { PrometheusNotInstalledError, startPrometheus, type PrometheusInstance } from '@revroll/sandbox/prometheus';
import { podRevision } from '../../mesh/labels.ts';
import { createLogger } from '../../telemetry/logger.ts';
import { formatNumber } from '../../engine/gates.ts';
import type { CliIo } from '../io.ts';
import type { ExitCode } from '../exit-codes.ts';
import { loadPolicyFile } from '../policy-file.ts';
import { exitCodeFor } from './run.ts';
import { startSandbox } from './sandbox.ts';
import { createProgress } from '../progress.ts';
import { produceReport, renderReport } from './report.ts';

export type DemoOptions = { scenario?: string; policy?: string; debug?: boolean };

const STATE_NAMESPACE = 'revroll-system';

/** policies/demo.yaml of the installed package (src/ or dist/, both three levels down). */
function defaultPolicyPath(): string {
  return fileURLToPath(new URL('../../../policies/demo.yaml', import.meta.url));
}

export async function demoCommand(options: DemoOptions, io: CliIo, stop?: AbortSignal): Promise<ExitCode> {
  const scenario = options.scenario ?? 'demo';
  const policyFile = options.policy ?? defaultPolicyPath();
  const { policy: loaded } = await loadPolicyFile(policyFile, io.cwd);
  const started = performance.now();
  const say = (text: string) => io.out(`${text}\n`);
  let sandbox: Sandbox | undefined;
  let prometheus: PrometheusInstance | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'revroll-demo-'));
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const signal = stop ? AbortSignal.any([stop, controller.signal]) : controller.signal;
  try {
    say(`revroll demo: scenario "${scenario}", policy ${policyFile}`);
    sandbox = await startSandbox({ scenario, startLatencyMs: 150 });
    await sandbox.waitForIdle({ timeoutMs: 60_000 });
    const summary = sandbox.summary();
    say(
      `  sandbox cluster at ${sandbox.url}: ${summary.namespaces} namespaces, ${summary.pods.total} pods, proxies ${describeCounts(summary.pods.injected)}`,
    );
    try {
      prometheus = await startPrometheus({ targets: [sandbox.metricsUrl], scrapeIntervalMs: 1000 });
    } catch (error) {
      if (error instanceof PrometheusNotInstalledError)
        throw new UsageError(
          `${error.message}; the demo needs it for its telemetry gates (bash scripts/ensure-deps.sh installs it)`,
        );
      throw error;
    }
    say(`  Prometheus at ${prometheus.url}, scraping the sandbox every second; waiting for the first scrape...`);
    for (let i = 0; i < 150 && (await prometheus.query('istio_build{component="proxy"}')).length === 0; i++) {
      await new Promise((r) => setTimeout(r, 200));
    }
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, sandbox.kubeconfig);
    say(
      `  kubectl works against it meanwhile: KUBECONFIG=${kubeconfig} kubectl get namespaces -L istio-injection,istio.io/rev`,
    );
    say('');

    const policy = applyOverrides(loaded, { prometheusUrl: prometheus.url });
    const cluster = connectCluster({ kubeconfig, env: io.env });
    if (!(await cluster.get(Resources.namespaces, undefined, STATE_NAMESPACE))) {
      await cluster.mutate({
        op: 'create',
        ref: Resources.namespaces,
        object: { metadata: { name: STATE_NAMESPACE } },
      });
    }
    const logger = createLogger({ level: options.debug ? 'debug' : 'warn', pretty: io.isTty });
    const deps = composeRunner(policy, { cluster, stateNamespace: STATE_NAMESPACE, logger, env: io.env });
    say(
      `Running ${policy.metadata.name}: ${policy.spec.revisions.from} -> ${policy.spec.revisions.to}, ${policy.spec.waves.length} waves, gates every ${policy.spec.gates.interval / 1000}s`,
    );
    const progress = createProgress(io, {
      extra: (state, record) => {
        if (record.kind !== 'bake' || (record.status !== 'done' && record.status !== 'failed')) return [];
        return (state.gates?.recent.at(-1)?.results ?? []).map(
          (r) =>
            `          gate ${r.check}: ${r.outcome} ${r.value === undefined || r.value === null ? '' : formatNumber(r.value)}${r.baseline !== undefined && r.baseline !== null ? ` (old revision: ${formatNumber(r.baseline)})` : ''}`,
        );
      },
    });
    const result = await runPolicy(policy, deps, {
      signal,
      onProgress: (state, changed) => progress.update(state, changed),
    });
    progress.stop();
    await sandbox.waitForIdle({ timeoutMs: 60_000 }).catch(() => undefined);
    const pods = await cluster.list(Resources.pods);
    const proxies: Record<string, number> = {};
    for (const pod of pods) {
      const revision = podRevision(pod);
      if (revision) proxies[revision] = (proxies[revision] ?? 0) + 1;
    }
    const requests = cluster.requests.filter((r) => r.resource !== 'events');
    say('');
    say(`${result.outcome}: ${result.message}`);
    say(`  proxies now: ${describeCounts(proxies)}`);
    say(
      `  Kubernetes API requests: ${requests.length} (plus ${cluster.requests.length - requests.length} Events); elapsed ${Math.round((performance.now() - started) / 1000)}s`,
    );
    say(
      `  run state: kubectl -n ${STATE_NAMESPACE} get configmap revroll-${policy.metadata.name} -o yaml (while the demo runs)`,
    );
    // The report is rendered while the sandbox and Prometheus still run, and kept after them.
    const model = await produceReport({
      cluster,
      stateNamespace: STATE_NAMESPACE,
      policyName: policy.metadata.name,
      policy,
      env: io.env,
    });
    const reportFile = join(tmpdir(), `revroll-demo-${model.runId}.html`);
    writeFileSync(reportFile, await renderReport(model, 'html'));
    say(`  report of the run (open it in a browser): ${reportFile}`);
    return exitCodeFor(result);
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await prometheus?.stop();
    await sandbox?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function describeCounts(counts: Record<string, number>): string {
  const entries = Object.entries(counts).sort(([a], [b]) => a.localeCompare(b));
  return entries.length === 0 ? 'none' : entries.map(([k, v]) => `${v} on ${k}`).join(', ');
}
