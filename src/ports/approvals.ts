/**
 * The approvals port: a human decides a run's pending approval. Inbound adapters (the Slack
 * action endpoint, `revroll approve|reject`) call it; the runner implements it over the state
 * store (src/runner/approvals.ts), with the checks in the engine's `recordDecision`.
 */
import type { DecisionRefusal, HumanDecision } from '../engine/decide.ts';
import type { ApprovalPoint } from '../engine/state.ts';

/** A recorded decision, for Kubernetes Events, logs and the decided message. */
export type DecisionRecord = {
  policy: string;
  runId: string;
  step: string;
  point: ApprovalPoint;
  decision: 'approved' | 'rejected';
  /** `name (U0123ABCD)` from Slack, the `--as` name or OS user from the CLI. */
  by: string;
  via: 'slack' | 'cli';
  /** Slack channel ID the click came from. */
  channel?: string;
  decidedAt: string;
};

/** Why a decision was not recorded: the engine's reasons, and the store's. Each leaves the state as it was. */
export type ApprovalRefusal =
  | DecisionRefusal
  /** The policy has no run state at all. */
  | 'no-run'
  /** The state kept changing under us past the retry budget. */
  | 'conflict'
  /** The state could not be read or written, or is not a run state. */
  | 'store-unavailable';

/** A decision on the current run of `policy`. */
export type DecisionRequest = HumanDecision & { policy: string };

export type DecisionOutcome =
  { ok: true; record: DecisionRecord; message: string } | { ok: false; refusal: ApprovalRefusal; message: string };

export interface Approvals {
  /** Records the decision (or says, in one sentence, why not). Never throws. */
  decide(request: DecisionRequest, now: Date): Promise<DecisionOutcome>;
}
