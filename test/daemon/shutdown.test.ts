/**
 * SIGTERM mid-wave, as Kubernetes stops a pod: the daemon runs as a real process against the
 * sandbox (real time), exits 0 within the grace period with its run state persisted and its
 * Lease released; a new process resumes the same run and promotes it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunState } from '../../src/engine/state.ts';
import { createHarness, policyYaml, waitFor, type Harness } from './harness.ts';

/** The command under test. Switch to `src/cli/main.ts` (argument `serve` first) once program.ts wires serve. */
const ENTRY = ['src/cli/main.ts', 'serve'];

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Daemon = { child: ChildProcess; url: Promise<string>; exit: Promise<number | null>; logs: () => string };

function startDaemon(h: Harness, policiesDir: string): Daemon {
  const child = spawn(
    process.execPath,
    [...ENTRY, '--policies', policiesDir, '--listen', '127.0.0.1:0', '--kubeconfig', h.kubeconfigFile],
    {
      cwd: process.cwd(),
      env: { ...process.env, KUBECONFIG: '', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  let resolveUrl: (url: string) => void = () => undefined;
  const url = new Promise<string>((resolve) => (resolveUrl = resolve));
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    const match = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(stderr);
    if (match?.[1]) resolveUrl(match[1]);
  });
  child.stdout?.resume();
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, url, exit, logs: () => stderr };
}

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
