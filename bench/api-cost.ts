/**
 * API cost of one revroll run, from the requests the sandbox received (logged at arrival),
 * split by the run's own step records into:
 *  - setup: before the wave (lease, state, mesh observation, the precheck's
 *    SelfSubjectAccessReviews, the install check): a fixed cost per run, whatever its size;
 *  - wave: from the wave's migrate step to the end of its bake: what DESIGN section 10 budgets
 *    at 1.2 x (namespaces + workloads) + 10, watches aside;
 *  - finish: promotion steps and the lease release.
 * Events are counted apart: they are the audit trail (one `RevrollMigrated` per namespace and
 * one `RevrollRestarted` per workload), written best-effort after each change and never read
 * back, so they scale with the work but carry none of it; the report gives the wave's cost with
 * and without them.
 */
import type { StepRecord } from '../src/engine/state.ts';
import type { Arrival } from './sandbox-host.ts';

export type Counts = Record<string, number>;

export type PhaseCost = {
  /** Every request but watches, by `verb resource`. */
  byVerbResource: Counts;
  requests: number;
  watches: number;
  events: number;
};

export type ApiCost = {
  namespaces: number;
  workloads: number;
  setup: PhaseCost;
  wave: PhaseCost;
  finish: PhaseCost;
  /** SelfSubjectAccessReviews (precheck, once per run). */
  accessReviews: number;
  /** Wave requests that count against the budget: not watches, not Events. */
  waveBudgeted: number;
  /** Wave requests, Events included (watches still aside). */
  waveWithEvents: number;
  /** 1.2 x (namespaces + workloads) + 10. */
  waveTarget: number;
  meetsTarget: boolean;
  /** Requests of the wave's top `verb resource` keys, largest first (what dominates). */
  dominant: { key: string; count: number }[];
};

export function waveTarget(namespaces: number, workloads: number): number {
  return Math.floor(1.2 * (namespaces + workloads) + 10);
}

function phase(arrivals: readonly Arrival[]): PhaseCost {
  const byVerbResource: Counts = {};
  let watches = 0;
  let events = 0;
  for (const a of arrivals) {
    if (a.verb === 'watch') {
      watches += 1;
      continue;
    }
    if (a.resource === 'events') events += 1;
    const key = `${a.verb} ${a.group === '' ? a.resource : `${a.resource}.${a.group}`}`;
    byVerbResource[key] = (byVerbResource[key] ?? 0) + 1;
  }
  const requests = Object.values(byVerbResource).reduce((a, b) => a + b, 0);
  return { byVerbResource, requests, watches, events };
}

/** `wave` is the wave's name in the policy (`wave/<name>/...` records). */
export function apiCost(
  arrivals: readonly Arrival[],
  records: readonly StepRecord[],
  options: { wave: string; namespaces: number; workloads: number },
): ApiCost {
  const prefix = `wave/${options.wave}/`;
  const waveRecords = records.filter((r) => r.id.startsWith(prefix) && r.startedAt);
  const starts = waveRecords.map((r) => Date.parse(r.startedAt ?? ''));
  const ends = waveRecords.map((r) => Date.parse(r.finishedAt ?? r.startedAt ?? ''));
  if (starts.length === 0) throw new Error(`no ${prefix}* records: the wave never ran`);
  const from = Math.min(...starts);
  const to = Math.max(...ends);
  const setup = phase(arrivals.filter((a) => a.at < from));
  const wave = phase(arrivals.filter((a) => a.at >= from && a.at <= to));
  const finish = phase(arrivals.filter((a) => a.at > to));
  const target = waveTarget(options.namespaces, options.workloads);
  const waveBudgeted = wave.requests - wave.events;
  const dominant = Object.entries(wave.byVerbResource)
    .map(([key, count]) => ({ key, count }))
    .sort((a, b) => b.count - a.count)
    .slice(0, 5);
  return {
    namespaces: options.namespaces,
    workloads: options.workloads,
    setup,
    wave,
    finish,
    accessReviews: arrivals.filter((a) => a.resource === 'selfsubjectaccessreviews').length,
    waveBudgeted,
    waveWithEvents: wave.requests,
    waveTarget: target,
    meetsTarget: waveBudgeted <= target,
    dominant,
  };
}
