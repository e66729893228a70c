/** The approval action: asks for a decision through the notifier (approvals are not best-effort: the record says whether it went out). */
import type { Action, Observation } from '../../engine/decide.ts';
import type { RunState } from '../../engine/state.ts';
import type { ActionContext } from './context.ts';

export async function requestApproval(
  ctx: ActionContext,
  state: RunState,
  action: Extract<Action, { type: 'request-approval' }>,
): Promise<Observation> {
  const delivery = await ctx.notifier.notify({
    kind: 'approval-requested',
    policy: state.policy,
    runId: state.runId,
    step: action.step,
    message: action.summary,
    details: { expiresAt: action.expiresAt, point: action.point, planHash: state.planHash },
  });
  return {
    type: 'approval-requested',
    delivered: delivery.delivered,
    ...(delivery.delivered ? {} : { error: delivery.error, retry: delivery.retry }),
  };
}
