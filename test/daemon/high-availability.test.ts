/**
 * Two daemons on one cluster and one policy folder (virtual time, see harness.ts): the Lease lets
 * exactly one act; when it dies without releasing the Lease, the other takes the run over from
 * the persisted state once the Lease expires, and finishes it.
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
  policyYaml,
  startTestDaemon,
  waitFor,
  type TestDaemon,
} from './harness.ts';

const START = new Date('2026-03-01T23:30:00Z');

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Writes to namespaces and workloads a daemon's client made: what "acting on the cluster" means. */
function mutations(d: TestDaemon): number {
  return d.cluster.requests.filter(
    (r) => (r.verb === 'patch' || r.verb === 'update') && (r.resource === 'namespaces' || r.resource === 'deployments'),
  ).length;
}

describe('revroll serve high availability', () => {
  it('lets only one of two daemons act, and the survivor takes over a dead one’s run', async () => {
    const h = await createHarness();
    cleanups.push(() => h.close());
    const policiesDir = join(h.dir, 'policies');
    mkdirSync(policiesDir);
    writeFileSync(
      join(policiesDir, 'nightly.yaml'),
      policyYaml('nightly', {
        waves: [
          { name: 'first', names: ['catalog', 'reviews'], bake: '70m' },
          { name: 'rest', bake: '70m' },
        ],
        schedule: berlinNights(),
      }),
    );
    let daemons: TestDaemon[] = [];
    const clock = createVirtualClock(START, () => daemons.reduce((n, d) => n + d.daemon.loops(), 0));
    cleanups.push(() => clock.close());
    const a = startTestDaemon(h, { holder: 'daemon-a', policiesDir, clock });
    const b = startTestDaemon(h, { holder: 'daemon-b', policiesDir, clock });
    daemons = [a, b];
    cleanups.push(
      () => a.daemon.stop(),
      () => b.daemon.stop(),
    );
    // Hold time at START until both daemons have loaded the folder: otherwise the first one to
    // start is briefly the only actor, and the clock may run its loop ahead (even into the run)
    // before the second daemon exists.
    clock.pauseAt(START);
    await Promise.all([a.daemon.start(), b.daemon.start()]);
    expect([a.daemon.loops(), b.daemon.loops()]).toEqual([1, 1]);

    // Both fire at 02:00; stop time at 02:30, in the middle of the first wave's bake.
    clock.pauseAt(new Date('2026-03-02T01:30:00Z'));
    await clock.paused();
    const baking = (await h.state('nightly')) as RunState;
    expect(baking.phase).toBe('Progressing');
    expect(baking.steps[baking.cursor]?.id).toBe('wave/first/bake');
    const holder = await h.leaseHolder('nightly');
    const [active, standby] = holder === 'daemon-a' ? [a, b] : [b, a];
    expect(holder).toBe(active.holder);
    expect(mutations(active)).toBeGreaterThan(0);
    expect(mutations(standby)).toBe(0);
    expect(standby.daemon.runs()[0]).toMatchObject({ lastOutcome: 'locked', running: false });

    // The active daemon dies: no release, no further request.
    await active.crash();
    daemons = [standby];
    const before = mutations(active);
    clock.resume();

    let state: RunState | undefined;
    await waitFor(
      async () => {
        state = await h.state('nightly');
        return state?.phase === 'Promoted' || state?.phase === 'Failed';
      },
      'the survivor to finish the run',
      45_000,
    );
    expect(state?.phase, state?.outcome).toBe('Promoted');
    expect(mutations(active)).toBe(before);
    expect(mutations(standby)).toBeGreaterThan(0);
    // One run throughout: the survivor resumed it rather than starting another.
    expect(state?.runId).toBe(baking.runId);
    expect(berlin(state?.records.find((r) => r.id === 'wave/rest/migrate')?.startedAt)).toBe('2026-03-03 02:00');
    // It could not take over before the dead daemon's Lease (3 h from 02:00) expired.
    expect(berlin(state?.records.find((r) => r.id === 'wave/first/bake')?.finishedAt) >= '2026-03-02 05:00').toBe(true);
  });
});
