/**
 * What happened between two states, as notifications: derived from the state change so the
 * runner never has to remember to notify (and a resumed run does not notify twice).
 */
import type { RunEvent } from '../ports/notifier.ts';
import { waveName, type RunState, type StepRecord } from './state.ts';

export function transitions(previous: RunState | undefined, next: RunState): RunEvent[] {
  const base = { policy: next.policy, runId: next.runId };
  const events: RunEvent[] = [];
  if (!previous) {
    events.push({
      ...base,
      kind: 'run-started',
      message: `upgrade ${next.from} -> ${next.to}: ${next.waves.length} wave(s), ${Object.keys(next.namespaces).length} namespace(s)`,
      details: { from: next.from, to: next.to, waves: next.waves, planHash: next.planHash },
    });
    return events;
  }
  const before = new Map(previous.records.map((r) => [r.id, r]));
  for (const record of next.records) {
    const was = before.get(record.id);
    if (was?.status === record.status) continue;
    const wave = waveName(next, record);
    if (wave === undefined) continue;
    if (record.kind === 'migrate' && record.status === 'running') {
      events.push({
        ...base,
        kind: 'wave-started',
        step: record.id,
        message: `wave ${wave} started: ${namespacesOf(next, record.wave as number).join(', ')}`,
        details: { wave },
      });
    }
    if (record.kind === 'bake' && record.status === 'done') {
      events.push({
        ...base,
        kind: 'wave-finished',
        step: record.id,
        message: `wave ${wave} passed${record.note ? `: ${record.note}` : ''}`,
        details: { wave, gates: next.gates?.recent.at(-1)?.results ?? [] },
      });
    }
    if (record.kind === 'bake' && record.status === 'failed') {
      events.push({
        ...base,
        kind: 'gate-failed',
        step: record.id,
        message: record.note ?? 'gate failed',
        details: { wave, gates: next.gates?.recent.at(-1)?.results ?? [] },
      });
    }
  }
  for (const approval of next.approvals) {
    const was = previous.approvals.find((a) => a.step === approval.step && a.requestedAt === approval.requestedAt);
    if (approval.decision && was?.decision !== approval.decision) {
      events.push({
        ...base,
        kind: 'approval-decided',
        step: approval.step,
        message: `${approval.step}: ${approval.decision}${approval.by ? ` by ${approval.by}` : ''}${approval.via ? ` (${approval.via})` : ''}`,
        details: { ...approval },
      });
    }
  }
  if (next.hold && (!previous.hold || previous.hold.reason !== next.hold.reason) && next.hold.kind !== 'approval') {
    events.push({
      ...base,
      kind: next.hold.kind === 'error' ? 'error' : 'hold',
      message: next.hold.reason,
      details: { hold: next.hold.kind },
    });
  }
  if (next.phase === 'RollingBack' && previous.phase !== 'RollingBack') {
    events.push({
      ...base,
      kind: 'rollback-started',
      message: `rolling back to ${next.from}${next.rollbackReason ? `: ${next.rollbackReason}` : ''}`,
    });
  }
  if (next.phase === 'RolledBack' && previous.phase !== 'RolledBack') {
    events.push({ ...base, kind: 'rollback-finished', message: next.outcome ?? `rolled back to ${next.from}` });
  }
  if (next.phase === 'Promoted' && previous.phase !== 'Promoted') {
    events.push({ ...base, kind: 'promoted', message: next.outcome ?? `promoted ${next.to}` });
  }
  if (next.phase === 'Failed' && previous.phase !== 'Failed') {
    events.push({ ...base, kind: 'error', message: next.outcome ?? 'the run failed' });
  }
  return events;
}

/** Records that changed status between two states (for progress lines). */
export function changedRecords(previous: RunState | undefined, next: RunState): StepRecord[] {
  const before = new Map((previous?.records ?? []).map((r) => [r.id, r.status]));
  return next.records.filter((r) => r.status !== 'pending' && before.get(r.id) !== r.status);
}

function namespacesOf(state: RunState, index: number): string[] {
  return Object.entries(state.namespaces)
    .filter(([, ns]) => ns.wave === index)
    .map(([name]) => name)
    .sort();
}
