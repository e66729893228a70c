/**
 * The report of one run as data: what `revroll report -o json` prints, and what the HTML and
 * Markdown renderers (and the live dashboard) turn into pages. Built by `buildReport` from the
 * run state, the run's Events and, when Prometheus answered, range queries per gate and wave.
 * Every time is an ISO string; every chart's points are Unix seconds.
 */
import type { GateOutcome } from '../engine/gates.ts';
import type { HoldKind, RunPhase, StepKind, StepStatus } from '../engine/state.ts';

export const REPORT_VERSION = 1;

export type ReportModel = {
  version: typeof REPORT_VERSION;
  generatedAt: string;
  policy: string;
  runId: string;
  from?: string;
  to?: string;
  /** Undefined when the run's state is gone and the report is rebuilt from Events. */
  phase?: RunPhase;
  startedAt?: string;
  updatedAt?: string;
  /** The step being executed (active runs). */
  currentStep?: string;
  progress: { finished: number; total: number };
  outcome: OutcomeView;
  /** Where the data came from, one sentence each (shown at the top). */
  sources: SourceNote[];
  groups: StepGroup[];
  holds: HoldView[];
  gates: GateChart[];
  namespaces: NamespaceRow[];
  gateways: GatewayRow[];
  /** Gateway API Gateways and waypoints on the old revision, with their labels before and what the run did. */
  gatewayApi: GatewayApiRow[];
  tags: TagRow[];
  stragglers: StragglerView;
  approvals: ApprovalRow[];
  activity: ActivityView;
};

/** A data source and how it fared. */
export type SourceNote = { kind: 'state' | 'events' | 'prometheus' | 'policy'; ok: boolean; text: string };

export type OutcomeView = {
  /** `promoted`, `rolled-back`, `failed`, `in-progress`, `held`, `unknown`. */
  status: OutcomeStatus;
  /** One sentence: the run's outcome, or where it stands. */
  summary: string;
  rollbackReason?: string;
  abortRequested?: { by: string; at: string };
};

export type OutcomeStatus =
  /** Finished: the new revision is promoted. */
  | 'promoted'
  /** Finished: back on the previous revision. */
  | 'rolled-back'
  /** Finished without promotion or a complete rollback. */
  | 'failed'
  /** Moving forward, or rolling back. */
  | 'in-progress'
  /** Waiting (approval, window, gates, error). */
  | 'held'
  /** Rebuilt from Events: the state is gone. */
  | 'unknown';

/** Steps of one part of the run: before the waves, one wave, promotion, rollback. */
export type StepGroup = {
  id: string;
  title: string;
  kind: 'before' | 'wave' | 'promotion' | 'rollback';
  /** Index into the run's waves, for wave groups. */
  wave?: number;
  steps: StepView[];
  startedAt?: string;
  finishedAt?: string;
};

export type StepView = {
  id: string;
  kind: StepKind;
  /** A few words: `relabel namespaces`, `bake with gates`... */
  label: string;
  status: StepStatus;
  startedAt?: string;
  finishedAt?: string;
  durationMs?: number;
  note?: string;
  current: boolean;
};

export type HoldView = {
  kind: HoldKind;
  reason: string;
  since: string;
  /** When the step it held finished; undefined while it holds. */
  until?: string;
  step?: string;
  active: boolean;
};

/** One chart: a gate check over one wave's bake. */
export type GateChart = {
  id: string;
  wave: number;
  waveName: string;
  check: string;
  /** `preset proxy-5xx-ratio`, `custom query`, or undefined without the policy. */
  source?: string;
  unit: ChartUnit;
  shadow: boolean;
  baselineKind?: 'none' | 'before' | 'cohort';
  /** The threshold as a phrase: `max 0.05, maxIncrease 0.02 over baseline`. */
  thresholdText?: string;
  /** Where the value series comes from. */
  valueSource: 'prometheus' | 'evaluations' | 'none';
  /** Why Prometheus did not give the series, when it did not. */
  seriesNote?: string;
  /** Unix seconds, ascending; every series has one entry per x. */
  x: number[];
  series: ChartSeries[];
  evaluations: EvaluationRow[];
  /** One sentence describing the chart, for screen readers and print. */
  summary: string;
};

export type ChartUnit = 'ratio' | 'ms' | 'seconds' | 'per-second' | 'number';

export type ChartSeries = {
  /** `value`, `baseline`, `threshold-max`, `threshold-min`, `eval-pass`, `eval-fail`... */
  id: string;
  label: string;
  role: 'value' | 'baseline' | 'threshold' | 'evaluation';
  /** Evaluation markers are points only. */
  points: (number | null)[];
};

export type EvaluationRow = {
  at: string;
  outcome: GateOutcome;
  value?: number | null;
  baseline?: number | null;
  /** The effective limits at that evaluation (from the threshold and the baseline). */
  upper?: number;
  lower?: number;
  message: string;
};

export type NamespaceRow = {
  name: string;
  wave: number;
  waveName: string;
  /** `istio-injection=enabled`, `istio.io/rev=prod-stable`... */
  labelsBefore: string;
  revisionBefore?: string;
  revisionAfter?: string;
  /** `moved`, `restored`, `not moved`, `pinned`. */
  status: 'moved' | 'restored' | 'not moved' | 'pinned' | 'moving';
  movedAt?: string;
  restarted: number;
};

export type GatewayRow = {
  namespace: string;
  name: string;
  upgrade: string;
  revisionBefore: string | null;
  revisionAfter: string | null;
  moved: boolean;
  movedAt?: string;
};

export type GatewayApiRow = {
  gateway: string;
  deployment: string;
  mode: 'pinned' | 'follow';
  /** Its own `istio.io/rev` before the run; undefined = absent. */
  labelBefore?: string;
  /** Pinned, moved, held on the old revision by rollback. */
  pinned: boolean;
  moved: boolean;
  held: boolean;
};

export type TagRow = { tag: string; before?: string; after?: string; target: string; moved: boolean };

export type StragglerView = {
  /** Pods revroll deleted because they did not move (`stragglers: restart`). */
  deleted: { namespace: string; pod: string; at: string; reason: string }[];
  /** What each convergence check found, as its step recorded it. */
  checks: { step: string; status: StepStatus; note: string }[];
};

export type ApprovalRow = {
  step: string;
  point: string;
  requestedAt: string;
  expiresAt: string;
  decision?: string;
  by?: string;
  via?: string;
  channel?: string;
  decidedAt?: string;
};

export type ActivityView = {
  total: number;
  byReason: { reason: string; count: number }[];
  /** The latest Events, newest last (at most `ACTIVITY_SHOWN`). */
  recent: ActivityRow[];
};

export type ActivityRow = { at: string; reason: string; type: string; object: string; message: string };

export const ACTIVITY_SHOWN = 200;
