/** Wiring of the metrics port for the commands: Prometheus when the policy (or --prometheus-url) names one. */
import { createPrometheusMetrics, type PrometheusMetrics } from '../../adapters/prometheus/metrics.ts';
import { formatNumber } from '../../engine/gates.ts';
import type { RunPlan } from '../../engine/plan.ts';
import type { Policy } from '../../policy/types.ts';

/** One gate as `revroll plan` shows it. */
export type PlanGate = { check: string; text: string; rejected: boolean; query?: string };

export type CommandMetrics = {
  source: PrometheusMetrics;
  evaluatePlan(policy: Policy, plan: RunPlan, versions: { from?: string; to?: string }): Promise<PlanGate[]>;
};

export async function createMetricsFor(policy: Policy, env: NodeJS.ProcessEnv): Promise<CommandMetrics | undefined> {
  const settings = policy.spec.prometheus;
  if (!settings) return undefined;
  const source = createPrometheusMetrics({ settings, env });
  return {
    source,
    /**
     * Evaluates every gate now over the first wave's namespaces (all proxies: nothing has moved
     * yet), and sends each query to the server so a query it rejects is reported before any run.
     */
    async evaluatePlan(_policy, plan, versions) {
      const wave = plan.waves.find((w) => w.namespaces.length > 0);
      const namespaces = wave?.namespaces.map((n) => n.name) ?? [];
      const out: PlanGate[] = [];
      for (const check of policy.spec.gates.checks) {
        const evaluation = await source.evaluate(check, {
          subject: 'wave',
          namespaces,
          fromRevision: plan.from,
          toRevision: plan.to,
          ...(versions.from ? { fromVersion: versions.from } : {}),
          at: new Date(),
        });
        const query = evaluation.queries?.value;
        const verdict = query ? await source.checkQuery(query) : undefined;
        const m = evaluation.measurement;
        let text: string;
        if (verdict?.kind === 'rejected') text = `REJECTED by Prometheus: ${verdict.message}`;
        else if (m.kind === 'value')
          text = `${formatNumber(m.value)}${m.traffic !== undefined ? ` at ${formatNumber(m.traffic)} req/s` : ''}${check.shadow ? ' [shadow]' : ''}`;
        else if (m.kind === 'empty') text = `no data: ${m.reason}`;
        else text = `error: ${m.reason}`;
        out.push({ check: check.name, text, rejected: verdict?.kind === 'rejected', ...(query ? { query } : {}) });
      }
      return out;
    },
  };
}
