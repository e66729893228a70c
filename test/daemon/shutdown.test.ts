/**
 * SIGTERM mid-wave, as Kubernetes stops a pod: the daemon runs as a real process against the
 * sandbox (real time), exits 0 within the grace period with its run state persisted and its
 * Lease released; a new process resumes the same run and promotes it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunState } from '../../src/engine/state.ts';
import { cleanups, createHarness, policyYaml, runCleanups, startDaemon, waitFor } from './harness.ts';

afterEach(runCleanups);

describe('revroll serve shutdown', () => {
  it('stops on SIGTERM mid-wave with state saved and the Lease released; the next process finishes the run', async () => {
    const h = await createHarness();
    cleanups.push(() => h.close());
    const policiesDir = join(h.dir, 'policies');
    mkdirSync(policiesDir);
    // Every minute, at any time: the fire of the current minute is caught up at start.
    writeFileSync(
      join(policiesDir, 'nightly.yaml'),
      policyYaml('nightly', {
        waves: [
          { name: 'first', names: ['catalog', 'reviews'], bake: '4s' },
          { name: 'rest', bake: '2s' },
        ],
        schedule: '    cron: "* * * * *"\n',
      }),
    );

    const first = startDaemon(h, policiesDir);
    const url = await first.url;
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    await waitFor(
      async () =>
        (await h.state('nightly'))?.records.some((r) => r.id === 'wave/first/bake' && r.status === 'running') ?? false,
      'the first wave to bake',
      30_000,
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; daemon log:\n${first.logs()}`);
    });
    expect(await h.leaseHolder('nightly')).toBeDefined();

    const sent = Date.now();
    first.child.kill('SIGTERM');
    const code = await first.exit;
    expect(code, first.logs()).toBe(0);
    expect(Date.now() - sent).toBeLessThan(10_000);
    const saved = (await h.state('nightly')) as RunState;
    expect(saved.phase).toBe('Progressing');
    expect(saved.steps[saved.cursor]?.id).toBe('wave/first/bake');
    expect(await h.leaseHolder('nightly')).toBeUndefined();
    expect(first.logs()).toContain('"msg":"stopped"');

    const second = startDaemon(h, policiesDir);
    await second.url;
    await waitFor(
      async () => (await h.state('nightly'))?.phase === 'Promoted',
      'the second process to promote',
      45_000,
    );
    const done = (await h.state('nightly')) as RunState;
    expect(done.runId).toBe(saved.runId);
    const runs = (await (await fetch(`${await second.url}/api/runs`)).json()) as {
      policies: { name: string; phase: string }[];
    };
    expect(runs.policies).toMatchObject([{ name: 'nightly', phase: 'Promoted' }]);
    second.child.kill('SIGTERM');
    expect(await second.exit).toBe(0);
  });
});
