/**
 * The executor: performs one engine action through the ports and reports what it observed.
 * It makes no decisions beyond "did this succeed"; what happens next is `decide`'s business.
 * Each action's performer lives in src/runner/actions/; this file is the one exhaustive dispatch.
 *
 * Failure semantics: a RevrollError (the API answered an error past its retries, a refused tag
 * move...) is an observation, a failed step that `decide` counts against the error budget. Any
 * other exception is a bug in revroll: it becomes an InternalError that ends the invocation with
 * the stored state as it was before the action (never a failed step that holds and retries).
 */
import type { Action, Observation } from '../engine/decide.ts';
import type { RunState } from '../engine/state.ts';
import { InternalError, RevrollError } from '../errors.ts';
import type { Policy } from '../policy/types.ts';
import { requestApproval } from './actions/approval.ts';
import { createActionContext, errorText, type ActionContext, type ExecutorDeps } from './actions/context.ts';
import { deleteStragglers, verify } from './actions/convergence.ts';
import { moveGateways } from './actions/gateways.ts';
import { setGatewayLabels } from './actions/gateway-api.ts';
import { measure } from './actions/measure.ts';
import { labelNamespaces } from './actions/namespaces.ts';
import { precheck } from './actions/precheck.ts';
import { checkRevision, health, install } from './actions/revision.ts';
import { setTags } from './actions/tags.ts';
import { uninstall } from './actions/uninstall.ts';
import { restart, waitForRestarted } from './actions/workloads.ts';

export type { ExecutorDeps } from './actions/context.ts';
export { requiredPermissions } from './actions/precheck.ts';

export function createExecutor(policy: Policy, deps: ExecutorDeps) {
  const ctx = createActionContext(policy, deps);
  return {
    async execute(state: RunState, action: Action): Promise<Observation> {
      try {
        return await perform(ctx, state, action);
      } catch (error) {
        // A stopped invocation (SIGTERM, a lost Lease) ends its waits with the stop's reason: the
        // run loop sees the stop and returns `interrupted` without acting on this observation.
        if (error instanceof RevrollError || ctx.signal?.aborted)
          return { type: 'done', ok: false, message: errorText(error) };
        const step = state.steps[state.cursor]?.id ?? action.type;
        throw new InternalError(`internal error in step ${step}: ${errorText(error)}`, { cause: error });
      }
    },
  };
}

export type Executor = ReturnType<typeof createExecutor>;

/** One performer per action type; the `never` check makes a new action a compile error until it is performed. */
function perform(ctx: ActionContext, state: RunState, action: Action): Promise<Observation> {
  switch (action.type) {
    case 'precheck':
      return precheck(ctx, state);
    case 'install':
      return install(ctx, state);
    case 'set-tags':
      return setTags(ctx, action.tags);
    case 'request-approval':
      return requestApproval(ctx, state, action);
    case 'measure':
      return measure(ctx, state, action);
    case 'label-namespaces':
      return labelNamespaces(ctx, action.namespaces);
    case 'move-gateways':
      return moveGateways(ctx, action.gateways);
    case 'set-gateway-labels':
      return setGatewayLabels(ctx, action);
    case 'restart-workloads':
      return restart(ctx, action);
    case 'wait-rollouts':
      return waitForRestarted(ctx, action);
    case 'verify':
      return verify(ctx, action);
    case 'delete-stragglers':
      return deleteStragglers(ctx, action);
    case 'uninstall':
      return uninstall(ctx, state, action.revision);
    case 'health':
      return health(ctx, state, action.revision);
    case 'check-revision':
      return checkRevision(ctx, action.revision);
    default: {
      const unknown: never = action;
      throw new InternalError(`no performer for action ${JSON.stringify(unknown)}`);
    }
  }
}
