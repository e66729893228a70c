/**
 * The persisted state of a run. It is written to a ConfigMap after every step, so it must stay
 * compact at 2,000 namespaces: per-namespace records are small, workload lists are not kept
 * (restarted workloads are found again by revroll's annotation), and only the last few gate
 * measurements per wave are kept (the full history goes to the report and Events).
 */
import type { Straggler } from '../mesh/convergence.ts';
import type { GateResult } from './gates.ts';

export const STATE_VERSION = 1;

/** Where a run stands. */
export type RunPhase =
  /** Moving forward through the plan's steps. */
  | 'Progressing'
  /** Waiting at a step: approval pending, window closed, gates undecidable, or an error past its budget. */
  | 'Held'
  /** Executing the rollback steps. */
  | 'RollingBack'
  /** Finished: the new revision is promoted. */
  | 'Promoted'
  /** Finished: back on the previous revision. */
  | 'RolledBack'
  /** Finished without promotion or a complete rollback (precheck or install failed, or rollback could not finish). */
  | 'Failed';

export const terminalPhases: ReadonlySet<RunPhase> = new Set(['Promoted', 'RolledBack', 'Failed']);

/** The kinds of step a run is made of. */
export type StepKind =
  /** Checks the cluster before any mutation (revisions, tags, namespaces, permissions). */
  | 'precheck'
  /** Installs the new revision (istioctl/helm) or waits for it to be ready. */
  | 'install'
  /** Points the canary tag at the new revision (tags strategy). */
  | 'canary-tag'
  /** Waits for a human decision. */
  | 'approval'
  /** Measures the wave's namespaces before they move. */
  | 'baseline'
  /** Checks the new revision's istiod is Ready and injecting, right before namespaces move or tags are promoted. */
  | 'canary-health'
  /** Relabels the wave's namespaces. */
  | 'migrate'
  /** Restarts the wave's workloads. */
  | 'restart'
  /** Waits for the wave's rollouts. */
  | 'rollout'
  /** Checks every pod of the wave runs the new revision. */
  | 'converge'
  /** Deletes the pods the converge step found not on the new revision (spec.workloads.stragglers: restart). */
  | 'delete-stragglers'
  /** Waits after convergence before gates count. */
  | 'warmup'
  /** Evaluates gates every interval for the bake duration. */
  | 'bake'
  /** Moves gateways to the new revision. */
  | 'gateways'
  /** Pins Gateway API Gateways and waypoints to the revision they run (their own istio.io/rev), before a step would move them. */
  | 'pin-gateways'
  /** Measures the Gateways of the gateways wave before they move. */
  | 'gateway-api-baseline'
  /** Moves Gateway API Gateways and waypoints by their own label, verified on the rendered Deployments. */
  | 'gateway-api-move'
  /** Waits after the gateways wave has rolled out before its gates count. */
  | 'gateway-api-warmup'
  /** Evaluates the gateways wave's gates for its bake. */
  | 'gateway-api-bake'
  /** Removes the pins revroll added, once the Gateways resolve to the new revision without them. */
  | 'unpin-gateways'
  /** Moves the promoted tags to the new revision. */
  | 'promote-tags'
  /** Puts namespaces back in their original label form once the tag they follow points at the new revision. */
  | 'restore-labels'
  /** Verifies the promoted state. */
  | 'verify'
  /** Uninstalls a revision when nothing references it. */
  | 'uninstall'
  // Rollback steps, in the order of safety invariant 3.
  /** Gateway API Gateways and waypoints back on the previous revision, first. */
  | 'rollback-gateway-api'
  /** Gateways back on the previous revision. */
  | 'rollback-gateways'
  /** Namespace labels back (or pinned to the previous revision while tags still point at the new one). */
  | 'rollback-labels'
  /** Restarts the workloads revroll moved. */
  | 'rollback-restart'
  /** Waits for those rollouts. */
  | 'rollback-rollout'
  /** Tags back on the previous revision. */
  | 'rollback-tags'
  /** Restarts the gateways that follow a tag, once it points back at the previous revision. */
  | 'rollback-gateway-restarts'
  /** Original labels back on namespaces that were pinned while tags moved back. */
  | 'rollback-restore-labels'
  /** Original labels back on the Gateways rollback held on the previous revision by their own label. */
  | 'rollback-unpin-gateways'
  /** Checks every moved pod runs the previous revision. */
  | 'rollback-verify'
  /** Uninstalls the new revision (when the policy asks and nothing references it). */
  | 'rollback-uninstall'
  /** Post-rollback health check. */
  | 'rollback-health';

