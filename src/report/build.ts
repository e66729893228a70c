/**
 * Builds the report of one run (src/report/model.ts) from what the runner stored: the run
 * state, the run's Events and the gate series. Pure: time comes in with the input.
 */
import { z } from 'zod';
import { terminalPhases, type HoldKind, type RunState, type Step, type StepKind } from '../engine/state.ts';
import { buildChart } from './charts.ts';
import { decodeGateEvaluation, GATE_RESULTS_ANNOTATION, HOLD_ANNOTATION, type GateEvaluation } from './evaluations.ts';
import type { ReportInput, RunEventRecord } from './input.ts';
import {
  ACTIVITY_SHOWN,
  REPORT_VERSION,
  type ActivityView,
  type ApprovalRow,
  type GateChart,
  type GatewayRow,
  type HoldView,
  type NamespaceRow,
  type OutcomeView,
  type ReportModel,
  type SourceNote,
  type StepGroup,
  type StragglerView,
  type TagRow,
} from './model.ts';

const STEP_LABELS: Record<StepKind, string> = {
  precheck: 'check the cluster',
  install: 'install or wait for the new revision',
  'canary-tag': 'point the canary tag',
  approval: 'approval',
  baseline: 'measure the baseline',
  'canary-health': 'check the new revision is healthy',
  migrate: 'relabel namespaces',
  restart: 'restart workloads',
  rollout: 'wait for rollouts',
  converge: 'check convergence',
  'delete-stragglers': 'delete straggler pods',
  warmup: 'warm up',
  bake: 'bake with gates',
  gateways: 'move gateways',
  'pin-gateways': 'pin Gateway API gateways to the revision they run',
  'gateway-api-baseline': 'measure the Gateway API gateways',
  'gateway-api-move': 'move Gateway API gateways and waypoints',
  'gateway-api-warmup': 'warm up (gateways)',
  'gateway-api-bake': 'bake the gateways with gates',
  'unpin-gateways': 'remove the gateway pins',
  'promote-tags': 'move tags',
  'restore-labels': 'restore original labels',
  verify: 'verify',
  uninstall: 'uninstall a revision',
  'rollback-gateway-api': 'Gateway API gateways and waypoints back',
  'rollback-gateways': 'gateways back',
  'rollback-labels': 'labels back',
  'rollback-restart': 'restart moved workloads',
  'rollback-rollout': 'wait for rollouts',
  'rollback-tags': 'tags back',
  'rollback-gateway-restarts': 'restart gateways that follow a tag',
  'rollback-restore-labels': 'restore original labels',
  'rollback-unpin-gateways': 'original labels back on the gateways',
  'rollback-verify': 'verify the rollback',
  'rollback-uninstall': 'uninstall the new revision',
  'rollback-health': 'health check',
};

export function buildReport(input: ReportInput): ReportModel {
  const { state } = input;
  const events = input.events.ok ? [...input.events.items].sort((a, b) => Date.parse(a.at) - Date.parse(b.at)) : [];
  const records = state?.records ?? [];
  const finished = records.filter((r) => r.status === 'done' || r.status === 'skipped' || r.status === 'failed');
  return {
    version: REPORT_VERSION,
    generatedAt: input.generatedAt.toISOString(),
    policy: input.policy,
    runId: input.runId,
    ...(state
      ? {
          from: state.from,
          to: state.to,
          phase: state.phase,
          startedAt: state.startedAt,
          updatedAt: state.updatedAt,
          ...(!terminalPhases.has(state.phase) && state.steps[state.cursor]
            ? { currentStep: state.steps[state.cursor]?.id }
            : {}),
        }
      : {}),
    progress: { finished: finished.length, total: records.length },
    outcome: outcomeOf(state),
    sources: sourcesOf(input, events),
    groups: state ? groupSteps(state) : [],
    holds: holdsOf(state, events),
    gates: chartsOf(input, events),
    namespaces: state ? namespaceRows(state, events) : [],
    gateways: state ? gatewayRows(state, events) : [],
    gatewayApi: (state?.gatewayApi?.gateways ?? []).map((g) => ({
      gateway: `${g.namespace}/${g.name}`,
      deployment: g.deployment,
      mode: g.mode,
      ...(g.originalRev !== null ? { labelBefore: g.originalRev } : {}),
      pinned: g.pinned === true,
      moved: g.moved === true,
      held: g.held === true,
    })),
    tags: state ? tagRows(state) : [],
    stragglers: stragglersOf(state, events),
    approvals: (state?.approvals ?? []).map((a): ApprovalRow => ({
      step: a.step,
      point: a.point,
      requestedAt: a.requestedAt,
      expiresAt: a.expiresAt,
      ...(a.decision ? { decision: a.decision } : {}),
      ...(a.by ? { by: a.by } : {}),
      ...(a.via ? { via: a.via } : {}),
      ...(a.channel ? { channel: a.channel } : {}),
      ...(a.decidedAt ? { decidedAt: a.decidedAt } : {}),
    })),
    activity: activityOf(events),
  };
}

