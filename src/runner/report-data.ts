/**
 * Collects what a run's report is built from (src/report/input.ts): the stored state, the
 * run's Events found by label wherever they were written, and one range query per gate check
 * and wave over the wave's bake when Prometheus answers. Every source may fail on its own: the
 * report then says which one and why, and uses what is left.
 */
import { POLICY_LABEL, RUN_ID_LABEL, stateConfigMapName } from '../ports/state-store.ts';
import type { RunState, StepKind } from '../engine/state.ts';
import { RevrollError, UsageError } from '../errors.ts';
import { buildGateQueries } from '../mesh/queries.ts';
import { observeMesh } from '../mesh/revisions.ts';
import { isClusterError, Resources, type ClusterPort, type KubeObject } from '../ports/cluster.ts';
import { MetricsError, type MeasureScope, type RangeQuerySource } from '../ports/metrics.ts';
import type { StateStore } from '../ports/state-store.ts';
import type { Policy } from '../policy/types.ts';
import type { GateSeries, ReportGates, ReportInput, RunEventRecord } from '../report/input.ts';
import { parseStoredState } from './run-policy.ts';

export type ReportSources = {
  cluster: ClusterPort;
  store: StateStore;
  stateNamespace: string;
  /** The policy, for thresholds and gate queries; without it the report shows what was recorded. */
  policy?: Policy;
  /** Prometheus, when the policy (or --prometheus-url) names one. */
  prometheus?: RangeQuerySource;
  now: () => Date;
};

/** Most points per chart line: enough to see a bake's shape, few enough for a small file. */
const MAX_POINTS = 150;
/** Range queries in flight at once. */
const PARALLEL_QUERIES = 4;

/** Reads the run (the stored one, or `runId` while its Events last) and everything around it. */
export async function collectReport(sources: ReportSources, policy: string, runId?: string): Promise<ReportInput> {
  const stored = await sources.store.load(policy);
  const current = stored ? parseStoredState(stored.document, policy) : undefined;
  if (!current && runId === undefined)
    throw new UsageError(`no run of policy ${policy} in namespace ${sources.stateNamespace}`);
  const state = runId === undefined || current?.runId === runId ? current : undefined;
  const id = runId ?? (current as RunState).runId;
  const events = await readEvents(sources, policy, id, state);
  if (!state && (!events.ok || events.items.length === 0)) {
    throw new UsageError(
      `no run ${id} of policy ${policy}: the state ConfigMap ${sources.stateNamespace}/${stateConfigMapName(policy)} ${current ? `holds run ${current.runId}` : 'does not exist'} and no Event carries ${RUN_ID_LABEL}=${id}${events.ok ? ' (Events expire, one hour after they were written by default)' : ` (${events.reason})`}`,
    );
  }
  const gates = sources.policy ? reportGates(sources.policy) : undefined;
  return {
    generatedAt: sources.now(),
    policy,
    runId: id,
    ...(state ? { state, stateSource: `${sources.stateNamespace}/${stateConfigMapName(policy)}` } : {}),
    events,
    ...(gates ? { gates } : {}),
    series: await readSeries(sources, state),
  };
}

export function reportGates(policy: Policy): ReportGates {
  const gates = policy.spec.gates;
  return {
    interval: gates.interval,
    warmup: gates.warmup,
    checks: gates.checks.map((c) => ({
      name: c.name,
      ...(c.preset ? { preset: c.preset } : {}),
      ...(c.query ? { query: c.query } : {}),
      threshold: c.threshold,
      baseline: c.baseline,
      shadow: c.shadow,
      window: c.window,
    })),
  };
}

async function readEvents(
  sources: ReportSources,
  policy: string,
  runId: string,
  state: RunState | undefined,
): Promise<ReportInput['events']> {
  const selector = `${POLICY_LABEL}=${policy},${RUN_ID_LABEL}=${runId}`;
  let scope = 'all namespaces';
  let objects: KubeObject[];
  try {
    objects = await sources.cluster.list(Resources.events, { labelSelector: selector });
  } catch (error) {
    if (!isClusterError(error, 'forbidden')) return { ok: false, reason: describe(error) };
    // Allowed to read its own namespace only: gate evaluations, holds and approvals are there.
    try {
      objects = await sources.cluster.list(Resources.events, {
        namespace: sources.stateNamespace,
        labelSelector: selector,
      });
      scope = `namespace ${sources.stateNamespace} only: Events elsewhere are not readable`;
    } catch (inner) {
      return { ok: false, reason: describe(inner) };
    }
  }
  // Decisions recorded by `revroll approve` and the Slack endpoint carry no run label: take the
  // state ConfigMap's Events within the run's time.
  if (state) {
    const since = Date.parse(state.startedAt);
    const extra = await sources.cluster
      .list(Resources.events, {
        namespace: sources.stateNamespace,
        fieldSelector: `involvedObject.kind=ConfigMap,involvedObject.name=${stateConfigMapName(policy)}`,
      })
      .catch(() => []);
    const seen = new Set(objects.map((o) => o.metadata.uid ?? o.metadata.name));
    for (const o of extra) {
      const unlabelled = o.metadata.labels?.[RUN_ID_LABEL] === undefined;
      const at = Date.parse(eventTime(o));
      if (unlabelled && at >= since && !seen.has(o.metadata.uid ?? o.metadata.name)) objects.push(o);
    }
  }
  return { ok: true, items: objects.map(toRecord), selector: `${selector}, ${scope}` };
}