/** One step of a run's plan. `wave` indexes `plan.waves`. */
export type Step = {
  id: string;
  kind: StepKind;
  wave?: number;
  /** For approvals: which point (`before-first-wave`, `wave`, `promote`, `inconclusive`). */
  point?: ApprovalPoint;
  /** For uninstall steps: the revision. */
  revision?: string;
  /** For gateways steps: which gateways move, by the moment of their `upgrade`. */
  gateways?: GatewayUpgrade;
};

/** When a gateway moves: with the first wave, after the last wave, or on promotion. */
export type GatewayUpgrade = 'withFirstWave' | 'afterLastWave' | 'onPromote';

export type ApprovalPoint = 'before-first-wave' | 'wave' | 'promote' | 'inconclusive';

export type StepStatus = 'pending' | 'running' | 'done' | 'skipped' | 'failed';

/**
 * What happened to one step. It carries the step's meaning (kind, wave, approval point, uninstall
 * revision), copied from the plan's step when the record is made, so that notifications, metrics,
 * progress and reports read what a step is instead of parsing its id.
 */
export type StepRecord = Step & {
  status: StepStatus;
  startedAt?: string;
  finishedAt?: string;
  /** One line: what happened (counts, stragglers, refusal reasons). */
  note?: string;
};

/** A namespace the plan moves, with what it looked like before. */
export type NamespaceRecord = {
  wave: number;
  /** `istio-injection` before the run, if set. */
  injection?: string;
  /** `istio.io/rev` before the run, if set. */
  rev?: string;
  /** Set when the migrate action is issued (before the API call), so a crash can never lose it. */
  moved?: boolean;
  /** Set while rollback has it pinned to the previous revision (tags moved back later). */
  pinned?: boolean;
  /** Workloads (`Kind/name`) the run never restarts: unhealthy before it, spec.workloads.unhealthy: skip. */
  leave?: string[];
};

export type GatewayRecord = {
  namespace: string;
  name: string;
  /** Template `istio.io/rev` before the run; null if absent. */
  original: string | null;
  upgrade: GatewayUpgrade;
  /**
   * How it moves: `relabel` sets its template's `istio.io/rev` (and its objects' owner label);
   * `restart` restarts it after the tag it follows has moved (a gateway found in the cluster that
   * follows a promoted tag or the default revision keeps its template as it is).
   */
  mode: 'relabel' | 'restart';
  /** Found in the cluster rather than named in `spec.gateways`. */
  found?: boolean;
  /** The `app` label shared by the gateway's own objects. */
  app?: string;
  /** The owner label `istio.io/rev` of its objects before the run, when istioctl installed it. */
  objectRev?: string;
  moved?: boolean;
};

/** A Gateway API Gateway or waypoint on the old revision, with its labels before the run and what the plan does with it. */
export type GatewayApiRecord = {
  namespace: string;
  name: string;
  /** Its rendered Deployment. */
  deployment: string;
  waypoint: boolean;
  /** Its own `istio.io/rev` before the run; null when the key was absent. */
  originalRev: string | null;
  /** Its namespace's `istio.io/rev` when the plan was made. */
  namespaceRev?: string;
  /** `follow`: revroll leaves it to its namespace or tag. */
  mode: 'pinned' | 'follow';
  /** The wave naming its ambient namespace (it moves there); else it moves in the gateways wave. */
  wave?: number;
  /** Pinned to the old revision before the first step that would move it. */
  pin: boolean;
  /** The own label its move writes: the original (the pin comes off, it resolves to the new revision) or the new revision. */
  moveTo: string | null;
  /** Its original labels come back on promotion (unpin-gateways). */
  unpin: boolean;
  /** Set before the pin is written, so a crash can never lose that it must come off. */
  pinned?: boolean;
  /** Set before its move is written. */
  moved?: boolean;
  /** Set while rollback holds it on the old revision by its own label (its original labels come back after the tags). */
  held?: boolean;
};