function outcomeOf(state: RunState | undefined): OutcomeView {
  if (!state) return { status: 'unknown', summary: 'the run state is gone; this report is rebuilt from its Events' };
  const extra = {
    ...(state.rollbackReason ? { rollbackReason: state.rollbackReason } : {}),
    ...(state.abortRequested ? { abortRequested: state.abortRequested } : {}),
  };
  switch (state.phase) {
    case 'Promoted':
      return { status: 'promoted', summary: state.outcome ?? `promoted ${state.to}`, ...extra };
    case 'RolledBack':
      return { status: 'rolled-back', summary: state.outcome ?? `rolled back to ${state.from}`, ...extra };
    case 'Failed':
      return { status: 'failed', summary: state.outcome ?? 'the run failed', ...extra };
    case 'Held':
      return {
        status: 'held',
        summary: state.hold ? `held (${state.hold.kind}): ${state.hold.reason}` : 'held',
        ...extra,
      };
    case 'Progressing':
    case 'RollingBack': {
      const step = state.steps[state.cursor];
      const verb = state.phase === 'RollingBack' ? 'rolling back' : 'in progress';
      return { status: 'in-progress', summary: `${verb}${step ? ` at ${step.id}` : ''}`, ...extra };
    }
    default: {
      const unreachable: never = state.phase;
      return unreachable;
    }
  }
}

function sourcesOf(input: ReportInput, events: readonly RunEventRecord[]): SourceNote[] {
  const notes: SourceNote[] = [];
  notes.push(
    input.state
      ? { kind: 'state', ok: true, text: `run state from ConfigMap ${input.stateSource ?? `revroll-${input.policy}`}` }
      : {
          kind: 'state',
          ok: false,
          text: `the state ConfigMap holds a later run; run ${input.runId} is rebuilt from its Events`,
        },
  );
  notes.push(
    input.events.ok
      ? { kind: 'events', ok: true, text: `${events.length} Event(s) of the run (${input.events.selector})` }
      : { kind: 'events', ok: false, text: `Events not read: ${input.events.reason}` },
  );
  if (!input.gates)
    notes.push({
      kind: 'policy',
      ok: false,
      text: 'no policy file: thresholds are not shown and Prometheus was not queried (pass --policy-file)',
    });
  notes.push(
    input.series.ok
      ? {
          kind: 'prometheus',
          ok: input.series.failures.length === 0,
          text: `Prometheus: ${input.series.queries} range quer${input.series.queries === 1 ? 'y' : 'ies'}${input.series.failures.length > 0 ? `, ${input.series.failures.length} failed: ${input.series.failures[0]}` : ''}`,
        }
      : {
          kind: 'prometheus',
          ok: false,
          text: `no Prometheus series (${input.series.reason}): charts show the evaluations recorded in the run state and its Events`,
        },
  );
  return notes;
}

function groupSteps(state: RunState): StepGroup[] {
  const groups = new Map<string, StepGroup>();
  const firstWave = state.steps.findIndex((s) => s.wave !== undefined);
  state.steps.forEach((step, i) => {
    const group = groupOf(state, step, i, firstWave);
    const existing = groups.get(group.id) ?? group;
    groups.set(group.id, existing);
    const record = state.records[i];
    const started = record?.startedAt;
    const ended = record?.finishedAt;
    existing.steps.push({
      id: step.id,
      kind: step.kind,
      label: STEP_LABELS[step.kind],
      status: record?.status ?? 'pending',
      ...(started ? { startedAt: started } : {}),
      ...(ended ? { finishedAt: ended } : {}),
      ...(started && ended ? { durationMs: Date.parse(ended) - Date.parse(started) } : {}),
      ...(record?.note ? { note: record.note } : {}),
      current: i === state.cursor && !terminalPhases.has(state.phase),
    });
    if (started && (!existing.startedAt || started < existing.startedAt)) existing.startedAt = started;
    if (ended && (!existing.finishedAt || ended > existing.finishedAt)) existing.finishedAt = ended;
  });
  return [...groups.values()];
}

