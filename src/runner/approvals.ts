/**
 * Deciding a run's pending approval: the one use case behind the Slack buttons
 * (src/adapters/slack/actions.ts) and `revroll approve|reject`. Approvals are not best-effort
 * (DESIGN section 2, rule 9): the state is loaded, the decision checked and recorded by the
 * engine's `recordDecision`, saved with the loaded version (checked again on the fresh state
 * after a conflict), and only then announced as a Kubernetes Event. Every refusal leaves the
 * state untouched.
 */
import { userInfo } from 'node:os';
import { recordDecision } from '../engine/decide.ts';
import { RevrollError } from '../errors.ts';
import type { Approvals, DecisionOutcome, DecisionRecord, DecisionRequest } from '../ports/approvals.ts';
import type { EventRecorder } from '../ports/events.ts';
import { stateConfigMapName, StateConflictError, type StateStore } from '../ports/state-store.ts';
import type { Logger } from '../telemetry/logger.ts';
import { parseStoredState } from './run-policy.ts';

export type { DecisionRecord } from '../ports/approvals.ts';

export type ApprovalsDeps = {
  store: StateStore;
  /** Records each decision as an Event on the policy's state ConfigMap in `namespace`. */
  events?: { recorder: EventRecorder; namespace: string };
  /** Called once a decision is saved and its Event recorded (the daemon wakes the policy's loop). */
  onDecided?: (record: DecisionRecord) => void | Promise<void>;
  logger?: Logger;
};

/** Saves attempted before giving up on a state that keeps changing (each one re-checks everything). */
const MAX_SAVE_ATTEMPTS = 5;

export function createApprovals(deps: ApprovalsDeps): Approvals {
  const { store, logger } = deps;

  async function save(request: DecisionRequest, now: Date): Promise<DecisionOutcome> {
    const policy = request.policy;
    for (let attempt = 1; attempt <= MAX_SAVE_ATTEMPTS; attempt++) {
      let stored;
      try {
        stored = await store.load(policy);
      } catch (error) {
        const message = `the state of policy ${policy} could not be read (${codeOf(error)})`;
        return { ok: false, refusal: 'store-unavailable', message };
      }
      if (!stored)
        return { ok: false, refusal: 'no-run', message: `policy ${policy} has no run waiting for a decision` };
      let state;
      try {
        state = parseStoredState(stored.document, policy);
      } catch {
        const message = `the state of policy ${policy} is not a run state revroll can read`;
        return { ok: false, refusal: 'store-unavailable', message };
      }
      const result = recordDecision(state, request, now);
      if (!result.ok) return result;
      try {
        await store.save(policy, result.state as unknown as Record<string, unknown>, stored.version);
      } catch (error) {
        if (error instanceof StateConflictError) continue;
        const message = `the decision could not be saved to the state of policy ${policy} (${codeOf(error)})`;
        return { ok: false, refusal: 'store-unavailable', message };
      }
      const { approval } = result;
      const decision = request.approve ? 'approved' : 'rejected';
      const record: DecisionRecord = {
        policy,
        runId: state.runId,
        step: approval.step,
        point: approval.point,
        decision,
        by: request.by,
        via: request.via,
        ...(request.channel !== undefined ? { channel: request.channel } : {}),
        decidedAt: now.toISOString(),
      };
      const message = `${decision} step ${approval.step} of run ${state.runId} (policy ${policy}) as ${request.by}`;
      return { ok: true, record, message };
    }
    const message = `the state of policy ${policy} kept changing while the decision was saved; try again`;
    return { ok: false, refusal: 'conflict', message };
  }

  /** After the save: the audit Event and the hook. Neither may hide that the decision is recorded. */
  async function announce(record: DecisionRecord): Promise<void> {
    if (deps.events) {
      try {
        await deps.events.recorder.record(
          {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            namespace: deps.events.namespace,
            name: stateConfigMapName(record.policy),
          },
          record.decision === 'approved' ? 'RevrollApproved' : 'RevrollRejected',
          `${record.step} ${record.decision} by ${record.by} (${record.via}${record.channel ? ` in ${record.channel}` : ''})`,
        );
      } catch (error) {
        logger?.warn({ policy: record.policy, code: codeOf(error) }, 'decision event not recorded');
      }
    }
    try {
      await deps.onDecided?.(record);
    } catch (error) {
      logger?.warn({ policy: record.policy, code: codeOf(error) }, 'decision hook failed');
    }
  }

  return {
    async decide(request, now) {
      const outcome = await save(request, now);
      if (outcome.ok) await announce(outcome.record);
      return outcome;
    },
  };
}

/**
 * `revroll approve|reject <policy> [--step ID] [--as NAME]`: the same use case as a Slack click,
 * recorded with `via: 'cli'` and the `--as` name (default: the OS user).
 */
export async function decideFromCli(input: {
  store: StateStore;
  policy: string;
  approve: boolean;
  step?: string;
  as?: string;
  now: Date;
  events?: ApprovalsDeps['events'];
  onDecision?: (record: DecisionRecord) => void | Promise<void>;
}): Promise<{ ok: boolean; message: string; record?: DecisionRecord }> {
  const approvals = createApprovals({
    store: input.store,
    ...(input.events ? { events: input.events } : {}),
    ...(input.onDecision ? { onDecided: input.onDecision } : {}),
  });
  const outcome = await approvals.decide(
    {
      policy: input.policy,
      approve: input.approve,
      by: input.as?.trim() || osUser(),
      via: 'cli',
      ...(input.step !== undefined ? { step: input.step } : {}),
    },
    input.now,
  );
  if (!outcome.ok) return { ok: false, message: outcome.message };
  return { ok: true, message: outcome.message, record: outcome.record };
}

function osUser(): string {
  try {
    return userInfo().username || 'unknown user';
  } catch {
    return 'unknown user';
  }
}

function codeOf(error: unknown): string {
  return error instanceof RevrollError ? error.code : error instanceof Error ? error.name : 'UNEXPECTED';
}
