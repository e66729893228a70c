/**
 * A policy edited while its run is active (virtual time, see harness.ts): the run that started
 * under the old version is not continued under the new one. The daemon says why in the runs API
 * and does not invoke the runner only to be refused; restoring the policy it started with lets the
 * run continue at its next window, and it promotes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunState } from '../../src/engine/state.ts';
import {
  berlin,
  berlinNights,
  createHarness,
  createVirtualClock,
  finished,
  policyYaml,
  startTestDaemon,
  type TestDaemon,
} from './harness.ts';

/** Monday 2026-03-02, 00:30 in Berlin (UTC+1). */
const START = new Date('2026-03-01T23:30:00Z');

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function nightly(restBake: string): string {
  return policyYaml('nightly', {
    waves: [
      { name: 'first', names: ['catalog', 'reviews'], bake: '30m' },
      { name: 'rest', bake: restBake },
    ],
    schedule: berlinNights(),
  });
}

describe('revroll serve and a policy edited mid-run', () => {
  it('refuses to continue the run under the edited policy, and continues it once the policy is restored', async () => {
    const h = await createHarness();
    cleanups.push(() => h.close());
    const policiesDir = join(h.dir, 'policies');
    mkdirSync(policiesDir);
    const file = join(policiesDir, 'nightly.yaml');
    // The second wave (100 min) does not fit after the first one: the run holds until the next night.
    writeFileSync(file, nightly('100m'));
    let daemons: TestDaemon[] = [];
    const clock = createVirtualClock(START, () => daemons.reduce((n, d) => n + d.daemon.loops(), 0));
    cleanups.push(() => clock.close());
    const d = startTestDaemon(h, { holder: 'daemon-a', policiesDir, clock });
    daemons = [d];
    cleanups.push(() => d.daemon.stop());
    await d.daemon.start();

    // Mid-way through the first wave's bake, someone shortens the second wave's bake.
    clock.pauseAt(new Date('2026-03-02T01:15:00Z'));
    await clock.paused();
    writeFileSync(file, nightly('90m'));
    await d.daemon.rescan();

    // The next night, at 03:00 Berlin: the run still stands where it held the night before.
    clock.resume();
    clock.pauseAt(new Date('2026-03-03T02:00:00Z'));
    await clock.paused();
    const refused = (await h.state('nightly')) as RunState;
    expect([refused.phase, refused.hold?.kind, refused.steps[refused.cursor]?.id]).toEqual([
      'Held',
      'window',
      'wave/rest/migrate',
    ]);
    expect(await h.namespaceLabels('payments')).toMatchObject({ 'istio.io/rev': '1-24-3' });
    const view = d.daemon.runs().find((r) => r.name === 'nightly');
    expect(view).toMatchObject({ valid: true, phase: 'Held', lastOutcome: 'held', running: false });
    expect(view?.waiting).toMatch(
      new RegExp(`^policy nightly changed while its run ${refused.runId} is active \\(phase Held\\); restore`),
    );
    // One invocation (the first night's), held; none refused by the runner since.
    const text = await d.metrics.render();
    expect(text).toMatch(/revroll_runs_total\{policy="nightly",outcome="held"\} 1/);
    expect(text).not.toMatch(/revroll_runs_total\{policy="nightly",outcome="failed"\}/);

    // The policy it started with comes back: the run continues in the next window the wave fits in.
    writeFileSync(file, nightly('100m'));
    await d.daemon.rescan();
    clock.resume();
    const done = await finished(h, d.daemon, 'nightly');
    expect(done.phase, done.outcome).toBe('Promoted');
    expect(done.runId).toBe(refused.runId);
    // 03:00 on the 3rd leaves no room for 100 min before 04:00: the next night.
    expect(berlin(done.records.find((r) => r.id === 'wave/rest/migrate')?.startedAt)).toBe('2026-03-04 02:00');
  });
});