function groupOf(state: RunState, step: Step, index: number, firstWave: number): StepGroup {
  const base = { steps: [] };
  if (step.kind.startsWith('rollback-')) return { ...base, id: 'rollback', title: 'Rollback', kind: 'rollback' };
  if (step.wave !== undefined) {
    const name = state.waves[step.wave] ?? String(step.wave);
    return { ...base, id: `wave-${step.wave}`, title: `Wave ${name}`, kind: 'wave', wave: step.wave };
  }
  if (firstWave === -1 || index < firstWave)
    return { ...base, id: 'before', title: 'Before the waves', kind: 'before' };
  return { ...base, id: 'promotion', title: 'Promotion', kind: 'promotion' };
}

const HoldAnnotationSchema = z.object({
  kind: z.enum(['approval', 'window', 'gates', 'error', 'uninstall'] satisfies [HoldKind, ...HoldKind[]]),
  reason: z.string(),
  since: z.string(),
  step: z.string().optional(),
});

function holdsOf(state: RunState | undefined, events: readonly RunEventRecord[]): HoldView[] {
  const holds = new Map<string, HoldView>();
  const finishedAt = (step: string | undefined) =>
    step ? state?.records.find((r) => r.id === step)?.finishedAt : undefined;
  for (const event of events) {
    if (event.reason !== 'RevrollHeld') continue;
    const parsed = safeJson(event.annotations[HOLD_ANNOTATION], HoldAnnotationSchema);
    if (!parsed) continue;
    const reason = parsed.reason;
    const until = finishedAt(parsed.step);
    holds.set(`${parsed.since}|${reason}`, {
      kind: parsed.kind,
      reason,
      since: parsed.since,
      ...(until ? { until } : {}),
      ...(parsed.step ? { step: parsed.step } : {}),
      active: false,
    });
  }
  if (state?.hold) {
    const step = state.steps[state.cursor]?.id;
    holds.set(`${state.hold.since}|${state.hold.reason}`, {
      kind: state.hold.kind,
      reason: state.hold.reason,
      since: state.hold.since,
      ...(step ? { step } : {}),
      active: true,
    });
  }
  // Later holds on the same step end the earlier ones.
  const list = [...holds.values()].sort((a, b) => Date.parse(a.since) - Date.parse(b.since));
  list.forEach((hold, i) => {
    const next = list[i + 1];
    if (!hold.active && next && next.step === hold.step && (!hold.until || next.since < hold.until))
      hold.until = next.since;
  });
  return list;
}

/** Every evaluation known per wave: from the Events' annotations and the state's recent ones. */
export function evaluationsByWave(
  state: RunState | undefined,
  events: readonly RunEventRecord[],
): Map<number, GateEvaluation[]> {
  const byWave = new Map<number, Map<string, GateEvaluation>>();
  const add = (e: GateEvaluation) => {
    const wave = byWave.get(e.wave) ?? new Map<string, GateEvaluation>();
    byWave.set(e.wave, wave);
    wave.set(e.at, e);
  };
  for (const event of events) {
    const text = event.reason === 'RevrollGateEvaluation' ? event.annotations[GATE_RESULTS_ANNOTATION] : undefined;
    const decoded = text !== undefined ? decodeGateEvaluation(text) : undefined;
    if (decoded) add(decoded);
  }
  const gates = state?.gates;
  if (gates) {
    const first = gates.evaluations - gates.recent.length + 1;
    gates.recent.forEach((r, i) => add({ wave: gates.wave, evaluation: first + i, at: r.at, results: r.results }));
  }
  return new Map([...byWave].map(([wave, map]) => [wave, [...map.values()]]));
}

function chartsOf(input: ReportInput, events: readonly RunEventRecord[]): GateChart[] {
  const { state } = input;
  const evaluations = evaluationsByWave(state, events);
  const waveNames = state?.waves ?? [];
  const waves = new Set<number>(evaluations.keys());
  for (const i of waveNames.keys()) {
    const bake = state?.records.find((r) => r.kind === 'bake' && r.wave === i);
    if (bake?.startedAt) waves.add(i);
  }
  const charts: GateChart[] = [];
  for (const wave of [...waves].sort((a, b) => a - b)) {
    const list = evaluations.get(wave) ?? [];
    const names = input.gates
      ? input.gates.checks.map((c) => c.name)
      : [...new Set(list.flatMap((e) => e.results.map((r) => r.check)))];
    for (const check of names) {
      const config = input.gates?.checks.find((c) => c.name === check);
      charts.push(
        buildChart({
          wave,
          waveName: waveNames[wave] ?? `#${wave + 1}`,
          check,
          ...(config ? { config } : {}),
          evaluations: list,
          series: input.series.ok ? input.series.items.filter((s) => s.wave === wave && s.check === check) : [],
          ...(input.series.ok ? {} : { seriesNote: input.series.reason }),
        }),
      );
    }
  }
  return charts;
}

