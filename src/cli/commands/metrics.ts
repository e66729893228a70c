/** Wiring of the metrics port for the commands: Prometheus when the policy names one. */
import type { RunPlan } from '../../engine/plan.ts';
import type { MetricsSource } from '../../ports/metrics.ts';
import type { Policy } from '../../policy/types.ts';

/** One gate as `revroll plan` shows it. */
export type PlanGate = { check: string; text: string; rejected: boolean };

export type CommandMetrics = {
  source: MetricsSource;
  evaluatePlan(policy: Policy, plan: RunPlan): Promise<PlanGate[]>;
};

export async function createMetricsFor(policy: Policy, _env: NodeJS.ProcessEnv): Promise<CommandMetrics | undefined> {
  if (!policy.spec.prometheus) return undefined;
  throw new Error('Prometheus wiring pending');
}
