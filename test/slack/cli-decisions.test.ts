/**
 * `revroll approve|reject` against the sandbox: the CLI goes through the same use case as a
 * Slack click (src/runner/approvals.ts), so the decision lands in the state ConfigMap and is
 * announced as an Event on it; a refused decision changes nothing and records no Event.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createConfigMapStateStore, stateConfigMapName } from '../../src/adapters/kubernetes/state.ts';
import { runCli } from '../../src/cli/program.ts';
import type { CliIo } from '../../src/cli/io.ts';
import type { RunState } from '../../src/engine/state.ts';
import { Resources } from '../../src/ports/cluster.ts';
import { createHarness, STATE_NS, type Harness } from '../helpers/runner-harness.ts';
import { heldRun, POLICY, RUN_ID, STEP } from './fixtures.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

function capture(): CliIo & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    isTty: false,
    env: {},
    cwd: process.cwd(),
    stdout: () => out,
    stderr: () => err,
  };
}

/** The run held at its approval, requested a minute ago (the CLI decides at the real time). */
function pendingNow(): RunState {
  const now = Date.now();
  const held = heldRun();
  return {
    ...held,
    approvals: held.approvals.map((a) => ({
      ...a,
      requestedAt: new Date(now - 60_000).toISOString(),
      expiresAt: new Date(now + 3_600_000).toISOString(),
    })),
  };
}

async function decisionEvents(harness: Harness): Promise<{ reason: string; message: string }[]> {
  const events = await harness.cluster.list(Resources.events, { namespace: STATE_NS });
  return events
    .map((e) => e as unknown as { reason: string; message: string; involvedObject?: { kind?: string; name?: string } })
    .filter((e) => e.involvedObject?.kind === 'ConfigMap' && e.involvedObject.name === stateConfigMapName(POLICY))
    .map((e) => ({ reason: e.reason, message: e.message }));
}

describe('revroll approve|reject over the sandbox (src/runner/approvals)', () => {
  it('records the decision in the state ConfigMap and as an Event on it; a second decision is refused', async () => {
    h = await createHarness();
    const store = createConfigMapStateStore(h.cluster, STATE_NS);
    await store.save(POLICY, pendingNow() as unknown as Record<string, unknown>);
    const flags = ['--kubeconfig', h.kubeconfigFile, '--state-namespace', STATE_NS];

    const approve = capture();
    expect(await runCli(['approve', POLICY, '--as', 'bob', ...flags], approve), approve.stderr()).toBe(0);
    expect(approve.stdout()).toBe(`approved step ${STEP} of run ${RUN_ID} (policy ${POLICY}) as bob\n`);
    const after = await store.load(POLICY);
    expect((after?.document as unknown as RunState).approvals[0]).toMatchObject({
      decision: 'approved',
      by: 'bob',
      via: 'cli',
    });
    expect(await decisionEvents(h)).toEqual([{ reason: 'RevrollApproved', message: `${STEP} approved by bob (cli)` }]);

    const reject = capture();
    expect(await runCli(['reject', POLICY, '--as', 'carol', ...flags], reject)).toBe(1);
    expect(reject.stderr()).toContain(`step ${STEP} was already approved by bob at `);
    expect(await store.load(POLICY)).toEqual(after);
    expect(await decisionEvents(h)).toHaveLength(1);
  });
});