function firstEvent(events: readonly RunEventRecord[], reason: string, kind: string, name: string, namespace?: string) {
  return events.find(
    (e) =>
      e.reason === reason &&
      e.object.kind === kind &&
      e.object.name === name &&
      (namespace === undefined || e.object.namespace === namespace),
  );
}

function namespaceRows(state: RunState, events: readonly RunEventRecord[]): NamespaceRow[] {
  const restarts = new Map<string, number>();
  for (const e of events)
    if (e.reason === 'RevrollRestarted' && e.object.namespace)
      restarts.set(e.object.namespace, (restarts.get(e.object.namespace) ?? 0) + 1);
  const rolledBack = state.phase === 'RolledBack' || state.phase === 'RollingBack';
  return Object.entries(state.namespaces)
    .sort(([a, x], [b, y]) => x.wave - y.wave || a.localeCompare(b))
    .map(([name, ns]) => {
      const labels = [
        ...(ns.injection !== undefined ? [`istio-injection=${ns.injection}`] : []),
        ...(ns.rev !== undefined ? [`istio.io/rev=${ns.rev}`] : []),
      ];
      const status: NamespaceRow['status'] = !ns.moved
        ? 'not moved'
        : ns.pinned
          ? 'pinned'
          : state.phase === 'RolledBack'
            ? 'restored'
            : rolledBack
              ? 'moving'
              : 'moved';
      const after = !ns.moved || status === 'restored' || status === 'pinned' ? state.from : state.to;
      const movedAt = firstEvent(events, 'RevrollMigrated', 'Namespace', name)?.at;
      return {
        name,
        wave: ns.wave,
        waveName: state.waves[ns.wave] ?? String(ns.wave),
        labelsBefore: labels.join(' ') || '(none)',
        revisionBefore: state.from,
        revisionAfter: after,
        status,
        ...(movedAt ? { movedAt } : {}),
        restarted: restarts.get(name) ?? 0,
      };
    });
}

function gatewayRows(state: RunState, events: readonly RunEventRecord[]): GatewayRow[] {
  const back = state.phase === 'RolledBack';
  return state.gateways.map((g) => {
    const movedAt = firstEvent(events, 'RevrollGatewayMoved', 'Deployment', g.name, g.namespace)?.at;
    return {
      namespace: g.namespace,
      name: g.name,
      upgrade: g.upgrade,
      revisionBefore: g.original,
      revisionAfter: g.moved && !back ? state.to : g.original,
      moved: g.moved === true,
      ...(movedAt ? { movedAt } : {}),
    };
  });
}

function tagRows(state: RunState): TagRow[] {
  const back = state.phase === 'RolledBack';
  return state.tags.map((t) => {
    const after = t.moved && !back ? t.target : t.original;
    return {
      tag: t.tag,
      ...(t.original !== undefined ? { before: t.original } : {}),
      ...(after !== undefined ? { after } : {}),
      target: t.target,
      moved: t.moved === true,
    };
  });
}

function stragglersOf(state: RunState | undefined, events: readonly RunEventRecord[]): StragglerView {
  const checks: StragglerView['checks'] = [];
  state?.steps.forEach((step, i) => {
    const record = state.records[i];
    if (
      (step.kind === 'converge' ||
        step.kind === 'delete-stragglers' ||
        step.kind === 'verify' ||
        step.kind === 'rollback-verify') &&
      record?.note
    )
      checks.push({ step: step.id, status: record.status, note: record.note });
  });
  return {
    deleted: events
      .filter((e) => e.reason === 'RevrollStragglerDeleted')
      .map((e) => ({
        namespace: e.object.namespace ?? '',
        pod: e.object.name,
        at: e.at,
        reason: e.message,
      })),
    checks,
  };
}

function activityOf(events: readonly RunEventRecord[]): ActivityView {
  const counts = new Map<string, number>();
  for (const e of events) counts.set(e.reason, (counts.get(e.reason) ?? 0) + 1);
  return {
    total: events.length,
    byReason: [...counts].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count),
    recent: events.slice(-ACTIVITY_SHOWN).map((e) => ({
      at: e.at,
      reason: e.reason,
      type: e.type,
      object: `${e.object.kind} ${e.object.namespace ? `${e.object.namespace}/` : ''}${e.object.name}`,
      message: e.message,
    })),
  };
}

function safeJson<T extends z.ZodType>(text: string | undefined, schema: T): z.output<T> | undefined {
  if (text === undefined) return undefined;
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
