/**
 * The daemon over nights of virtual time, against the sandbox: schedules, windows and freezes
 * decide when waves start; the engine holds at wave boundaries; the run spans nights and promotes.
 * Fake-time design: see harness.ts (time jumps only when every daemon loop sleeps).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunState } from '../../src/engine/state.ts';
import { createConfigMapStateStore } from '../../src/adapters/kubernetes/state.ts';
import { decideFromCli } from '../../src/runner/approvals.ts';
import {
  STATE_NAMESPACE,
  berlin,
  berlinNights,
  createHarness,
  createVirtualClock,
  finished,
  policyYaml,
  startTestDaemon,
  type Harness,
  type TestDaemon,
  type VirtualClock,
} from './harness.ts';

/** Monday 2026-03-02, 00:30 in Berlin (UTC+1). */
const START = new Date('2026-03-01T23:30:00Z');

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setUp(yaml: string): Promise<{ h: Harness; clock: VirtualClock; d: TestDaemon }> {
  const h = await createHarness();
  cleanups.push(() => h.close());
  const policiesDir = join(h.dir, 'policies');
  mkdirSync(policiesDir);
  writeFileSync(join(policiesDir, 'nightly.yaml'), yaml);
  let daemons: TestDaemon[] = [];
  const clock = createVirtualClock(START, () => daemons.reduce((n, d) => n + d.daemon.loops(), 0));
  cleanups.push(() => clock.close());
  const d = startTestDaemon(h, { holder: 'daemon-a', policiesDir, clock });
  daemons = [d];
  cleanups.push(() => d.daemon.stop());
  await d.daemon.start();
  return { h, clock, d };
}

/** When each wave's first step started, Berlin time. */
function waveStarts(state: RunState): Record<string, string> {
  const starts: Record<string, string> = {};
  for (const wave of state.waves)
    starts[wave] = berlin(state.records.find((r) => r.id === `wave/${wave}/migrate`)?.startedAt);
  return starts;
}

/** The finished run, once the daemon has returned from the invocation that finished it (see `finished`). */
async function promoted(h: Harness, d: TestDaemon): Promise<RunState> {
  const state = await finished(h, d.daemon, 'nightly');
  expect(state.phase, state.outcome).toBe('Promoted');
  return state;
}

