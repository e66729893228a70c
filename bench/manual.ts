/**
 * Runs the manual procedure (manual-procedure.sh: kubectl label, rollout restart, rollout status
 * per Deployment, namespace after namespace) against a hosted sandbox and times it.
 */
import { fileURLToPath } from 'node:url';
import { runProcess } from './processes.ts';

export type ManualResult = {
  /** Wall time of the namespaces actually run. */
  wallMs: number;
  namespacesRun: number;
  /** Per-namespace wall times, as the script printed them. */
  perNamespaceMs: number[];
};

const SCRIPT = fileURLToPath(new URL('./manual-procedure.sh', import.meta.url));

export async function runManualProcedure(options: {
  kubeconfigFile: string;
  to: string;
  namespaces: readonly string[];
  timeoutMs: number;
  onNamespace?: (done: number) => void;
}): Promise<ManualResult> {
  const perNamespaceMs: number[] = [];
  const result = await runProcess('bash', [SCRIPT, options.to, ...options.namespaces], {
    env: { ...process.env, KUBECONFIG: options.kubeconfigFile },
    timeoutMs: options.timeoutMs,
    onLine: (line) => {
      const match = /^namespace \S+ (\d+)$/.exec(line.trim());
      if (!match) return;
      perNamespaceMs.push(Number(match[1]));
      options.onNamespace?.(perNamespaceMs.length);
    },
  });
  if (result.code !== 0) {
    throw new Error(
      `the manual procedure failed (exit ${result.code ?? result.signal}${result.timedOut ? ', timed out' : ''}): ${result.stderr.trim().split('\n').slice(-3).join(' | ')}`,
    );
  }
  return { wallMs: result.wallMs, namespacesRun: perNamespaceMs.length, perNamespaceMs };
}