function eventTime(o: KubeObject): string {
  const candidates = [o['lastTimestamp'], o['eventTime'], o['firstTimestamp'], o.metadata.creationTimestamp];
  return (candidates.find((c) => typeof c === 'string' && c !== '') as string | undefined) ?? '1970-01-01T00:00:00Z';
}

function toRecord(o: KubeObject): RunEventRecord {
  const involved = (o['involvedObject'] ?? {}) as { kind?: string; namespace?: string; name?: string };
  return {
    reason: typeof o['reason'] === 'string' ? o['reason'] : '',
    message: typeof o['message'] === 'string' ? o['message'] : '',
    type: typeof o['type'] === 'string' ? o['type'] : 'Normal',
    at: new Date(eventTime(o)).toISOString(),
    object: {
      kind: involved.kind ?? '',
      ...(involved.namespace ? { namespace: involved.namespace } : {}),
      name: involved.name ?? '',
    },
    annotations: o.metadata.annotations ?? {},
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

type RangeJob = { wave: number; check: string; subject: GateSeries['subject']; query: string; start: Date; end: Date };

/** Shortest chart, in gate intervals: a bake that fails at its first evaluation still shows a shape. */
const MIN_INTERVALS = 5;

/**
 * The time a wave's chart spans: from one gate interval before its restart to the end of its
 * bake (or now), and at least MIN_INTERVALS intervals when that much time has passed (what came
 * after a quick failure: the rollback).
 */
function waveWindow(
  state: RunState,
  wave: number,
  intervalMs: number,
  now: Date,
): { start: Date; end: Date } | undefined {
  const record = (kind: StepKind) => state.records.find((r) => r.wave === wave && r.kind === kind);
  const bake = record('bake');
  if (!bake?.startedAt) return undefined;
  const start = Date.parse(record('restart')?.startedAt ?? record('warmup')?.startedAt ?? bake.startedAt) - intervalMs;
  const end = bake.finishedAt ? Date.parse(bake.finishedAt) : now.getTime();
  const atLeast = Math.min(start + MIN_INTERVALS * intervalMs, now.getTime());
  return { start: new Date(start), end: new Date(Math.max(end, atLeast, start + 1000)) };
}

async function rangeJobs(sources: ReportSources, state: RunState, policy: Policy): Promise<RangeJob[]> {
  const versions = await observeMesh(sources.cluster, policy.spec.revisions.istioNamespace)
    .then((mesh) => new Map(mesh.revisions.map((r) => [r.name, r.version])))
    .catch(() => new Map<string, string | undefined>());
  const fromVersion = versions.get(state.from);
  const toVersion = versions.get(state.to);
  const jobs: RangeJob[] = [];
  state.waves.forEach((_name, wave) => {
    const window = waveWindow(state, wave, policy.spec.gates.interval, sources.now());
    if (!window) return;
    const namespaces = Object.entries(state.namespaces)
      .filter(([, ns]) => ns.wave === wave)
      .map(([n]) => n);
    // The same scope the bake measured (src/runner/executor.ts measure), at every step of the range.
    const base: Omit<MeasureScope, 'subject'> = {
      namespaces,
      fromRevision: state.from,
      toRevision: state.to,
      ...(fromVersion ? { fromVersion } : {}),
      ...(toVersion ? { toVersion } : {}),
      at: window.end,
    };
    for (const check of policy.spec.gates.checks) {
      const build = (subject: MeasureScope['subject']) => {
        try {
          return buildGateQueries(check, { ...base, subject }).value;
        } catch {
          return undefined; // the bake recorded the same refusal as an Error evaluation
        }
      };
      const value = build('wave');
      if (value) jobs.push({ wave, check: check.name, subject: 'value', query: value, ...window });
      const cohort = check.baseline === 'cohort' ? build('cohort') : undefined;
      if (cohort) jobs.push({ wave, check: check.name, subject: 'baseline', query: cohort, ...window });
    }
  });
  return jobs;
}

async function readSeries(sources: ReportSources, state: RunState | undefined): Promise<ReportInput['series']> {
  const { policy, prometheus } = sources;
  if (!state) return { ok: false, reason: 'the run state is gone, so are the waves it measured' };
  if (!policy) return { ok: false, reason: 'no policy file given' };
  if (policy.spec.gates.checks.length === 0) return { ok: true, items: [], queries: 0, failures: [] };
  if (!prometheus) return { ok: false, reason: 'no Prometheus URL in the policy or --prometheus-url' };
  const jobs = await rangeJobs(sources, state, policy);
  const items: GateSeries[] = [];
  const failures: string[] = [];
  let unreachable: string | undefined;
  let next = 0;
  const worker = async () => {
    while (next < jobs.length && unreachable === undefined) {
      const job = jobs[next++] as RangeJob;
      const span = job.end.getTime() - job.start.getTime();
      const stepMs = Math.max(1000, Math.ceil(span / MAX_POINTS / 1000) * 1000);
      try {
        const matrix = await prometheus.queryRange(job.query, { start: job.start, end: job.end, stepMs });
        const first = matrix.result[0];
        items.push({
          wave: job.wave,
          check: job.check,
          subject: job.subject,
          points: (first?.values ?? []).filter(([, v]) => Number.isFinite(v)).map(([t, v]) => [t, v]),
        });
      } catch (error) {
        if (error instanceof MetricsError && error.unreachable) unreachable = error.message;
        else failures.push(error instanceof RevrollError ? error.message : describe(error));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_QUERIES, jobs.length) }, worker));
  if (unreachable !== undefined) return { ok: false, reason: unreachable };
  return { ok: true, items, queries: jobs.length, failures };
}