describe('revroll serve over nights (virtual time)', () => {
  it('runs a rollout whose bakes do not fit one window over three nights and promotes', async () => {
    const { h, d } = await setUp(
      policyYaml('nightly', {
        waves: [
          { name: 'first', names: ['catalog', 'reviews'], bake: '70m' },
          { name: 'second', names: ['ratings', 'search'], bake: '70m' },
          { name: 'rest', bake: '70m' },
        ],
        // The demo cluster's Gateway API Gateways move in their own wave, which must fit the window too.
        extra: '  gatewayApi: {bake: 10m}\n',
        schedule: berlinNights(),
      }),
    );
    const state = await promoted(h, d);
    const gatewayMove = state.records.find((r) => r.id === 'gateway-api/move')?.startedAt ?? '';
    expect(berlin(gatewayMove) > '2026-03-04 02:00' && berlin(gatewayMove) < '2026-03-04 04:00').toBe(true);
    // One wave per night: 70 min of bake leaves no room for a second wave before 04:00.
    expect(waveStarts(state)).toEqual({
      first: '2026-03-02 02:00',
      second: '2026-03-03 02:00',
      rest: '2026-03-04 02:00',
    });
    expect(berlin(state.updatedAt) < '2026-03-04 04:00').toBe(true);
    expect(await h.namespaceLabels('catalog')).toMatchObject({ 'istio-injection': 'enabled' });
    const text = await d.metrics.render();
    expect(text).toMatch(/revroll_runs_total\{policy="nightly",outcome="held"\} 2/);
    expect(text).toMatch(/revroll_runs_total\{policy="nightly",outcome="promoted"\} 1/);
    expect(text).toMatch(/revroll_last_promotion_timestamp_seconds\{policy="nightly"\} \d+/);
    expect(text).toMatch(/revroll_wave_duration_seconds_count\{policy="nightly"\} 3/);
    expect(d.daemon.runs()).toMatchObject([
      { name: 'nightly', valid: true, phase: 'Promoted', lastOutcome: 'promoted' },
    ]);
  });

  it('holds at the wave boundary when the window closes mid-run and continues the next night', async () => {
    const { h, clock, d } = await setUp(
      policyYaml('nightly', {
        waves: [
          { name: 'first', names: ['catalog', 'reviews'], bake: '30m' },
          { name: 'rest', bake: '100m' },
        ],
        schedule: berlinNights(),
      }),
    );
    // Stop time at noon after the first night and look at the run.
    clock.pauseAt(new Date('2026-03-02T11:00:00Z'));
    await clock.paused();
    const held = await h.state('nightly');
    expect(held?.phase).toBe('Held');
    expect(held?.hold?.kind).toBe('window');
    expect(held?.hold?.reason).toContain('wave rest needs about');
    expect(held?.steps[held.cursor]?.id).toBe('wave/rest/migrate');
    // First wave: 02:00 + 1 s warm-up + 30 min bake; the second (100 min) would end after 04:00.
    expect(berlin(held?.hold?.since)).toBe('2026-03-02 02:30');
    // The second wave's namespaces did not move.
    expect(await h.namespaceLabels('payments')).toMatchObject({ 'istio.io/rev': '1-24-3' });
    clock.resume();
    const state = await promoted(h, d);
    expect(waveStarts(state)).toEqual({ first: '2026-03-02 02:00', rest: '2026-03-03 02:00' });
  });

  it('continues a run held for approval once the decision lands in its state', async () => {
    const { h, clock, d } = await setUp(
      policyYaml('nightly', {
        waves: [
          { name: 'first', names: ['catalog', 'reviews'], bake: '20m' },
          { name: 'rest', bake: '20m' },
        ],
        schedule: berlinNights(),
        extra: '  approvals:\n    beforeFirstWave: true\n',
      }),
    );
    clock.pauseAt(new Date('2026-03-02T01:10:00Z'));
    await clock.paused();
    const waiting = await h.state('nightly');
    expect([waiting?.phase, waiting?.hold?.kind]).toEqual(['Held', 'approval']);
    expect(d.daemon.runs()[0]).toMatchObject({ phase: 'Held', lastOutcome: 'held', waiting: 'held: approval' });
    expect(await d.metrics.render()).toMatch(/revroll_pending_approvals\{policy="nightly"\} 1/);
    // Decided elsewhere (another replica's Slack endpoint, or the CLI): only the state changes.
    const decided = await decideFromCli({
      store: createConfigMapStateStore(h.cluster, STATE_NAMESPACE),
      policy: 'nightly',
      approve: true,
      as: 'alice',
      now: clock.now(),
    });
    expect(decided.ok, decided.message).toBe(true);
    clock.resume();
    const state = await promoted(h, d);
    // Seen at the next state poll (30 min in this suite), inside the same window.
    expect(waveStarts(state).first).toBe('2026-03-02 02:30');
    expect(state.approvals).toMatchObject([{ decision: 'approved', by: 'alice', via: 'cli' }]);
  });

  it('starts no wave on a freeze day', async () => {
    const { h, d } = await setUp(
      policyYaml('nightly', {
        waves: [
          { name: 'first', names: ['catalog', 'reviews'], bake: '70m' },
          { name: 'rest', bake: '70m' },
        ],
        schedule: berlinNights(
          `    freeze:\n      - from: "2026-03-03"\n        to: "2026-03-03"\n        reason: quarter close\n`,
        ),
      }),
    );
    const state = await promoted(h, d);
    expect(waveStarts(state)).toEqual({ first: '2026-03-02 02:00', rest: '2026-03-04 02:00' });
    const onFreezeDay = state.records.filter(
      (r) => berlin(r.startedAt).startsWith('2026-03-03') || berlin(r.finishedAt).startsWith('2026-03-03'),
    );
    expect(onFreezeDay).toEqual([]);
  });
});