/** The Gateway API part of a run. */
export type GatewayApiState = {
  order: 'after-waves' | 'before-waves';
  pinBefore?: string;
  /** Tag -> revision when the plan was made, and the default revision: what ownership resolves through. */
  tags: Record<string, string>;
  defaultRevision?: string;
  gateways: GatewayApiRecord[];
  /** Ambient namespaces named by a wave -> wave index (never relabelled, never restarted). */
  ambient: Record<string, number>;
};

export type TagRecord = {
  tag: string;
  /** Revision the tag pointed at before the run; undefined when revroll created it. */
  original?: string;
  target: string;
  moved?: boolean;
};

export type ApprovalRecord = {
  step: string;
  point: ApprovalPoint;
  requestedAt: string;
  expiresAt: string;
  decision?: 'approved' | 'rejected' | 'expired';
  by?: string;
  via?: 'slack' | 'cli';
  channel?: string;
  decidedAt?: string;
  /** Whether the request reached anyone (a crash before the send sends it again). */
  notified?: boolean;
  /** Why the request could not be sent; decide by CLI meanwhile. */
  notifyError?: string;
  /** When a failed send that may succeed later is tried again, ISO. */
  notifyRetryAt?: string;
};

/** Gate bookkeeping for the wave being baked. */
export type GateProgress = {
  wave: number;
  /** Baseline values per check (from the `baseline` step). */
  baseline: Record<string, number | null>;
  /** Fail evaluations per enforced check. */
  failures: Record<string, number>;
  /** Consecutive Error evaluations per check. */
  consecutiveErrors: Record<string, number>;
  /** The last few evaluations (newest last). */
  recent: { at: string; results: GateResult[] }[];
  evaluations: number;
};

export type HoldKind = 'approval' | 'window' | 'gates' | 'error' | 'uninstall';

export type Hold = { kind: HoldKind; reason: string; since: string };

export type StepRetry = {
  step: string;
  /** Failed attempts in this invocation's budget. */
  attempts: number;
  lastError: string;
  /** When the next attempt may start, ISO. */
  nextAt: string;
};

export type RunState = {
  version: typeof STATE_VERSION;
  policy: string;
  runId: string;
  planHash: string;
  from: string;
  to: string;
  phase: RunPhase;
  startedAt: string;
  updatedAt: string;
  /** Index into `steps` of the step being executed. */
  cursor: number;
  steps: Step[];
  records: StepRecord[];
  /** Wave names, in order (the plan's namespaces are in `namespaces`). */
  waves: string[];
  namespaces: Record<string, NamespaceRecord>;
  gateways: GatewayRecord[];
  /** Gateway API Gateways and waypoints (absent in runs planned before revroll knew them). */
  gatewayApi?: GatewayApiState;
  tags: TagRecord[];
  approvals: ApprovalRecord[];
  gates?: GateProgress;
  /** Stragglers the converge step of `wave` found, for its delete-stragglers step; cleared once deleted. */
  stragglers?: { wave: number; pods: Straggler[] };
  /** Deadlines of the timed steps, ISO. */
  warmupUntil?: string;
  bakeUntil?: string;
  nextGateAt?: string;
  hold?: Hold;
  /** The current step's failed attempts (the error budget, spec.errorBudget); cleared when a step succeeds. */
  retry?: StepRetry;
  /** Why the run rolls back (set when rollback starts). */
  rollbackReason?: string;
  /** Set by `revroll abort`; the next decision starts the rollback. */
  abortRequested?: { by: string; at: string };
  /** A short, final sentence. */
  outcome?: string;
  /** Audit Events the API server did not accept, over every invocation of the run. */
  audit?: { eventsLost: number; lastError?: string };
  /** The chat thread of this run's notifications (so a restarted runner keeps replying in it). */
  slackThread?: { channel: string; ts: string };
};

/** The current step, if the cursor is inside the list. */
export function currentStep(state: RunState): Step | undefined {
  return state.steps[state.cursor];
}

/** A new, pending record of a step: the step's meaning, copied (see StepRecord). */
export function pendingRecord(step: Step): StepRecord {
  return { ...step, status: 'pending' };
}

/** The name of the wave a step belongs to, if it belongs to one. */
export function waveName(state: Pick<RunState, 'waves'>, step: Pick<Step, 'wave'>): string | undefined {
  return step.wave === undefined ? undefined : state.waves[step.wave];
}
