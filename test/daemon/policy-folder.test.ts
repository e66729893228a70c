/**
 * The policy folder as Kubernetes mounts a ConfigMap: files are symlinks into `..data`, itself a
 * symlink to a timestamped directory, and an update swaps `..data` atomically. A broken policy
 * dropped in while a run is active is reported (runs API, metric, file:line:col problems) and the
 * others keep running; a policy removed from the folder stops being scheduled.
 * Virtual time: see harness.ts.
 */
import { mkdirSync, renameSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  berlinNights,
  createHarness,
  createVirtualClock,
  finished,
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

/** Writes a new ConfigMap payload the way the kubelet does: new directory, then an atomic `..data` swap. */
function publish(dir: string, version: string, files: Record<string, string>): void {
  const payload = join(dir, `..2026_03_0${version}`);
  mkdirSync(payload);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(payload, name), text);
  symlinkSync(`..2026_03_0${version}`, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
}

function link(dir: string, name: string): void {
  symlinkSync(join('..data', name), join(dir, name));
}

const BROKEN = `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata:
  name: broken
spec:
  revisions:
    from: 1-24-3
    to: 1-25-1
  waves:
    - name: all
      namespaces:
        percent: 250
`;

describe('revroll serve policy folder', () => {
  it('reports a broken policy dropped in mid-run, keeps the others running, and unschedules removed ones', async () => {
    const h = await createHarness();
    cleanups.push(() => h.close());
    const dir = join(h.dir, 'policies');
    mkdirSync(dir);
    const nightly = policyYaml('nightly', {
      waves: [
        { name: 'first', names: ['catalog', 'reviews'], bake: '30m' },
        { name: 'rest', bake: '30m' },
      ],
      schedule: berlinNights(),
    });
    // Never due in March: only loaded, so its removal can be observed without a run.
    const yearly = policyYaml('yearly', {
      waves: [{ name: 'all', bake: '30m' }],
      schedule: '    cron: "0 12 1 1 *"\n    timeZone: Europe/Berlin\n',
    });
    publish(dir, '1', { 'nightly.yaml': nightly, 'yearly.yaml': yearly });
    link(dir, 'nightly.yaml');
    link(dir, 'yearly.yaml');

    let daemons: TestDaemon[] = [];
    const clock = createVirtualClock(START, () => daemons.reduce((n, d) => n + d.daemon.loops(), 0));
    cleanups.push(() => clock.close());
    const d = startTestDaemon(h, { holder: 'daemon-a', policiesDir: dir, clock });
    daemons = [d];
    cleanups.push(() => d.daemon.stop());
    await d.daemon.start();
    expect(d.daemon.runs().map((r) => [r.name, r.valid, r.scheduled])).toEqual([
      ['nightly', true, true],
      ['yearly', true, true],
    ]);
    expect(d.daemon.loops()).toBe(2);

    // Mid-run (first wave baking), publish a payload with a broken policy and without `yearly`.
    clock.pauseAt(new Date('2026-03-02T01:15:00Z'));
    await clock.paused();
    const baking = await h.state('nightly');
    expect(baking?.steps[baking.cursor]?.id).toBe('wave/first/bake');
    publish(dir, '2', { 'nightly.yaml': nightly, 'broken.yaml': BROKEN });
    link(dir, 'broken.yaml');
    // The kubelet removes links of keys that left the ConfigMap.
    unlinkSync(join(dir, 'yearly.yaml'));

    // fs.watch sees the swap (no explicit rescan here).
    await waitFor(
      () => d.daemon.runs().some((r) => r.file.endsWith('broken.yaml')) && d.daemon.loops() === 1,
      'the daemon to reload the folder',
      10_000,
    );
    const broken = d.daemon.runs().find((r) => r.file.endsWith('broken.yaml'));
    expect(broken).toMatchObject({ name: 'broken', valid: false, scheduled: false, running: false });
    expect(broken?.problems.join('\n')).toMatch(/broken\.yaml:12:\d+ spec\.waves\[0\]\.namespaces\.percent: /);
    expect(d.daemon.runs().some((r) => r.name === 'yearly')).toBe(false);
    expect(await d.metrics.render()).toMatch(/revroll_invalid_policies 1/);

    clock.resume();
    // The stored phase turns Promoted before the runner returns to the daemon (Lease release):
    // wait for the invocation to be over, then the daemon's own view must say promoted.
    const done = await finished(h, d.daemon, 'nightly');
    expect(done.phase, done.outcome).toBe('Promoted');
    expect(d.daemon.runs().find((r) => r.name === 'nightly')).toMatchObject({
      valid: true,
      running: false,
      phase: 'Promoted',
      lastOutcome: 'promoted',
    });
  });
});
