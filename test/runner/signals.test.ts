/**
 * Signals are honoured in every wait (issue 12 item 6): a real `revroll run` process, stopped
 * with SIGTERM while it waits for a revision that is not installed, or for a rollout that cannot
 * finish, exits within seconds at a safe point, its state saved, and resumes from that step.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createConfigMapStateStore } from '../../src/adapters/kubernetes/state.ts';
import type { RunState } from '../../src/engine/state.ts';
import { createHarness, smallScenario, STATE_NS, type Harness } from '../helpers/runner-harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

type Exit = { code: number | null; stderr: string; afterSignalMs: number };

/** Runs `revroll run` as a process; sends SIGTERM once `ready` holds, and reports how it ended. */
async function runUntil(harness: Harness, file: string, ready: (state?: RunState) => boolean): Promise<Exit> {
  const child = spawn(process.execPath, ['src/cli/main.ts', 'run', file, '--kubeconfig', harness.kubeconfigFile], {
    cwd: process.cwd(),
    env: { ...process.env, KUBECONFIG: '', REVROLL_LEASE_TTL_SECONDS: '5' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const store = createConfigMapStateStore(harness.cluster, STATE_NS);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const stored = await store.load(file.includes('install') ? 'waits-install' : 'waits-rollout');
    if (ready(stored?.document as RunState | undefined)) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`never reached the wait: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 500)); // inside the wait, not at its start
  const sent = Date.now();
  child.kill('SIGTERM');
  const code = await exited;
  return { code, stderr, afterSignalMs: Date.now() - sent };
}

const running = (id: string) => (state?: RunState) =>
  state?.records.some((r) => r.id === id && r.status === 'running') ?? false;

describe('SIGTERM in a wait', () => {
  it('stops the wait for a revision that is not installed within seconds, not at readyTimeout', async () => {
    h = await createHarness();
    const file = join(dirname(h.kubeconfigFile), 'waits-install.yaml');
    writeFileSync(
      file,
      `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: waits-install}
spec:
  revisions: {from: auto, to: 1-26-0}
  install: {mode: external, readyTimeout: 10m}
  waves:
    - {name: first, namespaces: {names: [alpha]}, bake: 100ms}
  gates: {warmup: 100ms}
`,
    );
    const exit = await runUntil(h, file, running('install'));
    expect(exit.afterSignalMs).toBeLessThan(5_000);
    expect(exit.code).toBe(1);
    expect(exit.stderr).toMatch(/^interrupted: stopped at install; the run resumes from there$/m);
    const state = (await createConfigMapStateStore(h.cluster, STATE_NS).load('waits-install'))
      ?.document as unknown as RunState;
    expect(state.steps[state.cursor]?.id).toBe('install');
    expect(state.phase).toBe('Progressing');
  });

  it('stops the wait for a rollout in progress, leaving the run at that step', async () => {
    // Pods take 6 s to become Ready: the rollout wait lasts long enough to be interrupted.
    h = await createHarness(
      smallScenario({
        startLatencyMs: 6000,
        namespaces: [
          { name: STATE_NS },
          { name: 'alpha', labels: { 'istio-injection': 'enabled' }, workloads: [{ name: 'web', replicas: 1 }] },
        ],
      }),
    );
    const file = join(dirname(h.kubeconfigFile), 'waits-rollout.yaml');
    writeFileSync(
      file,
      `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata: {name: waits-rollout}
spec:
  revisions: {from: auto, to: 1-25-1}
  waves:
    - {name: first, namespaces: {names: [alpha]}, bake: 100ms}
  gates: {warmup: 100ms}
  workloads: {rolloutTimeout: 10m}
`,
    );
    const exit = await runUntil(h, file, running('wave/first/rollout'));
    expect(exit.afterSignalMs).toBeLessThan(5_000);
    expect(exit.code, exit.stderr).toBe(1);
    expect(exit.stderr).toMatch(/^interrupted: stopped at wave\/first\/rollout/m);
    // The next invocation takes the wait up again and finishes the run.
    const stored = await createConfigMapStateStore(h.cluster, STATE_NS).load('waits-rollout');
    expect((stored?.document as unknown as RunState).steps[(stored?.document as unknown as RunState).cursor]?.id).toBe(
      'wave/first/rollout',
    );
  });
});
